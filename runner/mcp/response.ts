// Upstream answers: application/json (one JSON-RPC object or batch array) or
// text/event-stream (SSE events, each usually one JSON-RPC message). Both are exposed as a
// list of SseEvent so response plugins (list filtering, redaction) walk one shape.
//
// Serialising is lossless for what no plugin touched: when every event is unchanged the
// original bytes are returned as they came (even if they were not valid UTF-8); otherwise
// unchanged events keep their exact text and only edited ones are rewritten.

import { parseStrictJsonText } from './json.js';
import { eventChange, MAX_RESPONSE_JSON_DEPTH, parseSse, rememberParsedEvent, writeSse } from './sse.js';
import type { JsonObject, JsonRpcId, JsonValue, McpResponseBody, SseEvent } from './types.js';

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const lenientUtf8 = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });
const encoder = new TextEncoder();

/** The body as received and its events at parse time, for the unchanged fast path. */
const originals = new WeakMap<McpResponseBody, { bytes: Uint8Array; events: readonly SseEvent[] }>();

/** The media type of a Content-Type value: lower case, without parameters. */
export function mediaTypeOf(contentType: string | undefined): string | undefined {
  if (contentType === undefined) return undefined;
  const semicolon = contentType.indexOf(';');
  return (semicolon === -1 ? contentType : contentType.slice(0, semicolon)).trim().toLowerCase();
}

/** Parse an upstream body by its Content-Type; undefined for anything but JSON or SSE. */
export function parseResponseBody(contentType: string | undefined, bytes: Uint8Array): McpResponseBody | undefined {
  const mediaType = mediaTypeOf(contentType);
  let body: McpResponseBody;
  if (mediaType === 'application/json') {
    body = { format: 'json', events: [parseJsonEvent(bytes)] };
  } else if (mediaType === 'text/event-stream') {
    body = { format: 'sse', events: parseSse(decode(bytes).text) };
  } else {
    return undefined;
  }
  originals.set(body, { bytes, events: body.events.slice() });
  return body;
}

function decode(bytes: Uint8Array): { text: string; valid: boolean } {
  try {
    return { text: strictUtf8.decode(bytes), valid: true };
  } catch {
    return { text: lenientUtf8.decode(bytes), valid: false };
  }
}

function parseJsonEvent(bytes: Uint8Array): SseEvent {
  const { text, valid } = decode(bytes);
  const event: SseEvent = { data: text, json: undefined };
  if (!valid) {
    event.jsonError = 'body is not valid UTF-8';
  } else {
    const result = parseStrictJsonText(text, { maxDepth: MAX_RESPONSE_JSON_DEPTH });
    if (result.ok) event.json = result.value;
    else event.jsonError = result.message;
  }
  rememberParsedEvent(event, text);
  return event;
}

/** Bytes of the (possibly edited) body. */
export function serializeResponseBody(body: McpResponseBody): Uint8Array {
  const original = originals.get(body);
  if (body.format === 'sse') {
    const { text, changed } = writeSse(body.events);
    if (!changed && original !== undefined && sameEvents(body.events, original.events)) return original.bytes;
    return encoder.encode(text);
  }
  if (body.events.length !== 1) throw new Error(`a JSON response body holds exactly one value, got ${body.events.length} events`);
  const event = body.events[0]!;
  // Asked once: the check stringifies the value (and may re-parse the original), and its
  // text is what an edited value is written as.
  const { changed, jsonText } = eventChange(event);
  if (!changed && original !== undefined && sameEvents(body.events, original.events)) return original.bytes;
  if (event.json !== undefined && changed) return encoder.encode(jsonText ?? JSON.stringify(event.json));
  return encoder.encode(event.data);
}

function sameEvents(a: readonly SseEvent[], b: readonly SseEvent[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** One JSON-RPC message inside a response body, with the event that carries it. */
export interface ResponseMessage {
  readonly message: JsonObject;
  readonly event: SseEvent;
  /** Position inside a batch array; undefined when the event holds a single object. */
  readonly batchIndex: number | undefined;
}

/** Every JSON-RPC object in the body (responses, and server requests/notifications in SSE). */
export function jsonRpcMessagesOf(body: McpResponseBody): ResponseMessage[] {
  const found: ResponseMessage[] = [];
  for (const event of body.events) {
    const json = event.json;
    if (Array.isArray(json)) {
      for (let i = 0; i < json.length; i++) {
        const element = json[i];
        if (isObject(element)) found.push({ message: element, event, batchIndex: i });
      }
    } else if (isObject(json)) {
      found.push({ message: json, event, batchIndex: undefined });
    }
  }
  return found;
}

/** Whether a JSON-RPC object is a response (id plus result or error, no method). */
export function isJsonRpcResponse(message: JsonObject): boolean {
  return (
    Object.hasOwn(message, 'id') &&
    !Object.hasOwn(message, 'method') &&
    (Object.hasOwn(message, 'result') || Object.hasOwn(message, 'error'))
  );
}

/** The JSON-RPC responses in the body, in order. */
export function responsesOf(body: McpResponseBody): ResponseMessage[] {
  return jsonRpcMessagesOf(body).filter((m) => isJsonRpcResponse(m.message));
}

/** The response to request `id` (ids compare strictly: "1" is not 1), or undefined. */
export function responseFor(body: McpResponseBody, id: JsonRpcId): ResponseMessage | undefined {
  return responsesOf(body).find((m) => m.message.id === id);
}

/** The `result` object of the response to `id`, when it succeeded with an object. */
export function resultFor(body: McpResponseBody, id: JsonRpcId): JsonObject | undefined {
  const response = responseFor(body, id);
  if (response === undefined || !Object.hasOwn(response.message, 'result')) return undefined;
  const result = response.message.result;
  return isObject(result) ? result : undefined;
}

/** The first JSON-RPC error code the upstream answered with, for audit and metrics. */
export function upstreamErrorCodeOf(body: McpResponseBody): number | undefined {
  for (const { message } of responsesOf(body)) {
    const error = Object.hasOwn(message, 'error') ? message.error : undefined;
    if (isObject(error) && typeof error.code === 'number' && Object.hasOwn(error, 'code')) return error.code;
  }
  return undefined;
}

function isObject(value: JsonValue | undefined): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
