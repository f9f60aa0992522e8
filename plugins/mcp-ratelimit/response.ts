// mcp-ratelimit's response phase: release concurrency slots and tell each breaker whether its
// call failed (5xx, or JSON-RPC / tool errors inside a 2xx answer when the breaker counts them).

import type { CallContext } from '../../runner/host/plugin.js';
import type { JsonRpcId, JsonValue } from '../../runner/mcp/types.js';
import { PLUGIN_NAME } from './answers.js';
import { release, type Carried } from './request.js';

/** Read the answer only when some held breaker counts errors inside it. */
export function needsResponseBody(ctx: CallContext): boolean {
  const c = ctx.carry.get(PLUGIN_NAME) as Carried | undefined;
  if (!c || (ctx.response && ctx.response.status >= 500)) return false;
  return c.tickets.some((t) => t.breaker.countJsonRpcErrors || t.breaker.countToolErrors);
}

/** Settle what the request phase held: slots once the phase is done, tickets with the call's result. */
export async function settleCall(ctx: CallContext, now: number): Promise<void> {
  const c = ctx.carry.get(PLUGIN_NAME) as Carried | undefined;
  if (!c) return;
  ctx.onDone(() => release(c));
  if (c.tickets.length === 0) return;
  const status = ctx.response?.status ?? 0;
  if (status >= 500) {
    for (const t of c.tickets) t.target.record(t.ticket, true, now);
    return;
  }
  const failedIds = await failedRequestIds(ctx, c);
  for (const t of c.tickets) {
    const failed = t.ids.some(
      (id) =>
        (t.breaker.countJsonRpcErrors && failedIds.has(idKey(id, 'rpc'))) ||
        (t.breaker.countToolErrors && failedIds.has(idKey(id, 'tool'))),
    );
    t.target.record(t.ticket, failed, now);
  }
}

/** JSON-RPC / tool errors inside a 2xx answer, by request id (only when a breaker asked). */
async function failedRequestIds(ctx: CallContext, c: Carried): Promise<Set<string>> {
  const failedIds = new Set<string>();
  const wantRpc = c.tickets.some((t) => t.breaker.countJsonRpcErrors);
  const wantTool = c.tickets.some((t) => t.breaker.countToolErrors);
  if (!wantRpc && !wantTool) return failedIds;
  try {
    const body = await ctx.mcpResponse();
    for (const ev of body?.events ?? []) collectFailures(ev.json, wantRpc, wantTool, failedIds);
  } catch {
    // An unreadable body is not evidence against the upstream.
  }
  return failedIds;
}

/** Client mistakes say nothing about the upstream's health. */
const CLIENT_ERROR_CODES: ReadonlySet<number> = new Set([-32700, -32600, -32601, -32602]);

function idKey(id: JsonRpcId, kind: 'rpc' | 'tool'): string {
  return `${kind}:${typeof id}:${String(id)}`;
}

function collectFailures(json: JsonValue | undefined, rpc: boolean, tool: boolean, out: Set<string>): void {
  if (Array.isArray(json)) {
    for (const el of json) collectFailures(el, rpc, tool, out);
    return;
  }
  if (json === null || typeof json !== 'object') return;
  const id = json['id'];
  if (id === undefined || (typeof id !== 'string' && typeof id !== 'number' && id !== null)) return;
  const error = json['error'];
  if (rpc && error && typeof error === 'object' && !Array.isArray(error)) {
    const code = error['code'];
    if (typeof code !== 'number' || !CLIENT_ERROR_CODES.has(code)) out.add(idKey(id, 'rpc'));
  }
  const result = json['result'];
  if (tool && result && typeof result === 'object' && !Array.isArray(result) && result['isError'] === true) {
    out.add(idKey(id, 'tool'));
  }
}
