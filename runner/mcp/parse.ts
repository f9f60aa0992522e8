// Request body → typed MCP messages, once per call. JSON-RPC 2.0 rules, tightened for MCP:
// - body: one object, or a non-empty batch array (MCP 2025-06-18 dropped batching, older
//   clients still send it). An invalid element refuses the WHOLE batch with an error naming
//   its index: a gateway must not forward a batch it only partly understood. So does a
//   request id used twice in one batch (answers could not be told apart).
// - every element: an object with jsonrpc "2.0" exactly.
// - request: method (string) + id (string, or a safe integer: larger numbers lose precision
//   in JavaScript and ids would stop matching; null is not a valid request id in MCP).
//   notification: method, no id. response: id + exactly one of result / error.
// - params, when present, must be an object (MCP uses named params).
// - tools/call needs params.name (non-empty string), params.arguments (object when present);
//   resources/read|subscribe|unsubscribe need params.uri (string); prompts/get needs
//   params.name (non-empty string). Policy depends on these, so a malformed one is refused
//   (InvalidParams) rather than passed on unclassified.
// - the revision a message claims in params._meta (runner/mcp/revision.ts) decides what is
//   checked: a method that revision removed (resources/subscribe from 2026-07-28 on) is
//   classified 'other' and not validated, so the server gives its own method-not-found.
// Messages keep references into the parsed value (`raw`, `params`, `arguments`), so a
// plugin may edit arguments in place, call markBodyModified(), and the host re-serialises
// with serializeRequestBody.

import { ErrorMessage, truncateForError } from './errors.js';
import { parseStrictJson } from './json.js';
import { claimedRevisionOf, isModernRevision, REMOVED_IN_MODERN } from './revision.js';
import { JsonRpcErrorCode } from './types.js';
import type { JsonObject, JsonRpcId, JsonValue, McpKind, McpMessage, McpRequestBody } from './types.js';

/** Known methods that get their own kind; every other request is 'other'. */
const REQUEST_KINDS: ReadonlySet<string> = new Set<McpKind>([
  'initialize',
  'ping',
  'tools/list',
  'tools/call',
  'resources/list',
  'resources/templates/list',
  'resources/read',
  'resources/subscribe',
  'resources/unsubscribe',
  'prompts/list',
  'prompts/get',
  'completion/complete',
  'logging/setLevel',
  'server/discover',
  'subscriptions/listen',
]);

/**
 * `params` of a message that has none. Frozen: a plugin writing into it would be editing
 * an object that is not part of the body, so that fails loudly instead of being lost.
 */
const NO_PARAMS: JsonObject = Object.freeze({}) as JsonObject;

type Refusal = { readonly code: number; readonly message: string; readonly id: JsonRpcId };

/** Parse one HTTP request body. Never throws: bad input gives { ok: false, code, message, id }. */
export function parseRequestBody(bytes: Uint8Array): McpRequestBody {
  if (bytes.length === 0) return refuse(JsonRpcErrorCode.ParseError, `${ErrorMessage.ParseError}: empty body`, null);
  const json = parseStrictJson(bytes);
  if (!json.ok) return refuse(JsonRpcErrorCode.ParseError, `${ErrorMessage.ParseError}: ${json.message}`, null);
  const value = json.value;
  if (Array.isArray(value)) {
    if (value.length === 0) return refuse(JsonRpcErrorCode.InvalidRequest, ErrorMessage.EmptyBatch, null);
    const messages: McpMessage[] = [];
    for (let index = 0; index < value.length; index++) {
      const element = value[index] as JsonValue;
      const message = toMessage(element);
      if ('code' in message) {
        return refuse(message.code, `${message.message} (batch element ${index})`, null);
      }
      messages.push(message);
    }
    const repeated = repeatedRequestId(messages);
    if (repeated !== undefined) {
      return refuse(JsonRpcErrorCode.InvalidRequest, `${ErrorMessage.InvalidRequest}: request id ${JSON.stringify(truncateForError(String(repeated), 32))} is used twice in the batch`, null);
    }
    return { ok: true, batch: true, messages };
  }
  const message = toMessage(value);
  if ('code' in message) return refuse(message.code, message.message, message.id);
  return { ok: true, batch: false, messages: [message] };
}

/** Bytes of the (possibly edited) body: JSON of every message's raw, as batch or single. */
export function serializeRequestBody(body: McpRequestBody): Uint8Array {
  if (!body.ok) throw new Error('cannot serialise a request body that failed to parse');
  const value: JsonValue = body.batch ? body.messages.map((m) => m.raw) : body.messages[0]!.raw;
  return encoder.encode(JSON.stringify(value));
}

/** Ids to answer when the gateway refuses the body: every request's id (not notifications). */
export function requestIdsOf(body: McpRequestBody): JsonRpcId[] {
  if (!body.ok) return [body.id];
  const ids: JsonRpcId[] = [];
  for (const m of body.messages) if (m.type === 'request') ids.push(m.id ?? null);
  return ids;
}

const encoder = new TextEncoder();

/**
 * Two requests of one batch with the same id would make their answers (and the policy
 * decisions attached to them) ambiguous, so such a batch is refused. 1 and "1" differ.
 */
function repeatedRequestId(messages: readonly McpMessage[]): string | number | undefined {
  let seen: Set<JsonRpcId> | undefined;
  for (const m of messages) {
    if (m.type !== 'request' || m.id === undefined || m.id === null) continue;
    seen ??= new Set();
    if (seen.has(m.id)) return m.id;
    seen.add(m.id);
  }
  return undefined;
}

function refuse(code: number, message: string, id: JsonRpcId): McpRequestBody {
  return { ok: false, code, message, id };
}

function isObject(value: JsonValue | undefined): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function own(object: JsonObject, key: string): JsonValue | undefined {
  return Object.hasOwn(object, key) ? object[key] : undefined;
}

function isValidId(value: JsonValue | undefined): value is string | number {
  return typeof value === 'string' || Number.isSafeInteger(value);
}

function invalid(message: string, id: JsonRpcId = null): Refusal {
  return { code: JsonRpcErrorCode.InvalidRequest, message: `${ErrorMessage.InvalidRequest}: ${message}`, id };
}

function invalidParams(message: string, id: JsonRpcId): Refusal {
  return { code: JsonRpcErrorCode.InvalidParams, message: `${ErrorMessage.InvalidParams}: ${message}`, id };
}

/** Classify one JSON-RPC element, or say why it is not one. */
function toMessage(value: JsonValue): McpMessage | Refusal {
  if (!isObject(value)) return invalid(`expected a JSON-RPC object, got ${describe(value)}`);
  const idValue = own(value, 'id');
  const hasId = Object.hasOwn(value, 'id');
  // Answer with the client's id when it is a usable one, even while refusing the message.
  const answerId: JsonRpcId = isValidId(idValue) ? idValue : null;
  if (own(value, 'jsonrpc') !== '2.0') return invalid('"jsonrpc" must be "2.0"', answerId);

  const method = own(value, 'method');
  const hasResult = Object.hasOwn(value, 'result');
  const hasError = Object.hasOwn(value, 'error');
  if (method === undefined) return toResponse(value, hasId, idValue, hasResult, hasError, answerId);

  if (typeof method !== 'string') return invalid('"method" must be a string', answerId);
  if (hasResult || hasError) return invalid('a request must not carry "result" or "error"', answerId);
  if (hasId && !isValidId(idValue)) return invalid('"id" must be a string or an integer', null);

  let params = NO_PARAMS;
  if (Object.hasOwn(value, 'params')) {
    const p = value.params;
    if (!isObject(p)) return invalidParams('"params" must be an object', answerId);
    params = p;
  }
  const revision = params === NO_PARAMS ? undefined : claimedRevisionOf(params);
  if (!hasId) {
    return { type: 'notification', kind: 'notification', id: undefined, method, params, revision, raw: value };
  }
  const id = idValue as string | number;
  // A method the claimed revision removed is not ours to validate: the server answers it.
  const removed = revision != null && isModernRevision(revision) && REMOVED_IN_MODERN.has(method);
  const kind: McpKind = REQUEST_KINDS.has(method) && !removed ? (method as McpKind) : 'other';
  switch (kind) {
    case 'tools/call': {
      const name = own(params, 'name');
      if (typeof name !== 'string' || name === '') return invalidParams('tools/call needs "params.name" (a non-empty string)', id);
      let args = own(params, 'arguments');
      if (args === undefined) {
        // Attach the empty object so in-place edits by plugins reach the upstream.
        args = {};
        params.arguments = args;
      } else if (!isObject(args)) {
        return invalidParams('"params.arguments" must be an object', id);
      }
      return { type: 'request', kind, id, method, params, toolName: name, arguments: args, revision, raw: value };
    }
    case 'resources/read':
    case 'resources/subscribe':
    case 'resources/unsubscribe': {
      const uri = own(params, 'uri');
      if (typeof uri !== 'string') return invalidParams(`${kind} needs "params.uri" (a string)`, id);
      return { type: 'request', kind, id, method, params, resourceUri: uri, revision, raw: value };
    }
    case 'prompts/get': {
      const name = own(params, 'name');
      if (typeof name !== 'string' || name === '') return invalidParams('prompts/get needs "params.name" (a non-empty string)', id);
      return { type: 'request', kind, id, method, params, promptName: name, revision, raw: value };
    }
    default:
      return { type: 'request', kind, id, method, params, revision, raw: value };
  }
}

function toResponse(
  value: JsonObject,
  hasId: boolean,
  idValue: JsonValue | undefined,
  hasResult: boolean,
  hasError: boolean,
  answerId: JsonRpcId,
): McpMessage | Refusal {
  if (!hasId) return invalid('a message needs "method" (request, notification) or "id" (response)');
  if (hasResult === hasError) return invalid('a response needs exactly one of "result" and "error"', answerId);
  if (hasError) {
    const error = value.error;
    if (!isObject(error) || !Number.isInteger(own(error, 'code')) || typeof own(error, 'message') !== 'string') {
      return invalid('"error" must be an object with an integer "code" and a string "message"', answerId);
    }
    // JSON-RPC lets an error answer carry id null when the request id was unreadable.
    if (idValue !== null && !isValidId(idValue)) return invalid('"id" must be a string, an integer or null', null);
  } else if (!isValidId(idValue)) {
    return invalid('"id" must be a string or an integer', null);
  }
  return { type: 'response', kind: 'response', id: idValue as JsonRpcId, method: undefined, params: NO_PARAMS, raw: value };
}

function describe(value: JsonValue): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `the string ${JSON.stringify(truncateForError(value, 32))}`;
  return `a ${typeof value}`;
}
