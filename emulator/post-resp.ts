// ext-plugin-post-resp (docs/ext-plugin-protocol.md §4.4, post-resp.lua): APISIX itself calls the upstream on a new
// connection (lua-resty-http: client headers as they are now, client Host, no timeouts from
// the route, no keepalive), sends HTTPRespCall once the headers arrived, and applies the answer.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { decodeHTTPRespCallResp, encodeHTTPRespCallReq } from '../runner/protocol/codec.js';
import { FrameType, type HTTPRespCallResp, type TextEntry } from '../runner/protocol/messages.js';
import type { ExtPluginConf, UpstreamNode } from './config.js';
import { LuaException, RpcError, type Worker } from './extplugin-client.js';
import { proxyToUpstream, rawHeaderPairs, sendUpstream, type UpstreamDeps } from './proxy.js';
import { VITAL_RESP_HEADERS, requestExtraInfo } from './reqcall.js';
import { DEFAULT_CONTENT_TYPE, sendErrorPage, sendExit, writeHead } from './responses.js';
import type { ResponseHeaders, RequestState } from './state.js';

/** nginx's lua_socket_*_timeout default: post-resp sets no timeout of its own. */
const LUA_SOCKET_TIMEOUT_MS = 60_000;

/** The upstream body: read whole on RespBody (once; the reader is then dead), else streamed. */
class UpstreamBody {
  private chunks: Buffer[] | undefined;
  private consumed = false;

  constructor(private readonly res: IncomingMessage) {}

  /** ExtraInfo RespBody: the whole body; a second ask finds the reader exhausted (nil). */
  async readAll(): Promise<Uint8Array | undefined> {
    if (this.consumed) return undefined;
    this.consumed = true;
    const chunks: Buffer[] = [];
    try {
      for await (const c of this.res) chunks.push(c as Buffer);
    } catch {
      // a read error: APISIX logs it and answers without result
    }
    this.chunks = chunks;
    return chunks.length === 0 ? undefined : Buffer.concat(chunks);
  }

  /** Sends the buffered chunks, or streams the rest of the upstream body, to the client. */
  sendTo(client: ServerResponse): void {
    if (this.chunks !== undefined) {
      for (const c of this.chunks) client.write(c);
      client.end();
      return;
    }
    if (this.consumed) {
      client.end();
      return;
    }
    this.consumed = true;
    this.res.on('error', () => client.destroy());
    client.once('close', () => this.res.destroy());
    this.res.pipe(client);
  }

  discard(): void {
    this.res.destroy();
  }
}

/** Upstream response headers for HTTPRespCall: first spelling per name, one entry per value. */
function respCallHeaders(res: IncomingMessage): TextEntry[] {
  const spelling = new Map<string, string>();
  const out: TextEntry[] = [];
  for (const [name, value] of rawHeaderPairs(res)) {
    const lower = name.toLowerCase();
    if (!spelling.has(lower)) spelling.set(lower, name);
    out.push({ name: spelling.get(lower)!, value });
  }
  return out;
}

function applyAnswerHeaders(target: ResponseHeaders, answer: HTTPRespCallResp, upstream: IncomingMessage): void {
  if (answer.headers.length > 0) {
    // Exactly these, lower-cased, first sets / repeats add; the upstream's are not copied.
    const seen = new Set<string>();
    for (const h of answer.headers) {
      const name = h.name.toLowerCase();
      if (h.value === undefined) {
        target.delete(name);
      } else if (seen.has(name)) target.add(name, h.value);
      else target.set(name, h.value);
      seen.add(name);
    }
    return;
  }
  // Copy the upstream's headers minus the vital ones (content-type included).
  const grouped = new Map<string, { name: string; values: string[] }>();
  for (const [name, value] of rawHeaderPairs(upstream)) {
    const lower = name.toLowerCase();
    if (VITAL_RESP_HEADERS.has(lower)) continue;
    const g = grouped.get(lower);
    if (g === undefined) grouped.set(lower, { name, values: [value] });
    else g.values.push(value);
  }
  for (const { name, values } of grouped.values()) {
    target.set(name, values[0]!);
    for (const v of values.slice(1)) target.add(name, v);
  }
}

/**
 * lua-resty-http gives no body reader for HEAD, 204 and 304: post-resp prints nothing, sends
 * no headers, and nginx goes on to its normal proxy_pass, calling the upstream a SECOND time
 * (docs/ext-plugin-protocol.md §4.4.4, inferred from post-resp.lua; APISIX's TODO says it should answer itself).
 */
function hasNoBody(method: string, status: number | undefined): boolean {
  return method === 'HEAD' || status === 204 || status === 304;
}

export async function runPostResp(
  deps: UpstreamDeps,
  worker: Worker,
  state: RequestState,
  node: UpstreamNode,
  conf: ExtPluginConf,
  res: ServerResponse,
): Promise<void> {
  const headers = state.headers.clone();
  headers.set('connection', undefined);
  headers.set('transfer-encoding', undefined);
  if (state.body !== undefined) headers.set('Content-Length', String(state.body.length));
  // Path: $upstream_uri, or the DECODED $uri, plus the query (post-resp.lua).
  const path = state.upstreamUri !== undefined && state.upstreamUri !== '' ? state.upstreamUri : state.uri + (state.query !== '' ? `?${state.query}` : '');
  let upstream: IncomingMessage;
  try {
    upstream = await sendUpstream(
      deps,
      {
        node,
        scheme: state.route.conf.upstream.scheme ?? 'http',
        method: state.method,
        path,
        headers: headers.entries,
        body: state.body,
        connectTimeout: LUA_SOCKET_TIMEOUT_MS,
        sendTimeout: LUA_SOCKET_TIMEOUT_MS,
        readTimeout: LUA_SOCKET_TIMEOUT_MS,
        fresh: true,
      },
      (abort) => res.once('close', () => !res.writableFinished && abort()),
    );
  } catch {
    // Any failure to get the upstream's headers: 502 before the runner is contacted.
    if (!res.destroyed) sendErrorPage(res, 502);
    return;
  }
  const body = new UpstreamBody(upstream);
  const extra = { ...requestExtraInfo(state), respBody: () => body.readAll() };
  let answer: HTTPRespCallResp;
  try {
    answer = await worker.communicate(
      FrameType.HTTPRespCall,
      { lruKey: `route#${state.route.id}#ext-plugin-post-resp`, version: state.route.version, conf: conf.conf ?? [] },
      (id, token) => encodeHTTPRespCallReq({ id, status: upstream.statusCode ?? 0, headers: respCallHeaders(upstream), confToken: token }),
      decodeHTTPRespCallResp,
      extra,
    );
  } catch (err) {
    if (err instanceof RpcError) {
      // communicate() gives only a status: the upstream body goes out anyway, without the
      // upstream's headers (docs/ext-plugin-protocol.md §2.7); with degradation under the upstream's own status.
      if (conf.allow_degradation === true) worker.logDegradation();
      const status = conf.allow_degradation === true ? upstream.statusCode ?? 502 : 503;
      if (hasNoBody(state.method, upstream.statusCode)) {
        body.discard();
        await proxyToUpstream(deps, state, node, res);
        return;
      }
      state.respHeaders.set('Content-Type', DEFAULT_CONTENT_TYPE);
      writeHead(res, status, state.respHeaders);
      body.sendTo(res);
      return;
    }
    body.discard();
    throw err instanceof LuaException ? err : new LuaException((err as Error).message);
  }
  const status = answer.status === 0 ? upstream.statusCode ?? 200 : answer.status;
  applyAnswerHeaders(state.respHeaders, answer, upstream);
  if (answer.body !== undefined && answer.body.length > 0) {
    body.discard();
    sendExit(res, status, Buffer.from(answer.body), state.respHeaders, conf._meta);
    return;
  }
  if (hasNoBody(state.method, upstream.statusCode)) {
    // The answer's headers stay set on the response; the second call's status and headers follow.
    body.discard();
    await proxyToUpstream(deps, state, node, res);
    return;
  }
  if (!state.respHeaders.has('content-type')) state.respHeaders.set('Content-Type', DEFAULT_CONTENT_TYPE);
  writeHead(res, status, state.respHeaders);
  res.flushHeaders();
  body.sendTo(res);
}
