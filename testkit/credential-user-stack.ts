// The stack for the per-user credential tests, all real: the sample MCP server (upstream),
// the local OAuth token server, and the APISIX emulator spawning our runner. Routes put
// mcp-audit (file sink), mcp-authz (JWT identity) and mcp-credential in the shipped order.

import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { PACKAGE_ROOT } from '../runner/host/schema-file.js';
import { startSampleMcpServer, type SampleServer } from '../examples/sample-mcp-server.js';
import { startEmulator, type Emulator, type RouteConf } from '../emulator/index.js';
import { freePort, readJsonLines } from '../testkit/local-run.js';
import { startTokenServer, type TokenServer } from '../testkit/token-server.js';

export const ISSUER = 'https://idp.cred.test';
export const AUDIENCE = 'mcp-gateway';
export const SERVER = 'crm-tools';
export const CLIENT_SECRET = `client-secret-${randomBytes(12).toString('hex')}`;

export interface UserStack {
  emulator: Emulator;
  upstream: SampleServer;
  idp: TokenServer;
  /** A second token server that the tests stop (the IdP is down). */
  downIdp: TokenServer;
  dir: string;
  secretsDir: string;
  auditPath: string;
  metricsUrl: string;
  mint(sub: string, opts?: { expiresInSeconds?: number; roles?: string[] }): Promise<string>;
  url(path: string): string;
  audit(): Promise<Array<Record<string, unknown>>>;
  /** Runner log (error.log) and the audit file, for the no-token-anywhere checks. */
  allLogText(): Promise<string>;
  stop(): Promise<void>;
}

const entry = (name: string, value: unknown): { name: string; value: string } => ({ name, value: JSON.stringify(value) });

export async function startUserStack(): Promise<UserStack> {
  const dir = await mkdtemp(join(tmpdir(), 'cred-user-'));
  const secretsDir = join(dir, 'crm');
  await mkdir(secretsDir);
  const auditPath = join(dir, 'audit.log');
  const idpKeys = await generateKeyPair('ES256', { extractable: true });
  const clientKeys = await generateKeyPair('ES256', { extractable: true });
  const clientKeyPath = join(dir, 'client-key.json');
  await writeFile(clientKeyPath, JSON.stringify({ ...(await exportJWK(clientKeys.privateKey)), kid: 'gw-1' }));
  const clients = [
    { id: 'mcp-gateway', secret: CLIENT_SECRET, audiences: [SERVER, 'billing-tools'], scopes: ['crm.read', 'crm.write'] },
    { id: 'mcp-gateway-jwt', publicKey: clientKeys.publicKey, audiences: [SERVER], scopes: ['crm.read'] },
  ];
  const subjectIssuer = { issuer: ISSUER, audience: AUDIENCE, key: idpKeys.publicKey };
  const [upstream, idp, downIdp] = await Promise.all([startSampleMcpServer(), startTokenServer({ clients, subjectIssuer }), startTokenServer({ clients, subjectIssuer })]);

  const exchange = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
    type: 'token_exchange',
    token_endpoint: idp.tokenEndpoint,
    client: { id: 'mcp-gateway', secret: '$env://CRED_CLIENT_SECRET' },
    scopes: ['crm.read'],
    ...over,
  });
  const routes: RouteConf[] = [
    route('exchange', '/mcp/exchange', { credential: exchange() }),
    route('short', '/mcp/short', { credential: exchange({ refresh_before_seconds: 30 }) }),
    route('tiny', '/mcp/tiny', { credential: exchange({ cache_size: 1 }) }),
    route('pkjwt', '/mcp/pkjwt', { credential: exchange({ client: { id: 'mcp-gateway-jwt', private_key: `$file://${clientKeyPath}` } }) }),
    route('slow', '/mcp/slow', { credential: exchange({ timeout_ms: 400 }) }),
    route('down', '/mcp/down', { credential: exchange({ token_endpoint: downIdp.tokenEndpoint }) }),
    route('cc', '/mcp/cc', { credential: { type: 'client_credentials', token_endpoint: idp.tokenEndpoint, client: { id: 'mcp-gateway', secret: '$env://CRED_CLIENT_SECRET', auth_method: 'client_secret_post' }, audience: 'billing-tools', scopes: ['crm.write'] } }),
    route('peruser', '/mcp/peruser', { credential: { type: 'per_user', token: `$file://${secretsDir}/{user}` } }),
    route('fallback', '/mcp/fallback', { credential: { type: 'per_user', token: `$file://${secretsDir}/{user}`, fallback: '$env://CRED_SHARED_TOKEN' } }),
  ].map((r) => r(upstream.port, auditPath));

  const metricsPort = await freePort();
  const emulator = await startEmulator({
    routes,
    cmd: [process.execPath, join(PACKAGE_ROOT, 'dist/runner/main.js')],
    envs: {
      CRED_JWT_PUBLIC_KEY: await exportSPKI(idpKeys.publicKey),
      CRED_CLIENT_SECRET: CLIENT_SECRET,
      CRED_SHARED_TOKEN: `shared-${randomBytes(8).toString('hex')}`,
      // The most talkative level, so the no-token check reads every line the runner writes.
      MCP_RUNNER_LOG_LEVEL: 'debug',
      MCP_RUNNER_METRICS_PORT: String(metricsPort),
    },
    respawnDelayMs: 300,
  });
  // Generous: the runner starts in well under a second, but not on a loaded CI machine.
  await emulator.waitForRunner(30_000);

  return {
    emulator,
    upstream,
    idp,
    downIdp,
    dir,
    secretsDir,
    auditPath,
    metricsUrl: `http://127.0.0.1:${metricsPort}/metrics`,
    mint: (sub, opts = {}) => mint(idpKeys.privateKey, sub, opts.expiresInSeconds ?? 300, opts.roles ?? ['support']),
    url: (path) => `${emulator.url}${path}`,
    audit: () => readJsonLines<Record<string, unknown>>(auditPath),
    async allLogText() {
      let audit = '';
      try {
        audit = await readFile(auditPath, 'utf8');
      } catch {
        /* no events yet */
      }
      return `${emulator.runnerLog()}\n${audit}`;
    },
    async stop() {
      await emulator.stop();
      await Promise.all([upstream.close(), idp.stop(), downIdp.stop().catch(() => undefined)]);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

function route(id: string, uri: string, credential: Record<string, unknown>): (upstreamPort: number, auditPath: string) => RouteConf {
  return (upstreamPort, auditPath) => {
    const conf = [
      entry('mcp-route', { server: SERVER, post_resp: true }),
      entry('mcp-audit', { server: SERVER, sink: { type: 'file', path: auditPath } }),
      entry('mcp-authz', {
        server: SERVER,
        identity: { jwt: { keys: ['$env://CRED_JWT_PUBLIC_KEY'], issuer: ISSUER, audience: AUDIENCE } },
        policy: { version: 1, actors: [{ name: 'agents', actor: { app: 'support-agent' }, servers: [SERVER], allowed_tools: ['debug.echo'] }] },
      }),
      entry('mcp-credential', credential),
    ];
    return {
      id,
      uri,
      methods: ['POST', 'GET', 'DELETE'],
      plugins: { 'ext-plugin-pre-req': { conf, allow_degradation: false }, 'ext-plugin-post-resp': { conf, allow_degradation: false } },
      upstream: { type: 'roundrobin', nodes: { [`127.0.0.1:${upstreamPort}`]: 1 } },
    } as RouteConf;
  };
}

function mint(key: CryptoKey, sub: string, expiresInSeconds: number, roles: string[]): Promise<string> {
  return new SignJWT({ azp: 'support-agent', roles })
    .setProtectedHeader({ alg: 'ES256' })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setSubject(sub)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + expiresInSeconds)
    .setJti(randomBytes(8).toString('hex'))
    .sign(key);
}

export interface CallAnswer {
  status: number;
  elapsedMs: number;
  /** The JSON-RPC message (an SSE body's first data message, or the JSON body). */
  message: { result?: unknown; error?: { code: number; message: string; data?: unknown } } | undefined;
}

let nextId = 1;

/** tools/call debug.echo through the gateway with this bearer token. */
export async function callEcho(url: string, token: string): Promise<CallAnswer> {
  const started = performance.now();
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-06-18', authorization: `Bearer ${token}` },
    body: JSON.stringify({ jsonrpc: '2.0', id: nextId++, method: 'tools/call', params: { name: 'debug.echo', arguments: {} } }),
    signal: AbortSignal.timeout(15_000),
  });
  const text = await res.text();
  const elapsedMs = performance.now() - started;
  let message: CallAnswer['message'];
  const data = /^data: ?(.*)$/m.exec(text)?.[1];
  try {
    message = JSON.parse(data ?? text) as CallAnswer['message'];
  } catch {
    message = undefined;
  }
  return { status: res.status, elapsedMs, message };
}
