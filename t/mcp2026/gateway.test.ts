// 2026-07-28 requests as the wire carries them, through the emulator, the real runner with the
// five plugins and v2 SDK servers: routing headers checked against the body (mismatches never
// reach a server), fast routes matched on headers, removed methods answered by the server,
// server/discover, subscriptions/listen authorized and streamed, filtered lists private.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startGateway, modernCall, post, APP_HEADER } from '../../testkit/modern-gateway.js';

const gw = await startGateway();
after(() => gw.close());

/** How many requests each upstream has seen, to tell which route served a call (or none). */
function mark(): () => 'full' | 'fast' | 'none' {
  const before = { full: gw.full.seen.length, fast: gw.fast.seen.length };
  return () => (gw.full.seen.length > before.full ? 'full' : gw.fast.seen.length > before.fast ? 'fast' : 'none');
}

test('a fast tool takes the header-matched route; a redacted tool and tools/list take the full route', async () => {
  let via = mark();
  const fast = await post(gw.url, modernCall('tools/call', { name: 'billing.get_subscription_status', arguments: { customer_id: 'c-7' } }));
  assert.equal(fast.status, 200, fast.body);
  assert.match(fast.body, /Subscription of c-7: active/);
  assert.equal(via(), 'fast');
  // The credential reached the server; the routing headers too (a 2026-07-28 server checks them).
  const seen = gw.fast.seen.at(-1)!;
  assert.equal(seen.headers['authorization'], 'Bearer upstream-secret-token-0123456789abcdef');
  assert.equal(seen.headers['mcp-name'], 'billing.get_subscription_status');

  via = mark();
  const redacted = await post(gw.url, modernCall('tools/call', { name: 'crm.lookup_customer', arguments: { customer_id: 'c-1001' } }));
  assert.equal(redacted.status, 200, redacted.body);
  assert.equal(via(), 'full');
  assert.doesNotMatch(redacted.body, /4111 1111 1111 1111|jane\.doe@example\.com/);
  assert.match(redacted.body, /Customer c-1001/);

  via = mark();
  const list = await post(gw.url, modernCall('tools/list', {}));
  assert.equal(via(), 'full');
  const result = list.json?.['result'] as { tools: { name: string }[]; cacheScope?: string; ttlMs?: number };
  const names = result.tools.map((t) => t.name).sort();
  assert.deepEqual(names, ['billing.get_subscription_status', 'crm.confirm_refund', 'crm.lookup_customer']);
  // The server said public for its full list; the list this actor got is private.
  assert.equal(result.cacheScope, 'private');
  assert.equal(result.ttlMs, 60_000);
});

test('server/discover is allowed like initialize and names 2026-07-28', async () => {
  const discover = await post(gw.url, modernCall('server/discover', {}));
  assert.equal(discover.status, 200, discover.body);
  const result = discover.json?.['result'] as { supportedVersions: string[] };
  assert.ok(result.supportedVersions.includes('2026-07-28'), discover.body);
});

test('header names an allowed tool, body a denied one: refused, the server never sees it', async () => {
  const via = mark();
  const fullBefore = gw.full.rpcSeen().length;
  const call = modernCall('tools/call', { name: 'account.delete_customer', arguments: { customer_id: 'c-1' } }, { 'mcp-name': 'billing.get_subscription_status' });
  const res = await post(gw.url, call);
  // The plugins judge the body first: the denied tool is refused by policy (a JSON-RPC error
  // -32003, HTTP 200 by default) before the
  // header check would refuse the disagreement (400 -32020).
  assert.equal(res.status, 200, res.body);
  assert.equal((JSON.parse(res.body) as { error: { code: number } }).error.code, -32003);
  assert.equal(via(), 'none');
  assert.ok(!gw.full.rpcSeen().slice(fullBefore).includes('tools/call account.delete_customer'));
  assert.ok(!gw.fast.rpcSeen().includes('tools/call account.delete_customer'));
});

test('header names a denied tool, body an allowed fast one: refused before any upstream', async () => {
  const via = mark();
  const res = await post(gw.url, modernCall('tools/call', { name: 'billing.get_subscription_status', arguments: { customer_id: 'c-1' } }, { 'mcp-name': 'account.delete_customer' }));
  assert.equal(res.status, 400, res.body);
  assert.equal((res.json?.['error'] as { code: number }).code, -32020);
  assert.equal(via(), 'none');
});

test('Mcp-Method naming a fast method over a body that needs filtering never takes the fast route', async () => {
  const via = mark();
  const res = await post(gw.url, modernCall('tools/list', {}, { 'mcp-method': 'ping' }));
  assert.equal(res.status, 400, res.body);
  assert.equal((res.json?.['error'] as { code: number }).code, -32020);
  assert.equal(via(), 'none');
  // The reverse: the header claims a redacted tool (full route), the body a fast one: refused too.
  const reverse = await post(gw.url, modernCall('tools/call', { name: 'billing.get_subscription_status', arguments: { customer_id: 'c-2' } }, { 'mcp-method': 'tools/list' }));
  assert.equal(reverse.status, 400, reverse.body);
  assert.equal(via(), 'none');
});

test('MCP-Protocol-Version disagreeing with the body claim, and Mcp-Param-* naming no argument value: 400 -32020', async () => {
  const via = mark();
  const version = await post(gw.url, modernCall('tools/call', { name: 'billing.get_subscription_status', arguments: { customer_id: 'c-3' } }, { 'mcp-protocol-version': '2025-11-25' }));
  assert.equal(version.status, 400, version.body);
  const param = await post(gw.url, modernCall('tools/call', { name: 'billing.get_subscription_status', arguments: { customer_id: 'c-3' } }, { 'mcp-param-customer': 'c-999' }));
  assert.equal(param.status, 400, param.body);
  assert.match(param.body, /-32020/);
  const good = await post(gw.url, modernCall('tools/call', { name: 'billing.get_subscription_status', arguments: { customer_id: 'c-3' } }, { 'mcp-param-customer': '=?base64?Yy0z?=' }));
  assert.equal(good.status, 200, good.body);
  assert.equal(via(), 'fast');
});

test('a 2025 request carrying routing headers: checked, then stripped before the upstream', async () => {
  const body = JSON.stringify({ jsonrpc: '2.0', id: 99, method: 'tools/call', params: { name: 'billing.get_subscription_status', arguments: { customer_id: 'c-4' } } });
  const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...APP_HEADER, 'mcp-method': 'tools/call', 'mcp-name': 'billing.get_subscription_status' };
  const lying = await post(gw.url, { body, headers: { ...headers, 'mcp-name': 'crm.lookup_customer' } });
  assert.equal(lying.status, 400, lying.body);
  const via = mark();
  const res = await post(gw.url, { body, headers });
  assert.equal(res.status, 200, res.body);
  // Without the 2026-07-28 version header the body routes decide (post_arg), and the server
  // never sees routing headers it would not check.
  assert.equal(via(), 'fast');
  const seen = gw.fast.seen.at(-1)!;
  assert.equal(seen.headers['mcp-method'], undefined);
  assert.equal(seen.headers['mcp-name'], undefined);
});

test('removed methods reach the server, which answers 404 -32601 (not the gateway\'s -32602)', async () => {
  for (const method of ['resources/subscribe', 'resources/unsubscribe']) {
    const via = mark();
    const res = await post(gw.url, modernCall(method, { uri: 'docs://public/readme' }));
    assert.equal(res.status, 404, `${method}: ${res.body}`);
    assert.equal((res.json?.['error'] as { code: number }).code, -32601, res.body);
    assert.notEqual(via(), 'none', `${method} reached a server`);
    // Even without params.uri (which 2025 required): still the server's answer.
    const bare = await post(gw.url, modernCall(method, {}));
    assert.equal((bare.json?.['error'] as { code: number }).code, -32601, bare.body);
  }
});

test('a denied tool and a denied resource subscription are refused by policy (-32003)', async () => {
  const denied = await post(gw.url, modernCall('tools/call', { name: 'account.delete_customer', arguments: { customer_id: 'c-1' } }));
  assert.equal(denied.status, 200, denied.body);
  assert.match(denied.body, /"code":-32003/);
  const listen = await post(gw.url, modernCall('subscriptions/listen', { notifications: { resourceSubscriptions: ['docs://secret/plan'] } }));
  assert.equal(listen.status, 200, listen.body);
  assert.match(listen.body, /"code":-32003/);
  assert.match(listen.body, /docs:\/\/secret\/plan/);
});

test('subscriptions/listen takes a pre-req-only route and streams: the acknowledgement arrives before the stream ends', async () => {
  const via = mark();
  const call = modernCall('subscriptions/listen', { notifications: { toolsListChanged: true, resourceSubscriptions: ['docs://public/readme'] } });
  const first = await new Promise<string>((resolve, reject) => {
    const req = http.request(gw.url, { method: 'POST', headers: call.headers, agent: false }, (res) => {
      if (res.statusCode !== 200) reject(new Error(`status ${res.statusCode}`));
      let text = '';
      res.on('data', (c: Buffer) => {
        text += c.toString('utf8');
        if (text.includes('\n\n')) {
          resolve(text);
          req.destroy();
        }
      });
    });
    req.on('error', (err) => (err.message.includes('socket hang up') ? undefined : reject(err)));
    req.setTimeout(5000, () => reject(new Error('no event within 5 s: the stream is held back')));
    req.end(call.body);
  });
  assert.match(first, /notifications\/subscriptions\/acknowledged/);
  assert.equal(via(), 'fast');
});

test('the layout routes 2026-07-28 traffic on headers above the body routes', () => {
  const methods = gw.routes.find((r) => r.id === 'mcp-modern-sample-fast-methods-2026');
  const tools = gw.routes.find((r) => r.id === 'mcp-modern-sample-fast-tools-2026');
  assert.ok(methods && tools);
  assert.equal(methods.priority, 20);
  const methodList = (methods.vars![1] as [string, string, string[]])[2];
  assert.ok(methodList.includes('subscriptions/listen') && methodList.includes('server/discover') && methodList.includes('ping'));
  assert.ok(!methodList.includes('tools/list'), 'tools/list is filtered: full route');
  // Redacted crm.* tools read their results: full route. A denied tool may be fast (refused there).
  assert.deepEqual((tools.vars![2] as [string, string, string[]])[2].sort(), ['account.delete_customer', 'billing.get_subscription_status']);
});
