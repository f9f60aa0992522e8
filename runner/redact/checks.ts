// Checksums and character tests the detectors share (no regexes, no allocation).

export function luhnValid(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return false;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

/** Card brand by IIN prefix and length, or undefined when no known scheme issues it. */
export function cardBrand(digits: string): string | undefined {
  return brandByPrefixes(digits[0] === '4', Number(digits.slice(0, 2)), Number(digits.slice(0, 3)), Number(digits.slice(0, 4)), Number(digits.slice(0, 6)), digits.length);
}

/** Card brand of `n` digits whose first six make the number `iin` (n >= 6). */
export function brandOf(iin: number, n: number): string | undefined {
  return brandByPrefixes(iin >= 400000 && iin < 500000, Math.floor(iin / 10000), Math.floor(iin / 1000), Math.floor(iin / 100), iin, n);
}

const MAESTRO_IINS = new Set([5018, 5020, 5038, 5893, 6304, 6759, 6761, 6762, 6763]);

function brandByPrefixes(visa: boolean, p2: number, p3: number, p4: number, p6: number, n: number): string | undefined {
  if (visa) return n === 13 || n === 16 || n === 19 ? 'visa' : undefined;
  if ((p2 >= 51 && p2 <= 55) || (p4 >= 2221 && p4 <= 2720)) return n === 16 ? 'mastercard' : undefined;
  if (p2 === 34 || p2 === 37) return n === 15 ? 'amex' : undefined;
  if (p4 === 6011 || (p3 >= 644 && p3 <= 649) || p2 === 65 || (p6 >= 622126 && p6 <= 622925))
    return n >= 16 && n <= 19 ? 'discover' : undefined;
  if (p4 >= 3528 && p4 <= 3589) return n >= 16 && n <= 19 ? 'jcb' : undefined;
  if ((p3 >= 300 && p3 <= 305) || p2 === 36 || p2 === 38 || p2 === 39) return n >= 14 && n <= 19 ? 'diners' : undefined;
  if (p2 === 62) return n >= 16 && n <= 19 ? 'unionpay' : undefined;
  if (MAESTRO_IINS.has(p4)) return n >= 13 && n <= 19 ? 'maestro' : undefined;
  return undefined;
}

/** IBAN lengths by country (ISO 13616 registry). */
export const IBAN_LENGTHS: Readonly<Record<string, number>> = {
  AD: 24, AE: 23, AL: 28, AT: 20, AZ: 28, BA: 20, BE: 16, BG: 22, BH: 22, BR: 29, BY: 28, CH: 21,
  CR: 22, CY: 28, CZ: 24, DE: 22, DK: 18, DO: 28, EE: 20, EG: 29, ES: 24, FI: 18, FO: 18, FR: 27,
  GB: 22, GE: 22, GI: 23, GL: 18, GR: 27, GT: 28, HR: 21, HU: 28, IE: 22, IL: 23, IQ: 23, IS: 26,
  IT: 27, JO: 30, KW: 30, KZ: 20, LB: 28, LC: 32, LI: 21, LT: 20, LU: 20, LV: 21, MC: 27, MD: 24,
  ME: 22, MK: 19, MR: 27, MT: 31, MU: 30, NL: 18, NO: 15, PK: 24, PL: 28, PS: 29, PT: 25, QA: 29,
  RO: 24, RS: 22, SA: 24, SC: 31, SE: 24, SI: 19, SK: 24, SM: 27, ST: 25, SV: 28, TL: 23, TN: 24,
  TR: 26, UA: 29, VA: 22, VG: 24, XK: 20,
};

/** ISO 7064 mod 97-10 over the rearranged (upper-case) IBAN, in chunks (no BigInt). */
export function ibanChecksumValid(iban: string): boolean {
  const rearranged = iban.slice(4) + iban.slice(0, 4);
  let rem = 0;
  for (let i = 0; i < rearranged.length; i++) {
    const code = rearranged.charCodeAt(i);
    if (code >= 48 && code <= 57) rem = (rem * 10 + (code - 48)) % 97;
    else if (code >= 65 && code <= 90) rem = (rem * 100 + (code - 55)) % 97;
    else return false;
  }
  return rem === 1;
}

export function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

export function isAlnum(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}

/** Identifier characters of key names: letters, digits, '_', '-', '.'. */
export function isKeyChar(c: number): boolean {
  return isAlnum(c) || c === 95 || c === 45 || c === 46;
}

/**
 * The label a value sits under: the text before it on its line (up to 64 chars), plus, for a
 * CSV row, the header cell of its column. Lower case. Used by detectors that need context
 * (a bare 9-digit SSN is only one when a label says so).
 */
export function labelBefore(text: string, start: number): string {
  let lineStart = start;
  while (lineStart > 0 && start - lineStart < 64 && text.charCodeAt(lineStart - 1) !== 10) lineStart--;
  const line = text.slice(lineStart, start);
  // Only the field the value belongs to: after the last separator of inline records
  // (`{"a":"x","b":` / `a=1; b=`), so a neighbour's name does not label this value. (A
  // markdown row's '|' stays: there the label is the cell before.)
  let cut = -1;
  for (const sep of [',', ';', '{', '&']) cut = Math.max(cut, line.lastIndexOf(sep, line.length - 2));
  let label = cut === -1 ? line : line.slice(cut + 1);
  if (line.includes(',')) {
    // A CSV row: the header is the first line of the text; take the cell above this one.
    const headerEnd = text.indexOf('\n');
    let rowStart = lineStart;
    while (rowStart > 0 && start - rowStart < 4096 && text.charCodeAt(rowStart - 1) !== 10) rowStart--;
    if (rowStart > 0 && headerEnd > 0 && headerEnd < rowStart && headerEnd < 4096) {
      const column = text.slice(rowStart, start).split(',').length - 1;
      label += ' ' + (text.slice(0, headerEnd).split(',')[column] ?? '');
    }
  }
  return label.toLowerCase();
}

/** A documented example or template value, never a real secret. */
const PLACEHOLDER = /example|your[_-]?|[_-]here\b|<[^>]*>|\{\{|\$\{|\$\(|changeme|redacted|placeholder|dummy|xxxxx|XXXXX|\*{3}|•{3}|\.{3}/i;
const DOCUMENTED = new Set([
  'AKIAIOSFODNN7EXAMPLE', 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', 'sk_test_4eC39HqLyjWDarjtT1zdp7dc', 'sk_test_BQokikJOvBiI2HlWgH4olfQ2',
  'rk_test_4eC39HqLyjWDarjtT1zdp7dc', 'pk_test_TYooMQauvdEDq54NiTphI7jx', 'xoxb-your-token-here',
]);

export function isPlaceholder(value: string): boolean {
  if (DOCUMENTED.has(value) || PLACEHOLDER.test(value)) return true;
  // A run of one character (x-filled, zero-filled) makes up most of it.
  let run = 1;
  let best = 1;
  for (let i = 1; i < value.length; i++) {
    run = value.charCodeAt(i) === value.charCodeAt(i - 1) ? run + 1 : 1;
    if (run > best) best = run;
  }
  return best >= 8 || (value.length >= 12 && best * 2 >= value.length);
}
