// The scanner of one conf: the enabled regex detectors of each family combined into one
// global regex per family (one scan per string, gated by a cheap test), the hand-written
// scanners (names of secrets, '@'-anchored addresses), and the span resolver.
//
// Every alternative starts by consuming a character (or literal) and only then looks behind
// for its token boundary: irregexp can skip quickly to plausible start characters and every
// alternative stays linear on long adversarial runs. A regex hit is only a candidate: a
// validator (Luhn, mod-97, SSN ranges, placeholders, labels, ...) decides.

import { scanAddresses } from './addresses.js';
import { isSecretKeyName, isSecretValue, normaliseKeyName } from './keyed.js';
import { CARD, IBAN, NINO, PHONES, taxIdPatterns } from './national.js';
import { DETECTOR_NAMES, TAX_ID_KINDS, type DetectorName, type Hit, type Pattern, type TaxIdKind } from '../../../../runner/redact/pattern.js';
import { SecretPass } from './secret-pass.js';

/** One regex pass: the enabled patterns of a family, combined; skipped unless the gate says go. */
interface Pass {
  gate: (text: string) => boolean;
  patterns: Pattern[];
  regex: RegExp;
  /** Sticky copies: when the first alternative at an index is rejected, later ones get a try. */
  sticky: RegExp[];
}

function makePass(patterns: Pattern[], gate: (text: string) => boolean): Pass | undefined {
  if (patterns.length === 0) return undefined;
  return {
    gate,
    patterns,
    regex: new RegExp(patterns.map((p) => `(?<${p.group}>${p.source})`).join('|'), 'g'),
    sticky: patterns.map((p) => new RegExp(p.source, 'y')),
  };
}

const HAS_DIGIT = /\d/;
const HAS_LETTER_DIGITS = /[A-Za-z] ?\d\d/;

function accept(p: Pattern, m: RegExpExecArray, text: string, label: string | undefined): { start: number; end: number } | undefined {
  let value = m[0];
  let start = m.index;
  if (p.valueGroup !== undefined) {
    const v = m.groups?.[p.valueGroup];
    if (v === undefined) return undefined;
    start = m.index + m[0].length - v.length;
    value = v;
  }
  const end = p.validate ? p.validate(value, start, text, label) : start + value.length;
  return end >= 0 ? { start, end } : undefined;
}

function runPass(pass: Pass, text: string, label: string | undefined, out: Hit[]): void {
  if (!pass.gate(text)) return;
  const { regex, patterns, sticky } = pass;
  regex.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = regex.exec(text)) !== null) {
    const at = m.index;
    let index = 0;
    if (patterns.length > 1) {
      const found = m.groups!;
      while (index < patterns.length && found[patterns[index]!.group] === undefined) index++;
    }
    let pattern = patterns[index];
    let span = pattern ? accept(pattern, m, text, label) : undefined;
    for (let i = index + 1; span === undefined && i < patterns.length; i++) {
      const re = sticky[i]!;
      re.lastIndex = at;
      const alt = re.exec(text);
      if (alt === null) continue;
      pattern = patterns[i];
      span = accept(pattern!, alt, text, label);
    }
    if (span === undefined || pattern === undefined) {
      regex.lastIndex = at + 1;
      continue;
    }
    out.push({ detector: pattern.detector, kind: pattern.kind, start: span.start, end: span.end });
    // Go on from the next index, not the hit's end: another family's value may start inside
    // this hit and run past it (a greedy phone swallowing the head of an EIN), and the
    // resolver must see it as each detector alone would. Boundary lookbehinds keep this cheap.
    regex.lastIndex = at + 1;
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

export function compileDetectors(enabled: readonly DetectorName[], taxIds: readonly TaxIdKind[] = TAX_ID_KINDS): Detectors {
  const on = new Set(enabled);
  const taxSet = new Set(on.has('tax_id') ? taxIds : []);
  const passes: Pass[] = [];
  const add = (p: Pass | undefined): void => void (p && passes.push(p));
  const secrets = on.has('secret');
  const secretPass = secrets ? new SecretPass() : undefined;
  add(makePass([...(on.has('iban') ? [IBAN] : []), ...(taxSet.has('uk_nino') ? [NINO] : [])], (t) => HAS_LETTER_DIGITS.test(t)));
  // Cards before tax ids before phones where two can start at the same index.
  const numeric = [...(on.has('payment_card') ? [CARD] : []), ...taxIdPatterns(taxSet), ...(on.has('phone') ? PHONES : [])];
  add(makePass(numeric, (t) => HAS_DIGIT.test(t)));
  const emails = on.has('email');
  const enabledList = DETECTOR_NAMES.filter((d) => on.has(d));

  return {
    enabled: enabledList,
    scan(text: string, key?: string): Hit[] {
      const hits: Hit[] = [];
      if (secrets && key !== undefined && isSecretKeyName(normaliseKeyName(key)) && isSecretValue(text)) {
        return [{ detector: 'secret', kind: 'named_secret', start: 0, end: text.length }];
      }
      if (secretPass !== undefined) secretPass.scan(text, key, hits);
      for (const pass of passes) runPass(pass, text, key, hits);
      if ((emails || secrets) && text.includes('@')) scanAddresses(text, hits, emails, secrets);
      else if (emails && text.includes('%40')) scanAddresses(text, hits, emails, false);
      return resolveSpans(hits);
    },
  };
}
