// The arguments as a person reviewing a risky call sees them (approval page, client form):
// sensitive values masked. Interim: masks values under secret-like key names and cuts long
// strings; the shared redaction engine replaces this once it lives in runner/.

import type { JsonValue } from '../../runner/mcp/types.js';

const SECRET_KEY = /pass(word|wd|phrase)?|secret|token|api[_-]?key|private[_-]?key|authorization|ssn|tax[_-]?id|card[_-]?number|cvc|cvv/i;
const MAX_TEXT = 200;
const MAX_DEPTH = 8;

export function shownArguments(value: JsonValue, depth = 0): JsonValue {
  if (depth > MAX_DEPTH) return '…';
  if (typeof value === 'string') return value.length > MAX_TEXT ? `${value.slice(0, MAX_TEXT)}…` : value;
  if (Array.isArray(value)) return value.slice(0, 50).map((v) => shownArguments(v, depth + 1));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, JsonValue> = {};
    for (const [k, v] of Object.entries(value).slice(0, 50)) out[k] = SECRET_KEY.test(k) ? '[REDACTED]' : shownArguments(v, depth + 1);
    return out;
  }
  return value;
}
