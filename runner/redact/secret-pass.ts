// The secret pass, written for throughput (every regex starts on a literal, so irregexp
// skips quickly; a character class as first step would make it try every position):
//   - names of secrets: one case-insensitive scan for anchor words, then the key reader;
//   - prefixed token families and JWTs: one regex each, led by its literal prefix (combined
//     into one alternation they scan ~50x slower);
//   - AWS secret keys: runs of exactly 40 base64 characters, found by probing every 40th
//     character (prose words and timestamp pieces are short, so little is read);
//   - PEM blocks, Bearer/Basic, CLI passwords, Kubernetes Secrets: only when their literal
//     lead occurs at all.

import { KEY_ANCHOR_WORDS, keyedAt, scanKubernetesSecret } from './keyed.js';
import { ci, type Hit, type Pattern } from './pattern.js';
import { ALL_FAMILIES, FAMILY_AWS_SECRET, FAMILY_GATED, FAMILY_NAMES, FAMILY_TOKENS } from './prefilter.js';
import { awsSecretShape, tokenPatterns } from './tokens.js';

/** Base64 characters (no padding) by code: a table lookup reads long runs faster than comparisons. */
const B64 = new Uint8Array(128);
for (const ch of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/') B64[ch.charCodeAt(0)] = 1;

function isB64(c: number): boolean {
  return c < 128 && B64[c] === 1;
}

function mixedCase(text: string, s: number, e: number): boolean {
  let upper = false;
  let lower = false;
  for (let i = s; i < e; i++) {
    const c = text.charCodeAt(i);
    if (c >= 65 && c <= 90) upper = true;
    else if (c >= 97 && c <= 122) lower = true;
    if (upper && lower) return true;
  }
  return false;
}

/**
 * [start, end) pairs of the maximal runs of exactly 40 base64 characters (AWS secret keys),
 * by probing every 40th character: prose words and timestamp pieces are short, so few
 * characters are read at all.
 */
function runsOf40(text: string): number[] {
  const runs: number[] = [];
  const n = text.length;
  let lastEnd = 0;
  let p = 39;
  while (p < n) {
    if (!isB64(text.charCodeAt(p))) {
      p += 40;
      continue;
    }
    let s = p;
    while (s > lastEnd && isB64(text.charCodeAt(s - 1))) s--;
    let e = p + 1;
    while (e < n && isB64(text.charCodeAt(e))) e++;
    if (e - s === 40) runs.push(s, e);
    lastEnd = e;
    p = e + 40;
  }
  return runs;
}

/** One search for any gated lead first (most text has none), then one per family. */
const ANY_GATED = /-----BEGIN|[Bb]earer|BEARER|[Bb]asic|BASIC|redis-cli|curl/;

/**
 * The literal lead of each gated family (its regex starts by consuming it, in any case): one
 * scan finds them all, and a family's regex is tried only where its lead is. No two leads
 * can match at one index.
 */
const GATED_LEADS: Readonly<Record<string, string>> = {
  private_key: '-----BEGIN',
  bearer: ci('bearer'),
  basic: ci('basic'),
  cli_password: `${ci('redis-cli')}|${ci('curl')}`,
};

/**
 * The literal leads of the prefixed families (tokens.ts), without boundaries: one fast scan
 * finds the few places where a family's own regex is then tried. Keep in step with tokens.ts.
 */
const TOKEN_LEADS = /FwoGZXIvYXdz|IQoJb3JpZ2lu|eyJ|A[KS]IA|AIza|gh[pousr]_|github_pat_|glpat-|xox[abposre]-|xapp-|https:\/\/hooks\.slack|[sr]k_|whsec_|sk-|SG\.|hf_|npm_|SK[0-9a-f]|shp[acps]|pypi-|do[opr]_v1_|lin_api_|ops_eyJ/g;
/** The leads of TOKEN_LEADS that hold no '_' or '-' and whose family needs neither. */
const BARE_LEADS = /FwoGZXIvYXdz|IQoJb3JpZ2lu|A[KS]IA|AIza|SK[0-9a-f]/;

/**
 * Whether any prefixed family could match: each needs a '_' or '-' (most: `ghp_`, `sk-`,
 * `shpat_`), or one of a few literals. Searched with includes() (fast on prose, where the
 * leads' first letters are everywhere and TOKEN_LEADS stops at most positions).
 */
function mayHoldToken(text: string): boolean {
  return text.includes('_') || text.includes('-') || text.includes('eyJ') || text.includes('SG.') || text.includes('hooks.slack') || BARE_LEADS.test(text);
}

const ANCHORS = new RegExp(KEY_ANCHOR_WORDS.map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'), 'gi');

export class SecretPass {
  /** Families by the first character of their prefix, each with a sticky regex. */
  private readonly byFirst = new Map<string, { pattern: Pattern; sticky: RegExp }[]>();
  /** The gated families, each with a sticky regex tried at its leads. */
  private readonly gated: { pattern: Pattern; sticky: RegExp }[];
  /** Any gated family's lead; group k + 1 is family k's. */
  private readonly gatedLeads: RegExp;
  /** Per gated family: where its next match may start (its matches never overlap). */
  private readonly gatedNext: number[];

  constructor() {
    const all = tokenPatterns();
    for (const pattern of all) {
      if (GATED_LEADS[pattern.group] !== undefined) continue;
      const firsts = pattern.source.startsWith('[') ? pattern.source.slice(1, pattern.source.indexOf(']')) : pattern.source[0]!;
      for (const ch of firsts) {
        const list = this.byFirst.get(ch) ?? [];
        list.push({ pattern, sticky: new RegExp(pattern.source, 'y') });
        this.byFirst.set(ch, list);
      }
    }
    this.gated = all.filter((p) => GATED_LEADS[p.group] !== undefined).map((p) => ({ pattern: p, sticky: new RegExp(p.source, 'y') }));
    this.gatedLeads = new RegExp(this.gated.map((g) => `(${GATED_LEADS[g.pattern.group]!})`).join('|'), 'g');
    this.gatedNext = this.gated.map(() => 0);
  }

  /** `families`: the prefilter's verdict (prefilter.ts); a family left out cannot match. */
  scan(text: string, label: string | undefined, out: Hit[], families = ALL_FAMILIES): void {
    if ((families & FAMILY_NAMES) !== 0) this.names(text, out);
    if ((families & FAMILY_TOKENS) !== 0) this.prefixed(text, label, out);
    if ((families & FAMILY_AWS_SECRET) !== 0) this.awsSecrets(text, label, out);
    if ((families & FAMILY_GATED) !== 0 && ANY_GATED.test(text)) this.gatedFamilies(text, label, out);
    this.kubernetes(text, out);
  }

  /**
   * Each gated family's matches as its own global regex would find them (leftmost, then on
   * from the match's end), but tried only at its leads, all found in one scan.
   */
  private gatedFamilies(text: string, label: string | undefined, out: Hit[]): void {
    const leads = this.gatedLeads;
    const next = this.gatedNext;
    next.fill(0);
    leads.lastIndex = 0;
    let m: RegExpExecArray | null;
    while ((m = leads.exec(text)) !== null) {
      const at = m.index;
      leads.lastIndex = at + 1;
      let k = 0;
      while (m[k + 1] === undefined) k++;
      if (at < next[k]!) continue;
      const g = this.gated[k]!;
      g.sticky.lastIndex = at;
      const hit = g.sticky.exec(text);
      if (hit === null) continue;
      this.accept(g.pattern, hit, 0, text, label, out);
      next[k] = at + Math.max(1, hit[0].length);
    }
  }

  private kubernetes(text: string, out: Hit[]): void {
    if (text.includes('Secret')) scanKubernetesSecret(text, out);
  }

  private names(text: string, out: Hit[]): void {
    const re = ANCHORS;
    re.lastIndex = 0;
    let m: RegExpExecArray | null;
    while ((m = re.exec(text)) !== null) re.lastIndex = keyedAt(text, m.index, m[0].length, out);
  }

  private prefixed(text: string, label: string | undefined, out: Hit[]): void {
    if (!mayHoldToken(text)) return;
    const re = TOKEN_LEADS;
    re.lastIndex = 0;
    let m: RegExpExecArray | null;
    while ((m = re.exec(text)) !== null) {
      const at = m.index;
      let next = at + 1;
      for (const f of this.byFirst.get(m[0][0]!) ?? []) {
        f.sticky.lastIndex = at;
        const hit = f.sticky.exec(text);
        if (hit === null) continue;
        const end = this.accept(f.pattern, hit, 0, text, label, out);
        if (end > next) {
          next = end;
          break;
        }
      }
      re.lastIndex = next;
    }
  }

  private awsSecrets(text: string, label: string | undefined, out: Hit[]): void {
    const runs = runsOf40(text);
    for (let r = 0; r < runs.length; r += 2) {
      const s = runs[r]!;
      const e = runs[r + 1]!;
      const before = s > 0 ? text.charCodeAt(s - 1) : 32;
      const after = e < text.length ? text.charCodeAt(e) : 32;
      // Not part of a longer token: base64 padding, base64url, dotted or dashed ids.
      if (before === 95 || before === 46 || before === 45 || after === 61 || after === 95 || after === 45) continue;
      // Mixed case is required (hex digests, the usual 40-character runs, have one case).
      if (!mixedCase(text, s, e)) continue;
      if (awsSecretShape(text.slice(s, e), s, text, label) !== -1) out.push({ detector: 'secret', kind: 'aws_secret_access_key', start: s, end: e });
    }
  }

  /** Validate one regex match found at `offset` + m.index of text; push it; its end or -1. */
  private accept(p: Pattern, m: RegExpExecArray, offset: number, text: string, label: string | undefined, out: Hit[]): number {
    let value = m[0];
    let start = offset + m.index;
    if (p.valueGroup !== undefined) {
      const v = m.groups?.[p.valueGroup];
      if (v === undefined) return -1;
      start = start + m[0].length - v.length;
      value = v;
    }
    const end = p.validate ? p.validate(value, start, text, label) : start + value.length;
    if (end < 0) return -1;
    out.push({ detector: 'secret', kind: p.kind, start, end });
    return end;
  }
}
