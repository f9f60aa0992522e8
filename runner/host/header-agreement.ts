// Routing headers (2026-07-28, SEP-2243) must say what the body says. `Mcp-Method` mirrors
// the method, `Mcp-Name` the tool/prompt name or resource URI, `Mcp-Param-*` argument values a
// tool declared, `MCP-Protocol-Version` the revision claimed in params._meta. APISIX routes on
// these headers (fast routes) and a server may dispatch on them, while the plugins judged the
// BODY: a request whose headers name something else must never reach the upstream. Checked
// after the plugin chain, against the body as it will be forwarded; a disagreement is refused
// with HTTP 400 and JSON-RPC -32020 (HeaderMismatch), like a 2026-07-28 server does.
//
// Decisions where the spec leaves room:
// - The headers are checked on every request that carries them, whatever its revision. On a
//   request whose body claims no 2026-07-28+ revision they are also removed before the
//   upstream: an older server never checks them, so nothing behind it may act on them.
// - A header the body cannot mirror (Mcp-Name on a method without a name, Mcp-Param-* on
//   anything but tools/call, any routing header on a batch or a posted response, a routing
//   header sent twice) is a mismatch.
// - The gateway does not know which argument a tool's `x-mcp-header` declares, so each
//   Mcp-Param-* value must equal some string/number/boolean argument reachable through
//   objects; the server then checks the exact declaration. An argument a plugin changed (a
//   redacted card number) no longer matches its header: refused, the header would leak it.
// - A missing header is the server's to refuse (it cannot make the server run anything).

import type { TextEntry } from '../protocol/messages.js';
import type { JsonObject, JsonValue, McpMessage } from '../mcp/types.js';
import { JsonRpcErrorCode } from '../mcp/types.js';
import { isModernRevision, METHOD_HEADER, NAME_HEADER, NAME_SOURCE, PARAM_HEADER_PREFIX, PROTOCOL_VERSION_HEADER } from '../mcp/revision.js';
import { StopError } from './context.js';
import type { CallContext } from './plugin.js';

/** Why the headers disagree with the body, or undefined when they agree. */
export type Mismatch = { header: string; reason: string };

interface RoutingHeaders {
  version: string | undefined;
  method: string | undefined;
  name: string | undefined;
  params: { name: string; value: string }[];
  repeated: string | undefined;
}

/** The routing headers of a request, or undefined when it has none (the common 2025 case). */
function routingHeadersOf(headers: readonly TextEntry[]): RoutingHeaders | undefined {
  let found: RoutingHeaders | undefined;
  let version: string | undefined;
  let versions = 0;
  for (const h of headers) {
    // Cheap rejects first (this runs on every call): APISIX sends lower-case names, so only
    // a name starting with an upper-case M is lower-cased.
    let name = h.name;
    const first = name.charCodeAt(0);
    if (first === 0x4d /* M */) name = name.toLowerCase();
    else if (first !== 0x6d /* m */) continue;
    if (name.length < 8 || name.charCodeAt(3) !== 0x2d /* - */ || !name.startsWith('mcp-')) continue;
    if (name === PROTOCOL_VERSION_HEADER) {
      // Kept aside: a 2025 session's version header alone allocates nothing.
      versions++;
      version = stripOws(h.value ?? '');
      continue;
    }
    const isParam = name.startsWith(PARAM_HEADER_PREFIX);
    if (!isParam && name !== METHOD_HEADER && name !== NAME_HEADER) continue;
    const value = stripOws(h.value ?? '');
    found ??= { version: undefined, method: undefined, name: undefined, params: [], repeated: undefined };
    if (name === METHOD_HEADER) {
      if (found.method !== undefined) found.repeated = name;
      found.method = value;
    } else if (name === NAME_HEADER) {
      if (found.name !== undefined) found.repeated = name;
      found.name = value;
    } else {
      if (found.params.some((p) => p.name === name)) found.repeated = name;
      found.params.push({ name, value });
    }
  }
  if (found === undefined) {
    if (versions === 0 || (versions === 1 && !isModernRevision(version))) return undefined;
    found = { version: undefined, method: undefined, name: undefined, params: [], repeated: undefined };
  }
  found.version = version;
  if (versions > 1) found.repeated = PROTOCOL_VERSION_HEADER;
  return found;
}

/** Only MCP-Protocol-Version naming a pre-2026 revision: a 2025 session, nothing to route on. */
function onlyLegacyVersion(h: RoutingHeaders): boolean {
  return h.method === undefined && h.name === undefined && h.params.length === 0 && h.repeated === undefined && !isModernRevision(h.version);
}

/**
 * Check the request's routing headers against its body. Rejects with StopError (400, -32020)
 * on a mismatch; strips them before the upstream when the body is not 2026-07-28+ traffic.
 * Returns undefined (no promise, no await) for the common request without routing headers.
 */
export function enforceRoutingHeaders(ctx: CallContext): Promise<void> | undefined {
  const headers = routingHeadersOf(ctx.request.headers);
  if (headers === undefined || onlyLegacyVersion(headers) || ctx.request.method !== 'POST') return undefined;
  return checkAgainstBody(ctx, headers);
}

async function checkAgainstBody(ctx: CallContext, headers: RoutingHeaders): Promise<void> {
  const body = await ctx.mcp();
  if (!body.ok) return; // the body's own error is answered elsewhere
  const mismatch = body.batch ? batchMismatch(headers) : messageMismatch(headers, body.messages[0]!);
  if (mismatch) {
    ctx.record({ plugin: 'host', action: 'deny', rule: 'header-mismatch', reason: mismatch.reason, detail: { header: mismatch.header } });
    throw new StopError({
      action: 'stop',
      status: 400,
      rpcError: {
        code: JsonRpcErrorCode.HeaderMismatch,
        message: `Bad Request: the request headers and body disagree: ${mismatch.reason}`,
        data: { header: mismatch.header },
      },
    });
  }
  const modern = !body.batch && isModernRevision(body.messages[0]!.revision ?? undefined);
  if (!modern) stripRoutingHeaders(ctx, headers);
}

function stripRoutingHeaders(ctx: CallContext, h: RoutingHeaders): void {
  if (h.method !== undefined) ctx.requestMutations.deleteHeader(METHOD_HEADER);
  if (h.name !== undefined) ctx.requestMutations.deleteHeader(NAME_HEADER);
  for (const p of h.params) ctx.requestMutations.deleteHeader(p.name);
}

function batchMismatch(h: RoutingHeaders): Mismatch | undefined {
  if (h.method !== undefined) return { header: METHOD_HEADER, reason: 'a batch has no single method to mirror' };
  if (h.name !== undefined) return { header: NAME_HEADER, reason: 'a batch has no single name to mirror' };
  if (h.params.length > 0) return { header: h.params[0]!.name, reason: 'a batch has no arguments to mirror' };
  return undefined;
}

/** The header/body comparison for one message (exported for tests). */
export function messageMismatch(h: RoutingHeaders, m: McpMessage): Mismatch | undefined {
  if (h.repeated !== undefined) return { header: h.repeated, reason: `${h.repeated} is sent more than once` };
  const claimed = m.revision;
  if (h.version !== undefined && claimed !== undefined && claimed !== h.version) {
    return { header: PROTOCOL_VERSION_HEADER, reason: `the body claims protocol version ${String(claimed)} but the header names ${h.version}` };
  }
  if (h.method !== undefined && h.method !== m.method) {
    return { header: METHOD_HEADER, reason: `the body names method ${m.method ?? '(none: a response)'} but Mcp-Method names ${h.method}` };
  }
  if (h.name !== undefined) {
    const field = m.method !== undefined && Object.hasOwn(NAME_SOURCE, m.method) ? NAME_SOURCE[m.method] : undefined;
    const bodyValue = field === undefined ? undefined : m.params[field];
    const decoded = decodeHeaderValue(h.name);
    if (decoded === undefined) return { header: NAME_HEADER, reason: 'Mcp-Name carries an invalid Base64 value' };
    if (typeof bodyValue !== 'string' || decoded !== bodyValue) {
      return { header: NAME_HEADER, reason: field === undefined ? `method ${m.method ?? '(none)'} has no name for Mcp-Name to mirror` : `the body carries params.${field} ${JSON.stringify(bodyValue ?? null)} but Mcp-Name names ${JSON.stringify(decoded)}` };
    }
  }
  if (h.params.length > 0) {
    if (m.kind !== 'tools/call') return { header: h.params[0]!.name, reason: `Mcp-Param-* headers only mirror tools/call arguments, not ${m.method ?? 'a response'}` };
    const values = argumentValues(m.arguments ?? {});
    for (const p of h.params) {
      const decoded = decodeHeaderValue(p.value);
      if (decoded === undefined) return { header: p.name, reason: `${p.name} carries an invalid Base64 value` };
      if (!values.has(decoded)) return { header: p.name, reason: `${p.name} names a value the arguments do not carry` };
    }
  }
  return undefined;
}

/** Every primitive argument value as its header text, walking objects (never arrays) like x-mcp-header paths. */
function argumentValues(args: JsonObject): Set<string> {
  const out = new Set<string>();
  const visit = (v: JsonValue, depth: number): void => {
    if (typeof v === 'string') out.add(v);
    else if (typeof v === 'boolean') out.add(v ? 'true' : 'false');
    else if (typeof v === 'number') {
      if (Number.isFinite(v)) out.add(String(v));
    } else if (v !== null && typeof v === 'object' && !Array.isArray(v) && depth < 16) {
      for (const key in v) visit(v[key]!, depth + 1);
    }
  };
  visit(args, 0);
  return out;
}

const SENTINEL_PREFIX = '=?base64?';
const SENTINEL_SUFFIX = '?=';
const CANONICAL_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A header value as the client meant it: `=?base64?…?=` carries UTF-8; undefined when that is malformed. */
export function decodeHeaderValue(value: string): string | undefined {
  if (!(value.startsWith(SENTINEL_PREFIX) && value.endsWith(SENTINEL_SUFFIX) && value.length >= SENTINEL_PREFIX.length + SENTINEL_SUFFIX.length)) return value;
  const b64 = value.slice(SENTINEL_PREFIX.length, value.length - SENTINEL_SUFFIX.length);
  if (!CANONICAL_BASE64.test(b64)) return undefined;
  try {
    return utf8.decode(Buffer.from(b64, 'base64'));
  } catch {
    return undefined;
  }
}

/** RFC 9110 optional whitespace around a field value. */
function stripOws(value: string): string {
  let start = 0;
  let end = value.length;
  while (start < end && (value.charCodeAt(start) === 0x20 || value.charCodeAt(start) === 0x09)) start++;
  while (end > start && (value.charCodeAt(end - 1) === 0x20 || value.charCodeAt(end - 1) === 0x09)) end--;
  return start === 0 && end === value.length ? value : value.slice(start, end);
}

export { routingHeadersOf };
