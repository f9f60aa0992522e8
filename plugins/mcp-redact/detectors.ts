// Sensitive-data detectors. Every enabled detector becomes one alternative of a single
// global regex (one scan per string); each alternative starts with a negative lookbehind of
// its own character class, so a match can only begin at the start of a token. That keeps
// every alternative linear on long adversarial runs (no O(n²) restarts inside a run).
// A regex hit is only a candidate: a validator (Luhn, mod-97, SSN ranges, IIN, ...) decides.

export const DETECTOR_NAMES = ['payment_card', 'tax_id', 'iban', 'email', 'phone', 'secret'] as const;
export type DetectorName = (typeof DETECTOR_NAMES)[number];

export const TAX_ID_KINDS = ['us_ssn', 'us_ein', 'uk_nino', 'ca_sin'] as const;
export type TaxIdKind = (typeof TAX_ID_KINDS)[number];

/** One validated finding in a string: [start, end) of the text to replace. */
export interface Hit {
  detector: DetectorName;
  /** Finer kind (e.g. us_ssn, github_token, visa); for docs and tests, never for values. */
  kind: string;
  start: number;
  end: number;
}

interface Pattern {
  /** Group name in the combined regex (unique, [a-z_]). */
  group: string;
  detector: DetectorName;
  kind: string;
  source: string;
  /**
   * Decide on a candidate. Returns the accepted end index (may be shorter than the regex
   * match, e.g. IBAN trimmed to its country length) or -1 to reject.
   */
  validate?: (match: string, start: number, text: string) => number;
}

/** Case-insensitive literal without the `i` flag (other alternatives are case-sensitive). */
function ci(word: string): string {
  let out = '';
  for (const ch of word) {
    const lower = ch.toLowerCase();
    const upper = ch.toUpperCase();
    out += lower === upper ? (/[A-Za-z0-9]/.test(ch) ? ch : `\\${ch}`) : `[${lower}${upper}]`;
  }
  return out;
}

// ---------- validators ----------

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
  const n = digits.length;
  const p2 = Number(digits.slice(0, 2));
  const p3 = Number(digits.slice(0, 3));
  const p4 = Number(digits.slice(0, 4));
  const p6 = Number(digits.slice(0, 6));
  if (digits[0] === '4') return n === 13 || n === 16 || n === 19 ? 'visa' : undefined;
  if ((p2 >= 51 && p2 <= 55) || (p4 >= 2221 && p4 <= 2720)) return n === 16 ? 'mastercard' : undefined;
  if (p2 === 34 || p2 === 37) return n === 15 ? 'amex' : undefined;
  if (p4 === 6011 || (p3 >= 644 && p3 <= 649) || p2 === 65 || (p6 >= 622126 && p6 <= 622925))
    return n >= 16 && n <= 19 ? 'discover' : undefined;
  if (p4 >= 3528 && p4 <= 3589) return n >= 16 && n <= 19 ? 'jcb' : undefined;
  if ((p3 >= 300 && p3 <= 305) || p2 === 36 || p2 === 38 || p2 === 39) return n >= 14 && n <= 19 ? 'diners' : undefined;
  if (p2 === 62) return n >= 16 && n <= 19 ? 'unionpay' : undefined;
  if ([5018, 5020, 5038, 5893, 6304, 6759, 6761, 6762, 6763].includes(p4)) return n >= 13 && n <= 19 ? 'maestro' : undefined;
  return undefined;
}

function validateCard(match: string, start: number): number {
  const digits = match.replace(/[ -]/g, '');
  if (digits !== match) {
    // Separated numbers must look like printed cards: one separator kind, first group of 4,
    // groups of 3-6 digits (4-4-4-4, 4-6-5, 4-4-4-4-3). Rejects phone-ish and id-ish runs.
    const sep = match.includes(' ') ? ' ' : '-';
    if (match.includes(sep === ' ' ? '-' : ' ')) return -1;
    const groups = match.split(sep);
    if (groups[0]?.length !== 4) return -1;
    for (const g of groups) if (g.length < 3 || g.length > 6) return -1;
  }
  if (!luhnValid(digits) || cardBrand(digits) === undefined) return -1;
  return start + match.length;
}

function validateSsn(match: string, start: number): number {
  const digits = match.replace(/[ -]/g, '');
  const sep = match[3];
  if (match[6] !== sep) return -1;
  const area = digits.slice(0, 3);
  if (area === '000' || area === '666' || area[0] === '9') return -1;
  if (digits.slice(3, 5) === '00' || digits.slice(5) === '0000') return -1;
  return start + match.length;
}

// EIN prefixes the IRS never assigns.
const INVALID_EIN_PREFIXES = new Set(['00', '07', '08', '09', '17', '18', '19', '28', '29', '49', '69', '70', '78', '79', '89', '96', '97']);
function validateEin(match: string, start: number): number {
  return INVALID_EIN_PREFIXES.has(match.slice(0, 2)) ? -1 : start + match.length;
}

const INVALID_NINO_PREFIXES = new Set(['BG', 'GB', 'KN', 'NK', 'NT', 'TN', 'ZZ']);
function validateNino(match: string, start: number): number {
  return INVALID_NINO_PREFIXES.has(match.slice(0, 2)) ? -1 : start + match.length;
}

function validateSin(match: string, start: number): number {
  if (match[3] !== match[7]) return -1;
  const digits = match.replace(/[ -]/g, '');
  if (digits[0] === '0' || digits[0] === '8') return -1;
  return luhnValid(digits) ? start + match.length : -1;
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

/** ISO 7064 mod 97-10 over the rearranged IBAN, computed in chunks (no BigInt). */
export function ibanChecksumValid(iban: string): boolean {
  const rearranged = iban.slice(4) + iban.slice(0, 4);
  let rem = 0;
  for (const ch of rearranged) {
    const code = ch.charCodeAt(0);
    if (code >= 48 && code <= 57) rem = (rem * 10 + (code - 48)) % 97;
    else if (code >= 65 && code <= 90) rem = (rem * 100 + (code - 55)) % 97;
    else return false;
  }
  return rem === 1;
}

function isAlnum(code: number): boolean {
  return (code >= 48 && code <= 57) || (code >= 65 && code <= 90) || (code >= 97 && code <= 122);
}

function validateIban(match: string, start: number, text: string): number {
  const length = IBAN_LENGTHS[match.slice(0, 2)];
  if (length === undefined) return -1;
  // The regex may have run into a following uppercase word: cut at the country length.
  let compact = '';
  let i = 0;
  for (; i < match.length && compact.length < length; i++) {
    const ch = match[i]!;
    if (ch !== ' ') compact += ch;
  }
  if (compact.length !== length) return -1;
  const end = start + i;
  if (end < text.length && isAlnum(text.charCodeAt(end))) return -1;
  return ibanChecksumValid(compact) ? end : -1;
}

function validateEmail(match: string, start: number): number {
  const at = match.indexOf('@');
  const local = match.slice(0, at);
  if (local.startsWith('.') || local.endsWith('.') || local.includes('..')) return -1;
  const labels = match.slice(at + 1).split('.');
  const tld = labels[labels.length - 1]!;
  if (!/^[A-Za-z]{2,24}$/.test(tld)) return -1;
  for (const label of labels) if (label.startsWith('-') || label.endsWith('-')) return -1;
  return start + match.length;
}

function validateE164(match: string, start: number): number {
  let digits = 0;
  for (let i = 0; i < match.length; i++) {
    const c = match.charCodeAt(i);
    if (c >= 48 && c <= 57) digits++;
  }
  return digits >= 8 && digits <= 15 ? start + match.length : -1;
}

function validateNanp(match: string, start: number): number {
  const digits = match.replace(/\D/g, '');
  if (digits[0] === '0' || digits[0] === '1' || digits[3] === '0' || digits[3] === '1') return -1;
  if (match[0] !== '(' && match[3] !== match[7]) return -1;
  return start + match.length;
}

function validateBearer(match: string, start: number): number {
  // Prose like "Bearer authentication-is-required" is not a token: demand letters and digits.
  return /\d/.test(match) && /[A-Za-z]/.test(match) ? start + match.length : -1;
}

function validateBasic(match: string, start: number): number {
  const decoded = Buffer.from(match, 'base64').toString('latin1');
  return decoded.includes(':') ? start + match.length : -1;
}

function validateAssignedSecret(match: string, start: number): number {
  if (!/[\d!#$%^*()_+\-=@~.]/.test(match) || !/[A-Za-z]/.test(match)) return -1;
  return start + match.length;
}

// ---------- patterns ----------

const PRIVATE_KEY_LABEL = '(?:[A-Z0-9]+ ){0,3}PRIVATE KEY';
const SECRET_KEY_NAMES = ['password', 'passwd', 'pwd', 'secret', 'client_secret', 'api_key', 'apikey', 'api-key', 'access_token', 'auth_token'];

function secretPatterns(): Pattern[] {
  return [
    {
      group: 'private_key',
      detector: 'secret',
      kind: 'private_key',
      // Body: any char but a run of five dashes, so a BEGIN without END stops at the next
      // PEM boundary (linear), and a truncated key is still redacted up to there.
      source: `-----BEGIN ${PRIVATE_KEY_LABEL}-----(?:[^-]|-(?!----)){0,65536}(?:-----END ${PRIVATE_KEY_LABEL}-----)?`,
    },
    {
      group: 'jwt',
      detector: 'secret',
      kind: 'jwt',
      source: '(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{8,}\\.eyJ[A-Za-z0-9_-]{8,}\\.[A-Za-z0-9_-]{16,}',
    },
    { group: 'aws_key_id', detector: 'secret', kind: 'aws_access_key_id', source: '(?<![A-Za-z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Za-z0-9])' },
    {
      group: 'aws_secret',
      detector: 'secret',
      kind: 'aws_secret_access_key',
      source: `(?<=(?:${ci('aws_secret_access_key')}|${ci('aws_secret_key')}|${ci('secret_access_key')}|${ci('SecretAccessKey')})["']?[ \\t]{0,4}[:=][ \\t]{0,4}["']?)[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])`,
    },
    {
      group: 'github',
      detector: 'secret',
      kind: 'github_token',
      source: '(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{36,251}|github_pat_[A-Za-z0-9_]{22,244})(?![A-Za-z0-9_])',
    },
    { group: 'slack', detector: 'secret', kind: 'slack_token', source: '(?<![A-Za-z0-9-])xox[abposr]-[A-Za-z0-9-]{10,250}' },
    {
      group: 'slack_webhook',
      detector: 'secret',
      kind: 'slack_webhook',
      source: 'https://hooks\\.slack\\.com/services/[A-Za-z0-9]{8,12}/[A-Za-z0-9]{8,12}/[A-Za-z0-9]{20,32}',
    },
    { group: 'stripe', detector: 'secret', kind: 'stripe_key', source: '(?<![A-Za-z0-9_])(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,247}(?![A-Za-z0-9])' },
    { group: 'google', detector: 'secret', kind: 'google_api_key', source: '(?<![A-Za-z0-9_-])AIza[0-9A-Za-z_-]{35}(?![A-Za-z0-9_-])' },
    {
      group: 'bearer',
      detector: 'secret',
      kind: 'bearer_token',
      source: `(?<=${ci('bearer')}[ \\t]{1,4})[A-Za-z0-9._~+/-]{16,4096}=*`,
      validate: validateBearer,
    },
    {
      group: 'basic',
      detector: 'secret',
      kind: 'basic_auth',
      source: `(?<=${ci('basic')}[ \\t]{1,4})[A-Za-z0-9+/]{8,4096}={0,2}(?![A-Za-z0-9+/=])`,
      validate: validateBasic,
    },
    {
      group: 'assigned',
      detector: 'secret',
      kind: 'assigned_secret',
      // key=value / key: value in free text (log lines, config dumps); JSON keys are handled
      // by field rules, but a JSON document embedded in a string is caught here.
      source: `(?<=(?<![A-Za-z0-9_])(?:${SECRET_KEY_NAMES.map(ci).join('|')})["']?[ \\t]{0,4}[:=][ \\t]{0,4}["']?)[^\\s"'&,;]{8,256}`,
      validate: validateAssignedSecret,
    },
  ];
}

function taxIdPatterns(kinds: ReadonlySet<TaxIdKind>): Pattern[] {
  const out: Pattern[] = [];
  if (kinds.has('us_ssn'))
    out.push({ group: 'us_ssn', detector: 'tax_id', kind: 'us_ssn', source: '(?<![\\d-])\\d{3}[- ]\\d{2}[- ]\\d{4}(?![\\d-])', validate: validateSsn });
  if (kinds.has('us_ein'))
    out.push({ group: 'us_ein', detector: 'tax_id', kind: 'us_ein', source: '(?<![\\d-])\\d{2}-\\d{7}(?![\\d-])', validate: validateEin });
  if (kinds.has('uk_nino'))
    out.push({
      group: 'uk_nino',
      detector: 'tax_id',
      kind: 'uk_nino',
      source: '(?<![A-Za-z0-9])[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\\d{2} ?\\d{2} ?\\d{2} ?[A-D](?![A-Za-z0-9])',
      validate: validateNino,
    });
  if (kinds.has('ca_sin'))
    out.push({ group: 'ca_sin', detector: 'tax_id', kind: 'ca_sin', source: '(?<![\\d-])\\d{3}[- ]\\d{3}[- ]\\d{3}(?![\\d-])', validate: validateSin });
  return out;
}

function patternsFor(detector: DetectorName, taxIds: ReadonlySet<TaxIdKind>): Pattern[] {
  switch (detector) {
    case 'secret':
      return secretPatterns();
    case 'tax_id':
      return taxIdPatterns(taxIds);
    case 'iban':
      return [
        { group: 'iban', detector: 'iban', kind: 'iban', source: '(?<![A-Za-z0-9])[A-Z]{2}\\d{2}(?: ?[A-Z0-9]){11,28}', validate: validateIban },
      ];
    case 'email':
      return [
        {
          group: 'email',
          detector: 'email',
          kind: 'email',
          source: '(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\\.[A-Za-z0-9-]{1,63})+',
          validate: validateEmail,
        },
      ];
    case 'payment_card':
      return [
        {
          group: 'card',
          detector: 'payment_card',
          kind: 'payment_card',
          // Not inside a longer number, a decimal, or a dashed id.
          source: '(?<![\\d.+-])\\d(?:[ -]?\\d){12,18}(?!\\d|[.-]\\d)',
          validate: validateCard,
        },
      ];
    case 'phone':
      return [
        {
          group: 'e164',
          detector: 'phone',
          kind: 'e164',
          source: '(?<![\\w+])\\+[1-9]\\d{0,3}(?:[ .-]?\\(\\d{1,4}\\))?(?:[ .-]?\\d){6,13}(?!\\d)',
          validate: validateE164,
        },
        {
          group: 'nanp',
          detector: 'phone',
          kind: 'nanp',
          source: '(?<![\\w-])(?:\\(\\d{3}\\) ?|\\d{3}[-.])\\d{3}[-.]\\d{4}(?![\\w-])',
          validate: validateNanp,
        },
      ];
  }
}

/** The compiled scanner of one conf. */
export interface Detectors {
  readonly enabled: readonly DetectorName[];
  /** Validated, non-overlapping hits, in order. */
  scan(text: string): Hit[];
}

// Order matters where two alternatives can start at the same index: the more specific
// (secrets, IBAN, email) before the numeric ones.
const SCAN_ORDER: readonly DetectorName[] = ['secret', 'iban', 'email', 'payment_card', 'tax_id', 'phone'];

export function compileDetectors(enabled: readonly DetectorName[], taxIds: readonly TaxIdKind[] = TAX_ID_KINDS): Detectors {
  const wanted = new Set(enabled);
  const taxSet = new Set(taxIds);
  const patterns: Pattern[] = [];
  for (const d of SCAN_ORDER) if (wanted.has(d)) patterns.push(...patternsFor(d, taxSet));
  const enabledList = SCAN_ORDER.filter((d) => wanted.has(d));
  if (patterns.length === 0) return { enabled: enabledList, scan: () => [] };

  const source = patterns.map((p) => `(?<${p.group}>${p.source})`).join('|');
  const regex = new RegExp(source, 'g');
  // Sticky copies: when the first alternative at an index is rejected by its validator, the
  // later alternatives get their chance at the same index (e.g. an SSN followed by digits
  // that first looked like a card).
  const sticky = patterns.map((p) => new RegExp(p.source, 'y'));

  function tryFrom(first: number, at: number, text: string): { pattern: Pattern; end: number } | undefined {
    for (let i = first; i < patterns.length; i++) {
      const re = sticky[i]!;
      re.lastIndex = at;
      const m = re.exec(text);
      if (m === null) continue;
      const pattern = patterns[i]!;
      const end = pattern.validate ? pattern.validate(m[0], at, text) : at + m[0].length;
      if (end >= 0) return { pattern, end };
    }
    return undefined;
  }

  return {
    enabled: enabledList,
    scan(text: string): Hit[] {
      const hits: Hit[] = [];
      regex.lastIndex = 0;
      let m: RegExpExecArray | null;
      while ((m = regex.exec(text)) !== null) {
        const at = m.index;
        const found = m.groups;
        let index = -1;
        if (found) {
          for (let i = 0; i < patterns.length; i++) {
            if (found[patterns[i]!.group] !== undefined) {
              index = i;
              break;
            }
          }
        }
        const pattern = patterns[index];
        let accepted: { pattern: Pattern; end: number } | undefined;
        if (pattern) {
          const end = pattern.validate ? pattern.validate(m[0], at, text) : at + m[0].length;
          accepted = end >= 0 ? { pattern, end } : tryFrom(index + 1, at, text);
        }
        if (!accepted) {
          regex.lastIndex = at + 1;
          continue;
        }
        hits.push({ detector: accepted.pattern.detector, kind: accepted.pattern.kind, start: at, end: accepted.end });
        regex.lastIndex = accepted.end > at ? accepted.end : at + 1;
      }
      return hits;
    },
  };
}
