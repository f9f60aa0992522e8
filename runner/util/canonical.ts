// Canonical JSON (object keys sorted at every level, no whitespace) and its sha256: used to
// bind confirmation tokens to arguments, to pin tool definitions, and by mcp-audit to hash
// call arguments. Equal JSON values give equal hashes whatever the key order the client or
// server used.

import { hash } from 'node:crypto';
import { quoteJson } from './json-text.js';

/** Quoted object keys with their colon: argument and definition keys repeat call after call. */
const quotedKeys = new Map<string, string>();
const MAX_QUOTED_KEYS = 1024;

function keyText(k: string): string {
  let text = quotedKeys.get(k);
  if (text === undefined) {
    text = quoteJson(k) + ':';
    // Bounded: a caller sending ever-new keys only empties the memo.
    if (quotedKeys.size >= MAX_QUOTED_KEYS) quotedKeys.clear();
    quotedKeys.set(k, text);
  }
  return text;
}

export function canonicalJson(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return quoteJson(value);
    case 'number':
      return Number.isFinite(value) ? String(value) : 'null';
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object':
      break;
    default:
      // undefined (absent) is written as null so the hash never throws on odd input.
      return JSON.stringify(value) ?? 'null';
  }
  if (value === null) return 'null';
  // One string built in place (no part arrays); keys are sorted only when they are not already.
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out += ',';
      out += canonicalJson(value[i]);
    }
    return out + ']';
  }
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj);
  for (let i = 1; i < keys.length; i++) {
    if ((keys[i - 1] as string) > (keys[i] as string)) {
      keys.sort();
      break;
    }
  }
  let out = '{';
  let first = true;
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i] as string;
    const v = obj[k];
    if (v === undefined) continue;
    out += (first ? '' : ',') + keyText(k) + canonicalJson(v);
    first = false;
  }
  return out + '}';
}

export function sha256Hex(text: string): string {
  return hash('sha256', text, 'hex');
}

export function canonicalHash(value: unknown): string {
  return sha256Hex(canonicalJson(value));
}
