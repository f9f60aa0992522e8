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
import type { Hit, Pattern } from '../../../../runner/redact/pattern.js';
import { awsSecretShape, tokenPatterns } from '../../../../runner/redact/tokens.js';

function isB64(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 47 || c === 43;
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

/** Families tried only when their lead occurs at all (one quick search each). */
const GATED: Readonly<Record<string, RegExp>> = {
  private_key: /-----BEGIN/,
  bearer: /[Bb][Ee][Aa][Rr][Ee][Rr]/,
  basic: /[Bb][Aa][Ss][Ii][Cc]/,
  cli_password: /redis-cli|curl/i,
};

/**
 * The literal leads of the prefixed families (tokens.ts), without boundaries: one fast scan
 * finds the few places where a family's own regex is then tried. Keep in step with tokens.ts.
 */
const TOKEN_LEADS = /FwoGZXIvYXdz|IQoJb3JpZ2lu|eyJ|A[KS]IA|AIza|gh[pousr]_|github_pat_|glpat-|xox[abposre]-|xapp-|https:\/\/hooks\.slack|[sr]k_|whsec_|sk-|SG\.|hf_|npm_|SK[0-9a-f]|shp[acps]|pypi-|do[opr]_v1_|lin_api_|ops_eyJ/g;
const ANCHORS = new RegExp(KEY_ANCHOR_WORDS.map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'), 'gi');

export class SecretPass {
  /** Families by the first character of their prefix, each with a sticky regex. */
  private readonly byFirst = new Map<string, { pattern: Pattern; sticky: RegExp }[]>();
  private readonly gated: { gate: RegExp; pattern: Pattern; regex: RegExp }[];

  constructor() {
    const all = tokenPatterns();
    for (const pattern of all) {
      if (GATED[pattern.group] !== undefined) continue;
      const firsts = pattern.source.startsWith('[') ? pattern.source.slice(1, pattern.source.indexOf(']')) : pattern.source[0]!;
      for (const ch of firsts) {
        const list = this.byFirst.get(ch) ?? [];
        list.push({ pattern, sticky: new RegExp(pattern.source, 'y') });
        this.byFirst.set(ch, list);
      }
    }
    this.gated = all.filter((p) => GATED[p.group] !== undefined).map((p) => ({ gate: GATED[p.group]!, pattern: p, regex: new RegExp(p.source, 'g') }));
  }

  scan(text: string, label: string | undefined, out: Hit[]): void {
    this.names(text, out);
    this.prefixed(text, label, out);
    this.awsSecrets(text, label, out);
    if (ANY_GATED.test(text)) this.gatedFamilies(text, label, out);
    this.kubernetes(text, out);
  }

  private gatedFamilies(text: string, label: string | undefined, out: Hit[]): void {
    for (const g of this.gated) {
      if (!g.gate.test(text)) continue;
      g.regex.lastIndex = 0;
      let m: RegExpExecArray | null;
      while ((m = g.regex.exec(text)) !== null) {
        this.accept(g.pattern, m, 0, text, label, out);
        if (g.regex.lastIndex === m.index) g.regex.lastIndex++;
      }
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
