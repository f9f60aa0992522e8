// Upstream side: nginx's proxy_pass (keepalive pool, route timeouts, X-Forwarded-*, streaming
// with no buffering so SSE flows) and the raw request helper post-resp uses.

import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import type { LoadedRoute, UpstreamNode } from './config.js';
import type { Counters } from './extplugin-client.js';
import { sendErrorPage, writeHead } from './responses.js';
import { ResponseHeaders, type RequestState } from './state.js';
import { uriSafeEncode } from './uri.js';

export class UpstreamError extends Error {
  constructor(readonly timedOut: boolean, message: string) {
    super(message);
    this.name = 'UpstreamError';
  }
}

export interface UpstreamDeps {
  agent: http.Agent;
  httpsAgent: https.Agent;
  counters: Counters;
  /** Sockets already counted in upstreamConnectionsOpened. */
  seenSockets: WeakSet<Socket>;
}

/** Hop-by-hop headers nginx does not pass between client and upstream. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'proxy-connection', 'upgrade', 'te', 'trailer']);

/** Weighted round robin over the route's nodes. */
export class NodePicker {
  private counters = new Map<string, number>();

  pick(route: LoadedRoute): UpstreamNode {
    const expanded: UpstreamNode[] = [];
    for (const n of route.nodes) for (let i = 0; i < Math.min(Math.max(n.weight ?? 1, 0), 100); i++) expanded.push(n);
    const list = expanded.length > 0 ? expanded : route.nodes;
    const i = this.counters.get(route.id) ?? 0;
    this.counters.set(route.id, (i + 1) % Math.max(list.length, 1));
    return list[i % list.length]!;
  }
}

/** $upstream_uri, or the encoded $uri plus $args when no plugin set it. */
export function upstreamPath(state: RequestState): string {
  if (state.upstreamUri !== undefined && state.upstreamUri !== '') return state.upstreamUri;
  return uriSafeEncode(state.uri) + (state.query !== '' ? `?${state.query}` : '');
}

export interface UpstreamRequest {
  node: UpstreamNode;
  scheme: 'http' | 'https';
  method: string;
  path: string;
  headers: [string, string][];
  body: Buffer | undefined;
  /** Milliseconds. */
  connectTimeout: number;
  sendTimeout: number;
  readTimeout: number;
  /** A new connection just for this request (post-resp: no keepalive). */
  fresh: boolean;
}

/** Sends the request; resolves when the response headers arrived. */
export function sendUpstream(deps: UpstreamDeps, r: UpstreamRequest, onAbortSignal: (abort: () => void) => void): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const flat: string[] = [];
    for (const [n, v] of r.headers) flat.push(n, v);
    const mod = r.scheme === 'https' ? https : http;
    let req: http.ClientRequest;
    try {
      req = mod.request({
        host: r.node.host,
        port: r.node.port,
        method: r.method,
        path: r.path,
        headers: flat as unknown as http.OutgoingHttpHeaders,
        agent: r.fresh ? false : r.scheme === 'https' ? deps.httpsAgent : deps.agent,
        rejectUnauthorized: r.fresh, // nginx proxy_ssl_verify is off; lua-resty-http verifies
        setHost: false,
      });
    } catch (err) {
      reject(new UpstreamError(false, (err as Error).message));
      return;
    }
    let connectTimer: NodeJS.Timeout | undefined;
    let settled = false;
    const fail = (timedOut: boolean, message: string): void => {
      if (connectTimer !== undefined) clearTimeout(connectTimer);
      if (!settled) {
        settled = true;
        reject(new UpstreamError(timedOut, message));
      }
      req.destroy();
    };
    onAbortSignal(() => fail(false, 'client closed'));
    // Inactivity timeout while waiting for and reading the response (proxy_read_timeout);
    // ClientRequest removes it when a keepalive socket goes back to the pool.
    req.setTimeout(r.readTimeout, () => fail(true, 'upstream timed out'));
    req.on('socket', (socket: Socket) => {
      if (!deps.seenSockets.has(socket)) {
        deps.seenSockets.add(socket);
        deps.counters.upstreamConnectionsOpened++;
      }
      if (socket.connecting) {
        connectTimer = setTimeout(() => fail(true, 'upstream connect timed out'), r.connectTimeout);
        socket.once('connect', () => {
          if (connectTimer !== undefined) clearTimeout(connectTimer);
        });
      }
    });
    req.on('error', (err) => fail(false, err.message));
    req.on('response', (res) => {
      if (connectTimer !== undefined) clearTimeout(connectTimer);
      settled = true;
      resolve(res);
    });
    req.end(r.body);
  });
}

/** Upstream response headers as Node received them: [name, value] in original case. */
export function rawHeaderPairs(res: IncomingMessage): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) out.push([res.rawHeaders[i]!, res.rawHeaders[i + 1]!]);
  return out;
}

function timeoutsMs(route: LoadedRoute): { connect: number; send: number; read: number } {
  const t = route.conf.upstream.timeout ?? {};
  return { connect: (t.connect ?? 60) * 1000, send: (t.send ?? 60) * 1000, read: (t.read ?? 60) * 1000 };
}

/** proxy_pass: headers as APISIX's nginx.conf sets them, body in full, response streamed. */
export async function proxyToUpstream(deps: UpstreamDeps, state: RequestState, node: UpstreamNode, res: ServerResponse): Promise<void> {
  const headers = state.headers.clone();
  for (const name of HOP_BY_HOP) headers.set(name, undefined);
  headers.set('Host', state.upstreamHost);
  headers.set('X-Real-IP', state.remoteAddr);
  const xff = state.headers.get('x-forwarded-for');
  headers.set('X-Forwarded-For', xff !== undefined ? `${xff}, ${state.remoteAddr}` : state.remoteAddr);
  headers.set('X-Forwarded-Proto', state.headers.get('x-forwarded-proto') ?? state.scheme);
  headers.set('X-Forwarded-Host', state.headers.get('x-forwarded-host') ?? (state.headers.get('host') ?? '').replace(/:\d+$/, ''));
  headers.set('X-Forwarded-Port', state.headers.get('x-forwarded-port') ?? String(state.serverPort));
  if (state.body !== undefined) headers.set('Content-Length', String(state.body.length));
  const t = timeoutsMs(state.route);
  let upstreamRes: IncomingMessage;
  try {
    upstreamRes = await sendUpstream(
      deps,
      {
        node,
        scheme: state.route.conf.upstream.scheme ?? 'http',
        method: state.method,
        path: upstreamPath(state),
        headers: headers.entries,
        body: state.body,
        connectTimeout: t.connect,
        sendTimeout: t.send,
        readTimeout: t.read,
        fresh: false,
      },
      (abort) => res.once('close', () => !res.writableFinished && abort()),
    );
  } catch (err) {
    if (res.destroyed) return;
    sendErrorPage(res, err instanceof UpstreamError && err.timedOut ? 504 : 502, state.respHeaders);
    return;
  }
  const out = state.respHeaders;
  // Rewrite.resp_headers were set before proxying; the upstream's headers are added to them.
  for (const [name, value] of rawHeaderPairs(upstreamRes)) {
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || lower === 'server') continue;
    out.add(name, value);
  }
  writeHead(res, upstreamRes.statusCode ?? 502, out);
  res.flushHeaders();
  upstreamRes.on('error', () => res.destroy());
  res.once('close', () => upstreamRes.destroy());
  upstreamRes.pipe(res);
}
