// SSE resumption through the shipped route layout: an upstream that keeps an event store (the
// MCP SDK's `eventStore` option) replays a stream's events to `GET` with `Last-Event-ID`. The
// session route is pre-req only, so a replayed answer would reach the client without the
// list filter or the redactor reading it. The emulator, the real runner and a real SDK server
// with an in-memory event store: a resumption request is refused with a JSON-RPC error naming
// the reason, unless the route conf says `allow_resumption`; the standalone GET stream opens.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { join } from 'node:path';
import { InMemoryEventStore } from '@modelcontextprotocol/sdk/examples/shared/inMemoryEventStore.js';
import { PACKAGE_ROOT } from '../../runner/host/schema-file.js';
import { generateLayout, type ApisixRoute } from '../../runner/layout/generate.js';
import { startSampleMcpServer } from '../../examples/sample-mcp-server.js';
import { startEmulator, type RouteConf } from '../../emulator/index.js';
import { request } from '../../testkit/emulator.js';
import { filteringGateway } from '../../testkit/layout-fixtures.js';

const server = await startSampleMcpServer({ stateful: true, eventStore: new InMemoryEventStore() });
const layout = await generateLayout(filteringGateway(), { baseDir: PACKAGE_ROOT });

function toEmulator(routes: ApisixRoute[], allowResumption = false): RouteConf[] {
  return routes.map((r) => {
    const route = { ...(structuredClone(r) as unknown as RouteConf), upstream: { nodes: { [`127.0.0.1:${server.port}`]: 1 } } };
    if (allowResumption && r.id.endsWith('-session')) {
      const entry = route.plugins!['ext-plugin-pre-req']!.conf!.find((e) => e.name === 'mcp-route')!;
      entry.value = JSON.stringify({ ...(JSON.parse(entry.value) as object), allow_resumption: true });
    }
    return route;
  });
}

const emulator = await startEmulator({ routes: toEmulator(layout.routes), cmd: [process.execPath, join(PACKAGE_ROOT, 'dist/runner/main.js')], envs: { MCP_RUNNER_LOG_LEVEL: 'warn' } });
await emulator.waitForRunner(10_000);

after(async () => {
  await emulator.stop();
  await server.close();
});

const SECRET = '4111 1111 1111 1111';
const DENIED_TOOL = 'account.delete_customer';
const PROTOCOL = '2025-11-25';
const BASE = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'x-app': 'test-agent', 'mcp-protocol-version': PROTOCOL };

async function openSession(): Promise<Record<string, string>> {
  const init = await request(`${emulator.url}/mcp`, {
    method: 'POST',
    headers: BASE,
    body: JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: PROTOCOL, capabilities: {}, clientInfo: { name: 't', version: '1' } } }),
  });
  assert.equal(init.status, 200, init.body);
  const sid = init.headers['mcp-session-id'];
  assert.equal(typeof sid, 'string', 'the server keeps sessions');
  const headers = { ...BASE, 'mcp-session-id': sid as string };
  const ack = await request(`${emulator.url}/mcp`, { method: 'POST', headers, body: '{"jsonrpc":"2.0","method":"notifications/initialized"}' });
  assert.equal(ack.status, 202, ack.body);
  return headers;
}

/** POSTs one message; returns the SSE body and the id of its first event (the priming event). */
async function post(headers: Record<string, string>, body: string): Promise<{ body: string; firstEventId: string }> {
  const res = await request(`${emulator.url}/mcp`, { method: 'POST', headers, body });
  assert.equal(res.status, 200, res.body);
  const id = /^id: ?(.+)$/m.exec(res.body)?.[1];
  assert.ok(id, `the answer is an SSE stream with event ids: ${res.body}`);
  return { body: res.body, firstEventId: id.trim() };
}

/** A GET on the session stream, read for at most `ms` (the stream stays open). */
function getStream(headers: Record<string, string>, ms = 600): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${emulator.url}/mcp`, { method: 'GET', headers: { ...headers, accept: 'text/event-stream' }, agent: false }, (res) => {
      let body = '';
      const done = (): void => {
        clearTimeout(timer);
        req.destroy();
        resolve({ status: res.statusCode ?? 0, body });
      };
      const timer = setTimeout(done, ms);
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', done);
      res.on('error', done);
    });
    req.on('error', reject);
    req.end();
  });
}

function withoutContentType(headers: Record<string, string>): Record<string, string> {
  const { 'content-type': _ignored, ...rest } = headers;
  return rest;
}

test('a replayed tools/call result and tools/list answer are refused, never passed unread', async () => {
  const headers = await openSession();
  const call = await post(headers, '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"crm.lookup_customer","arguments":{"customer_id":"c-1001"}}}');
  assert.ok(!call.body.includes(SECRET), 'the live answer is redacted');
  assert.match(call.body, /\*\*\*\*1111/);
  const list = await post(headers, '{"jsonrpc":"2.0","id":2,"method":"tools/list"}');
  assert.ok(!list.body.includes(DENIED_TOOL), 'the live list is filtered');

  for (const [what, lastEventId, leak] of [['tools/call', call.firstEventId, SECRET], ['tools/list', list.firstEventId, DENIED_TOOL]] as const) {
    const replay = await getStream({ ...withoutContentType(headers), 'last-event-id': lastEventId });
    assert.ok(!replay.body.includes(leak), `${what}: the replay leaked ${leak}: ${replay.body}`);
    assert.equal(replay.status, 403, `${what}: ${replay.status} ${replay.body}`);
    const error = (JSON.parse(replay.body) as { error: { code: number; message: string; data: { rule: string } } }).error;
    assert.equal(error.data.rule, 'resumption-unread');
    assert.match(error.message, /resum/);
  }
});

test('the standalone GET stream (no Last-Event-ID) still opens on the session route', async () => {
  const headers = await openSession();
  const stream = await getStream(withoutContentType(headers), 300);
  assert.equal(stream.status, 200, stream.body);
});

test('allow_resumption on the route conf lets a replay through (an explicit fail-open)', async () => {
  emulator.setRoutes(toEmulator(layout.routes, true));
  try {
    const headers = await openSession();
    const call = await post(headers, '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"crm.lookup_customer","arguments":{"customer_id":"c-1001"}}}');
    const replay = await getStream({ ...withoutContentType(headers), 'last-event-id': call.firstEventId });
    assert.equal(replay.status, 200, replay.body);
    // What the conf opted into: the upstream's own events, unread by the gateway.
    assert.ok(replay.body.includes(SECRET), replay.body);
  } finally {
    emulator.setRoutes(toEmulator(layout.routes));
  }
});
