// Which detector families could find anything in a short string, from one pass over its
// characters. Most strings in tool arguments and results are short (ids, names, enum values,
// dates): for them the fixed cost of starting every family's scan is most of the work, and
// one look at their characters proves most families cannot match.
//
// Each condition is a necessary one, read off the family's own patterns and validators (a
// family skipped here could not have produced a finding; one kept still decides as before):
//   - names of secrets (`pwd=…`): a separator (':', '=', space or tab) between name and
//     value, and at least 8 characters (a 3-letter anchor, the separator, a 4-character value);
//   - prefixed tokens and JWTs: a run of at least 12 token characters [A-Za-z0-9_-] (the
//     shortest: an AWS session token's 12-character lead, then '/' or '+'; the others have
//     15 or more: `xoxb-` and 10, a JWT's 16-character signature);
//   - AWS secret keys: 40 characters;
//   - Bearer, Basic, CLI passwords, PEM blocks: 14 characters (`basic ` and 8);
//   - IBANs and NINOs: 2 digits (an IBAN's check digits);
//   - cards, tax ids and phones: 8 digits (an E.164 number; the others have more);
//   - e-mail addresses and URL passwords: an '@' (or the '%' of '%40').
// Kubernetes Secrets are found by their own literal (`Secret`), checked where they are.

export const FAMILY_NAMES = 1;
export const FAMILY_TOKENS = 2;
export const FAMILY_AWS_SECRET = 4;
export const FAMILY_GATED = 8;
export const FAMILY_LETTER_DIGITS = 16;
export const FAMILY_NUMBERS = 32;
export const FAMILY_ADDRESSES = 64;
export const ALL_FAMILIES = 127;

/** Longer strings are not read twice: there each family's own gate is cheaper per character. */
export const PREFILTER_MAX = 64;

const TOKEN_CHAR = 1;
const DIGIT = 2;
const SEPARATOR = 4;
const ADDRESS = 8;

const CLASS = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  const ch = String.fromCharCode(c);
  if (/[0-9]/.test(ch)) CLASS[c] = TOKEN_CHAR | DIGIT;
  else if (/[A-Za-z_-]/.test(ch)) CLASS[c] = TOKEN_CHAR;
  else if (ch === ':' || ch === '=' || ch === ' ' || ch === '\t') CLASS[c] = SEPARATOR;
  else if (ch === '@' || ch === '%') CLASS[c] = ADDRESS;
}

const HAS_DIGIT = /\d/;

/**
 * The families worth running on `text` (a bit set of FAMILY_*). A long string is not read
 * character by character: only a text without any digit skips the two number families.
 */
export function familiesOf(text: string): number {
  const n = text.length;
  if (n > PREFILTER_MAX) return HAS_DIGIT.test(text) ? ALL_FAMILIES : ALL_FAMILIES & ~(FAMILY_LETTER_DIGITS | FAMILY_NUMBERS);
  let digits = 0;
  let seen = 0;
  let run = 0;
  let longestRun = 0;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    const k = c < 128 ? CLASS[c]! : 0;
    seen |= k;
    if ((k & TOKEN_CHAR) !== 0) {
      run++;
      if (run > longestRun) longestRun = run;
      if ((k & DIGIT) !== 0) digits++;
    } else {
      run = 0;
    }
  }
  let families = 0;
  if ((seen & SEPARATOR) !== 0 && n >= 8) families |= FAMILY_NAMES;
  if (longestRun >= 12) families |= FAMILY_TOKENS;
  if (n >= 40) families |= FAMILY_AWS_SECRET;
  if (n >= 14) families |= FAMILY_GATED;
  if (digits >= 2) families |= FAMILY_LETTER_DIGITS;
  if (digits >= 8) families |= FAMILY_NUMBERS;
  if ((seen & ADDRESS) !== 0) families |= FAMILY_ADDRESSES;
  return families;
}
