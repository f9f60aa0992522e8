// End to end: MCP SDK client → APISIX emulator (pre-req + post-resp) → our runner over its
// Unix socket (real FlatBuffers protocol, real host) → the sample MCP server (real SDK), for
// SSE and JSON answers. Checks what the upstream received and what the client got.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { startSampleMcpServer, type SampleServer } from '../../examples/sample-mcp-server.js';
import { startEmulator, type Emulator, type RouteConf } from '../../emulator/index.js';
import { Host } from '../../runner/host/chain.js';
import { PluginRegistry } from '../../runner/host/registry.js';
import { startServer } from '../../runner/protocol/server.js';
import { plugin as redact } from '../../plugins/mcp-redact/index.js';

const dir = await mkdtemp(join(tmpdir(), 'redact-e2e-'));
const registry = new PluginRegistry();
registry.register(redact);
const runner = await startServer({ address: `unix:${join(dir, 'runner.sock')}`, host: new Host({ registry }) });
const sseServer = await startSampleMcpServer();
const jsonServer = await startSampleMcpServer({ json: true });

function route(id: number, uri: string, upstream: SampleServer, redactConf: Record<string, unknown>): RouteConf {
  const conf = [
    { name: 'mcp-route', value: JSON.stringify({ post_resp: true }) },
    { name: 'mcp-redact', value: JSON.stringify(redactConf) },
  ];
  return {
    id,
    uri,
    plugins: { 'ext-plugin-pre-req': { conf }, 'ext-plugin-post-resp': { conf } },
    upstream: { nodes: { [`127.0.0.1:${upstream.port}`]: 1 } },
  };
}

const emulator: Emulator = await startEmulator({
  pathForTest: runner.path,
  routes: [
    // The sample server serves /mcp only: the emulator route matches a prefix and proxies the path.
    { ...route(1, '/mcp', sseServer, { tools: ['crm.*', 'debug.*'] }), vars: [['http_x_upstream', '==', 'sse']] },
    { ...route(2, '/mcp', jsonServer, { tools: ['crm.*', 'debug.*'], modes: { payment_card: 'block' } }), vars: [['http_x_upstream', '==', 'json']] },
  ],
});
await emulator.waitForRunner(15_000);

after(async () => {
  await emulator.stop();
  await runner.close();
  await sseServer.close();
  await jsonServer.close();
  await rm(dir, { recursive: true, force: true });
});

async function connect(upstream: 'sse' | 'json'): Promise<Client> {
  const client = new Client({ name: 'redact-e2e', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(`${emulator.url}/mcp`), { requestInit: { headers: { 'x-upstream': upstream } } });
  await client.connect(transport);
  return client;
}

test('SSE answers: the tool result reaches the client redacted; arguments reach the server redacted', async () => {
  const client = await connect('sse');
  try {
    const result = (await client.callTool({ name: 'crm.lookup_customer', arguments: { customer_id: 'c-1001' } })) as {
      content: Array<{ type: string; text: string }>;
      structuredContent: Record<string, unknown>;
    };
    const text = result.content[0]!.text;
    assert.equal(text, 'Customer c-1001: Jane Doe, email [REDACTED:email], phone [REDACTED:phone], card ****1111, order ORD-2024-000123');
    // `ssn` is a default field-rule key: redacted by name, whatever the value looks like.
    assert.equal(result.structuredContent['ssn'], '[REDACTED:field]');
    assert.equal(result.structuredContent['email'], '[REDACTED:email]');
    assert.equal(result.structuredContent['card'], '****1111');
    assert.equal(result.structuredContent['order_id'], 'ORD-2024-000123');

    await client.callTool({ name: 'debug.echo', arguments: { note: 'card 4111-1111-1111-1111', password: 'hunter2' } });
    const reached = sseServer.seen.filter((s) => (s.body as { method?: string } | undefined)?.method === 'tools/call').at(-1)!.body as {
      params: { arguments: Record<string, unknown> };
    };
    assert.deepEqual(reached.params.arguments, { note: 'card ****1111', password: '[REDACTED:field]' });
  } finally {
    await client.close();
  }
});

test('JSON answers: redacted; block mode turns a result with a card number into a JSON-RPC error', async () => {
  const client = await connect('json');
  try {
    const echoed = (await client.callTool({ name: 'debug.echo', arguments: { contact: 'a.b@example.com' } })) as unknown as { structuredContent: { arguments: unknown } };
    assert.deepEqual(echoed.structuredContent.arguments, { contact: '[REDACTED:email]' });
    await assert.rejects(client.callTool({ name: 'crm.lookup_customer', arguments: { customer_id: 'c-1001' } }), (err: Error) => {
      assert.match(err.message, /result withheld: it contains sensitive data \(payment_card\)/);
      assert.ok(!err.message.includes('4111'));
      return true;
    });
    // Out-of-scope tools are not touched (and their bodies not read).
    const sub = (await client.callTool({ name: 'billing.get_subscription_status', arguments: { customer_id: 'c-1' } })) as { content: Array<{ text: string }> };
    assert.equal(sub.content[0]!.text, 'Subscription of c-1: active, renews 2027-01-01');
  } finally {
    await client.close();
  }
});
