// JSON text written by hand where JSON.stringify costs too much on the hot path. Every
// function here returns exactly what JSON.stringify returns for the same value (tests compare
// them on random values), only faster for the common cases.

/** Characters JSON.stringify escapes: the quote, the backslash, controls and lone surrogates. */
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

/** JSON.stringify(s) for a string: most strings need no escape and are only quoted. */
export function quoteJson(s: string): string {
  return NEEDS_ESCAPE.test(s) ? JSON.stringify(s) : '"' + s + '"';
}

/**
 * JSON.stringify(value) for JSON-shaped data (plain objects, arrays, strings, numbers,
 * booleans, null; undefined members left out as JSON.stringify does). Anything else (a
 * toJSON method, a bigint, a class instance) is handed to JSON.stringify itself.
 */
export function jsonText(value: unknown): string | undefined {
  switch (typeof value) {
    case 'string':
      return quoteJson(value);
    case 'number':
      return Number.isFinite(value) ? String(value) : 'null';
    case 'boolean':
      return value ? 'true' : 'false';
    case 'undefined':
    case 'function':
    case 'symbol':
      return undefined;
    case 'object':
      if (value === null) return 'null';
      if (Array.isArray(value)) return arrayText(value);
      return isPlainObject(value) ? objectText(value as Record<string, unknown>) : JSON.stringify(value);
    default:
      return JSON.stringify(value);
  }
}

function isPlainObject(value: object): boolean {
  const proto: unknown = Object.getPrototypeOf(value);
  return (proto === Object.prototype || proto === null) && typeof (value as { toJSON?: unknown }).toJSON !== 'function';
}

export function arrayText(items: readonly unknown[]): string {
  if (typeof (items as { toJSON?: unknown }).toJSON === 'function') return JSON.stringify(items);
  let out = '[';
  for (let i = 0; i < items.length; i++) {
    if (i > 0) out += ',';
    out += jsonText(items[i]) ?? 'null';
  }
  return out + ']';
}

function objectText(obj: Record<string, unknown>): string {
  let out = '{';
  let first = true;
  // Object.keys: own enumerable string keys in the order JSON.stringify writes them.
  for (const k of Object.keys(obj)) {
    const v = jsonText(obj[k]);
    if (v === undefined) continue;
    out += (first ? '' : ',') + quoteJson(k) + ':' + v;
    first = false;
  }
  return out + '}';
}
