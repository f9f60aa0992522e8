// The host's contract: conf order, Stop/Rewrite answers, fail-closed confs, body
// re-serialisation, the request→response carry, full header lists, fast-route refusal.
// ExtraInfo answers come from a table here; the socket path is covered in t/protocol and t/e2e.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Host, CALL_HEADER } from '../../runner/host/chain.js';
import type { CallContext, Plugin } from '../../runner/host/plugin.js';
import type { HTTPReqCallReq, RewriteAction, StopAction, TextEntry } from '../../runner/protocol/messages.js';
import { TableChannel, hostWith, requestCall, responseChannel } from '../../testkit/host-kit.js';

const dec = new TextDecoder();

/** The host's HTTPReqCall for these tests (id 7). */
const call = (body: string | undefined, headers: TextEntry[] = []): HTTPReqCallReq => requestCall(body, headers, { id: 7 });

const order: string[] = [];

function recorder(name: string, extra: Partial<Plugin<{ stop?: boolean; tag?: string }, { stop?: boolean; tag?: string }>> = {}): Plugin<{ stop?: boolean; tag?: string }, { stop?: boolean; tag?: string }> {
  return {
    name,
    confSchema: { type: 'object', properties: { stop: { type: 'boolean' }, tag: { type: 'string', default: 'x' } }, additionalProperties: false },
    onRequest(ctx: CallContext, conf) {
      order.push(name);
      if (conf.stop) return { action: 'stop', status: 403, rpcError: { code: -32003, message: `${name} said no` } };
      return undefined;
    },
    ...extra,
  };
}

const later = Date.now() + 30_000;
const TOOLS_CALL = JSON.stringify({ jsonrpc: '2.0', id: 42, method: 'tools/call', params: { name: 'crm.lookup', arguments: { q: 'a' } } });

test('plugins run in conf order and the first Stop ends the chain with a JSON-RPC error carrying the request id', async () => {
  order.length = 0;
  const h = hostWith(recorder('a'), recorder('b'), recorder('c'));
  const chain = h.buildChain([{ name: 'b', value: '{}' }, { name: 'a', value: '{"stop":true}' }, { name: 'c', value: '{}' }], 'route#1#ext-plugin-pre-req#1');
  const res = await h.onRequest(chain, call(TOOLS_CALL), new TableChannel({}, TOOLS_CALL), later);
  assert.deepEqual(order, ['b', 'a']);
  const stop = res.action as StopAction;
  assert.equal(stop.type, 'stop');
  assert.equal(stop.status, 200);
  assert.deepEqual(stop.headers, [{ name: 'content-type', value: 'application/json' }]);
  assert.deepEqual(JSON.parse(dec.decode(stop.body)), { jsonrpc: '2.0', id: 42, error: { code: -32003, message: 'a said no', data: { plugin: 'a', next: 'do not retry: the gateway policy does not allow this call; tell the user or choose another tool', refusal: 'denied' } } });
});

test('an empty chain answers pass without asking APISIX anything', async () => {
  const h = hostWith();
  const ch = new TableChannel();
  const res = await h.onRequest(h.buildChain([], 'k'), call(undefined), ch, later);
  assert.equal(res.action, undefined);
  assert.equal(ch.asked.length, 0);
});

test('a bad conf fails closed at call time, and the error names the plugin and field', async () => {
  const h = hostWith(recorder('a'));
  for (const conf of [
    [{ name: 'a', value: '{"stop":"yes"}' }],
    [{ name: 'a', value: '{not json' }],
    [{ name: 'nope', value: '{}' }],
    [{ name: 'mcp-route', value: '{"post_resp":1}' }],
  ]) {
    const chain = h.buildChain(conf, `k${conf[0]!.value}`);
    assert.ok(chain.error, 'conf error recorded');
    const res = await h.onRequest(chain, call(TOOLS_CALL), new TableChannel({}, TOOLS_CALL), later);
    const stop = res.action as StopAction;
    assert.equal(stop.status, 500);
    assert.equal(JSON.parse(dec.decode(stop.body)).error.code, -32603);
  }
  assert.match(h.buildChain([{ name: 'a', value: '{"stop":"yes"}' }], 'z').error!, /a: \/stop must be boolean/);
  assert.match(h.buildChain([{ name: 'a', value: '{"bogus":1}' }], 'z').error!, /must NOT have additional properties 'bogus'/);
});

test('identical confs share one compiled chain (policies compile once across route versions)', () => {
  const h = hostWith(recorder('a'));
  const one = h.buildChain([{ name: 'a', value: '{}' }], 'route#1#ext-plugin-pre-req#1');
  const two = h.buildChain([{ name: 'a', value: '{}' }], 'route#2#ext-plugin-pre-req#1');
  assert.equal(one.entries, two.entries, 'prepared plugins shared');
  assert.equal(one.key, 'route#1#ext-plugin-pre-req#1');
  assert.equal(two.key, 'route#2#ext-plugin-pre-req#1', 'each route keeps its own key');
});

test('malformed bodies get JSON-RPC parse / invalid-request errors, oversize bodies 413', async () => {
  const reader: Plugin<Record<string, never>, Record<string, never>> = {
    name: 'reader',
    confSchema: { type: 'object' },
    async onRequest(ctx) {
      await ctx.mcp();
      return undefined;
    },
  };
  const h = hostWith(reader);
  const chain = h.buildChain([{ name: 'reader', value: '{}' }], 'k');
  const bad = '{"jsonrpc":"2.0","id":1,"method":"tools/list","method":"tools/call"}';
  let res = await h.onRequest(chain, call(bad), new TableChannel({}, bad), later);
  let stop = res.action as StopAction;
  assert.equal(stop.status, 400);
  assert.equal(JSON.parse(dec.decode(stop.body)).error.code, -32700);

  res = await h.onRequest(chain, call('[]'), new TableChannel({}, '[]'), later);
  stop = res.action as StopAction;
  assert.equal(JSON.parse(dec.decode(stop.body)).error.code, -32600);

  const small = h.buildChain([{ name: 'mcp-route', value: '{"max_body_bytes":10}' }, { name: 'reader', value: '{}' }], 'k2');
  const ch = new TableChannel({}, TOOLS_CALL);
  res = await h.onRequest(small, call(TOOLS_CALL), ch, later);
  stop = res.action as StopAction;
  assert.equal(stop.status, 413);
  assert.equal(ch.asked.length, 0, 'content-length checked before fetching the body');

  const gz = h.buildChain([{ name: 'reader', value: '{}' }], 'k3');
  res = await h.onRequest(gz, call(TOOLS_CALL, [{ name: 'content-encoding', value: 'gzip' }]), new TableChannel({}, TOOLS_CALL), later);
  assert.equal((res.action as StopAction).status, 400);
});

test('a plugin that mutates arguments gets the body re-serialised once, plus header edits, in one Rewrite', async () => {
  const mutator: Plugin<Record<string, never>, Record<string, never>> = {
    name: 'mutator',
    confSchema: { type: 'object' },
    async onRequest(ctx) {
      const body = await ctx.mcp();
      if (body.ok) {
        const args = body.messages[0]!.arguments!;
        args['q'] = '[REDACTED]';
        ctx.requestMutations.markBodyModified();
      }
      ctx.requestMutations.deleteHeader('Authorization');
      ctx.requestMutations.setHeader('x-backend', 'k');
      return undefined;
    },
  };
  const h = hostWith(mutator);
  const chain = h.buildChain([{ name: 'mutator', value: '{}' }], 'k');
  const res = await h.onRequest(chain, call(TOOLS_CALL), new TableChannel({}, TOOLS_CALL), later);
  const rw = res.action as RewriteAction;
  assert.equal(rw.type, 'rewrite');
  assert.deepEqual(JSON.parse(dec.decode(rw.body)), { jsonrpc: '2.0', id: 42, method: 'tools/call', params: { name: 'crm.lookup', arguments: { q: '[REDACTED]' } } });
  assert.deepEqual(rw.headers, [{ name: 'authorization', value: undefined }, { name: 'x-backend', value: 'k' }]);
});

test('plugin exceptions and deadlines fail closed (500 / 504), never a crash', async () => {
  const thrower: Plugin<Record<string, never>, Record<string, never>> = { name: 'thrower', confSchema: { type: 'object' }, onRequest: () => { throw new Error('boom'); } };
  const hanger: Plugin<Record<string, never>, Record<string, never>> = { name: 'hanger', confSchema: { type: 'object' }, onRequest: () => new Promise(() => undefined) };
  const h = hostWith(thrower, hanger);
  let res = await h.onRequest(h.buildChain([{ name: 'thrower', value: '{}' }], 'k'), call(TOOLS_CALL), new TableChannel({}, TOOLS_CALL), later);
  assert.equal((res.action as StopAction).status, 500);
  res = await h.onRequest(h.buildChain([{ name: 'hanger', value: '{}' }], 'k2'), call(TOOLS_CALL), new TableChannel({}, TOOLS_CALL), Date.now() + 50);
  assert.equal((res.action as StopAction).status, 504);
});

test('request-phase state reaches the response phase of the same call; answers keep every upstream header', async () => {
  const seen: unknown[] = [];
  const both: Plugin<Record<string, never>, Record<string, never>> = {
    name: 'both',
    confSchema: { type: 'object' },
    async onRequest(ctx) {
      await ctx.mcp();
      ctx.identity = { roles: ['r'], source: 'header', user: 'u1' };
      ctx.carry.set('both', { n: 1 });
      return undefined;
    },
    needsResponseBody: () => true,
    async onResponse(ctx) {
      const body = await ctx.mcp();
      seen.push(ctx.identity?.user, ctx.carry.get('both'), body.ok && body.messages[0]!.toolName);
      const res = await ctx.mcpResponse();
      const ev = res!.events[0]!;
      (ev.json as { result: { content: unknown[] } }).result.content = [];
      ctx.responseMutations.markBodyModified();
      ctx.responseMutations.deleteHeader('x-secret');
      return undefined;
    },
  };
  const h = hostWith(both);
  const pre = h.buildChain([{ name: 'mcp-route', value: '{"post_resp":true}' }, { name: 'both', value: '{}' }], 'route#1#ext-plugin-pre-req#1');
  const post = h.buildChain([{ name: 'both', value: '{}' }], 'route#1#ext-plugin-post-resp#1');
  const req = await h.onRequest(pre, call(TOOLS_CALL), new TableChannel({}, TOOLS_CALL), later);
  const rw = req.action as RewriteAction;
  const carryHeader = rw.headers.find((e) => e.name === CALL_HEADER);
  assert.ok(carryHeader?.value, 'call header injected upstream');
  assert.ok(rw.headers.some((e) => e.name === 'accept-encoding' && e.value === undefined), 'accept-encoding removed so answers can be read');

  const upstreamHeaders = [
    { name: 'Content-Type', value: 'application/json' },
    { name: 'Mcp-Session-Id', value: 's1' },
    { name: 'Content-Length', value: '99' },
    { name: 'X-Secret', value: 'v' },
    { name: 'Set-Cookie', value: 'a=1' },
    { name: 'Set-Cookie', value: 'b=2' },
  ];
  const respBody = JSON.stringify({ jsonrpc: '2.0', id: 42, result: { content: [{ type: 'text', text: 'hi' }] } });
  const res = await h.onResponse(post, { id: 8, status: 200, headers: upstreamHeaders, confToken: 2 }, responseChannel(carryHeader.value!, respBody), later);
  assert.deepEqual(seen, ['u1', { n: 1 }, 'crm.lookup']);
  assert.deepEqual(JSON.parse(dec.decode(res.body)), { jsonrpc: '2.0', id: 42, result: { content: [] } });
  assert.deepEqual(res.headers, [
    { name: 'Content-Type', value: 'application/json' },
    { name: 'Mcp-Session-Id', value: 's1' },
    { name: 'Set-Cookie', value: 'a=1' },
    { name: 'Set-Cookie', value: 'b=2' },
  ]);
});

test('the response phase asks for the body only when a plugin needs it, and always returns the full header list', async () => {
  const lazy: Plugin<Record<string, never>, Record<string, never>> = {
    name: 'lazy',
    confSchema: { type: 'object' },
    needsResponseBody: () => false,
    async onResponse(ctx) {
      assert.equal(await ctx.mcpResponse(), undefined);
      return undefined;
    },
  };
  const h = hostWith(lazy);
  const ch = new TableChannel({}, undefined, '{"x":1}');
  const res = await h.onResponse(h.buildChain([{ name: 'lazy', value: '{}' }], 'k'), { id: 1, status: 200, headers: [{ name: 'Content-Type', value: 'text/event-stream' }], confToken: 1 }, ch, later);
  assert.equal(res.body, undefined);
  assert.deepEqual(res.headers, [{ name: 'Content-Type', value: 'text/event-stream' }]);
  assert.ok(!ch.asked.some((q) => q.type === 'respBody'));
});

test('on a fast route (no post-resp) a call that needs the response phase is refused', async () => {
  const filter: Plugin<Record<string, never>, Record<string, never>> = {
    name: 'filter',
    confSchema: { type: 'object' },
    async needsResponsePhase(ctx) {
      const b = await ctx.mcp();
      return b.ok && b.messages.some((m) => m.kind === 'tools/list');
    },
  };
  const h = hostWith(filter);
  const fast = h.buildChain([{ name: 'filter', value: '{}' }], 'fast');
  const list = JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'tools/list' });
  const res = await h.onRequest(fast, call(list), new TableChannel({}, list), later);
  assert.equal((res.action as StopAction).status, 200);
  const ok = await h.onRequest(fast, call(TOOLS_CALL), new TableChannel({}, TOOLS_CALL), later);
  assert.equal(ok.action, undefined);
  const full = h.buildChain([{ name: 'mcp-route', value: '{"post_resp":true}' }, { name: 'filter', value: '{}' }], 'full');
  const passes = await h.onRequest(full, call(list), new TableChannel({}, list), later);
  assert.notEqual((passes.action as StopAction | undefined)?.type, 'stop');
});

test('batch errors answer every request id', async () => {
  order.length = 0;
  const h = hostWith(recorder('a'));
  const chain = h.buildChain([{ name: 'a', value: '{"stop":true}' }], 'k');
  const batch = JSON.stringify([
    { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'x' } },
    { jsonrpc: '2.0', method: 'notifications/initialized' },
    { jsonrpc: '2.0', id: 'b', method: 'tools/list' },
  ]);
  const res = await h.onRequest(chain, call(batch), new TableChannel({}, batch), later);
  const body = JSON.parse(dec.decode((res.action as StopAction).body)) as Array<{ id: unknown }>;
  assert.deepEqual(body.map((e) => e.id), [1, 'b']);
});
