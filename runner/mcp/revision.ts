// Protocol revisions as the gateway sees them. Up to 2025-11-25 the revision is negotiated once
// by `initialize` and then rides the `MCP-Protocol-Version` header of a session. From
// 2026-07-28 on there is no handshake: every request names its revision in
// `params._meta["io.modelcontextprotocol/protocolVersion"]` and repeats it in the header. Like
// the SDKs, the body claim decides (a proxy that drops a header must not change the era);
// the header is a cross-check (runner/host/header-agreement.ts refuses a disagreement).

import type { JsonObject, JsonValue, McpMessage } from './types.js';

/** The last revision with sessions, `initialize` and server-to-client requests. */
export const LEGACY_REVISION = '2025-11-25';
/** The first stateless revision (per-request `_meta`, routing headers, multi-round-trip requests). */
export const MODERN_REVISION = '2026-07-28';

export const PROTOCOL_VERSION_META_KEY = 'io.modelcontextprotocol/protocolVersion';
/** Where a 2026-07-28 request declares what its client can do (elicitation forms, URLs...). */
export const CLIENT_CAPABILITIES_META_KEY = 'io.modelcontextprotocol/clientCapabilities';
export const PROTOCOL_VERSION_HEADER = 'mcp-protocol-version';
/** The 2025-11-25 session header (no sessions from 2026-07-28 on). */
export const SESSION_HEADER = 'mcp-session-id';
export const METHOD_HEADER = 'mcp-method';
export const NAME_HEADER = 'mcp-name';
export const PARAM_HEADER_PREFIX = 'mcp-param-';

export type Era = 'legacy' | 'modern';

const REVISION_SHAPE = /^\d{4}-\d{2}-\d{2}$/;

/** A revision string in the spec's date form (revisions order as strings). */
export function isRevision(value: string): boolean {
  return REVISION_SHAPE.test(value);
}

/** 2026-07-28 or later. Revision dates compare lexicographically; anything else is not modern. */
export function isModernRevision(value: string | undefined): boolean {
  // The cheap comparison first: most calls carry no claim or a 2025 one.
  return value !== undefined && value >= MODERN_REVISION && REVISION_SHAPE.test(value);
}

function metaOf(params: JsonObject): JsonObject | undefined {
  if (!Object.hasOwn(params, '_meta')) return undefined;
  const meta = params['_meta'];
  return meta !== null && typeof meta === 'object' && !Array.isArray(meta) ? meta : undefined;
}

/**
 * What a message's `params._meta` claims: `undefined` when there is no claim, the version
 * string when it is one, `null` when the key is present but not a string (a malformed claim
 * is still a claim: never read as legacy).
 */
export function claimedRevisionOf(params: JsonObject): string | null | undefined {
  const meta = metaOf(params);
  if (meta === undefined || !Object.hasOwn(meta, PROTOCOL_VERSION_META_KEY)) return undefined;
  const v: JsonValue | undefined = meta[PROTOCOL_VERSION_META_KEY];
  return typeof v === 'string' ? v : null;
}

/** The era of one parsed message: modern when its body claims a 2026-07-28+ revision. */
export function eraOf(message: McpMessage): Era {
  return isModernRevision(message.revision ?? undefined) ? 'modern' : 'legacy';
}

/** Methods a 2026-07-28 server no longer defines: they reach it and it answers -32601. */
export const REMOVED_IN_MODERN: ReadonlySet<string> = new Set([
  'initialize',
  'notifications/initialized',
  'resources/subscribe',
  'resources/unsubscribe',
]);

/** Deprecated in 2026-07-28 (still defined, still forwarded; reported in the docs table). */
export const DEPRECATED_IN_MODERN: ReadonlySet<string> = new Set([
  'roots/list',
  'sampling/createMessage',
  'logging/setLevel',
  'notifications/roots/list_changed',
  'notifications/message',
]);

/**
 * The body field the `Mcp-Name` header mirrors, per method (SEP-2243, and the task methods'
 * Streamable HTTP binding). Other methods carry no `Mcp-Name`.
 */
export const NAME_SOURCE: Readonly<Record<string, 'name' | 'uri' | 'taskId'>> = Object.freeze({
  'tools/call': 'name',
  'prompts/get': 'name',
  'resources/read': 'uri',
  'tasks/get': 'taskId',
  'tasks/update': 'taskId',
  'tasks/cancel': 'taskId',
});

/**
 * `subscriptions/listen` opens a notification stream that lasts until the client cancels it.
 * It never takes the response phase (APISIX would hold the stream back forever when a plugin
 * reads its body) and holds no concurrency slot or breaker ticket (it has no end to wait for).
 */
export function isEndlessStream(m: McpMessage): boolean {
  return m.kind === 'subscriptions/listen';
}
