// An end-to-end stack for mcp-authz: the APISIX emulator (pre-req + post-resp) → our runner over
// its Unix socket (real FlatBuffers protocol, real host, the real mcp-authz plugin) → sample MCP
// servers (real MCP SDK, SSE and JSON). A route is picked with the `x-route` header. An
// optional "hostile" hop in front of a sample server rewrites its answers byte for byte, for
// the answers a real SDK server never sends (duplicate keys, lone surrogates, trailing bytes).

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportSPKI, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { startSampleMcpServer, type SampleServer } from '../examples/sample-mcp-server.js';
import { startEmulator, type Emulator, type RouteConf } from '../emulator/index.js';
import { Host } from '../runner/host/chain.js';
import { PluginRegistry } from '../runner/host/registry.js';
import { startServer, type RunnerServer } from '../runner/protocol/server.js';
import { plugin as authz } from '../plugins/mcp-authz/index.js';

export const ISSUER = 'https://idp.authz.test';
export const AUDIENCE = 'mcp-authz-e2e';

/** Rewrites the upstream's answer text (status and headers are kept, content-length recomputed). */
export type AnswerRewrite = (text: string, requestBody: string) => string;

/** A proxy in front of an upstream that rewrites every answer with `rewrite.current`. */
export interface HostileHop {
  readonly port: number;
  rewrite: AnswerRewrite | undefined;
  close(): Promise<void>;
}

export async function startHostileHop(upstreamPort: number): Promise<HostileHop> {
  const hop: { rewrite: AnswerRewrite | undefined } = { rewrite: undefined };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const body = Buffer.concat(chunks);
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string' && k !== 'host' && k !== 'content-length' && k !== 'connection') headers[k] = v;
        const up = await fetch(`http://127.0.0.1:${upstreamPort}${req.url ?? '/'}`, { method: req.method ?? 'POST', headers, ...(body.length > 0 ? { body } : {}) });
        let text = await up.text();
        if (hop.rewrite) text = hop.rewrite(text, body.toString('utf8'));
        const out = Buffer.from(text, 'utf8');
        const outHeaders: Record<string, string> = { 'content-length': String(out.length) };
        up.headers.forEach((v, k) => {
          if (k !== 'content-length' && k !== 'transfer-encoding' && k !== 'connection') outHeaders[k] = v;
        });
        res.writeHead(up.status, outHeaders).end(out);
      })().catch((err: unknown) => {
        if (!res.headersSent) res.writeHead(502);
        res.end(String(err));
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    get rewrite() {
      return hop.rewrite;
    },
    set rewrite(r: AnswerRewrite | undefined) {
      hop.rewrite = r;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface StackRoute {
  /** Value of the x-route header that selects this route. */
  name: string;
  upstreamPort: number;
  server: string;
  /** The mcp-authz conf on top of the stack's identity settings. */
  authz: Record<string, unknown>;
  /** Extra identity.jwt settings (max_token_age_seconds, ...). */
  jwt?: Record<string, unknown>;
}

export interface AuthzStack {
  readonly url: string;
  readonly sse: SampleServer;
  readonly json: SampleServer;
  /** A hostile hop in front of `sse` and one in front of `json`. */
  readonly hostileSse: HostileHop;
  readonly hostileJson: HostileHop;
  /** A signed token (ES256) for these claims; `exp` false leaves the claim out. */
  mint(claims?: Record<string, unknown>, opts?: { exp?: string | number | false; iat?: number | false }): Promise<string>;
  /** Headers for one route and one token. */
  headers(route: string, token: string): Record<string, string>;
  /** An MCP SDK client on a route with a token (connected: initialize done). */
  client(route: string, token: string): Promise<Client>;
  close(): Promise<void>;
}

/** Start sample servers, hostile hops, the runner and the emulator; `routes` sees the ports. */
export async function startAuthzStack(routes: (s: { sse: number; json: number; hostileSse: number; hostileJson: number }) => StackRoute[]): Promise<AuthzStack> {
  const dir = await mkdtemp(join(tmpdir(), 'authz-e2e-'));
  const kp = await generateKeyPair('ES256', { extractable: true });
  const privateKey: CryptoKey = kp.privateKey;
  const pem = await exportSPKI(kp.publicKey);
  const [sse, json] = await Promise.all([startSampleMcpServer(), startSampleMcpServer({ json: true })]);
  const [hostileSse, hostileJson] = await Promise.all([startHostileHop(sse.port), startHostileHop(json.port)]);
  const registry = new PluginRegistry();
  registry.register(authz);
  const runner: RunnerServer = await startServer({ address: `unix:${join(dir, 'runner.sock')}`, host: new Host({ registry }) });

  const routeConfs: RouteConf[] = routes({ sse: sse.port, json: json.port, hostileSse: hostileSse.port, hostileJson: hostileJson.port }).map((r, i) => {
    const conf = [
      { name: 'mcp-route', value: JSON.stringify({ server: r.server, post_resp: true }) },
      { name: 'mcp-authz', value: JSON.stringify({ server: r.server, identity: { jwt: { keys: [pem], issuer: ISSUER, audience: AUDIENCE, ...r.jwt } }, ...r.authz }) },
    ];
    return {
      id: i + 1,
      uri: '/mcp',
      vars: [['http_x_route', '==', r.name]],
      plugins: { 'ext-plugin-pre-req': { conf, allow_degradation: false }, 'ext-plugin-post-resp': { conf, allow_degradation: false } },
      upstream: { nodes: { [`127.0.0.1:${r.upstreamPort}`]: 1 } },
    } as RouteConf;
  });
  const emulator: Emulator = await startEmulator({ pathForTest: runner.path, routes: routeConfs, workDir: dir });
  await emulator.waitForRunner(15_000);
  const url = `${emulator.url}/mcp`;

  const headers = (route: string, token: string): Record<string, string> => ({ 'x-route': route, authorization: `Bearer ${token}` });
  return {
    url,
    sse,
    json,
    hostileSse,
    hostileJson,
    async mint(claims = {}, opts = {}) {
      let jwt = new SignJWT({ sub: 'alice', azp: 'support-agent', roles: ['support'], ...claims }).setProtectedHeader({ alg: 'ES256' }).setIssuer(ISSUER).setAudience(AUDIENCE);
      if (opts.iat !== false) jwt = jwt.setIssuedAt(opts.iat);
      if (opts.exp !== false) jwt = jwt.setExpirationTime(opts.exp ?? '5m');
      return jwt.sign(privateKey);
    },
    headers,
    async client(route, token) {
      const client = new Client({ name: 'authz-e2e', version: '1.0.0' });
      await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: headers(route, token) } }));
      return client;
    },
    async close() {
      await emulator.stop();
      await runner.close();
      await Promise.all([hostileSse.close(), hostileJson.close()]);
      await Promise.all([sse.close(), json.close()]);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** One raw JSON-RPC POST; returns status and the parsed JSON (or the JSON of the SSE events). */
export async function post(url: string, headers: Record<string, string>, body: unknown): Promise<{ status: number; text: string; json: unknown }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-06-18', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    signal: AbortSignal.timeout(15_000),
  });
  const text = await res.text();
  let json: unknown;
  if ((res.headers.get('content-type') ?? '').includes('text/event-stream')) {
    const events = text
      .split(/\r?\n\r?\n/)
      .map((b) => b.split(/\r?\n/).filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trimStart()).join('\n'))
      .filter((d) => d !== '');
    json = events.length === 1 ? safeParse(events[0]!) : events.map(safeParse);
  } else json = safeParse(text);
  return { status: res.status, text, json };
}

function safeParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
