// server-everything (a third-party server, still built on the v1 SDK: 2025-11-25 only) through
// the gateway with the five plugins, for clients of both eras. A v2 client that negotiates
// falls back to the 2025 handshake exactly as it does directly; one pinned to 2026-07-28 fails
// the same way through the gateway as directly (the server has no server/discover).

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client as ClientV2, StreamableHTTPClientTransport as TransportV2 } from '@modelcontextprotocol/client';
import { Client as ClientV1 } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as TransportV1 } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { PACKAGE_ROOT } from '../../runner/host/schema-file.js';
import { generateLayout } from '../../runner/layout/generate.js';
import { parseGateway } from '../../runner/layout/gateway.js';
import { startEmulator, type RouteConf } from '../../emulator/index.js';
import { startEverythingServer } from '../../e2e/harness.js';

const dir = await mkdtemp(join(tmpdir(), 'mcp2026-everything-'));
const everything = await startEverythingServer();
const layout = await generateLayout(
  parseGateway({
    server: 'everything',
    upstream: { nodes: { [`127.0.0.1:${everything.port}`]: 1 } },
    tools: ['echo', 'get-sum'],
    plugins: [
      { name: 'mcp-audit', conf: { sink: { type: 'file', path: join(dir, 'audit.log') } } },
      { name: 'mcp-authz', conf: { server: 'everything', policy: { version: 1, actors: [{ name: 'all', actor: {}, allowed_tools: ['*'], denied_tools: ['trigger-*'], allowed_resources: ['*'], allowed_prompts: ['*'] }] }, identity: { allow_anonymous: true } } },
      { name: 'mcp-ratelimit', conf: { limits: [{ name: 'all', by: ['ip'], requests: 1000, per: 'minute' }] } },
      { name: 'mcp-redact', conf: { tools: ['echo'] } },
      { name: 'mcp-credential', conf: { server: 'everything', credential: { type: 'bearer', token: '$env://EVERYTHING_TOKEN' } } },
    ],
  }),
  { baseDir: PACKAGE_ROOT },
);
const emulator = await startEmulator({
  routes: layout.routes.map((r) => ({ ...(structuredClone(r) as unknown as RouteConf), upstream: { nodes: { [`127.0.0.1:${everything.port}`]: 1 } } })),
  cmd: [process.execPath, join(PACKAGE_ROOT, 'dist/runner/main.js')],
  envs: { MCP_RUNNER_LOG_LEVEL: 'warn', EVERYTHING_TOKEN: 'everything-token-0123456789' },
});
await emulator.waitForRunner(30_000); // loaded machines start the runner slowly
const closers: { close(): Promise<void> }[] = [];
after(async () => {
  for (const c of closers) await c.close().catch(() => undefined);
  await emulator.stop();
  await everything.close();
  await rm(dir, { recursive: true, force: true });
});

const gatewayUrl = `${emulator.url}/mcp`;
const directUrl = `http://127.0.0.1:${everything.port}/mcp`;

async function scenario(client: { listTools(): Promise<{ tools: { name: string }[] }>; callTool(p: { name: string; arguments: Record<string, unknown> }): Promise<unknown> }): Promise<{ tools: string[]; echo: unknown }> {
  const tools = (await client.listTools()).tools.map((t) => t.name).sort();
  const echo = await client.callTool({ name: 'echo', arguments: { message: 'mail jane.doe@example.com' } });
  return { tools, echo };
}

test('v1 client: server-everything through the gateway (filtered list, redacted echo)', async () => {
  const client = new ClientV1({ name: 'v1', version: '1' });
  await client.connect(new TransportV1(new URL(gatewayUrl)));
  closers.push(client);
  const { tools, echo } = await scenario(client);
  assert.ok(tools.includes('echo') && !tools.some((t) => t.startsWith('trigger-')), tools.join(','));
  assert.doesNotMatch(JSON.stringify(echo), /jane\.doe@example\.com/);
});

test('v2 client negotiating: falls back to 2025-11-25 through the gateway as it does directly', async () => {
  const results = [];
  for (const url of [directUrl, gatewayUrl]) {
    const client = new ClientV2({ name: 'v2', version: '1' }, { versionNegotiation: { mode: 'auto' } });
    await client.connect(new TransportV2(new URL(url)));
    closers.push(client);
    results.push(await scenario(client));
  }
  const [direct, viaGateway] = results as [{ tools: string[]; echo: unknown }, { tools: string[]; echo: unknown }];
  assert.ok(direct.tools.some((t) => t.startsWith('trigger-')), 'directly, nothing is filtered');
  assert.deepEqual(viaGateway.tools, direct.tools.filter((t) => !t.startsWith('trigger-')));
  assert.match(JSON.stringify(direct.echo), /jane\.doe@example\.com/);
  assert.doesNotMatch(JSON.stringify(viaGateway.echo), /jane\.doe@example\.com/);
});

test('v2 client pinned to 2026-07-28: refused by the 2025-only server alike, directly and through the gateway', async () => {
  const errors: string[] = [];
  for (const url of [directUrl, gatewayUrl]) {
    const client = new ClientV2({ name: 'v2', version: '1' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } });
    closers.push(client);
    errors.push(await client.connect(new TransportV2(new URL(url))).then(() => 'connected', (err: unknown) => (err as Error).constructor.name));
  }
  assert.notEqual(errors[0], 'connected');
  assert.equal(errors[1], errors[0]);
});
