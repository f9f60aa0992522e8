// Request values echoed into audit events (tool names, decision reasons, resource URIs) are
// redacted first. The same few strings come back call after call (a route's tools, a policy's
// rule reasons), so a value found clean is remembered instead of scanned again.

import { MAX_ECHO, redactEcho } from '../../runner/redact/index.js';

/** Entries per memo: past it the memo starts over (never grows with ever-new values). */
const MAX_ENTRIES = 4096;
/** Longer values are scanned each time: they are rarely repeated and costly to keep. */
const MAX_REMEMBERED_LENGTH = 1024;

/** One memo per cut length (the echo depends on it). */
const memos = new Map<number, Map<string, string>>();

/** redactEcho(value, max), remembered: the default redaction is fixed, so the answer is too. */
export function echoed(value: string, max: number = MAX_ECHO): string {
  if (value.length > MAX_REMEMBERED_LENGTH) return redactEcho(value, max);
  let memo = memos.get(max);
  if (memo === undefined) memos.set(max, (memo = new Map()));
  let out = memo.get(value);
  if (out === undefined) {
    out = redactEcho(value, max);
    // Only values echoed unchanged are kept: a value that held something to redact is not.
    if (out !== value) return out;
    if (memo.size >= MAX_ENTRIES) memo.clear();
    memo.set(value, out);
  }
  return out;
}
