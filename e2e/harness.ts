// The end-to-end stack, all real: sample MCP servers (SSE and JSON), the APISIX emulator that
// spawns our runner like ext-plugin.cmd, Redis when a group needs it, and helpers to mint JWTs,
// talk raw JSON-RPC or through the MCP SDK client, and read the audit file, metrics and runner log.
// The same Target shape describes a remote gateway (e2e/cli.ts): scenarios only see a Target.

import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../runner/host/schema-file.js';
import { exportPKCS8, exportSPKI, generateKeyPair, importPKCS8, SignJWT, type CryptoKey } from 'jose';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CreateMessageRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { startSampleMcpServer, type SampleServer } from '../examples/sample-mcp-server.js';
import { startEmulator, type Emulator, type RouteConf } from '../emulator/index.js';
import { startRedis, type RedisInstance } from '../testkit/redis.js';
import { freePort, readJsonLines } from '../testkit/local-run.js';
import { adaptShippedRoutes, envRefName, firstPluginConf, freshSecrets, jwtSettings, loadShippedRoutes } from '../testkit/shipped-conf.js';

// ---------------------------------------------------------------- identities

export interface MintOptions {
  sub?: string;
  app?: string;
  roles?: string[];
  environment?: string;
  tenant?: string;
  /** jose duration ('5m') or absolute epoch seconds. */
  expiresAt?: string | number;
  audience?: string;
  issuer?: string;
  /** Sign with a key the gateway does not know (same alg and kid). */
  foreignKey?: boolean;
}

export interface JwtMinter {
  readonly issuer: string;
  readonly audience: string;
  mint(opts?: MintOptions): Promise<string>;
}

/** Signs with the given key (or a fresh per-run ES256 pair); a second pair stands in for a forger. */
export async function jwtMinter(opts: { issuer: string; audience: string; privateKeyPem?: string; sharedSecret?: string; alg?: string; kid?: string; defaults?: MintOptions }): Promise<JwtMinter & { publicKeyPem?: string; privateKeyPem?: string }> {
  const alg = opts.alg ?? (opts.sharedSecret !== undefined ? 'HS256' : 'ES256');
  let privateKey: CryptoKey | Uint8Array;
  let forger: CryptoKey | Uint8Array | undefined;
  let publicKeyPem: string | undefined;
  let privateKeyPem: string | undefined;
  if (opts.sharedSecret !== undefined) {
    privateKey = new TextEncoder().encode(opts.sharedSecret);
    forger = randomBytes(48);
  } else if (opts.privateKeyPem !== undefined) {
    privateKey = await importPKCS8(opts.privateKeyPem, alg);
  } else {
    const kp = await generateKeyPair(alg, { extractable: true });
    privateKey = kp.privateKey;
    publicKeyPem = await exportSPKI(kp.publicKey);
    privateKeyPem = await exportPKCS8(kp.privateKey);
  }
  const forgerKey = forger ?? (await generateKeyPair(alg, { extractable: true })).privateKey;
  const d = opts.defaults ?? {};
  return {
    issuer: opts.issuer,
    audience: opts.audience,
    publicKeyPem,
    privateKeyPem,
    mint(o: MintOptions = {}) {
      const m = { ...d, ...o };
      const claims: Record<string, unknown> = { sub: m.sub ?? 'alice', azp: m.app ?? 'support-agent', roles: m.roles ?? ['support'] };
      if (m.environment !== undefined) claims['environment'] = m.environment;
      if (m.tenant !== undefined) claims['tenant'] = m.tenant;
      return new SignJWT(claims)
        .setProtectedHeader(opts.kid !== undefined ? { alg, kid: opts.kid } : { alg })
        .setIssuer(m.issuer ?? opts.issuer)
        .setAudience(m.audience ?? opts.audience)
        .setIssuedAt()
        .setExpirationTime(m.expiresAt ?? '5m')
        .sign(m.foreignKey === true ? forgerKey : privateKey);
    },
  };
}

// ---------------------------------------------------------------- raw JSON-RPC over HTTP

export interface RawAnswer {
  status: number;
  headers: Headers;
  text: string;
  /** Parsed JSON body, or the JSON-RPC messages of an SSE body; undefined when neither. */
  json: unknown;
}

/** JSON-RPC messages carried by an SSE body (data lines of each event). */
export function sseMessages(text: string): unknown[] {
  const out: unknown[] = [];
  for (const block of text.split(/\r?\n\r?\n/)) {
    const data = block
      .split(/\r?\n/)
      .filter((l) => l.startsWith('data:'))
      .map((l) => l.slice(5).replace(/^ /, ''))
      .join('\n');
    if (data === '') continue;
    try {
      out.push(JSON.parse(data));
    } catch {
      /* not JSON: ignored */
    }
  }
  return out;
}

export async function postRaw(url: string, body: string, headers: Record<string, string> = {}, timeoutMs = 15_000): Promise<RawAnswer> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-06-18', ...headers },
    body,
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  let json: unknown;
  if ((res.headers.get('content-type') ?? '').includes('text/event-stream')) {
    const msgs = sseMessages(text);
    json = msgs.length === 1 ? msgs[0] : msgs;
  } else {
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
  }
  return { status: res.status, headers: res.headers, text, json };
}

let rpcId = 1000;
/** One JSON-RPC request as a single POST (stateless servers accept it without initialize). */
export function rpc(url: string, method: string, params: Record<string, unknown> | undefined, headers: Record<string, string> = {}, id: number | string = ++rpcId): Promise<RawAnswer> {
  return postRaw(url, JSON.stringify({ jsonrpc: '2.0', id, method, ...(params !== undefined ? { params } : {}) }), headers);
}

export function toolCall(url: string, name: string, args: Record<string, unknown>, headers: Record<string, string> = {}, id?: number | string): Promise<RawAnswer> {
  return rpc(url, 'tools/call', { name, arguments: args }, headers, id);
}

export const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });

// ---------------------------------------------------------------- MCP SDK client

export interface ClientOptions {
  headers?: Record<string, string>;
  /** Answer server→client sampling requests with this text. */
  samplingAnswer?: string;
}

export async function mcpClient(url: string, opts: ClientOptions = {}): Promise<Client> {
  const client = new Client({ name: 'mcp-gateway-e2e', version: '1.0.0' }, { capabilities: opts.samplingAnswer !== undefined ? { sampling: {} } : {} });
  if (opts.samplingAnswer !== undefined) {
    const answer = opts.samplingAnswer;
    client.setRequestHandler(CreateMessageRequestSchema, () => ({ role: 'assistant', content: { type: 'text', text: answer }, model: 'e2e-model' }));
  }
  const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: opts.headers ?? {} } });
  await client.connect(transport);
  return client;
}

// ---------------------------------------------------------------- targets

/** Named endpoints; a target that lacks one skips the scenarios that need it. */
export type EndpointName = 'main' | 'json' | 'shadow' | 'pin' | 'pinflag' | 'redis' | 'everything' | 'faults' | 'stateful';

/** What the policy behind the target is expected to do (defaults: conf/policies/support.yaml). */
export interface Expectations {
  app: string;
  environment: string;
  allowedTool: string;
  allowedArgs: Record<string, unknown>;
  deniedTool: string;
  deniedRule: string;
  confirmTool: string;
  /** Tool whose limit is `limitRequests` per minute per user (by user, tool). */
  limitTool: string;
  /** Undefined: the target has no known small limit and the limit scenarios are skipped. */
  limitRequests: number | undefined;
  /** Backend credential the gateway attaches (local only: remote deployments keep it secret). */
  backendToken?: string;
  /** Max request body of the main route. */
  maxBodyBytes?: number;
  /** debug.echo and util.* are allowed for the e2e identity (needed to look at what the server saw). */
  debugTools: boolean;
}

export interface AuditEvent {
  [k: string]: unknown;
  tool?: string;
  user?: string;
  jsonrpc_id?: string | number | null;
  decision?: { action?: string; rule?: string; [k: string]: unknown };
  result?: string;
}

/** What only a local stack offers. */
export interface LocalAccess {
  sse: SampleServer;
  json: SampleServer;
  pin: SampleServer;
  emulator: Emulator;
  metricsUrl: string;
  redisUrl?: string;
  auditEvents(): Promise<AuditEvent[]>;
  /** Waits until an audit event matches (the file sink writes asynchronously). */
  waitForAudit(pred: (e: AuditEvent) => boolean, timeoutMs?: number): Promise<AuditEvent[]>;
  runnerLog(): string;
}

export interface Target {
  readonly name: string;
  endpoint(name: EndpointName): string | undefined;
  readonly jwt: JwtMinter;
  readonly expect: Expectations;
  readonly local?: LocalAccess;
}

export const SUPPORT_EXPECTATIONS: Expectations = {
  app: 'support-agent',
  environment: 'production',
  allowedTool: 'crm.lookup_customer',
  allowedArgs: { customer_id: 'c-1001' },
  deniedTool: 'account.delete_customer',
  deniedRule: 'support-agent/denied_tools/account.delete_customer',
  confirmTool: 'ticket.create_case',
  limitTool: 'crm.search_accounts',
  limitRequests: 3,
  debugTools: true,
};

// ---------------------------------------------------------------- local stack

/** The repository root (where package.json is), from the source tree or from dist/. */
export const REPO_ROOT = PACKAGE_ROOT;
export const SUPPORT_POLICY = join(REPO_ROOT, 'conf/policies/support.yaml');
export const ISSUER = 'https://idp.e2e.test';
export const AUDIENCE = 'mcp-gateway-e2e';

const entry = (name: string, value: unknown): { name: string; value: string } => ({ name, value: JSON.stringify(value) });

/** Extra allowances on top of the shipped support policy so tests can see what the server got. */
const E2E_POLICY = {
  version: 1,
  actors: [
    {
      name: 'e2e-debug',
      actor: { app: 'support-agent' },
      servers: ['sample-tools', 'pin-tools', 'pin-flag'],
      allowed_tools: ['debug.echo', 'util.slow', 'util.fail', 'util.ask_model'],
    },
    { name: 'e2e-faults', actor: { app: 'support-agent' }, servers: ['fault-tools'], allowed_tools: ['fault.*'] },
    { name: 'e2e-everything', actor: { app: 'support-agent' }, servers: ['everything'], allowed_tools: ['echo', 'get-sum'], denied_tools: [{ name: 'toggle-*', reason: 'not for agents' }] },
  ],
};

export interface RouteOptions {
  id: string;
  uri: string;
  upstreamPort: number;
  server: string;
  authz?: Record<string, unknown>;
  ratelimit?: Record<string, unknown> | false;
  maxBodyBytes?: number;
  auditPath: string;
  /** Extra mcp-audit conf (e.g. include_list_calls). */
  audit?: Record<string, unknown>;
}

/** A route like the shipped layout: audit first, then authz, ratelimit, credential, redact. */
export function gatewayRoute(o: RouteOptions): RouteConf {
  const conf = [
    entry('mcp-route', { server: o.server, post_resp: true, ...(o.maxBodyBytes !== undefined ? { max_body_bytes: o.maxBodyBytes } : {}) }),
    entry('mcp-audit', { server: o.server, sink: { type: 'file', path: o.auditPath }, ...o.audit }),
    entry('mcp-authz', {
      server: o.server,
      identity: { jwt: { keys: ['$env://E2E_JWT_PUBLIC_KEY'], issuer: ISSUER, audience: AUDIENCE } },
      protected_resource: { authorization_servers: [ISSUER], scopes_supported: ['mcp'], resource_name: 'MCP gateway e2e' },
      policy_file: SUPPORT_POLICY,
      policy: E2E_POLICY,
      confirmation: { secret: '$env://E2E_CONFIRM_SECRET' },
      ...o.authz,
    }),
    ...(o.ratelimit === false ? [] : [entry('mcp-ratelimit', { server: o.server, ...(o.ratelimit ?? {}), limits: [{ name: 'search-per-user', by: ['user', 'tool'], match: { tools: ['crm.search_accounts'] }, requests: 3, per: 'minute', burst: 3 }] })]),
    entry('mcp-credential', { credential: { type: 'bearer', token: '$env://E2E_BACKEND_TOKEN' } }),
    entry('mcp-redact', { tools: ['crm.*', 'debug.*', 'fault.*'] }),
  ];
  return {
    id: o.id,
    uri: o.uri,
    methods: ['POST', 'GET', 'DELETE'],
    plugins: {
      'ext-plugin-pre-req': { conf, allow_degradation: false },
      'ext-plugin-post-resp': { conf, allow_degradation: false },
    },
    upstream: { type: 'roundrobin', nodes: { [`127.0.0.1:${o.upstreamPort}`]: 1 } },
  } as RouteConf;
}

/** The RFC 9728 metadata route (GET on the well-known path goes through the same authz conf). */
function metadataRoute(auditPath: string): RouteConf {
  const r = gatewayRoute({ id: 'prm', uri: '/.well-known/oauth-protected-resource/*', upstreamPort: 1, server: 'sample-tools', ratelimit: false, auditPath });
  return { ...r, methods: ['GET'] } as RouteConf;
}

export interface LocalStack {
  target: Target;
  /** PKCS#8 PEM of the per-run signing key (for driving the CLI against this stack). */
  jwtPrivateKeyPem: string;
  redis?: RedisInstance;
  backendToken: string;
  stop(): Promise<void>;
}

export interface LocalStackOptions {
  redis?: boolean;
  everything?: { port: number };
  /** Extra routes (e.g. custom upstreams for fault scenarios). */
  extraRoutes?: (auditPath: string) => RouteConf[];
  respawnDelayMs?: number;
  /** Run the shipped routes of this apisix.yaml (upstream nodes replaced by the SSE sample server) instead of the generated ones. */
  shippedConfig?: string;
}

interface ShippedLayout {
  routes: RouteConf[];
  envs: Record<string, string>;
  issuer: string;
  audience: string;
  sharedSecret?: string;
  backendToken?: string;
  maxBodyBytes?: number;
}

/**
 * The shipped routes, made runnable here (testkit/shipped-conf.ts): upstream nodes → the local
 * sample server, the audit file → the run's temp dir, relative policy paths → the repo; every
 * $env:// secret gets a random per-run value (HS256 JWT secret, confirmation secret, backend token).
 */
async function shippedLayout(path: string, upstreamPort: number, auditPath: string): Promise<ShippedLayout> {
  const routes = adaptShippedRoutes(await loadShippedRoutes(path), { upstream: `127.0.0.1:${upstreamPort}`, auditPath });
  const envs = freshSecrets(routes);
  const jwt = jwtSettings(routes);
  const credential = firstPluginConf(routes, 'mcp-credential')?.['credential'];
  const backendEnv = envRefName(typeof credential === 'object' && credential !== null ? (credential as Record<string, unknown>)['token'] : undefined);
  const maxBodyBytes = firstPluginConf(routes, 'mcp-route')?.['max_body_bytes'];
  return {
    routes,
    envs,
    issuer: jwt.issuer,
    audience: jwt.audience,
    sharedSecret: envs[jwt.secretEnv],
    ...(backendEnv !== undefined ? { backendToken: envs[backendEnv] } : {}),
    ...(typeof maxBodyBytes === 'number' ? { maxBodyBytes } : {}),
  };
}

export async function startLocalStack(opts: LocalStackOptions = {}): Promise<LocalStack> {
  // Redis first: when it cannot start, nothing else has been started that would need stopping.
  const redis = opts.redis === true ? await startRedis() : undefined;
  const dir = await mkdtemp(join(tmpdir(), 'mcp-e2e-'));
  const auditPath = join(dir, 'audit.log');
  const [sse, json, pin, stateful, metricsPort] = await Promise.all([startSampleMcpServer(), startSampleMcpServer({ json: true }), startSampleMcpServer(), startSampleMcpServer({ stateful: true }), freePort()]);
  const shipped = opts.shippedConfig !== undefined ? await shippedLayout(opts.shippedConfig, sse.port, auditPath) : undefined;
  let jwt: Awaited<ReturnType<typeof jwtMinter>>;
  if (shipped !== undefined) {
    jwt = await jwtMinter({ issuer: shipped.issuer, audience: shipped.audience, ...(shipped.sharedSecret !== undefined ? { sharedSecret: shipped.sharedSecret } : {}), defaults: { environment: 'production' } });
  } else jwt = await jwtMinter({ issuer: ISSUER, audience: AUDIENCE, defaults: { environment: 'production' } });
  const backendToken = shipped?.backendToken ?? `backend-${randomBytes(12).toString('hex')}`;

  const routes: RouteConf[] = shipped?.routes ?? [
    gatewayRoute({ id: 'main', uri: '/mcp', upstreamPort: sse.port, server: 'sample-tools', maxBodyBytes: 4 * 1024 * 1024, auditPath }),
    gatewayRoute({ id: 'json', uri: '/mcp/json', upstreamPort: json.port, server: 'sample-tools', auditPath }),
    gatewayRoute({ id: 'shadow', uri: '/mcp/shadow', upstreamPort: sse.port, server: 'sample-tools', authz: { mode: 'shadow' }, ratelimit: false, auditPath }),
    gatewayRoute({ id: 'pin', uri: '/mcp/pin', upstreamPort: pin.port, server: 'pin-tools', authz: { pinning: { mode: 'trust_on_first_use', on_mismatch: 'block' } }, ratelimit: false, auditPath }),
    gatewayRoute({ id: 'stateful', uri: '/mcp/stateful', upstreamPort: stateful.port, server: 'sample-tools', ratelimit: false, auditPath }),
    gatewayRoute({ id: 'pinflag', uri: '/mcp/pinflag', upstreamPort: pin.port, server: 'pin-flag', authz: { pinning: { mode: 'trust_on_first_use', on_mismatch: 'flag' } }, ratelimit: false, auditPath, audit: { include_list_calls: true } }),
    ...(redis !== undefined
      ? [gatewayRoute({ id: 'redis', uri: '/mcp/redis', upstreamPort: sse.port, server: 'sample-tools', ratelimit: { store: { type: 'redis', url: redis.url, key_prefix: `e2e${randomBytes(3).toString('hex')}` } }, auditPath })]
      : []),
    ...(opts.everything !== undefined
      ? [gatewayRoute({ id: 'everything', uri: '/mcp/everything', upstreamPort: opts.everything.port, server: 'everything', ratelimit: false, auditPath })]
      : []),
    metadataRoute(auditPath),
    ...(opts.extraRoutes?.(auditPath) ?? []),
  ];

  const emulator = await startEmulator({
    routes,
    cmd: [process.execPath, join(REPO_ROOT, 'dist/runner/main.js')],
    envs: {
      ...(shipped?.envs ?? {}),
      E2E_JWT_PUBLIC_KEY: jwt.publicKeyPem ?? '',
      E2E_CONFIRM_SECRET: randomBytes(32).toString('hex'),
      E2E_BACKEND_TOKEN: backendToken,
      MCP_RUNNER_METRICS_PORT: String(metricsPort),
      MCP_RUNNER_LOG_LEVEL: process.env['MCP_RUNNER_LOG_LEVEL'] ?? 'warn',
    },
    // APISIX waits 3 s before respawning a dead runner; tests use 300 ms so the restart
    // scenario stays fast while still exercising the down window.
    respawnDelayMs: opts.respawnDelayMs ?? 300,
  });
  await emulator.waitForRunner(10_000);

  const auditEvents = (): Promise<AuditEvent[]> => readJsonLines<AuditEvent>(auditPath);

  const base = emulator.url;
  const paths: Record<EndpointName, string | undefined> = shipped !== undefined
    ? { main: '/mcp', json: undefined, shadow: undefined, pin: undefined, pinflag: undefined, redis: undefined, everything: undefined, faults: undefined, stateful: undefined }
    : {
    main: '/mcp',
    json: '/mcp/json',
    shadow: '/mcp/shadow',
    pin: '/mcp/pin',
    pinflag: '/mcp/pinflag',
    redis: redis !== undefined ? '/mcp/redis' : undefined,
    everything: opts.everything !== undefined ? '/mcp/everything' : undefined,
    faults: opts.extraRoutes !== undefined ? '/faults' : undefined,
    stateful: '/mcp/stateful',
  };
  const local: LocalAccess = {
    sse,
    json,
    pin,
    emulator,
    metricsUrl: `http://127.0.0.1:${metricsPort}/metrics`,
    ...(redis !== undefined ? { redisUrl: redis.url } : {}),
    auditEvents,
    async waitForAudit(pred, timeoutMs = 3000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const events = (await auditEvents()).filter(pred);
        if (events.length > 0 || Date.now() > deadline) return events;
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    runnerLog: () => emulator.runnerLog(),
  };
  const target: Target = {
    name: shipped !== undefined ? 'emulator (shipped conf/apisix.yaml)' : 'emulator',
    endpoint: (n) => (paths[n] !== undefined ? `${base}${paths[n]}` : undefined),
    jwt,
    // The shipped policy does not allow debug.* and its limits are production-sized.
    expect:
      shipped !== undefined
        ? { ...SUPPORT_EXPECTATIONS, backendToken, debugTools: false, limitRequests: undefined, ...(shipped.maxBodyBytes !== undefined ? { maxBodyBytes: shipped.maxBodyBytes } : {}) }
        : { ...SUPPORT_EXPECTATIONS, backendToken, maxBodyBytes: 4 * 1024 * 1024 },
    local,
  };
  return {
    target,
    jwtPrivateKeyPem: jwt.privateKeyPem!,
    redis,
    backendToken,
    async stop() {
      await emulator.stop();
      await Promise.all([sse.close(), json.close(), pin.close(), stateful.close(), redis?.stop()]);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Listens on a free 127.0.0.1 port; close() also ends kept-alive connections. */
async function listenOnLoopback(http: Server): Promise<{ port: number; close(): Promise<void> }> {
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  return {
    port: (http.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((r) => {
        http.closeAllConnections();
        http.close(() => r());
      }),
  };
}

/** A server-everything instance (third-party MCP server) on 127.0.0.1: its own CLI binds every interface, so we host its server factory behind the SDK transport ourselves. */
export async function startEverythingServer(): Promise<{ port: number; close(): Promise<void> }> {
  const { createServer } = (await import('node:http')) as typeof import('node:http');
  const { StreamableHTTPServerTransport } = await import('@modelcontextprotocol/sdk/server/streamableHttp.js');
  const spec = '@modelcontextprotocol/server-everything/dist/server/index.js';
  const mod = (await import(spec)) as { createServer: () => { server: { connect(t: unknown): Promise<void>; close(): Promise<void> }; cleanup?: () => void } };
  const http = createServer((req, res) => {
    void (async () => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const body = chunks.length > 0 ? (JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown) : undefined;
      // Stateless: one server per request, JSON answers off (SSE), like a simple deployment.
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
      const { server, cleanup } = mod.createServer();
      res.on('close', () => {
        void transport.close();
        void server.close();
        cleanup?.();
      });
      await server.connect(transport);
      await transport.handleRequest(req, res, body);
    })().catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500);
      res.end(String(err));
    });
  });
  return listenOnLoopback(http);
}

/** Small upstreams for what the sample server cannot do: answer slowly, reset, stream SSE for a while. */
export async function startFaultUpstream(): Promise<{ port: number; close(): Promise<void> }> {
  const { createServer } = await import('node:http');
  const http = createServer((req, res) => {
    void (async () => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const msg = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as { id?: unknown };
      const answer = (text: string): string => JSON.stringify({ jsonrpc: '2.0', id: msg.id ?? null, result: { content: [{ type: 'text', text }] } });
      if (req.url?.startsWith('/faults/reset')) {
        req.socket.destroy();
        return;
      }
      if (req.url?.startsWith('/faults/slow')) {
        await new Promise((r) => setTimeout(r, 1200));
        res.writeHead(200, { 'content-type': 'application/json' }).end(answer('slow answer'));
        return;
      }
      if (req.url?.startsWith('/faults/sse')) {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
        for (let i = 1; i <= 20; i++) {
          res.write(`event: message\ndata: ${JSON.stringify({ jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: 'p', progress: i, total: 20 } })}\n\n`);
          await new Promise((r) => setTimeout(r, 50));
        }
        res.end(`event: message\ndata: ${answer('done, contact jane.doe@example.com')}\n\n`);
        return;
      }
      res.writeHead(404).end();
    })().catch(() => res.destroy());
  });
  return listenOnLoopback(http);
}

/** The fault route: every path under /faults/ goes to the fault upstream through the full plugin chain. */
export function faultRoutes(port: number): (auditPath: string) => RouteConf[] {
  return (auditPath) => [gatewayRoute({ id: 'faults', uri: '/faults/*', upstreamPort: port, server: 'fault-tools', ratelimit: false, auditPath })];
}
