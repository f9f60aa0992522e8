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
  /** Group name in the pass's combined regex (unique, [a-z_]). */
  group: string;
  detector: DetectorName;
  kind: string;
  source: string;
  /**
   * Named group holding the secret when the match also holds its context (`Bearer `,
   * `password=`): only that suffix of the match is replaced. Unique name per pattern.
   */
  valueGroup?: string;
  /**
   * Decide on a candidate (the value, at `start`). Returns the accepted end index (may be
   * shorter than the regex match, e.g. IBAN trimmed to its country length) or -1 to reject.
   */
  validate?: (value: string, start: number, text: string) => number;
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
  if (digits.length < 13 || digits.length > 19) return -1;
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

function validateE164(match: string, start: number): number {
  let digits = 0;
  for (let i = 0; i < match.length; i++) {
    const c = match.charCodeAt(i);
    if (c >= 48 && c <= 57) digits++;
  }
  return digits >= 8 && digits <= 15 ? start + match.length : -1;
}

function validateNanp(match: string, start: number): number {
  let digits = match.replace(/\D/g, '');
  let rest = match;
  if (digits.length === 11) {
    // Trunk form: only "1" may precede the area code.
    if (digits[0] !== '1') return -1;
    digits = digits.slice(1);
    rest = match.slice(2);
  }
  if (digits[0] === '0' || digits[0] === '1' || digits[3] === '0' || digits[3] === '1') return -1;
  if (rest[0] !== '(' && rest[3] !== rest[7]) return -1;
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
//
// Every alternative starts by consuming a character (or literal) and only then looks behind
// for its token boundary: irregexp can then skip quickly to plausible start characters,
// where a leading lookbehind would be evaluated at every position.

const PRIVATE_KEY_LABEL = '(?:[A-Z0-9]+ ){0,3}PRIVATE KEY';
const SECRET_KEY_NAMES = ['password', 'passwd', 'pwd', 'secret', 'client_secret', 'api_key', 'apikey', 'api-key', 'access_token', 'auth_token'];

/** `word` case-insensitively, not preceded by a word character. */
function keyword(word: string): string {
  return `${ci(word)}(?<![A-Za-z0-9_]${ci(word)})`;
}

function secretPatterns(): Pattern[] {
  const assign = `["']?[ \\t]{0,4}[:=][ \\t]{0,4}["']?`;
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
      source: 'eyJ(?<![A-Za-z0-9_-]eyJ)[A-Za-z0-9_-]{8,}\\.eyJ[A-Za-z0-9_-]{8,}\\.[A-Za-z0-9_-]{16,}',
    },
    { group: 'aws_key_id', detector: 'secret', kind: 'aws_access_key_id', source: 'A(?:KIA|SIA)(?<![A-Za-z0-9]A[KS]IA)[A-Z0-9]{16}(?![A-Za-z0-9])' },
    {
      group: 'aws_secret',
      detector: 'secret',
      kind: 'aws_secret_access_key',
      valueGroup: 'aws_secret_v',
      source: `(?:${ci('aws_secret_access_key')}|${ci('aws_secret_key')}|${ci('secret_access_key')}|${ci('SecretAccessKey')})${assign}(?<aws_secret_v>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])`,
    },
    {
      group: 'github',
      detector: 'secret',
      kind: 'github_token',
      source: 'g(?<![A-Za-z0-9_]g)(?:h[pousr]_[A-Za-z0-9]{36,251}|ithub_pat_[A-Za-z0-9_]{22,244})(?![A-Za-z0-9_])',
    },
    { group: 'slack', detector: 'secret', kind: 'slack_token', source: 'xox(?<![A-Za-z0-9-]xox)[abposr]-[A-Za-z0-9-]{10,250}' },
    {
      group: 'slack_webhook',
      detector: 'secret',
      kind: 'slack_webhook',
      source: 'https://hooks\\.slack\\.com/services/[A-Za-z0-9]{8,12}/[A-Za-z0-9]{8,12}/[A-Za-z0-9]{20,32}',
    },
    { group: 'stripe', detector: 'secret', kind: 'stripe_key', source: '[sr]k_(?<![A-Za-z0-9_][sr]k_)(?:live|test)_[A-Za-z0-9]{16,247}(?![A-Za-z0-9])' },
    { group: 'google', detector: 'secret', kind: 'google_api_key', source: 'AIza(?<![A-Za-z0-9_-]AIza)[0-9A-Za-z_-]{35}(?![A-Za-z0-9_-])' },
    {
      group: 'bearer',
      detector: 'secret',
      kind: 'bearer_token',
      valueGroup: 'bearer_v',
      source: `${keyword('bearer')}[ \\t]{1,4}(?<bearer_v>[A-Za-z0-9._~+/-]{16,4096}=*)`,
      validate: validateBearer,
    },
    {
      group: 'basic',
      detector: 'secret',
      kind: 'basic_auth',
      valueGroup: 'basic_v',
      source: `${keyword('basic')}[ \\t]{1,4}(?<basic_v>[A-Za-z0-9+/]{8,4096}={0,2})(?![A-Za-z0-9+/=])`,
      validate: validateBasic,
    },
    {
      group: 'assigned',
      detector: 'secret',
      kind: 'assigned_secret',
      valueGroup: 'assigned_v',
      // key=value / key: value in free text (log lines, config dumps); JSON keys are handled
      // by field rules, but a JSON document embedded in a string is caught here.
      source: `(?:${SECRET_KEY_NAMES.map(keyword).join('|')})${assign}(?<assigned_v>[^\\s"'&,;]{8,256})`,
      validate: validateAssignedSecret,
    },
  ];
}

function taxIdNumericPatterns(kinds: ReadonlySet<TaxIdKind>): Pattern[] {
  const out: Pattern[] = [];
  if (kinds.has('us_ssn'))
    out.push({ group: 'us_ssn', detector: 'tax_id', kind: 'us_ssn', source: '\\d(?<![\\d-]\\d)\\d{2}[- ]\\d{2}[- ]\\d{4}(?![\\d-])', validate: validateSsn });
  if (kinds.has('us_ein'))
    out.push({ group: 'us_ein', detector: 'tax_id', kind: 'us_ein', source: '\\d(?<![\\d-]\\d)\\d-\\d{7}(?![\\d-])', validate: validateEin });
  if (kinds.has('ca_sin'))
    out.push({ group: 'ca_sin', detector: 'tax_id', kind: 'ca_sin', source: '\\d(?<![\\d-]\\d)\\d{2}[- ]\\d{3}[- ]\\d{3}(?![\\d-])', validate: validateSin });
  return out;
}

const CARD: Pattern = {
  group: 'card',
  detector: 'payment_card',
  kind: 'payment_card',
  // 13-19 digits, bare or in printed groups; not inside a longer number, decimal or dashed id.
  source: '\\d(?<![\\d.+-]\\d)\\d{3}(?:\\d{9,15}|(?:[ -]\\d{3,6}){2,4})(?!\\d|[.-]\\d)',
  validate: validateCard,
};

const PHONES: Pattern[] = [
  {
    group: 'e164',
    detector: 'phone',
    kind: 'e164',
    source: '\\+(?<![\\w+]\\+)[1-9]\\d{0,3}(?:[ .-]?\\(\\d{1,4}\\))?(?:[ .-]?\\d){6,13}(?!\\d)',
    validate: validateE164,
  },
  {
    group: 'nanp',
    detector: 'phone',
    kind: 'nanp',
    // 415-555-0132, 415.555.0132, 1-800-555-0199 (trunk prefix); each form is its own
    // alternative starting with a consumed character, which keeps the scan fast.
    source: '\\d(?<![\\w-]\\d)(?:[-. ]\\d{3}[-.]|\\d{2}[-.])\\d{3}[-.]\\d{4}(?![\\w-])',
    validate: validateNanp,
  },
  {
    group: 'nanp_paren',
    detector: 'phone',
    kind: 'nanp',
    source: '\\((?<![\\w-]\\()\\d{3}\\) ?\\d{3}[-.]\\d{4}(?![\\w-])',
    validate: validateNanp,
  },
];

const IBAN: Pattern = {
  group: 'iban',
  detector: 'iban',
  kind: 'iban',
  source: '[A-Z](?<![A-Za-z0-9][A-Z])[A-Z]\\d{2}(?: ?[A-Z0-9]){11,28}',
  validate: validateIban,
};

const NINO: Pattern = {
  group: 'uk_nino',
  detector: 'tax_id',
  kind: 'uk_nino',
  source: '[A-CEGHJ-PR-TW-Z](?<![A-Za-z0-9][A-Z])[A-CEGHJ-NPR-TW-Z] ?\\d{2} ?\\d{2} ?\\d{2} ?[A-D](?![A-Za-z0-9])',
  validate: validateNino,
};

// ---------- email: found from each '@' outwards, no regex ----------

function isLocalChar(c: number): boolean {
  return isAlnum(c) || c === 46 /* . */ || c === 95 /* _ */ || c === 37 /* % */ || c === 43 /* + */ || c === 45 /* - */;
}
function isDomainChar(c: number): boolean {
  return isAlnum(c) || c === 45 || c === 46;
}

function scanEmails(text: string, out: Hit[]): void {
  let at = text.indexOf('@');
  while (at !== -1) {
    let start = at;
    while (start > 0 && at - start < 65 && isLocalChar(text.charCodeAt(start - 1))) start--;
    let end = at + 1;
    while (end < text.length && end - at < 256 && isDomainChar(text.charCodeAt(end))) end++;
    // Sentence punctuation after the address is not part of it.
    while (end > at + 1 && (text.charCodeAt(end - 1) === 46 || text.charCodeAt(end - 1) === 45)) end--;
    if (start < at && at - start <= 64 && (start === 0 || !isLocalChar(text.charCodeAt(start - 1))) && emailValid(text.slice(start, at), text.slice(at + 1, end))) {
      out.push({ detector: 'email', kind: 'email', start, end });
    }
    at = text.indexOf('@', Math.max(at + 1, end));
  }
}

function emailValid(local: string, domain: string): boolean {
  if (local.startsWith('.') || local.endsWith('.') || local.includes('..')) return false;
  const labels = domain.split('.');
  if (labels.length < 2) return false;
  const tld = labels[labels.length - 1]!;
  if (!/^[A-Za-z]{2,24}$/.test(tld)) return false;
  for (const label of labels) if (label.length === 0 || label.length > 63 || label.startsWith('-') || label.endsWith('-')) return false;
  return true;
}

// ---------- passes ----------

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
const HAS_UPPER_DIGITS = /[A-Z] ?\d\d/;

function accept(p: Pattern, m: RegExpExecArray, text: string): { start: number; end: number } | undefined {
  let value = m[0];
  let start = m.index;
  if (p.valueGroup !== undefined) {
    const v = m.groups?.[p.valueGroup];
    if (v === undefined) return undefined;
    start = m.index + m[0].length - v.length;
    value = v;
  }
  const end = p.validate ? p.validate(value, start, text) : start + value.length;
  return end >= 0 ? { start, end } : undefined;
}

function runPass(pass: Pass, text: string, out: Hit[]): void {
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
    let span = pattern ? accept(pattern, m, text) : undefined;
    for (let i = index + 1; span === undefined && i < patterns.length; i++) {
      const re = sticky[i]!;
      re.lastIndex = at;
      const alt = re.exec(text);
      if (alt === null) continue;
      pattern = patterns[i];
      span = accept(pattern!, alt, text);
    }
    if (span === undefined || pattern === undefined) {
      regex.lastIndex = at + 1;
      continue;
    }
    out.push({ detector: pattern.detector, kind: pattern.kind, start: span.start, end: span.end });
    regex.lastIndex = span.end > at ? span.end : at + 1;
  }
}

/** The compiled scanner of one conf. */
export interface Detectors {
  readonly enabled: readonly DetectorName[];
  /** Validated hits in text order; overlapping findings are merged into one span. */
  scan(text: string): Hit[];
}

export function compileDetectors(enabled: readonly DetectorName[], taxIds: readonly TaxIdKind[] = TAX_ID_KINDS): Detectors {
  const on = new Set(enabled);
  const taxSet = new Set(on.has('tax_id') ? taxIds : []);
  const passes: Pass[] = [];
  const add = (p: Pass | undefined): void => void (p && passes.push(p));
  if (on.has('secret')) add(makePass(secretPatterns(), () => true));
  add(makePass([...(on.has('iban') ? [IBAN] : []), ...(taxSet.has('uk_nino') ? [NINO] : [])], (t) => HAS_UPPER_DIGITS.test(t)));
  // Cards before tax ids before phones where two can start at the same index.
  const numeric = [...(on.has('payment_card') ? [CARD] : []), ...taxIdNumericPatterns(taxSet), ...(on.has('phone') ? PHONES : [])];
  add(makePass(numeric, (t) => HAS_DIGIT.test(t)));
  const emails = on.has('email');
  const enabledList = DETECTOR_NAMES.filter((d) => on.has(d));

  return {
    enabled: enabledList,
    scan(text: string): Hit[] {
      const hits: Hit[] = [];
      for (const pass of passes) runPass(pass, text, hits);
      if (emails) scanEmails(text, hits);
      if (hits.length < 2) return hits;
      hits.sort((a, b) => a.start - b.start || b.end - a.end);
      // Overlaps (an email whose local part looks like a phone, ...) become one span, kept
      // under the first finding's type: every sensitive character stays covered.
      const merged: Hit[] = [hits[0]!];
      for (let i = 1; i < hits.length; i++) {
        const h = hits[i]!;
        const last = merged[merged.length - 1]!;
        if (h.start < last.end) {
          if (h.end > last.end) last.end = h.end;
        } else {
          merged.push(h);
        }
      }
      return merged;
    },
  };
}
