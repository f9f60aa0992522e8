// Pieces for driving the real host (runner/host/chain.ts) in process, the way the protocol
// layer would: a host with given plugins registered, HTTPReqCall messages as APISIX sends them,
// and ExtraInfo answers from a table (sockets and frames are covered by t/protocol and t/e2e).

import { CALL_HEADER, Host } from '../runner/host/chain.js';
import { PluginRegistry } from '../runner/host/registry.js';
import type { CallContext, DecisionRecord, Plugin } from '../runner/host/plugin.js';
import type { ExtraInfoChannel } from '../runner/protocol/handler.js';
import type { ExtraInfoReq, ExtraInfoResp, HTTPReqCallReq, HTTPReqCallResp, TextEntry } from '../runner/protocol/messages.js';

const enc = new TextEncoder();

/** A deadline far enough away for any test call. */
export const LATER = (): number => Date.now() + 30_000;

/** The nginx variable of the header that ties a response phase to its request phase. */
export const CALL_VAR = 'http_x_mcp_gateway_call';

const bytes = (v: string | Uint8Array | undefined): Uint8Array | undefined => (typeof v === 'string' ? enc.encode(v) : v);

/** Answers ExtraInfo questions like APISIX would for one call (variables, request body, response body) and keeps the questions. */
export class TableChannel implements ExtraInfoChannel {
  readonly asked: ExtraInfoReq[] = [];
  private readonly reqBody: Uint8Array | undefined;
  private readonly respBody: Uint8Array | undefined;

  constructor(
    private readonly vars: Readonly<Record<string, string>> = {},
    reqBody?: string | Uint8Array,
    respBody?: string | Uint8Array,
  ) {
    this.reqBody = bytes(reqBody);
    this.respBody = bytes(respBody);
  }

  ask(q: ExtraInfoReq): Promise<ExtraInfoResp> {
    this.asked.push(q);
    if (q.type === 'var') return Promise.resolve({ result: bytes(this.vars[q.name]) });
    return Promise.resolve({ result: q.type === 'reqBody' ? this.reqBody : this.respBody });
  }
}

/** The channel of a response phase: the call variable (when the request phase set one) and the upstream's body. */
export function responseChannel(carryKey: string | undefined, respBody?: string | Uint8Array): TableChannel {
  return new TableChannel(carryKey !== undefined ? { [CALL_VAR]: carryKey } : {}, undefined, respBody);
}

/** A host with these plugins registered (any order: a route's conf decides the chain). */
export function hostWith(...plugins: Plugin<never, unknown>[]): Host {
  const registry = new PluginRegistry();
  for (const p of plugins) registry.register(p);
  return new Host({ registry });
}

/** The key the request phase handed to the response phase (the call header of its rewrite), if any. */
export function carryKeyOf(resp: HTTPReqCallResp): string | undefined {
  return resp.action?.type === 'rewrite' ? resp.action.headers.find((h) => h.name === CALL_HEADER)?.value : undefined;
}

export interface DecisionProbe {
  readonly plugin: Plugin<Record<string, never>, Record<string, never>>;
  /** The decision record of the latest finished phase (empty before any). */
  last(): DecisionRecord[];
}

/**
 * A stand-in for mcp-audit under `name`: put first in a chain, it keeps each call's decision
 * record as the host finishes the phase, so it holds what later plugins appended, stops included.
 * `responsePhase` gives it a response handler too (which makes a post-resp route carry the call);
 * `onRequest` adds request-phase work, e.g. setting ctx.identity as mcp-authz would.
 */
export function decisionProbe(name: string, o: { responsePhase?: boolean; onRequest?: (ctx: CallContext) => void } = {}): DecisionProbe {
  let last: DecisionRecord[] = [];
  const keep = (ctx: CallContext): void => ctx.onDone(() => void (last = [...ctx.decisions]));
  const plugin: DecisionProbe['plugin'] = {
    name,
    confSchema: { type: 'object' },
    onRequest(ctx) {
      keep(ctx);
      o.onRequest?.(ctx);
    },
    ...(o.responsePhase ? { onResponse: keep } : {}),
  };
  return { plugin, last: () => last };
}

export interface RequestCallOptions {
  id?: number;
  srcIp?: Uint8Array;
  method?: HTTPReqCallReq['method'];
  path?: string;
}

/**
 * An HTTPReqCall as APISIX sends it for an MCP POST: with a body, content-type JSON and its
 * content-length first, then `headers`; without one, only `headers`.
 */
export function requestCall(body: string | Uint8Array | undefined, headers: readonly TextEntry[] = [], o: RequestCallOptions = {}): HTTPReqCallReq {
  const length = typeof body === 'string' ? Buffer.byteLength(body) : body?.length;
  return {
    id: o.id ?? 1,
    srcIp: o.srcIp ?? new Uint8Array([127, 0, 0, 1]),
    method: o.method ?? 'POST',
    path: o.path ?? '/mcp',
    args: [],
    headers: [
      ...(length !== undefined ? [{ name: 'content-type', value: 'application/json' }, { name: 'content-length', value: String(length) }] : []),
      ...headers,
    ],
    confToken: 1,
  };
}
