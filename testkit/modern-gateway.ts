// One gateway for the 2026-07-28 tests: the APISIX emulator, the real runner spawned like
// ext-plugin.cmd, the five plugins on, and the routes the layout command generates. /mcp goes
// to v2 SDK servers (the full route to `full`, the fast routes to `fast`, so a test sees which
// route served a call); /mcp/legacy goes to the sessionful v1 sample server.

import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../runner/host/schema-file.js';
import { generateLayout, type ApisixRoute } from '../runner/layout/generate.js';
import { parseGateway, type GatewayDoc } from '../runner/layout/gateway.js';
import { MODERN_REVISION, PROTOCOL_VERSION_META_KEY } from '../runner/mcp/revision.js';
import { startSampleMcpServer, type SampleServer } from '../examples/sample-mcp-server.js';
import { startEmulator, type Emulator, type RouteConf } from '../emulator/index.js';
import { request, type ClientResponse } from './emulator.js';
import { startModernServer, type RecordingServer } from './modern-servers.js';

export const APP_HEADER = { 'x-app': 'test-agent' };
export const UPSTREAM_TOKEN = 'upstream-secret-token-0123456789abcdef';

export const POLICY = {
  version: 1,
  actors: [
    {
      name: 'test-agent',
      actor: { app: 'test-agent' },
      allowed_tools: ['crm.*', 'billing.get_subscription_status', 'debug.echo'],
      denied_tools: ['account.delete_customer'],
      allowed_resources: ['docs://public/*', 'sample://*'],
      allowed_prompts: ['support.*'],
    },
  ],
};

function gateway(server: string, uri: string, tools: string[], auditPath: string, upstreamPort: number, pinning: boolean): GatewayDoc {
  return parseGateway({
    server,
    uri,
    upstream: { type: 'roundrobin', nodes: { [`127.0.0.1:${upstreamPort}`]: 1 } },
    tools,
    resources: ['docs://public/readme', 'docs://secret/plan'],
    prompts: ['support.greeting', 'admin.reset'],
    plugins: [
      { name: 'mcp-audit', conf: { sink: { type: 'file', path: auditPath } } },
      { name: 'mcp-authz', conf: { server, policy: POLICY, identity: { trusted_headers: { app: 'x-app' } }, ...(pinning ? { pinning: { mode: 'trust_on_first_use' } } : {}) } },
      // Two rounds of the refund tool per hour: each MRTR round counts as a call.
      { name: 'mcp-ratelimit', conf: { limits: [{ name: 'per-app', by: ['app'], requests: 1000, per: 'minute' }, { name: 'refunds', by: ['app'], match: { tools: ['crm.confirm_refund'] }, requests: 2, per: 'hour' }] } },
      { name: 'mcp-redact', conf: { tools: ['crm.*'] } },
      { name: 'mcp-credential', conf: { server, credential: { type: 'bearer', token: '$env://MODERN_UPSTREAM_TOKEN' } } },
    ],
  });
}

export interface Gateway {
  url: string;
  legacyUrl: string;
  emulator: Emulator;
  full: RecordingServer;
  fast: RecordingServer;
  legacy: SampleServer;
  routes: ApisixRoute[];
  auditEvents(): Promise<Record<string, unknown>[]>;
  close(): Promise<void>;
}

/** `pinning`: mcp-authz pins tool definitions on first use (rug-pull defence). */
export async function startGateway(opts: { pinning?: boolean } = {}): Promise<Gateway> {
  const pinning = opts.pinning === true;
  const dir = await mkdtemp(join(tmpdir(), 'mcp2026-'));
  const auditPath = join(dir, 'audit.log');
  const full = await startModernServer();
  const fast = await startModernServer();
  const legacy = await startSampleMcpServer({ stateful: true });
  const modernTools = ['crm.lookup_customer', 'crm.confirm_refund', 'billing.get_subscription_status', 'account.delete_customer'];
  process.env['MODERN_UPSTREAM_TOKEN'] = UPSTREAM_TOKEN;
  const modern = await generateLayout(gateway('modern-sample', '/mcp', modernTools, auditPath, full.port, pinning), { baseDir: PACKAGE_ROOT });
  const old = await generateLayout(gateway('legacy-sample', '/mcp/legacy', ['crm.lookup_customer', 'billing.get_subscription_status', 'debug.echo'], auditPath, legacy.port, pinning), { baseDir: PACKAGE_ROOT });
  const toEmulator = (r: ApisixRoute): RouteConf => {
    const port = r.id.startsWith('mcp-modern-sample-fast') ? fast.port : r.id.startsWith('mcp-modern-sample') ? full.port : legacy.port;
    return { ...(structuredClone(r) as unknown as RouteConf), upstream: { nodes: { [`127.0.0.1:${port}`]: 1 } } };
  };
  const routes = [...modern.routes, ...old.routes];
  const emulator = await startEmulator({
    routes: routes.map(toEmulator),
    cmd: [process.execPath, join(PACKAGE_ROOT, 'dist/runner/main.js')],
    envs: { MCP_RUNNER_LOG_LEVEL: 'warn', MODERN_UPSTREAM_TOKEN: UPSTREAM_TOKEN },
  });
  await emulator.waitForRunner(30_000); // loaded machines start the runner slowly
  return {
    url: `${emulator.url}/mcp`,
    legacyUrl: `${emulator.url}/mcp/legacy`,
    emulator,
    full,
    fast,
    legacy,
    routes,
    async auditEvents() {
      let text = '';
      try {
        text = await readFile(auditPath, 'utf8');
      } catch {
        return [];
      }
      return text.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
    },
    async close() {
      await emulator.stop();
      await full.close();
      await fast.close();
      await legacy.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The per-request envelope of a 2026-07-28 client. */
export function meta(): Record<string, unknown> {
  return {
    [PROTOCOL_VERSION_META_KEY]: MODERN_REVISION,
    'io.modelcontextprotocol/clientInfo': { name: 'raw-test-client', version: '1.0.0' },
    'io.modelcontextprotocol/clientCapabilities': {},
  };
}

let nextId = 1;

/** A 2026-07-28 request as the SDK sends it (envelope and routing headers), with overrides. */
export function modernCall(method: string, params: Record<string, unknown>, headerOverrides: Record<string, string | undefined> = {}): { body: string; headers: Record<string, string> } {
  const body = JSON.stringify({ jsonrpc: '2.0', id: nextId++, method, params: { ...params, _meta: meta() } });
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    'mcp-protocol-version': MODERN_REVISION,
    'mcp-method': method,
    ...APP_HEADER,
  };
  const name = typeof params['name'] === 'string' ? params['name'] : typeof params['uri'] === 'string' ? params['uri'] : undefined;
  if (name !== undefined && ['tools/call', 'prompts/get', 'resources/read'].includes(method)) headers['mcp-name'] = name;
  for (const [k, v] of Object.entries(headerOverrides)) {
    if (v === undefined) delete headers[k];
    else headers[k] = v;
  }
  return { body, headers };
}

export async function post(url: string, call: { body: string; headers: Record<string, string> }): Promise<ClientResponse & { json: Record<string, unknown> | undefined }> {
  const res = await request(url, { method: 'POST', headers: call.headers, body: call.body });
  let json: Record<string, unknown> | undefined;
  try {
    const text = res.body.trim();
    const data = text.startsWith('{') ? text : text.split('\n').find((l) => l.startsWith('data: {'))?.slice(6);
    json = data === undefined ? undefined : (JSON.parse(data) as Record<string, unknown>);
  } catch {
    json = undefined;
  }
  return { ...res, json };
}
