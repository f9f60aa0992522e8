// JSON text written by hand where JSON.stringify costs too much on the hot path: returns
// exactly what JSON.stringify returns for the same value (tests compare them on random
// strings), only faster for the common case.

/** Characters JSON.stringify escapes: the quote, the backslash, controls and lone surrogates. */
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

/** JSON.stringify(s) for a string: most strings need no escape and are only quoted. */
export function quoteJson(s: string): string {
  return NEEDS_ESCAPE.test(s) ? JSON.stringify(s) : '"' + s + '"';
}
