// The redaction engine: a compiled conf (detectors, modes, field rules) and the functions
// that apply it to a string. No I/O here: mcp-redact decides where to apply it, and any code
// that writes a request value into an answer, a log line or an audit event calls redactText().

import { createHmac } from 'node:crypto';
import { compileDetectors, type Detectors } from './detectors.js';
import { parsePath, type PathPattern } from './tree.js';
import { DETECTOR_NAMES, TAX_ID_KINDS, type DetectorName, type Hit, type TaxIdKind } from './pattern.js';

export const MODES = ['mask', 'hash', 'drop', 'block'] as const;
export type Mode = (typeof MODES)[number];

/** Count key used for field-rule hits (next to the detector names). */
export const FIELD_RULE = 'field';

/** Key names whose values are always redacted when conf.fields.keys is not given. */
export const DEFAULT_FIELD_KEYS: readonly string[] = [
  'password', 'passwd', 'passphrase', 'secret', 'client_secret', 'api_key', 'access_token', 'refresh_token',
  'token', 'private_key', 'authorization', 'tax_id', 'ssn', 'card_number', 'cvv', 'cvc',
];

/** The engine-relevant part of the plugin conf (see schemas/mcp-redact.conf.schema.json). */
export interface RedactionConf {
  detectors?: DetectorName[] | undefined;
  tax_ids?: TaxIdKind[] | undefined;
  mode?: Mode | undefined;
  modes?: Partial<Record<DetectorName, Mode>> | undefined;
  fields?: { keys?: string[] | undefined; paths?: string[] | undefined; mode?: Mode | undefined } | undefined;
}

export interface Redaction {
  readonly detectors: Detectors;
  readonly modeOf: Readonly<Record<DetectorName, Mode>>;
  readonly fieldMode: Mode;
  /** Normalised key names (lower case, '_' and '-' removed). */
  readonly fieldKeys: ReadonlySet<string>;
  /** Raw key -> whether fieldKeys holds its normalised form (isFieldKey's memo; keys repeat). */
  readonly fieldKeyVerdicts: Map<string, boolean>;
  readonly fieldPaths: readonly PathPattern[];
  /**
   * HMAC key for hash mode, read from memory per use (a secret handle's value()); undefined
   * when no mode is hash. When it yields nothing at call time, hash falls back to mask.
   */
  readonly salt: (() => string | undefined) | undefined;
  /** True when some detector or the field rules use block. */
  readonly canBlock: boolean;
}

/** What one redaction pass found: counts by type (never values) and whether to refuse. */
export interface Tally {
  counts: Record<string, number>;
  blocked: boolean;
  /** Types whose mode is block that were found. */
  blockedTypes: Set<string>;
  changed: boolean;
}

export function newTally(): Tally {
  return { counts: {}, blocked: false, blockedTypes: new Set(), changed: false };
}

export function normaliseKey(key: string): string {
  return key.toLowerCase().replace(/[_-]/g, '');
}

const FIELD_KEY_VERDICTS_MAX = 1024;

/** Whether a field rule names `key` (memoised per conf: JSON keys repeat from call to call). */
export function isFieldKey(r: Redaction, key: string): boolean {
  let verdict = r.fieldKeyVerdicts.get(key);
  if (verdict === undefined) {
    verdict = r.fieldKeys.has(normaliseKey(key));
    if (key.length > 128) return verdict;
    if (r.fieldKeyVerdicts.size >= FIELD_KEY_VERDICTS_MAX) r.fieldKeyVerdicts.clear();
    r.fieldKeyVerdicts.set(key, verdict);
  }
  return verdict;
}

/** Compile a conf. `salt` is needed (and checked) only when some mode is hash. */
export function compileRedaction(conf: RedactionConf, salt?: () => string | undefined): Redaction {
  const enabled = conf.detectors ?? [...DETECTOR_NAMES];
  const globalMode: Mode = conf.mode ?? 'mask';
  const modeOf = {} as Record<DetectorName, Mode>;
  for (const d of DETECTOR_NAMES) modeOf[d] = conf.modes?.[d] ?? globalMode;
  const fieldMode = conf.fields?.mode ?? globalMode;
  const usedModes = new Set<Mode>([fieldMode, ...enabled.map((d) => modeOf[d])]);
  if (usedModes.has('hash') && !salt?.()) {
    throw new Error('hash_salt: required (a $env:// or $file:// secret ref) when a mode is "hash"');
  }
  const fieldPaths: PathPattern[] = [];
  for (const [i, p] of (conf.fields?.paths ?? []).entries()) {
    try {
      fieldPaths.push(parsePath(p));
    } catch (err) {
      throw new Error(`fields.paths[${i}]: ${(err as Error).message}`);
    }
  }
  return {
    detectors: compileDetectors(enabled, conf.tax_ids ?? TAX_ID_KINDS),
    modeOf,
    fieldMode,
    fieldKeys: new Set((conf.fields?.keys ?? DEFAULT_FIELD_KEYS).map(normaliseKey)),
    fieldKeyVerdicts: new Map(),
    fieldPaths,
    salt: usedModes.has('hash') ? salt : undefined,
    canBlock: usedModes.has('block'),
  };
}

let defaultRedactionCache: Redaction | undefined;
/** Every detector, mask mode, default field keys: what log scrubbing uses by default. */
export function defaultRedaction(): Redaction {
  return (defaultRedactionCache ??= compileRedaction({}));
}

/** `[email:1f0c…]`: a keyed pseudonym (first 64 bits of HMAC-SHA256), stable per salt. */
export function hashToken(r: Redaction, type: string, value: string): string {
  const key = r.salt?.();
  // Salt gone at call time (file removed): never hash with an empty key, mask instead.
  if (!key) return `[REDACTED:${type}]`;
  const mac = createHmac('sha256', key).update(type).update('\0').update(value).digest('hex');
  return `[${type}:${mac.slice(0, 16)}]`;
}

/** Canonical form for hashing, so one card or email hashes the same however it is written. */
function canonical(hit: Hit, value: string): string {
  switch (hit.detector) {
    case 'payment_card':
    case 'iban':
    case 'tax_id':
    case 'phone':
      return value.replace(/[\s().-]/g, '');
    case 'email':
      return value.toLowerCase();
    default:
      return value;
  }
}

function maskToken(hit: Hit, value: string): string {
  if (hit.detector === 'payment_card') {
    const digits = value.replace(/\D/g, '');
    return `****${digits.slice(-4)}`;
  }
  return `[REDACTED:${hit.detector}]`;
}

export function bump(tally: Tally, type: string): void {
  tally.counts[type] = (tally.counts[type] ?? 0) + 1;
}

/**
 * Redact one string. Returns the new string (the same one when nothing was found). In drop
 * mode the whole string becomes "[REDACTED]"; in block mode the string is left alone and the
 * tally says blocked (the caller refuses the call).
 */
export function redactString(text: string, r: Redaction, tally: Tally, key?: string): string {
  if (text.length < 4) return text;
  const hits = r.detectors.scan(text, key);
  if (hits.length === 0) return text;
  let out = '';
  let last = 0;
  let dropWhole = false;
  let changed = false;
  for (const hit of hits) {
    bump(tally, hit.detector);
    const mode = r.modeOf[hit.detector];
    if (mode === 'block') {
      tally.blocked = true;
      tally.blockedTypes.add(hit.detector);
      continue;
    }
    if (mode === 'drop') {
      dropWhole = true;
      continue;
    }
    const value = text.slice(hit.start, hit.end);
    out += text.slice(last, hit.start) + (mode === 'hash' ? hashToken(r, hit.detector, canonical(hit, value)) : maskToken(hit, value));
    last = hit.end;
    changed = true;
  }
  if (dropWhole) {
    tally.changed = true;
    return '[REDACTED]';
  }
  if (!changed) return text;
  tally.changed = true;
  return out + text.slice(last);
}

/** Scrub free text (log lines, error messages) with a compiled conf or the default one. */
export function redactText(text: string, r: Redaction = defaultRedaction()): string {
  const tally = newTally();
  const out = redactString(text, r, tally);
  // Log scrubbing must not refuse anything: blocked types are masked instead.
  if (tally.blocked) return redactString(text, withoutBlock(r), newTally());
  return out;
}

const PLAIN_NAME = /^[A-Za-z_./-]*$/;

/** Longest echo of a request value (a tool name, a uri) kept in an error, log line or audit event. */
export const MAX_ECHO = 128;

/**
 * A request value fit to be echoed back (error messages, audit fields): redacted with the
 * default detectors, then cut to `max` characters (marked with '…').
 */
export function redactEcho(value: string, max = MAX_ECHO): string {
  // Fast path for the common case (tool names like crm.lookup_customer): nothing any
  // detector could read in letters and dots without digits, separators or '@'.
  if (value.length <= max && PLAIN_NAME.test(value)) return value;
  const clipped = value.length > max * 4 ? value.slice(0, max * 4) : value;
  const clean = redactText(clipped);
  return clean.length > max ? `${clean.slice(0, max - 1)}…` : clean;
}

const unblocked = new WeakMap<Redaction, Redaction>();
function withoutBlock(r: Redaction): Redaction {
  let copy = unblocked.get(r);
  if (!copy) {
    const modeOf = { ...r.modeOf };
    for (const d of DETECTOR_NAMES) if (modeOf[d] === 'block') modeOf[d] = 'mask';
    copy = { ...r, modeOf, fieldMode: r.fieldMode === 'block' ? 'mask' : r.fieldMode, canBlock: false };
    unblocked.set(r, copy);
  }
  return copy;
}

