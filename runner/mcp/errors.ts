// JSON-RPC error replies built by the gateway. Messages are fixed texts plus, at most, a
// truncated piece of what the client sent: attacker-controlled text is never echoed unbounded.

import type { JsonRpcError, JsonRpcId, JsonValue } from './types.js';

/** Longest piece of client-supplied text (tool names, keys, methods) quoted in an error. */
export const MAX_ECHOED_TEXT = 128;

/** Fixed message texts, so clients and tests can rely on them. */
export const ErrorMessage = {
  ParseError: 'Parse error',
  InvalidRequest: 'Invalid Request',
  InvalidParams: 'Invalid params',
  MethodNotFound: 'Method not found',
  InternalError: 'Internal error',
  EmptyBatch: 'Invalid Request: empty batch',
} as const;

/** Cut client-supplied text to a safe length for an error message or log field. */
export function truncateForError(text: string, max: number = MAX_ECHOED_TEXT): string {
  if (text.length <= max) return text;
  // Do not split a surrogate pair: that would put a lone surrogate into our own JSON.
  let end = max;
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end -= 1;
  return `${text.slice(0, end)}…`;
}

/** Build one JSON-RPC error object (data only when given). */
export function jsonRpcError(code: number, message: string, data?: JsonValue): JsonRpcError {
  return data === undefined ? { code, message } : { code, message, data };
}

const encoder = new TextEncoder();

/**
 * The reply body for an error. Not a batch: one object with ids[0] (null when unknown).
 * A batch: an array with one error per request id (notifications get no answer, so callers
 * pass request ids only); when no id is left at all (an all-notification batch, or a batch
 * refused before its ids were known) a single error object with id null, because an empty
 * array is not a valid JSON-RPC reply.
 */
export function jsonRpcErrorBody(ids: readonly JsonRpcId[], batch: boolean, error: JsonRpcError): Uint8Array {
  const errorJson = { code: error.code, message: error.message, ...(error.data === undefined ? {} : { data: error.data }) };
  if (!batch || ids.length === 0) {
    return encoder.encode(JSON.stringify({ jsonrpc: '2.0', id: ids[0] ?? null, error: errorJson }));
  }
  return encoder.encode(JSON.stringify(ids.map((id) => ({ jsonrpc: '2.0', id, error: errorJson }))));
}
