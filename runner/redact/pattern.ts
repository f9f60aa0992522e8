// The shape of a regex detector, and the helpers its sources are written with.

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

export interface Pattern {
  /** Group name in the pass's combined regex (unique, [a-z_]). */
  group: string;
  detector: DetectorName;
  kind: string;
  source: string;
  /**
   * Named group holding the secret when the match also holds its context (`Bearer `): only
   * that suffix of the match is replaced. Unique name per pattern.
   */
  valueGroup?: string;
  /**
   * Decide on a candidate (the value, at `start`). Returns the accepted end index (may be
   * shorter than the regex match) or -1 to reject. `label` is the key the string sits under
   * in a JSON document, when known.
   */
  validate?: (value: string, start: number, text: string, label: string | undefined) => number;
}

/** Case-insensitive literal without the `i` flag (other alternatives are case-sensitive). */
export function ci(word: string): string {
  let out = '';
  for (const ch of word) {
    const lower = ch.toLowerCase();
    const upper = ch.toUpperCase();
    out += lower === upper ? (/[A-Za-z0-9]/.test(ch) ? ch : `\\${ch}`) : `[${lower}${upper}]`;
  }
  return out;
}

/** `word` case-insensitively, not preceded by a word character. */
export function keyword(word: string): string {
  return `${ci(word)}(?<![A-Za-z0-9_]${ci(word)})`;
}
