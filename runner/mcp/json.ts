// Strict JSON reader for MCP bodies. The gateway must decide on exactly the value the
// upstream server will read, so anything two JSON parsers could read differently is refused:
// invalid UTF-8, a BOM, duplicate keys (one parser keeps the first, another the last), lone
// surrogates, absurd nesting and trailing garbage.
//
// Approach (chosen by benchmark, see bench/mcp-parse.ts): V8's JSON.parse builds the value
// and rejects bad syntax; then one linear scan over the now known-valid text checks what
// JSON.parse lets through (duplicate keys at any depth, lone surrogate escapes, depth).
// The scan allocates only for keys, jumps over string contents with indexOf, and decodes a
// key only when it contains an escape ("\u006dethod" and "method" are the same key).
//
// `__proto__` keys: JSON.parse defines them as own data properties (the prototype is not
// touched), and JSON.stringify writes them back out, so they travel as plain data. Code in
// runner/mcp reads members with Object.hasOwn and never copies keys into fresh objects.

import { truncateForError } from './errors.js';
import type { JsonValue } from './types.js';

/** Default nesting limit for request bodies (objects + arrays). */
export const MAX_JSON_DEPTH = 64;

export type StrictJsonResult = { readonly ok: true; readonly value: JsonValue } | { readonly ok: false; readonly message: string };

export interface StrictJsonOptions {
  /** Deepest allowed nesting of objects and arrays; default MAX_JSON_DEPTH. */
  maxDepth?: number;
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Longest piece of a key we quote back in an error message. */
const MAX_QUOTED_KEY = 64;

/** Parse UTF-8 bytes strictly. Never throws. */
export function parseStrictJson(bytes: Uint8Array, options?: StrictJsonOptions): StrictJsonResult {
  if (bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) {
    return { ok: false, message: 'body starts with a UTF-8 byte order mark' };
  }
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return { ok: false, message: 'body is not valid UTF-8' };
  }
  return parseWellFormedText(text, options?.maxDepth ?? MAX_JSON_DEPTH);
}

// A code unit of a surrogate pair without its partner.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Parse an already decoded string strictly. Text decoded from bytes by a fatal UTF-8
 * decoder never holds raw lone surrogates; a string from elsewhere might, so it is checked.
 */
export function parseStrictJsonText(text: string, options?: StrictJsonOptions): StrictJsonResult {
  if (text.charCodeAt(0) === 0xfeff) return { ok: false, message: 'text starts with a byte order mark' };
  if (LONE_SURROGATE.test(text)) return { ok: false, message: 'text holds a lone surrogate' };
  return parseWellFormedText(text, options?.maxDepth ?? MAX_JSON_DEPTH);
}

function parseWellFormedText(text: string, maxDepth: number): StrictJsonResult {
  let value: JsonValue;
  try {
    value = JSON.parse(text) as JsonValue;
  } catch (err) {
    // SyntaxError text names the position; a RangeError means the nesting blew the stack.
    const detail = err instanceof SyntaxError ? err.message : `nesting deeper than ${maxDepth}`;
    return { ok: false, message: detail === '' ? 'invalid JSON' : truncateForError(detail, 200) };
  }
  const problem = scanForAmbiguity(text, maxDepth);
  return problem === undefined ? { ok: true, value } : { ok: false, message: problem };
}

/** Objects with more keys than this get a Set for the duplicate check instead of a linear search. */
const SMALL_OBJECT_KEYS = 12;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const COMMA = 0x2c;
const LETTER_U = 0x75;

/**
 * Walk text that JSON.parse accepted; return a problem description or undefined.
 * Only object keys and escapes are looked at; everything else is skipped.
 */
function scanForAmbiguity(text: string, maxDepth: number): string | undefined {
  const length = text.length;
  let depth = 0;
  let keyNext = false;
  // Keys of the open objects, innermost last: the current object's keys are
  // keys[keysStart[depth] .. keys.length). keysStart is -1 for an array.
  const keys: string[] = [];
  const keysStart: number[] = [-1];
  let keySets: Array<Set<string> | undefined> | undefined;
  // Positions of the next backslash and quote at or after the scan point; "none left" is
  // `length`, not -1 (a -1 sentinel made V8 run this loop in quadratic time).
  let nextBackslash = indexOrEnd(text, '\\', 0);
  let close = -1;
  let i = 0;
  while (i < length) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      // String: jump to its closing quote, stopping only at escapes on the way. Both
      // positions are cached so a string full of escapes is still scanned once.
      const start = i;
      let j = i + 1;
      let hasEscape = false;
      for (;;) {
        if (close < j) close = text.indexOf('"', j);
        if (nextBackslash < j) nextBackslash = indexOrEnd(text, '\\', j);
        if (nextBackslash > close) {
          i = close + 1;
          break;
        }
        hasEscape = true;
        const b = nextBackslash;
        if (text.charCodeAt(b + 1) !== LETTER_U) {
          j = b + 2;
          continue;
        }
        const unit = hex4(text, b + 2);
        if (unit >= 0xdc00 && unit <= 0xdfff) return loneSurrogate(b);
        if (unit < 0xd800 || unit > 0xdbff) {
          j = b + 6;
          continue;
        }
        // A high surrogate must be followed at once by a low one (escaped or raw).
        const after = b + 6;
        if (text.charCodeAt(after) === BACKSLASH && text.charCodeAt(after + 1) === LETTER_U) {
          const low = hex4(text, after + 2);
          if (low < 0xdc00 || low > 0xdfff) return loneSurrogate(b);
          j = after + 6;
        } else {
          const raw = text.charCodeAt(after);
          if (raw < 0xdc00 || raw > 0xdfff) return loneSurrogate(b);
          j = after + 1;
        }
      }
      if (keyNext) {
        keyNext = false;
        const key = hasEscape ? (JSON.parse(text.slice(start, i)) as string) : text.slice(start + 1, i - 1);
        const from = keysStart[depth]!;
        const set = keySets?.[depth];
        if (set !== undefined) {
          if (set.has(key)) return duplicate(key, start);
          set.add(key);
        } else {
          for (let k = from; k < keys.length; k++) if (keys[k] === key) return duplicate(key, start);
          if (keys.length - from >= SMALL_OBJECT_KEYS) (keySets ??= [])[depth] = new Set(keys.slice(from)).add(key);
        }
        keys.push(key);
      }
      continue;
    }
    if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      depth += 1;
      if (depth > maxDepth) return `nesting deeper than ${maxDepth} at position ${i}`;
      keyNext = c === OPEN_BRACE;
      keysStart[depth] = keyNext ? keys.length : -1;
      if (keySets !== undefined) keySets[depth] = undefined;
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      const from = keysStart[depth]!;
      if (from >= 0) keys.length = from;
      depth -= 1;
      keyNext = false;
    } else if (c === COMMA) {
      keyNext = keysStart[depth]! >= 0;
    }
    i += 1;
  }
  return undefined;
}

function indexOrEnd(text: string, search: string, from: number): number {
  const at = text.indexOf(search, from);
  return at === -1 ? text.length : at;
}

function hex4(text: string, at: number): number {
  return parseInt(text.slice(at, at + 4), 16);
}

function duplicate(key: string, position: number): string {
  return `duplicate key ${JSON.stringify(truncateForError(key, MAX_QUOTED_KEY))} at position ${position}`;
}

function loneSurrogate(position: number): string {
  return `lone surrogate escape at position ${position}`;
}
