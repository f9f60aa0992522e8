// ext-plugin-pre-req / ext-plugin-post-req (docs/ext-plugin-protocol.md §4.2): build the HTTPReqCall from the current
// request state and apply the answer (Stop or Rewrite) exactly as init.lua does.

import { isIPv4, isIPv6 } from 'node:net';
import { decodeHTTPReqCallResp, encodeHTTPReqCallReq } from '../runner/protocol/codec.js';
import { FrameType, METHODS, type HTTPReqCallReq, type HTTPReqCallResp, type HttpMethod, type RewriteAction, type StopAction, type TextEntry } from '../runner/protocol/messages.js';
import type { ExtPluginConf, ExtPluginName } from './config.js';
import { LuaException, type ExtraInfoSource, type Worker } from './extplugin-client.js';
import { ResponseHeaders, type RequestState } from './state.js';
import { encodeArgs, parseArgs, uriSafeEncode, type Arg } from './uri.js';
import { lookupVar, luaToString } from './vars.js';

/** Names APISIX never sets from Rewrite.resp_headers, nor copies from upstream in post-resp (init.lua). */
export const VITAL_RESP_HEADERS: ReadonlySet<string> = new Set([
  'connection', 'content-length', 'transfer-encoding', 'location', 'server', 'www-authenticate',
  'content-encoding', 'content-type', 'content-location', 'content-language',
]);

/** ngx.req.get_headers() default limit. */
const MAX_HEADER_LINES = 100;

export type ReqPhaseOutcome =
  | { kind: 'continue' }
  | { kind: 'stop'; status: number; headers: ResponseHeaders; body: Buffer | undefined };

/** $binary_remote_addr. */
export function binaryAddr(addr: string): Uint8Array | undefined {
  const v4 = addr.startsWith('::ffff:') && isIPv4(addr.slice(7)) ? addr.slice(7) : addr;
  if (isIPv4(v4)) return Uint8Array.from(v4.split('.').map(Number));
  if (!isIPv6(addr)) return undefined;
  const [headPart, tailPart] = addr.includes('::') ? (addr.split('::') as [string, string]) : [addr, undefined];
  const groups = (s: string | undefined): number[] => (s === undefined || s === '' ? [] : s.split(':').map((g) => parseInt(g, 16)));
  const head = groups(headPart);
  const tail = groups(tailPart);
  const all = tailPart === undefined ? head : [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  const out = new Uint8Array(16);
  all.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  return out;
}

/** ExtraInfo answers from the request state (Var, ReqBody); RespBody is not available here. */
export function requestExtraInfo(state: RequestState): ExtraInfoSource {
  return {
    variable: (name) => luaToString(lookupVar(state, name)),
    reqBody: () => (state.body === undefined || state.body.length === 0 ? undefined : state.body),
    respBody: undefined,
  };
}

/** The HTTPReqCall for the current state (init.lua:481-565). May update state.query. */
function buildCall(state: RequestState, id: number, token: number): HTTPReqCallReq {
  let path = state.uri;
  if (state.upstreamUri !== undefined && state.upstreamUri !== '') {
    // $upstream_uri already set (e.g. by a pre-req Rewrite): its query becomes the args.
    const q = state.upstreamUri.indexOf('?');
    path = q < 0 ? state.upstreamUri : state.upstreamUri.slice(0, q);
    if (q >= 0) state.query = state.upstreamUri.slice(q + 1);
  }
  if (!(METHODS as readonly string[]).includes(state.method)) {
    // The method table lookup yields nil and the FlatBuffers builder throws.
    throw new LuaException(`unsupported method ${state.method}`);
  }
  const headers: TextEntry[] = [];
  for (const [name, value] of state.headers.entries.slice(0, MAX_HEADER_LINES)) {
    const lower = name.toLowerCase();
    headers.push({ name: lower, value: lower === 'host' ? state.upstreamHost : value });
  }
  return {
    id,
    srcIp: binaryAddr(state.remoteAddr),
    method: state.method as HttpMethod,
    path,
    args: parseArgs(state.query).map((a) => ({ name: a.name, value: a.value })),
    headers,
    confToken: token,
  };
}

/** Lower-cased names; within one answer the first occurrence sets, later ones add. */
function applyHeaderList(target: ResponseHeaders, entries: readonly TextEntry[], skip?: ReadonlySet<string>): void {
  const seen = new Set<string>();
  for (const e of entries) {
    const name = e.name.toLowerCase();
    if (skip?.has(name)) continue;
    if (e.value === undefined) {
      target.delete(name); // set_header(name, nil) clears it
      seen.add(name);
      continue;
    }
    if (seen.has(name)) target.add(name, e.value);
    else {
      target.set(name, e.value);
      seen.add(name);
    }
  }
}

function applyStop(state: RequestState, stop: StopAction): ReqPhaseOutcome {
  const headers = state.respHeaders;
  applyHeaderList(headers, stop.headers);
  const body = stop.body !== undefined && stop.body.length > 0 ? Buffer.from(stop.body) : undefined;
  return { kind: 'stop', status: stop.status === 0 ? 200 : stop.status, headers, body };
}

/** Rewrite.args merge: absent deletes, the first entry for a name replaces, repeats append. */
function mergeArgs(current: Arg[], changes: readonly TextEntry[]): Arg[] {
  let args = current;
  const replaced = new Set<string>();
  for (const c of changes) {
    if (c.value === undefined) {
      args = args.filter((a) => a.name !== c.name);
      replaced.delete(c.name);
    } else if (replaced.has(c.name)) {
      args.push({ name: c.name, value: c.value });
    } else {
      args = args.filter((a) => a.name !== c.name);
      args.push({ name: c.name, value: c.value });
      replaced.add(c.name);
    }
  }
  return args;
}

function applyRewrite(state: RequestState, rw: RewriteAction): void {
  const encodedPath = rw.path !== undefined && rw.path !== '' ? uriSafeEncode(rw.path) : undefined;
  for (const h of rw.headers) {
    state.headers.set(h.name, h.value);
    if (h.name.toLowerCase() === 'host') state.upstreamHost = h.value ?? '';
  }
  if (rw.body !== undefined && rw.body.length > 0) {
    state.body = Buffer.from(rw.body);
    state.headers.set('transfer-encoding', undefined);
    state.headers.set('content-length', String(state.body.length));
  }
  applyHeaderList(state.respHeaders, rw.respHeaders, VITAL_RESP_HEADERS);
  if (rw.args.length > 0) state.query = encodeArgs(mergeArgs(parseArgs(state.query), rw.args));
  if (encodedPath !== undefined) state.upstreamUri = state.query === '' ? encodedPath : `${encodedPath}?${state.query}`;
}

/** Applies an HTTPReqCall answer to the request; exported for tests of the rules alone. */
export function applyReqCallAnswer(state: RequestState, answer: HTTPReqCallResp): ReqPhaseOutcome {
  if (answer.action?.type === 'stop') return applyStop(state, answer.action);
  if (answer.action?.type === 'rewrite') applyRewrite(state, answer.action);
  return { kind: 'continue' };
}

/**
 * Runs one -req plugin. RpcError propagates (caller: 503 or degrade), LuaException too (500).
 * An unknown action type is ignored by APISIX (it only tests for Stop and Rewrite).
 */
export async function runReqPlugin(worker: Worker, state: RequestState, plugin: ExtPluginName, conf: ExtPluginConf): Promise<ReqPhaseOutcome> {
  const answer = await worker.communicate(
    FrameType.HTTPReqCall,
    { lruKey: `route#${state.route.id}#${plugin}`, version: state.route.version, conf: conf.conf ?? [] },
    (id, token) => encodeHTTPReqCallReq(buildCall(state, id, token)),
    (body) => {
      try {
        return decodeHTTPReqCallResp(body);
      } catch (err) {
        if (/unknown action type/.test((err as Error).message)) return { id: 0, action: undefined };
        throw err;
      }
    },
    requestExtraInfo(state),
  );
  return applyReqCallAnswer(state, answer);
}
