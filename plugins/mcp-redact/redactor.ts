// The redaction engine: a compiled conf (detectors, modes, field rules) and the functions
// that apply it to a string or, in place, to a JSON tree. No I/O here; the plugin (index.ts)
// decides where to apply it, and log code can call redactText() directly.

import { createHmac } from 'node:crypto';
import type { JsonObject, JsonValue } from '../../runner/mcp/types.js';
import { compileDetectors, DETECTOR_NAMES, TAX_ID_KINDS, type DetectorName, type Detectors, type Hit, type TaxIdKind } from './detectors.js';

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

/** A path pattern split into segments; '*' matches any key or index. */
type PathPattern = readonly string[];

export interface Redaction {
  readonly detectors: Detectors;
  readonly modeOf: Readonly<Record<DetectorName, Mode>>;
  readonly fieldMode: Mode;
  /** Normalised key names (lower case, '_' and '-' removed). */
  readonly fieldKeys: ReadonlySet<string>;
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

/**
 * Parse `$.params.arguments.card`, `$.result.items[*].iban`, `$['odd key'][0]` into segments.
 * Throws with a readable message on anything else.
 */
export function parsePath(path: string): PathPattern {
  if (!path.startsWith('$')) throw new Error(`path "${path}" must start with "$"`);
  const segments: string[] = [];
  let i = 1;
  while (i < path.length) {
    const ch = path[i];
    if (ch === '.') {
      const m = /^[^.[\]]+/.exec(path.slice(i + 1));
      if (!m) throw new Error(`path "${path}": empty segment at ${i}`);
      segments.push(m[0]);
      i += 1 + m[0].length;
    } else if (ch === '[') {
      const rest = path.slice(i);
      const m = /^\[(?:(\d+|\*)|'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)")\]/.exec(rest);
      if (!m) throw new Error(`path "${path}": bad bracket segment at ${i}`);
      segments.push(m[1] ?? (m[2] ?? m[3] ?? '').replace(/\\(.)/g, '$1'));
      i += m[0].length;
    } else {
      throw new Error(`path "${path}": unexpected "${ch}" at ${i}`);
    }
  }
  if (segments.length === 0) throw new Error(`path "${path}" selects the whole message`);
  return segments;
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
function hashToken(r: Redaction, type: string, value: string): string {
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

function bump(tally: Tally, type: string): void {
  tally.counts[type] = (tally.counts[type] ?? 0) + 1;
}

/**
 * Redact one string. Returns the new string (the same one when nothing was found). In drop
 * mode the whole string becomes "[REDACTED]"; in block mode the string is left alone and the
 * tally says blocked (the caller refuses the call).
 */
export function redactString(text: string, r: Redaction, tally: Tally): string {
  if (text.length < 6) return text;
  const hits = r.detectors.scan(text);
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

/** Deeper JSON than this is replaced wholesale: fail closed rather than recurse without bound. */
export const MAX_DEPTH = 128;

type Container = JsonObject | JsonValue[];

/** Patterns still alive at a node: index into fieldPaths and how many segments matched. */
type Live = readonly (readonly [number, number])[];

function advance(r: Redaction, live: Live, key: string): { next: Live; hit: boolean } {
  if (live.length === 0) return { next: live, hit: false };
  const next: (readonly [number, number])[] = [];
  let hit = false;
  for (const [p, pos] of live) {
    const pattern = r.fieldPaths[p]!;
    const seg = pattern[pos];
    if (seg === '*' || seg === key) {
      if (pos + 1 === pattern.length) hit = true;
      else next.push([p, pos + 1]);
    }
  }
  return { next, hit };
}

/** Path prefix state for a root at the given absolute path (e.g. ['params', 'arguments']). */
export function rootLive(r: Redaction, rootPath: readonly string[]): Live | undefined {
  let live: Live = r.fieldPaths.map((_, i) => [i, 0] as const);
  for (const key of rootPath) {
    const step = advance(r, live, key);
    // A path that ends at the root itself selects everything below it.
    if (step.hit) return undefined;
    live = step.next;
  }
  return live;
}

/** Marker returned by a field rule in drop mode: delete the key. */
const DROP = Symbol('drop');

function redactFieldValue(value: JsonValue, r: Redaction, tally: Tally): JsonValue | typeof DROP {
  bump(tally, FIELD_RULE);
  switch (r.fieldMode) {
    case 'block':
      tally.blocked = true;
      tally.blockedTypes.add(FIELD_RULE);
      return value;
    case 'drop':
      tally.changed = true;
      return DROP;
    case 'hash':
      tally.changed = true;
      return hashToken(r, FIELD_RULE, typeof value === 'string' ? value : JSON.stringify(value));
    case 'mask':
      tally.changed = true;
      return `[REDACTED:${FIELD_RULE}]`;
  }
}


/**
 * Redact every value below `root` in place. `rootPath` is the absolute JSON path of root
 * inside the message (for field path rules). `skip(key, parent)` lets callers skip blobs.
 */
export function redactTree(root: Container, rootPath: readonly string[], r: Redaction, tally: Tally, skip?: (parent: JsonObject, key: string) => boolean): void {
  const live = rootLive(r, rootPath);
  if (live === undefined) {
    // The whole root is selected by a path rule.
    for (const key of Array.isArray(root) ? root.map((_, i) => String(i)) : Object.keys(root)) applyField(root, key, r, tally);
    return;
  }
  walk(root, live, r, tally, 0, skip);
}

function applyField(parent: Container, key: string, r: Redaction, tally: Tally): void {
  if (Array.isArray(parent)) {
    const i = Number(key);
    const out = redactFieldValue(parent[i]!, r, tally);
    parent[i] = out === DROP ? '[REDACTED]' : out;
  } else {
    const out = redactFieldValue(parent[key]!, r, tally);
    if (out === DROP) delete parent[key];
    else parent[key] = out;
  }
}

function redactNumber(n: number, r: Redaction, tally: Tally): JsonValue {
  // Only large integers can be card numbers or ids the detectors know.
  if (!Number.isInteger(n) || Math.abs(n) < 1e12) return n;
  const text = String(n);
  const out = redactString(text, r, tally);
  return out === text ? n : out;
}

function walk(node: Container, live: Live, r: Redaction, tally: Tally, depth: number, skip?: (parent: JsonObject, key: string) => boolean): void {
  if (Array.isArray(node)) {
    for (let i = 0; i < node.length; i++) {
      const key = String(i);
      const step = advance(r, live, key);
      if (step.hit) {
        applyField(node, key, r, tally);
        continue;
      }
      node[i] = visit(node[i]!, step.next, r, tally, depth, skip);
    }
    return;
  }
  for (const key of Object.keys(node)) {
    const step = advance(r, live, key);
    if (step.hit || r.fieldKeys.has(normaliseKey(key))) {
      applyField(node, key, r, tally);
      continue;
    }
    if (skip?.(node, key)) continue;
    node[key] = visit(node[key]!, step.next, r, tally, depth, skip);
  }
}

function visit(value: JsonValue, live: Live, r: Redaction, tally: Tally, depth: number, skip?: (parent: JsonObject, key: string) => boolean): JsonValue {
  if (typeof value === 'string') return redactString(value, r, tally);
  if (typeof value === 'number') return redactNumber(value, r, tally);
  if (value === null || typeof value !== 'object') return value;
  if (depth + 1 >= MAX_DEPTH) {
    bump(tally, 'depth_limit');
    tally.changed = true;
    return '[REDACTED:depth_limit]';
  }
  walk(value, live, r, tally, depth + 1, skip);
  return value;
}
