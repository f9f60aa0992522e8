// Numbers with a national or scheme format: payment cards (Luhn + IIN), tax ids (SSN, EIN,
// SIN, NINO), IBANs (country length + mod-97), phone numbers (E.164 and the national formats
// of the US, UK, Germany, France and India). Bare digit runs count only where a label says
// what they are, so order ids and row numbers stay.

import { brandOf, IBAN_LENGTHS, ibanChecksumValid, isAlnum, labelBefore, luhnValid } from './checks.js';
import type { Pattern, TaxIdKind } from './pattern.js';

/**
 * A card candidate (the regex's digits, bare or in groups split by ' ' or '-'): its end, or
 * -1. Read in one pass without copies: the digit count, the grouping of printed cards (one
 * separator kind, a first group of 4, groups of 3-6 digits), the IIN, then the Luhn sum.
 */
function validateCard(match: string, start: number): number {
  let digits = 0;
  let sep = 0;
  let group = 0;
  let iin = 0;
  for (let i = 0; i < match.length; i++) {
    const c = match.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      if (digits < 6) iin = iin * 10 + (c - 48);
      digits++;
      group++;
      continue;
    }
    if (c !== 32 && c !== 45) return -1;
    if (sep === 0) {
      if (group !== 4) return -1;
      sep = c;
    } else if (c !== sep) {
      return -1;
    }
    if (group < 3 || group > 6) return -1;
    group = 0;
  }
  if (sep !== 0 && (group < 3 || group > 6)) return -1;
  if (digits < 13 || digits > 19 || brandOf(iin, digits) === undefined) return -1;
  let sum = 0;
  let double = false;
  for (let i = match.length - 1; i >= 0; i--) {
    let d = match.charCodeAt(i) - 48;
    if (d < 0 || d > 9) continue;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0 ? start + match.length : -1;
}

export const CARD: Pattern = {
  group: 'card',
  detector: 'payment_card',
  kind: 'payment_card',
  // 13-19 digits, bare or in printed groups; not inside a longer number, decimal, dashed id
  // or an alphanumeric code (a card-valid run inside an IBAN-shaped string is not a card).
  source: '\\d(?<![A-Za-z0-9.+-]\\d)\\d{3}(?:\\d{9,15}|(?:[ -]\\d{3,6}){2,4})(?!\\d|[.-]\\d|[A-Za-z])',
  validate: validateCard,
};

function ssnValid(digits: string): boolean {
  const area = digits.slice(0, 3);
  return area !== '000' && area !== '666' && area[0] !== '9' && digits.slice(3, 5) !== '00' && digits.slice(5) !== '0000';
}

// EIN prefixes the IRS never assigns.
const INVALID_EIN_PREFIXES = new Set(['00', '07', '08', '09', '17', '18', '19', '28', '29', '49', '69', '70', '78', '79', '89', '96', '97']);

function sinValid(digits: string): boolean {
  return digits[0] !== '0' && digits[0] !== '8' && luhnValid(digits);
}

const SSN_LABEL = /\bssn|social[ _-]?security|\bss#|\bsocial\b|\btin\b|taxpayer/;
const EIN_LABEL = /\bf?ein\b|employer[ _-]?(?:id|identification)|\bfein|tax[ _-]?id/;
const SIN_LABEL = /\bsin\b|social[ _-]?insurance|\bnas\b/;

/** Which labelled id a bare or dashed number is, given the label before it (or its JSON key). */
function taxKind(label: string): 'ssn' | 'ein' | 'sin' | undefined {
  if (SIN_LABEL.test(label)) return 'sin';
  if (EIN_LABEL.test(label)) return 'ein';
  if (SSN_LABEL.test(label)) return 'ssn';
  return undefined;
}

/** The label of a number: the field before it, a parenthesised note right after it, the JSON key. */
function labelOf(text: string, start: number, key: string | undefined): string {
  let near = labelBefore(text, start);
  const after = /^[\d -]{9,11}\s?\(([^)\n]{1,40})\)/.exec(text.slice(start, start + 56));
  if (after !== null) near += ` ${after[1]!.toLowerCase()}`;
  return key === undefined ? near : `${near} ${key.toLowerCase().replace(/[_-]/g, ' ')} ${key.toLowerCase()}`;
}

export function taxIdPatterns(kinds: ReadonlySet<TaxIdKind>): Pattern[] {
  const out: Pattern[] = [];
  const ssn = kinds.has('us_ssn');
  const ein = kinds.has('us_ein');
  const sin = kinds.has('ca_sin');
  if (ssn)
    out.push({
      group: 'us_ssn',
      detector: 'tax_id',
      kind: 'us_ssn',
      source: '\\d(?<![\\d-]\\d)\\d{2}(?<ssn_sep>[- ])\\d{2}\\k<ssn_sep>\\d{4}(?![\\d-])',
      validate: (m, start) => (ssnValid(m.replace(/\D/g, '')) ? start + m.length : -1),
    });
  if (ein)
    out.push({
      group: 'us_ein',
      detector: 'tax_id',
      kind: 'us_ein',
      source: '\\d(?<![\\d-]\\d)\\d-\\d{7}(?![\\d-])',
      validate: (m, start) => (INVALID_EIN_PREFIXES.has(m.slice(0, 2)) ? -1 : start + m.length),
    });
  if (sin)
    out.push({
      group: 'ca_sin',
      detector: 'tax_id',
      kind: 'ca_sin',
      source: '\\d(?<![\\d-]\\d)\\d{2}(?<sin_sep>[- ])\\d{3}\\k<sin_sep>\\d{3}(?![\\d-])',
      // Dashed SINs stand alone; spaced 3-3-3 groups are common in other numbers (sizes,
      // references), so those need a label as bare ones do.
      validate: (m, start, text, key) => (sinValid(m.replace(/\D/g, '')) && (m[3] === '-' || taxKind(labelOf(text, start, key)) === 'sin') ? start + m.length : -1),
    });
  if (ssn || ein || sin)
    out.push({
      // Nine bare digits: an SSN, EIN or SIN only when the label before it (or the JSON key,
      // or the CSV column header) names one.
      group: 'tax_bare',
      detector: 'tax_id',
      kind: 'tax_id_labelled',
      source: '\\d(?<![\\w.+-]\\d)\\d{8}(?![\\w-]|\\.\\d)',
      validate: (m, start, text, key) => {
        const kind = taxKind(labelOf(text, start, key));
        if (kind === 'ssn' && ssn && ssnValid(m)) return start + 9;
        if (kind === 'ein' && ein && !INVALID_EIN_PREFIXES.has(m.slice(0, 2))) return start + 9;
        if (kind === 'sin' && sin && sinValid(m)) return start + 9;
        return -1;
      },
    });
  return out;
}

const INVALID_NINO_PREFIXES = new Set(['BG', 'GB', 'KN', 'NK', 'NT', 'TN', 'ZZ']);

export const NINO: Pattern = {
  group: 'uk_nino',
  detector: 'tax_id',
  kind: 'uk_nino',
  // Upper or lower case (one case per number), spaces allowed between pairs.
  source:
    '(?:[A-CEGHJ-PR-TW-Z](?<![A-Za-z0-9][A-Z])[A-CEGHJ-NPR-TW-Z] ?\\d{2} ?\\d{2} ?\\d{2} ?[A-D]|[a-ceghj-pr-tw-z](?<![A-Za-z0-9][a-z])[a-ceghj-npr-tw-z] ?\\d{2} ?\\d{2} ?\\d{2} ?[a-d])(?![A-Za-z0-9])',
  validate: (m, start) => (INVALID_NINO_PREFIXES.has(m.slice(0, 2).toUpperCase()) ? -1 : start + m.length),
};

function validateIban(match: string, start: number, text: string): number {
  const upper = match.toUpperCase();
  const length = IBAN_LENGTHS[upper.slice(0, 2)];
  if (length === undefined) return -1;
  // The regex may have run into a following word: cut at the country length.
  let compact = '';
  let i = 0;
  for (; i < upper.length && compact.length < length; i++) {
    const ch = upper[i]!;
    if (ch !== ' ') compact += ch;
  }
  if (compact.length !== length) return -1;
  const end = start + i;
  if (end < text.length && isAlnum(text.charCodeAt(end))) return -1;
  return ibanChecksumValid(compact) ? end : -1;
}

export const IBAN: Pattern = {
  group: 'iban',
  detector: 'iban',
  kind: 'iban',
  source: '(?:[A-Z](?<![A-Za-z0-9][A-Z])[A-Z]\\d{2}(?: ?[A-Z0-9]){11,28}|[a-z](?<![A-Za-z0-9][a-z])[a-z]\\d{2}(?: ?[a-z0-9]){11,28})',
  validate: validateIban,
};

// ---------- phones ----------

function digitCount(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) n++;
  }
  return n;
}

/** Country calling codes a `+` number may start with (ITU E.164 assigned, 1-3 digits). */
const CALLING_CODE = /^(?:1|7|2[07]|3[0-469]|4[013-9]|5[1-8]|6[0-6]|8[1246]|9[0-58]|2[1-9]\d|3[578]\d|42\d|5[09]\d|67\d|68\d|69\d|80\d|85\d|87\d|88\d|96\d|97\d|99\d)/;

function validateE164(match: string, start: number, text: string): number {
  const end = start + match.length;
  // ISO 6709 coordinates (+24.4334-148.6395/) and signed decimals are not phone numbers.
  if (/\+\d+\.\d+[+-]/.test(text.slice(start, end + 12)) || text.charCodeAt(end) === 47) return -1;
  const seps = match.replace(/[\d+()]/g, '');
  if (seps.length > 0 && !/^(?: +|-+|\.+)$/.test(seps.replace(/ (?=[-.])|(?<=[-.]) /g, ''))) return -1;
  const digits = digitCount(match);
  if (digits < 8 || digits > 15) return -1;
  return CALLING_CODE.test(match.slice(1).replace(/\D/g, '')) ? end : -1;
}

function validateNanp(match: string, start: number): number {
  let digits = match.replace(/\D/g, '');
  if (digits.length === 11) {
    if (digits[0] !== '1') return -1;
    digits = digits.slice(1);
  }
  if (digits.length !== 10) return -1;
  if (digits[0] === '0' || digits[0] === '1' || digits[3] === '0' || digits[3] === '1') return -1;
  return start + match.length;
}

export const PHONES: Pattern[] = [
  {
    group: 'e164',
    detector: 'phone',
    kind: 'e164',
    source: '\\+(?<![\\w+]\\+)[1-9]\\d{0,3}(?:[ .-]?\\(\\d{1,4}\\))?(?:[ .-]?\\d){6,13}(?!\\d|\\.\\d)',
    validate: validateE164,
  },
  {
    group: 'nanp',
    detector: 'phone',
    kind: 'nanp',
    // 415-555-0132, 415.555.0132, 415 555 0132, 1-800-555-0199: one separator kind.
    source: '\\d(?<![\\w.:/-]\\d)(?:\\d{2}[-. ]\\d{3}[-. ]\\d{4}|[-. ]\\d{3}[-. ]\\d{3}[-. ]\\d{4})(?![\\w-]|[.:]\\d)',
    validate: (m, start) => (/^\d{3}([-. ])\d{3}\1\d{4}$|^1([-. ])\d{3}\2\d{3}\2\d{4}$/.test(m) ? validateNanp(m, start) : -1),
  },
  {
    group: 'nanp_paren',
    detector: 'phone',
    kind: 'nanp',
    source: '\\((?<![\\w-]\\()\\d{3}\\) ?\\d{3}[-. ]\\d{4}(?![\\w-])',
    validate: validateNanp,
  },
  {
    // National forms with a trunk 0: UK 020 7946 0958 / 07700 900123, Germany 030 23456789,
    // France 01 23 45 67 89, India 098765 43210. Grouping per country is checked below.
    group: 'national',
    detector: 'phone',
    kind: 'national',
    source: '0(?<![\\w.:/+-]0)\\d{1,4}(?:[ -]\\d{2,8}){1,4}(?![\\w-]|[.:]\\d)',
    validate: (m, start) => (nationalValid(m) ? start + m.length : -1),
  },
];

const NATIONAL_FORMS: readonly RegExp[] = [
  /^0\d{2} \d{4} \d{4}$/, // UK London-style 020 7946 0958
  /^0\d{4} \d{6}$/, // UK mobile/geo 07700 900123, India 09876 543210
  /^0\d{3} \d{3} \d{4}$/, // UK 0161 496 0000
  /^0[1-9]\d{1,3}[ -]\d{6,8}$/, // Germany 030 23456789, 089-12345678
  /^0[1-9]( \d{2}){4}$/, // France 01 23 45 67 89
  /^0[1-9](-\d{2}){4}$/,
  /^0\d{5} \d{5}$/, // India 098765 43210
];

function nationalValid(m: string): boolean {
  const digits = digitCount(m);
  if (digits < 10 || digits > 12) return false;
  return NATIONAL_FORMS.some((re) => re.test(m));
}
