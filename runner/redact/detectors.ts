// The scanner of one conf: the enabled regex detectors of each family combined into one
// global regex per family (one scan per string, gated by a cheap test), the hand-written
// scanners (names of secrets, '@'-anchored addresses), and the span resolver.
//
// Every alternative starts by consuming a character (or literal) and only then looks behind
// for its token boundary: irregexp can skip quickly to plausible start characters and every
// alternative stays linear on long adversarial runs. A regex hit is only a candidate: a
// validator (Luhn, mod-97, SSN ranges, placeholders, labels, ...) decides.

import { scanAddresses } from './addresses.js';
import { isSecretValue, secretNameOf } from './keyed.js';
import { CARD, IBAN, NINO, PHONES, taxIdPatterns } from './national.js';
import { isDigit } from './checks.js';
import { DETECTOR_NAMES, TAX_ID_KINDS, type DetectorName, type Hit, type Pattern, type TaxIdKind } from './pattern.js';
import { ALL_FAMILIES, FAMILY_ADDRESSES, FAMILY_LETTER_DIGITS, FAMILY_NUMBERS, familiesOf } from './prefilter.js';
import { SecretPass } from './secret-pass.js';

/**
 * Patterns combined into one alternation with plain numbered groups (named groups make every
 * match build a groups object): `wrap[k]` is the group of pattern k's whole match, `value[k]`
 * the group of its value (valueGroup), if any.
 */
interface Combined {
  regex: RegExp;
  wrap: number[];
  value: (number | undefined)[];
}

/**
 * A pattern's source with its named groups numbered from `first` (backreferences follow):
 * the source, how many capturing groups it has, and the number of each name.
 */
function numbered(source: string, first: number): { source: string; groups: number; names: Map<string, number> } {
  const names = new Map<string, number>();
  let out = '';
  let groups = 0;
  let inClass = false;
  for (let i = 0; i < source.length; i++) {
    const ch = source[i]!;
    if (ch === '\\') {
      const ref = source[i + 1] === 'k' ? /^\\k<([A-Za-z_]\w*)>/.exec(source.slice(i)) : null;
      if (ref !== null && !inClass) {
        const n = names.get(ref[1]!);
        if (n === undefined) throw new Error(`backreference to unknown group ${ref[1]}`);
        out += `(?:\\${n})`;
        i += ref[0].length - 1;
      } else {
        out += ch + (source[i + 1] ?? '');
        i++;
      }
      continue;
    }
    if (inClass) {
      if (ch === ']') inClass = false;
      out += ch;
      continue;
    }
    if (ch === '[') inClass = true;
    else if (ch === '(') {
      const named = /^\(\?<([A-Za-z_]\w*)>/.exec(source.slice(i, i + 40));
      if (named !== null) {
        groups++;
        names.set(named[1]!, first + groups - 1);
        out += '(';
        i += named[0].length - 1;
        continue;
      }
      if (source[i + 1] !== '?') groups++;
    }
    out += ch;
  }
  return { source: out, groups, names };
}

function combine(patterns: readonly Pattern[], flags: string): Combined {
  const wrap: number[] = [];
  const value: (number | undefined)[] = [];
  const parts: string[] = [];
  let next = 1;
  for (const p of patterns) {
    const n = numbered(p.source, next + 1);
    wrap.push(next);
    value.push(p.valueGroup === undefined ? undefined : n.names.get(p.valueGroup));
    parts.push(`(${n.source})`);
    next += 1 + n.groups;
  }
  return { regex: new RegExp(parts.join('|'), flags), wrap, value };
}

/** One regex pass: the enabled patterns of a family, combined; skipped unless the gate (if any) says go. */
interface Pass {
  /** The prefilter's family bit for this pass. */
  family: number;
  gate: ((text: string) => boolean) | undefined;
  patterns: Pattern[];
  all: Combined;
  /** All patterns, sticky: tried only at the indexes a prefilter finds. */
  at: Combined;
  /**
   * `rest[i]`: patterns after i combined, sticky. When the candidate at an index is rejected,
   * one exec finds the next pattern (in order) that matches there, if any.
   */
  rest: Combined[];
  /** Numbers only: try the patterns at the starts of runs of number characters only. */
  numberRuns: boolean;
}

function makePass(family: number, patterns: Pattern[], gate: ((text: string) => boolean) | undefined, numberRuns: boolean): Pass | undefined {
  if (patterns.length === 0) return undefined;
  return {
    family,
    gate,
    patterns,
    all: combine(patterns, 'g'),
    at: combine(patterns, 'y'),
    rest: patterns.map((_, i) => combine(patterns.slice(i + 1), 'y')),
    numberRuns,
  };
}

const HAS_LETTER_DIGITS = /[A-Za-z] ?\d\d/;

/** Which pattern of `c` matched (its index in c's patterns). */
function matched(c: Combined, m: RegExpExecArray): number {
  let k = 0;
  while (k < c.wrap.length - 1 && m[c.wrap[k]!] === undefined) k++;
  return k;
}

/** Where accept() puts an accepted candidate's span (one object, no allocation per candidate). */
const span = { start: 0, end: 0 };

/** Validate a candidate of pattern p (its value in group `valueGroup`, if any): true with `span` set, or false. */
function accept(p: Pattern, m: RegExpExecArray, valueGroup: number | undefined, text: string, label: string | undefined): boolean {
  let value = m[0];
  let start = m.index;
  if (valueGroup !== undefined) {
    const v = m[valueGroup];
    if (v === undefined) return false;
    start = m.index + m[0].length - v.length;
    value = v;
  }
  const end = p.validate ? p.validate(value, start, text, label) : start + value.length;
  span.start = start;
  span.end = end;
  return end >= 0;
}

/**
 * Decide the candidate m of `c` (a combination of all patterns): the first pattern, in order,
 * that matches at m's index and validates is a finding.
 */
function decide(pass: Pass, c: Combined, m: RegExpExecArray, text: string, label: string | undefined, out: Hit[]): void {
  const { rest, patterns } = pass;
  const at = m.index;
  let index = matched(c, m);
  let ok = accept(patterns[index]!, m, c.value[index], text, label);
  while (!ok && index + 1 < patterns.length) {
    const after = rest[index]!;
    after.regex.lastIndex = at;
    const alt = after.regex.exec(text);
    if (alt === null) break;
    const k = matched(after, alt);
    index += 1 + k;
    ok = accept(patterns[index]!, alt, after.value[k], text, label);
  }
  if (ok) {
    const pattern = patterns[index]!;
    out.push({ detector: pattern.detector, kind: pattern.kind, start: span.start, end: span.end });
  }
}

function runPass(pass: Pass, text: string, label: string | undefined, out: Hit[]): void {
  if (pass.gate !== undefined && !pass.gate(text)) return;
  if (pass.numberRuns) {
    runNumberRuns(pass, text, label, out);
    return;
  }
  const regex = pass.all.regex;
  regex.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = regex.exec(text)) !== null) {
    const at = m.index;
    decide(pass, pass.all, m, text, label, out);
    // Go on from the next index, not the hit's end: another family's value may start inside
    // this hit and run past it (a greedy phone swallowing the head of an EIN), and the
    // resolver must see it as each detector alone would. Boundary lookbehinds keep this cheap.
    regex.lastIndex = at + 1;
  }
}

// Every numeric value that validates (national.ts) is made of digits, '+', '(', ')', spaces,
// dots and dashes only, is at least 8 of them long (an E.164 number; cards, tax ids and the
// other phone forms are longer), starts with a digit, '+' or '(' and has no digit before it.
// So the patterns need trying only inside runs of at least 8 such characters, at such starts.
// Those runs are found by probing every 8th character (most text is letters: little is read).
// The indexes tried are a subset of those where the combined regex would stop, in the same
// order, and none that is left out can yield a finding: the findings are the same.
const NUMBER_RUN_MIN = 8;

const NUMBER_CHARS = new Uint8Array(128);
for (const ch of '0123456789 .-+()') NUMBER_CHARS[ch.charCodeAt(0)] = 1;

function isNumberChar(c: number): boolean {
  return c < 128 && NUMBER_CHARS[c] === 1;
}

function runNumberRuns(pass: Pass, text: string, label: string | undefined, out: Hit[]): void {
  const regex = pass.at.regex;
  const n = text.length;
  let q = NUMBER_RUN_MIN - 1;
  while (q < n) {
    if (!isNumberChar(text.charCodeAt(q))) {
      q += NUMBER_RUN_MIN;
      continue;
    }
    let s = q;
    while (s > 0 && isNumberChar(text.charCodeAt(s - 1))) s--;
    let e = q + 1;
    while (e < n && isNumberChar(text.charCodeAt(e))) e++;
    for (let p = s; p <= e - NUMBER_RUN_MIN; p++) {
      const c = text.charCodeAt(p);
      const digit = c >= 48 && c <= 57;
      if (!digit && c !== 43 && c !== 40) continue;
      if (p > 0 && isDigit(text.charCodeAt(p - 1))) continue;
      regex.lastIndex = p;
      const m = regex.exec(text);
      if (m !== null) decide(pass, pass.at, m, text, label, out);
    }
    q = e + NUMBER_RUN_MIN;
  }
}

/**
 * The span resolver: overlapping and touching findings become one span covering all of them
 * (a secret is never cut short by a shorter finding inside or beside it), typed by the
 * longest finding (the most specific: a JWT after `access_token=` stays one secret).
 */
export function resolveSpans(hits: Hit[]): Hit[] {
  if (hits.length < 2) return hits;
  hits.sort((a, b) => a.start - b.start || b.end - a.end);
  const merged: Hit[] = [{ ...hits[0]! }];
  let longest = hits[0]!.end - hits[0]!.start;
  for (let i = 1; i < hits.length; i++) {
    const h = hits[i]!;
    const last = merged[merged.length - 1]!;
    if (h.start < last.end) {
      if (h.end > last.end) last.end = h.end;
      // Longest wins; on a tie a finding by shape beats one by the key's name (more specific).
      if (h.end - h.start > longest || (h.end - h.start === longest && last.kind === 'named_secret')) {
        longest = h.end - h.start;
        last.detector = h.detector;
        last.kind = h.kind;
      }
    } else {
      merged.push({ ...h });
      longest = h.end - h.start;
    }
  }
  return merged;
}

/** The compiled scanner of one conf. */
export interface Detectors {
  readonly enabled: readonly DetectorName[];
  /**
   * Validated, resolved hits in text order. `key` is the JSON key the string is the value of,
   * when known: a secret's name makes the whole value a secret, and labelled ids count.
   */
  scan(text: string, key?: string): Hit[];
}

/**
 * `prefilter: false` runs every family on every string (behind the IBAN/NINO and secret gates
 * only): the plain path the prefilter is tested against.
 */
export function compileDetectors(enabled: readonly DetectorName[], taxIds: readonly TaxIdKind[] = TAX_ID_KINDS, prefilter = true): Detectors {
  const on = new Set(enabled);
  const taxSet = new Set(on.has('tax_id') ? taxIds : []);
  const passes: Pass[] = [];
  const add = (p: Pass | undefined): void => void (p && passes.push(p));
  const secrets = on.has('secret');
  const secretPass = secrets ? new SecretPass() : undefined;
  add(makePass(FAMILY_LETTER_DIGITS, [...(on.has('iban') ? [IBAN] : []), ...(taxSet.has('uk_nino') ? [NINO] : [])], (t) => HAS_LETTER_DIGITS.test(t), false));
  // Cards before tax ids before phones where two can start at the same index.
  const numeric = [...(on.has('payment_card') ? [CARD] : []), ...taxIdPatterns(taxSet), ...(on.has('phone') ? PHONES : [])];
  // With one or two patterns their own regex scan is as quick as probing for runs of numbers.
  // No gate of its own: the prefilter (familiesOf) has seen a digit, or is off.
  add(makePass(FAMILY_NUMBERS, numeric, undefined, numeric.length > 2));
  const emails = on.has('email');
  const enabledList = DETECTOR_NAMES.filter((d) => on.has(d));

  return {
    enabled: enabledList,
    scan(text: string, key?: string): Hit[] {
      if (secrets && key !== undefined && secretNameOf(key) !== '' && isSecretValue(text)) {
        return [{ detector: 'secret', kind: 'named_secret', start: 0, end: text.length }];
      }
      const families = prefilter ? familiesOf(text) : ALL_FAMILIES;
      const hits: Hit[] = [];
      if (families === 0) return hits;
      if (secretPass !== undefined) secretPass.scan(text, key, hits, families);
      for (const pass of passes) if ((families & pass.family) !== 0) runPass(pass, text, key, hits);
      if ((families & FAMILY_ADDRESSES) !== 0) {
        if ((emails || secrets) && text.includes('@')) scanAddresses(text, hits, emails, secrets);
        else if (emails && text.includes('%40')) scanAddresses(text, hits, emails, false);
      }
      return resolveSpans(hits);
    },
  };
}
