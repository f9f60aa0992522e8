// Canonical JSON (object keys sorted at every level, no whitespace) and its sha256: used to
// bind confirmation tokens to arguments, to pin tool definitions, and by mcp-audit to hash
// call arguments. Equal JSON values give equal hashes whatever the key order the client or
// server used.

import { hash } from 'node:crypto';

export function canonicalJson(value: unknown): string {
  // undefined (absent) is written as null so the hash never throws on odd input.
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
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
  for (const k of keys) {
    const v = obj[k];
    if (v === undefined) continue;
    if (!first) out += ',';
    first = false;
    out += JSON.stringify(k) + ':' + canonicalJson(v);
  }
  return out + '}';
}

export function sha256Hex(text: string): string {
  return hash('sha256', text, 'hex');
}

export function canonicalHash(value: unknown): string {
  return sha256Hex(canonicalJson(value));
}
