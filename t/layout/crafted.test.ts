// Crafted bodies that try to take a fast (pre-req-only) route, through the APISIX emulator,
// the real runner (spawned like APISIX's ext-plugin.cmd) and the real sample MCP server. The
// generated full route proxies to server A, the fast routes to server B, so each test sees
// which route served a call. Whatever the body, a client must never get an unfiltered list or
// an unredacted result: the call is refused, or it ends on the full route with policy applied.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../runner/host/schema-file.js';
import { generateLayout, type ApisixRoute } from '../../runner/layout/generate.js';
import { startSampleMcpServer } from '../../examples/sample-mcp-server.js';
import { startEmulator, type RouteConf } from '../../emulator/index.js';
import { request, type ClientResponse } from '../../testkit/emulator.js';
import { filteringGateway } from '../../testkit/layout-fixtures.js';

const full = await startSampleMcpServer({ json: true });
const fast = await startSampleMcpServer({ json: true });
const layout = await generateLayout(filteringGateway(), { baseDir: PACKAGE_ROOT });

function toEmulator(routes: ApisixRoute[]): RouteConf[] {
  return routes.map((r) => {
    const port = r.id.endsWith('-full') ? full.port : fast.port;
    return { ...(structuredClone(r) as unknown as RouteConf), upstream: { nodes: { [`127.0.0.1:${port}`]: 1 } } };
  });
}

const emulator = await startEmulator({ routes: toEmulator(layout.routes), cmd: [process.execPath, join(PACKAGE_ROOT, 'dist/runner/main.js')], envs: { MCP_RUNNER_LOG_LEVEL: 'warn' } });
await emulator.waitForRunner(10_000);

after(async () => {
  await emulator.stop();
  await full.close();
  await fast.close();
});

const HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'x-app': 'test-agent' };

/** Secrets of the sample customer and the tool policy hides from lists. */
const LEAKS = ['4111 1111 1111 1111', 'jane.doe@example.com', '123-45-6789', '+1 415 555 0100', 'account.delete_customer'];

async function send(body: string | Buffer, headers: Record<string, string> = {}): Promise<ClientResponse & { via: 'full' | 'fast' | 'none' }> {
  const before = { full: full.seen.length, fast: fast.seen.length };
  const res = await request(`${emulator.url}/mcp`, { method: 'POST', headers: { ...HEADERS, ...headers }, body });
  const via = full.seen.length > before.full ? 'full' : fast.seen.length > before.fast ? 'fast' : 'none';
  return { ...res, via };
}

function assertNoLeak(res: ClientResponse, what: string): void {
  for (const secret of LEAKS) assert.ok(!res.body.includes(secret), `${what}: client saw ${secret}: ${res.body}`);
}

const lookup = (extra = ''): string => `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"crm.lookup_customer","arguments":{"customer_id":"c-1001"}${extra}}}`;

test('baseline: a fast tool takes the fast route; a redacted tool and tools/list take the full route with policy applied', async () => {
  const fastCall = await send('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"billing.get_subscription_status","arguments":{"customer_id":"c-1"}}}');
  assert.equal(fastCall.status, 200, fastCall.body);
  assert.equal(fastCall.via, 'fast');
  assert.match(fastCall.body, /Subscription of c-1: active/);

  const redacted = await send(lookup());
  assert.equal(redacted.status, 200, redacted.body);
  assert.equal(redacted.via, 'full');
  assert.match(redacted.body, /card \*\*\*\*1111/);
  assertNoLeak(redacted, 'plain lookup');

  const list = await send('{"jsonrpc":"2.0","id":2,"method":"tools/list","params":{}}');
  assert.equal(list.status, 200);
  assert.equal(list.via, 'full');
  assert.match(list.body, /crm\.lookup_customer/);
  assertNoLeak(list, 'tools/list');

  const ping = await send('{"jsonrpc":"2.0","id":3,"method":"ping"}');
  assert.equal(ping.via, 'fast');
});

test('batch arrays never match a fast route: redaction and filtering still apply', async () => {
  const res = await send(`[${lookup()},{"jsonrpc":"2.0","id":8,"method":"tools/list"}]`);
  assert.equal(res.via, 'full');
  assert.equal(res.status, 200, res.body);
  assert.match(res.body, /\*\*\*\*1111/);
  assertNoLeak(res, 'batch');
  const single = await send(`[${lookup()}]`);
  assert.equal(single.via, 'full');
  assertNoLeak(single, 'one-element batch');
});

test('duplicate keys (APISIX cjson keeps the last one) are refused on the fast route', async () => {
  const cases = [
    // name of a redacted tool, then a duplicate naming a fast tool: post_arg.params.name is the fast one
    '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"crm.lookup_customer","name":"billing.get_subscription_status","arguments":{"customer_id":"c-1001"}}}',
    // the list method hidden behind a duplicate method that is fast
    '{"jsonrpc":"2.0","id":1,"method":"tools/list","method":"ping"}',
    // duplicate params objects
    '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"crm.lookup_customer"},"params":{"name":"debug.echo"}}',
  ];
  for (const body of cases) {
    const res = await send(body);
    assert.equal(res.status, 400, `${body} -> ${res.status} ${res.body}`);
    assert.equal(res.via, 'none', `${body} reached a server`);
    assert.equal((JSON.parse(res.body) as { error: { code: number } }).error.code, -32700);
    assertNoLeak(res, body);
  }
});

test('escaped names are decoded the same way on both sides: no route is skipped', async () => {
  const escapedMethod = await send('{"jsonrpc":"2.0","id":1,"method":"\\u0074ools/call","params":{"name":"crm.lookup\\u005fcustomer","arguments":{"customer_id":"c-1001"}}}');
  assert.equal(escapedMethod.via, 'full');
  assert.equal(escapedMethod.status, 200);
  assert.match(escapedMethod.body, /\*\*\*\*1111/);
  assertNoLeak(escapedMethod, 'escaped method and name');
  const escapedList = await send('{"jsonrpc":"2.0","id":1,"method":"tools\\/list"}');
  assert.equal(escapedList.via, 'full');
  assertNoLeak(escapedList, 'escaped tools/list');
});

test('bytes the runner cannot read strictly are refused: bad UTF-8, gzip, trailing garbage', async () => {
  const badUtf8 = Buffer.concat([
    Buffer.from('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"billing.get_subscription_status","arguments":{"customer_id":"'),
    Buffer.from([0xff, 0xfe]),
    Buffer.from('"}}}'),
  ]);
  const utf8 = await send(badUtf8);
  assert.equal(utf8.status, 400, utf8.body);
  assert.equal(utf8.via, 'none');

  // A plain JSON body that claims gzip: APISIX reads it as JSON and would route it fast.
  const claimsGzip = await send('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"debug.echo","arguments":{}}}', { 'content-encoding': 'gzip' });
  assert.equal(claimsGzip.status, 400, claimsGzip.body);
  assert.equal(claimsGzip.via, 'none');
  const reallyGzip = await send(gzipSync(lookup()), { 'content-encoding': 'gzip' });
  assert.ok(reallyGzip.status >= 400, reallyGzip.body);
  assertNoLeak(reallyGzip, 'gzip');

  const trailing = await send(`${lookup()} {"jsonrpc":"2.0","id":9,"method":"ping"}`);
  assert.notEqual(trailing.via, 'fast');
  assertNoLeak(trailing, 'trailing garbage');
  assert.equal(trailing.status, 400);
});

test('a tools/list with extra fields shaped like a fast tools/call stays filtered', async () => {
  const res = await send('{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"name":"billing.get_subscription_status","arguments":{}}}');
  assert.equal(res.via, 'full');
  assert.equal(res.status, 200, res.body);
  assert.match(res.body, /crm\.search_accounts/);
  assertNoLeak(res, 'tools/list with extra params');
  // Extra top-level members: still the full route (the sample server itself rejects the shape).
  const extra = await send('{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{},"name":"debug.echo"}');
  assert.equal(extra.via, 'full');
  assertNoLeak(extra, 'tools/list with extra members');
  // Not JSON to APISIX (post_arg is nil) but JSON to the server: the full route takes it.
  const textPlain = await send(lookup(), { 'content-type': 'text/plain' });
  assert.notEqual(textPlain.via, 'fast');
  assertNoLeak(textPlain, 'text/plain body');
});

test('runtime guard: a stale layout that puts a redacted tool on a fast route is refused by the runner', async () => {
  const stale = structuredClone(layout.routes);
  const tools = stale.find((r) => r.id.endsWith('-fast-tools'))!;
  (tools.vars![1] as [string, string, string[]])[2].push('crm.lookup_customer');
  const methods = stale.find((r) => r.id.endsWith('-fast-methods'))!;
  (methods.vars![0] as [string, string, string[]])[2].push('tools/list');
  emulator.setRoutes(toEmulator(stale));
  try {
    const res = await send(lookup());
    assert.equal(res.status, 200, res.body);
    assert.equal(res.via, 'none');
    assert.match(res.body, /needs-response-phase/);
    const list = await send('{"jsonrpc":"2.0","id":2,"method":"tools/list"}');
    assert.equal(list.status, 200, list.body);
    assertNoLeak(list, 'stale tools/list');
  } finally {
    emulator.setRoutes(toEmulator(layout.routes));
  }
});
