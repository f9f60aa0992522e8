// How the host turns what the plugins decided into answer frames: stop answers (a JSON-RPC
// error carrying the request ids), the request phase's rewrite from header edits, the
// response phase's full header list (APISIX replaces all headers with it), and the host's
// own refusals.

import type { HTTPRespCallReq, HTTPRespCallResp, RewriteAction, StopAction, TextEntry } from '../protocol/messages.js';
import { JsonRpcErrorCode, type JsonRpcId } from '../mcp/types.js';
import { jsonRpcErrorBody } from '../mcp/errors.js';
import { requestIdsOf } from '../mcp/parse.js';
import { CALL_HEADER } from './carry.js';
import type { CallContextImpl } from './context.js';
import type { StopOutcome } from './plugin.js';

/** Connection-level headers that never pass from the upstream answer to the client. */
const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'transfer-encoding', 'te', 'trailer', 'upgrade',
  'proxy-authenticate', 'proxy-authorization', 'proxy-connection', 'content-length',
]);

const encoder = new TextEncoder();

/** The rewrite answer from the plugins' header edits (synchronous: most calls need nothing else). */
export function headerRewrite(ctx: CallContextImpl, headers: TextEntry[], body: Uint8Array | undefined): RewriteAction | undefined {
  if (!ctx.hasEdits) return headers.length === 0 && !body ? undefined : { type: 'rewrite', path: undefined, headers, args: [], respHeaders: [], body };
  const edits = ctx.edits;
  for (const [name, value] of edits.upstream) {
    if (name === CALL_HEADER) continue;
    headers.push({ name, value });
  }
  if (headers.length === 0 && edits.clientAdds.length === 0 && !body) return undefined;
  return { type: 'rewrite', path: undefined, headers, args: [], respHeaders: edits.clientAdds, body };
}

/** Upstream headers as the client should get them: APISIX replaces all headers with this list. */
export function finalHeaders(upstream: readonly TextEntry[], edits: ReadonlyMap<string, string | undefined> | undefined, bodyReplaced: boolean): TextEntry[] {
  const out: TextEntry[] = [];
  for (const h of upstream) {
    const lower = h.name.toLowerCase();
    if (HOP_BY_HOP.has(lower)) continue;
    if (bodyReplaced && lower === 'content-encoding') continue;
    if (edits && edits.has(lower)) continue;
    out.push(h);
  }
  if (edits) for (const [name, value] of edits) if (value !== undefined) out.push({ name, value });
  return out;
}

/** The Stop answer of the request phase. */
export async function stopAction(ctx: CallContextImpl, stop: StopOutcome): Promise<StopAction> {
  const headers: TextEntry[] = [];
  let body: Uint8Array | undefined;
  if (stop.rpcError) {
    const { ids, batch } = await replyIds(ctx, stop);
    body = jsonRpcErrorBody(ids, batch, stop.rpcError);
    headers.push({ name: 'content-type', value: 'application/json' });
  } else if (stop.body !== undefined) {
    body = typeof stop.body === 'string' ? encoder.encode(stop.body) : stop.body;
  }
  pushHeaders(headers, stop.headers);
  return { type: 'stop', status: stop.status, headers, body: body && body.length > 0 ? body : undefined };
}

/** A plugin (or the host) refused the answer: the client gets our error instead of the upstream body. */
export async function replaceResponse(ctx: CallContextImpl | undefined, call: HTTPRespCallReq, stop: StopOutcome): Promise<HTTPRespCallResp> {
  const headers: TextEntry[] = [];
  for (const h of call.headers) {
    const lower = h.name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || lower === 'content-type' || lower === 'content-encoding') continue;
    headers.push(h);
  }
  let body: Uint8Array;
  if (stop.rpcError) {
    let ids: readonly JsonRpcId[] = stop.ids ?? [];
    let batch = false;
    if (!stop.ids && ctx) {
      const r = await replyIds(ctx, stop);
      ids = r.ids;
      batch = r.batch;
    }
    body = jsonRpcErrorBody(ids, batch, stop.rpcError);
    headers.push({ name: 'content-type', value: 'application/json' });
  } else {
    body = typeof stop.body === 'string' ? encoder.encode(stop.body) : (stop.body ?? encoder.encode('{}'));
  }
  pushHeaders(headers, stop.headers);
  // An empty body cannot be expressed (it would stream the upstream body): send at least one byte.
  if (body.length === 0) body = encoder.encode('{}');
  return { id: call.id, status: stop.status, headers, body };
}

/** The ids an error reply must carry: every request's id, or null when unknown. */
async function replyIds(ctx: CallContextImpl, stop: StopOutcome): Promise<{ ids: readonly JsonRpcId[]; batch: boolean }> {
  let parsedPromise = ctx.mcpParsed;
  if (!parsedPromise && !stop.ids && ctx.request.method === 'POST') parsedPromise = ctx.mcp();
  let batch = false;
  let ids: readonly JsonRpcId[] = [];
  if (parsedPromise) {
    try {
      const parsed = await parsedPromise;
      if (parsed.ok) {
        batch = parsed.batch;
        ids = requestIdsOf(parsed);
      }
    } catch {
      // unparseable body: answer with id null
    }
  }
  // No id left: jsonRpcErrorBody answers with id null.
  return { ids: stop.ids ?? ids, batch };
}

function pushHeaders(out: TextEntry[], headers: StopOutcome['headers']): void {
  if (!headers) return;
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase();
    if (typeof value === 'string') {
      const i = out.findIndex((h) => h.name === lower);
      if (i >= 0) out.splice(i, 1);
      out.push({ name: lower, value });
    } else {
      for (const v of value) out.push({ name: lower, value: v });
    }
  }
}

// ---------------------------------------------------------------- the host's own refusals

/** The route's conf (or a plugin's prepare) failed: every call fails closed. */
export function misconfigured(): StopOutcome {
  return {
    action: 'stop',
    status: 500,
    rpcError: { code: JsonRpcErrorCode.InternalError, message: 'gateway route is misconfigured (see the runner log)' },
  };
}

export function deadlinePassed(): StopOutcome {
  return { action: 'stop', status: 504, rpcError: { code: JsonRpcErrorCode.GatewayUnavailable, message: 'gateway policy check timed out' } };
}

export function pluginFailed(): StopOutcome {
  return { action: 'stop', status: 500, rpcError: { code: JsonRpcErrorCode.InternalError, message: 'gateway policy error' } };
}

/** A fast route (no post-resp) refuses a call whose answer some plugin must read. */
export function fastRouteRefusal(plugin: string): StopOutcome {
  return {
    action: 'stop',
    status: 403,
    rpcError: {
      code: JsonRpcErrorCode.Forbidden,
      message: 'this call needs response processing and is not allowed on this route',
      data: { rule: 'needs-response-phase', plugin },
    },
  };
}

/** The response phase found no request state for a call the request phase carried. */
export function carryLost(): StopOutcome {
  return {
    action: 'stop',
    status: 502,
    rpcError: {
      code: JsonRpcErrorCode.GatewayUnavailable,
      message: "answer withheld: the gateway no longer holds this call's request state (it outlived the carry lifetime, or the runner restarted)",
      data: { reason: 'carry-lost' },
    },
  };
}

/** The carry store is full: the call is refused before it reaches the server. */
export function carryFull(): StopOutcome {
  return {
    action: 'stop',
    status: 503,
    headers: { 'retry-after': '1' },
    rpcError: {
      code: JsonRpcErrorCode.GatewayUnavailable,
      message: 'gateway busy: too many calls are waiting for their answers; retry later',
      data: { reason: 'carry-full' },
    },
  };
}
