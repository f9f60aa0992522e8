// The carry store and the host's fail-closed use of it, in process: bounds (entries and
// estimated bytes, never evicting a live carry), expiry, the metric for each refusal, and
// the runner settings. The same paths end to end, through the emulator: fail-closed.test.ts.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Host } from '../../runner/host/chain.js';
import { CarryStore, carryLimitsFromEnv, DEFAULT_CARRY_TTL_MS, type CarriedRequest } from '../../runner/host/carry.js';
import { PluginRegistry } from '../../runner/host/registry.js';
import { defaultRegistry } from '../../runner/observability/metrics.js';
import type { Plugin } from '../../runner/host/plugin.js';
import type { StopAction } from '../../runner/protocol/messages.js';
import { LATER, TableChannel, carryKeyOf, requestCall, responseChannel } from '../../testkit/host-kit.js';

const dec = new TextDecoder();
const stores: CarryStore[] = [];
const hosts: Host[] = [];
after(async () => {
  for (const s of stores) s.close();
  for (const h of hosts) await h.shutdown();
});

function carried(bodyBytes = 0): CarriedRequest {
  return {
    callId: 'c',
    identity: undefined,
    decisions: [],
    carry: new Map(),
    parsed: undefined,
    startedAt: 0,
    request: requestCall(undefined),
    body: bodyBytes > 0 ? new Uint8Array(bodyBytes) : undefined,
  };
}

function store(ttlMs: number, maxEntries: number, maxBytes = 1 << 30): CarryStore {
  const s = new CarryStore({ ttlMs, maxEntries, maxBytes });
  stores.push(s);
  return s;
}

test('a full store refuses the new carry and keeps every live one', () => {
  const s = store(60_000, 2);
  assert.equal(s.put('a', carried()), true);
  assert.equal(s.put('b', carried()), true);
  assert.equal(s.put('c', carried()), false, 'full: refused');
  assert.ok(s.take('a') && s.take('b'), 'nothing was evicted');
  assert.equal(s.put('c', carried()), true, 'room again');
});

test('the byte bound counts bodies (three times, for their parsed form) and frees them on take', () => {
  const s = store(60_000, 100, 100_000);
  assert.equal(s.put('a', carried(20_000)), true);
  assert.ok(s.bytes >= 60_000, `held ${s.bytes}`);
  assert.equal(s.put('b', carried(20_000)), false, 'a second body would pass the bound');
  s.take('a');
  assert.equal(s.bytes, 0);
  assert.equal(s.put('b', carried(20_000)), true);
});

test('an expired carry is not handed out, and expired carries make room when the store is full', async () => {
  const s = store(30, 1);
  assert.equal(s.put('a', carried()), true);
  await new Promise((r) => setTimeout(r, 60));
  assert.equal(s.put('b', carried()), true, 'the expired one made room');
  await new Promise((r) => setTimeout(r, 60));
  assert.equal(s.take('b'), undefined, 'expired');
});

test('runner settings: defaults outlive the shipped upstream timeout; bad values are refused, naming the variable', () => {
  assert.equal(carryLimitsFromEnv({}).ttlMs, DEFAULT_CARRY_TTL_MS);
  assert.ok(DEFAULT_CARRY_TTL_MS >= 300_000);
  assert.deepEqual(carryLimitsFromEnv({ MCP_RUNNER_CARRY_TTL_SECONDS: '600', MCP_RUNNER_CARRY_MAX_CALLS: '5', MCP_RUNNER_CARRY_MAX_BYTES: '4096' }), { ttlMs: 600_000, maxEntries: 5, maxBytes: 4096 });
  assert.throws(() => carryLimitsFromEnv({ MCP_RUNNER_CARRY_TTL_SECONDS: '0' }), /MCP_RUNNER_CARRY_TTL_SECONDS=0 must be an integer >= 1/);
  assert.throws(() => carryLimitsFromEnv({ MCP_RUNNER_CARRY_MAX_CALLS: 'many' }), /MCP_RUNNER_CARRY_MAX_CALLS/);
});

const failures = defaultRegistry.counter({ name: 'mcp_runner_carry_failures_total', help: '', labelNames: ['reason'] });
const TOOLS_CALL = JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'tools/call', params: { name: 't', arguments: {} } });

/** A plugin that reads identity in the response phase, like list filtering does. */
const reader: Plugin<Record<string, never>, Record<string, never>> = {
  name: 'reader',
  confSchema: { type: 'object' },
  async onRequest(ctx) {
    await ctx.mcp();
    ctx.identity = { roles: [], source: 'header', user: 'u' };
    return undefined;
  },
  onResponse(ctx) {
    // Without the carry this would run anonymous: the host must never get here then.
    assert.equal(ctx.identity?.user, 'u');
    return undefined;
  },
};

function hostWithLimits(maxEntries: number): Host {
  const registry = new PluginRegistry();
  registry.register(reader);
  const h = new Host({ registry, carry: { maxEntries } });
  hosts.push(h);
  return h;
}

const conf = [{ name: 'mcp-route', value: '{"post_resp":true}' }, { name: 'reader', value: '{}' }];

test('a response phase with our call header and no carry withholds the answer (502 carry-lost) and counts it', async () => {
  const h = hostWithLimits(10);
  const pre = h.buildChain(conf, 'route#1#ext-plugin-pre-req#1');
  const post = h.buildChain(conf, 'route#1#ext-plugin-post-resp#1');
  const key = carryKeyOf(await h.onRequest(pre, requestCall(TOOLS_CALL), new TableChannel({}, TOOLS_CALL), LATER()));
  assert.ok(key);
  const before = failures.get({ reason: 'lost' });
  const upstream = JSON.stringify({ jsonrpc: '2.0', id: 9, result: { content: [{ type: 'text', text: 'secret' }] } });
  const ok = await h.onResponse(post, { id: 2, status: 200, headers: [], confToken: 1 }, responseChannel(key, upstream), LATER());
  assert.equal(ok.status, 0, 'the carried call passes');
  // The same key again: its carry was taken, as after an expiry or a restart.
  const lost = await h.onResponse(post, { id: 3, status: 200, headers: [{ name: 'content-type', value: 'application/json' }], confToken: 1 }, responseChannel(key, upstream), LATER());
  assert.equal(lost.status, 502);
  const body = JSON.parse(dec.decode(lost.body)) as { error: { code: number; data: { reason: string } } };
  assert.equal(body.error.data.reason, 'carry-lost');
  assert.doesNotMatch(dec.decode(lost.body), /secret/);
  assert.equal(failures.get({ reason: 'lost' }), before + 1);
});

test('a post-resp call that finds the store full is refused before it reaches the server (503 carry-full) and counted', async () => {
  const h = hostWithLimits(1);
  const pre = h.buildChain(conf, 'route#1#ext-plugin-pre-req#1');
  const before = failures.get({ reason: 'full' });
  const first = await h.onRequest(pre, requestCall(TOOLS_CALL), new TableChannel({}, TOOLS_CALL), LATER());
  assert.ok(carryKeyOf(first));
  const second = await h.onRequest(pre, requestCall(TOOLS_CALL), new TableChannel({}, TOOLS_CALL), LATER());
  const stop = second.action as StopAction;
  assert.equal(stop.type, 'stop');
  assert.equal(stop.status, 503);
  assert.deepEqual(JSON.parse(dec.decode(stop.body)), {
    jsonrpc: '2.0',
    id: 9,
    error: { code: -32050, message: 'gateway busy: too many calls are waiting for their answers; retry later', data: { reason: 'carry-full' } },
  });
  assert.ok(stop.headers.some((e) => e.name === 'retry-after' && e.value === '1'));
  assert.equal(failures.get({ reason: 'full' }), before + 1);
  assert.equal(h.carriedCalls, 1, 'the live carry stayed');
});
