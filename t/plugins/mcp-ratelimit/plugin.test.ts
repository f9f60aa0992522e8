// mcp-ratelimit driven through the real host (chain + CallContext): what a client gets (429 /
// 503 JSON-RPC errors with ids and headers), what audit sees, slots held across the response
// phase, fast-route refusal, breakers fed by answers, batches, identity sources, policy files,
// schema errors, and a stopped Redis under fail_open / fail_closed. ExtraInfo answers come from
// a table, as APISIX would give them.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CallContext, DecisionRecord, Plugin } from '../../../runner/host/plugin.js';
import type { HTTPRespCallResp, RewriteAction, StopAction, TextEntry } from '../../../runner/protocol/messages.js';
import { createRatelimitPlugin } from '../../../plugins/mcp-ratelimit/index.js';
import { MemoryStore } from '../../../plugins/mcp-ratelimit/store-memory.js';
import { storeErrorTally } from '../../../plugins/mcp-ratelimit/observe.js';
import { startRedis } from '../../../testkit/redis.js';
import { LATER, TableChannel, carryKeyOf, decisionProbe, hostWith, requestCall, responseChannel } from '../../../testkit/host-kit.js';

const dec = new TextDecoder();

/** Runs before mcp-ratelimit and keeps every call's decision record (as mcp-audit would). */
const auditProbe = decisionProbe('probe');

/** Stops calls that carry x-stop (a later plugin refusing, e.g. authz after ratelimit). */
const stopper: Plugin<Record<string, never>, Record<string, never>> = {
  name: 'stopper',
  confSchema: { type: 'object' },
  onRequest(ctx: CallContext) {
    if (ctx.request.header('x-stop')) return { action: 'stop', status: 403, rpcError: { code: -32003, message: 'no' } };
    return undefined;
  },
};

/** Sets ctx.identity from x-idp-user, as mcp-authz would after verifying a token. */
const idp: Plugin<Record<string, never>, Record<string, never>> = {
  name: 'idp',
  confSchema: { type: 'object' },
  onRequest(ctx: CallContext) {
    const user = ctx.request.header('x-idp-user');
    if (user) ctx.identity = { user, roles: [], source: 'jwt' };
  },
};

let clockMs = Date.UTC(2026, 2, 10, 9, 0, 0);
const memory = new MemoryStore({ clock: () => clockMs });
const ratelimit = createRatelimitPlugin({ clock: () => clockMs, memoryStore: memory });
const host = hostWith(auditProbe.plugin, ratelimit, stopper, idp);

after(async () => {
  await host.shutdown();
});

let routeSeq = 0;
function chain(conf: object, route: object = { post_resp: true, server: 'crm' }) {
  return host.buildChain(
    [
      { name: 'mcp-route', value: JSON.stringify(route) },
      { name: 'probe', value: '{}' },
      { name: 'idp', value: '{}' },
      { name: 'mcp-ratelimit', value: JSON.stringify(conf) },
      { name: 'stopper', value: '{}' },
    ],
    `route#${++routeSeq}`,
  );
}

const toolCall = (id: number | string, name = 'crm.lookup') => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: {} } });

interface Sent {
  stop: StopAction | undefined;
  rewrite: RewriteAction | undefined;
  carryKey: string | undefined;
  decisions: DecisionRecord[];
}

async function send(ch: ReturnType<typeof chain>, body: unknown, headers: TextEntry[] = [], vars: Record<string, string> = {}): Promise<Sent> {
  const text = JSON.stringify(body);
  const res = await host.onRequest(ch, requestCall(text, headers, { srcIp: new Uint8Array([10, 0, 0, 9]) }), new TableChannel(vars, text), LATER());
  const action = res.action;
  const stop = action?.type === 'stop' ? action : undefined;
  const rewrite = action?.type === 'rewrite' ? action : undefined;
  return { stop, rewrite, carryKey: carryKeyOf(res), decisions: auditProbe.last() };
}

async function respond(ch: ReturnType<typeof chain>, carryKey: string | undefined, status: number, body?: unknown): Promise<{ resp: HTTPRespCallResp; channel: TableChannel }> {
  const channel = responseChannel(carryKey, body === undefined ? undefined : JSON.stringify(body));
  const resp = await host.onResponse(ch, { id: 2, status, headers: [{ name: 'Content-Type', value: 'application/json' }], confToken: 1 }, channel, LATER());
  return { resp, channel };
}

function header(stop: StopAction, name: string): string | undefined {
  return stop.headers.find((h) => h.name.toLowerCase() === name.toLowerCase())?.value;
}

function rpcError(stop: StopAction): { id: unknown; error: { code: number; message: string; data?: unknown } } {
  return JSON.parse(dec.decode(stop.body));
}

test('per tenant+tool limit: the 3rd call gets 429 with its id, Retry-After, RateLimit headers and an audit record', async () => {
  const ch = chain({ identity: { headers: { tenant: 'x-tenant' } }, limits: [{ name: 'tenant-tool', by: ['tenant', 'tool'], requests: 2, per: 'minute' }] });
  const acme = [{ name: 'x-tenant', value: 'acme' }];
  assert.equal((await send(ch, toolCall(1), acme)).stop, undefined);
  assert.equal((await send(ch, toolCall(2), acme)).stop, undefined);
  assert.equal((await send(ch, { jsonrpc: '2.0', id: 9, method: 'tools/list' }, acme)).stop, undefined, 'tools/list does not count');
  const third = await send(ch, toolCall('c-3'), acme);
  assert.ok(third.stop);
  assert.equal(third.stop.status, 200);
  const body = rpcError(third.stop);
  assert.equal(body.id, 'c-3');
  assert.equal(body.error.code, -32029);
  assert.match(body.error.message, /tenant-tool/);
  assert.equal(header(third.stop, 'retry-after'), '30');
  assert.equal(header(third.stop, 'ratelimit-policy'), '"tenant-tool";q=2;w=60');
  assert.equal(header(third.stop, 'ratelimit'), '"tenant-tool";r=0;t=30');
  const rec = third.decisions.find((d) => d.plugin === 'mcp-ratelimit');
  assert.deepEqual(rec && { action: rec.action, rule: rec.rule, detail: rec.detail }, {
    action: 'limit',
    rule: 'tenant-tool',
    detail: { kind: 'rate', by: ['tenant', 'tool'], limit: 2, window: 60, retry_after_ms: 30_000 },
  });
  // Another tenant and another tool have their own counters.
  assert.equal((await send(ch, toolCall(4), [{ name: 'x-tenant', value: 'globex' }])).stop, undefined);
  assert.equal((await send(ch, toolCall(5, 'crm.update'), acme)).stop, undefined);
  // Exactly 30 s later (2/min = one per 30 s) one more is allowed.
  clockMs += 30_000;
  assert.equal((await send(ch, toolCall(6), acme)).stop, undefined);
  assert.ok((await send(ch, toolCall(7), acme)).stop);
});

test('a batch is all-or-nothing: over the limit, every id gets the error and nothing is spent', async () => {
  const ch = chain({ limits: [{ name: 'batch-user', by: ['user'], requests: 2, per: 'hour' }], identity: { headers: { user: 'x-user' } } });
  const u = [{ name: 'x-user', value: 'bob' }];
  const refused = await send(ch, [toolCall(1), toolCall(2), { jsonrpc: '2.0', method: 'notifications/progress', params: {} }, toolCall(3)], u);
  assert.ok(refused.stop);
  const answers = JSON.parse(dec.decode(refused.stop.body)) as Array<{ id: number; error: { code: number } }>;
  assert.deepEqual(answers.map((a) => [a.id, a.error.code]), [[1, -32029], [2, -32029], [3, -32029]]);
  assert.equal((await send(ch, [toolCall(4), toolCall(5)], u)).stop, undefined, 'the refused batch spent nothing');
  assert.ok((await send(ch, toolCall(6), u)).stop);
});

test('a batch over many tools sums each tool\'s counter (more counters than the linear search keeps: the indexed path)', async () => {
  const ch = chain({ limits: [{ name: 'per-tool', by: ['user', 'tool'], requests: 2, per: 'hour' }], identity: { headers: { user: 'x-user' } } });
  const u = [{ name: 'x-user', value: 'ann' }];
  // Twelve tools once each, then tool 11 twice more: its third call is over 2/hour, the rest are not.
  const tools = Array.from({ length: 12 }, (_, i) => `crm.t${i}`);
  assert.equal((await send(ch, tools.map((t, i) => toolCall(i, t)), u)).stop, undefined);
  const over = await send(ch, [toolCall(20, 'crm.t3'), toolCall(21, 'crm.t11'), toolCall(22, 'crm.t11')], u);
  assert.ok(over.stop, 'crm.t11 called three times in all');
  assert.equal((await send(ch, [toolCall(23, 'crm.t3'), toolCall(24, 'crm.t10')], u)).stop, undefined, 'the refused batch spent nothing');
  assert.ok((await send(ch, toolCall(25, 'crm.t3'), u)).stop, 'crm.t3: two calls counted, the third refused');
});

test('headers_on_allow adds RateLimit-Policy / RateLimit for the tightest limit', async () => {
  const ch = chain({
    headers_on_allow: true,
    limits: [
      { name: 'wide', requests: 100, per: 'minute' },
      { name: 'tight', requests: 3, per: 'second', by: ['route'] },
    ],
  });
  const r = await send(ch, toolCall(1));
  const h = (n: string) => r.rewrite?.respHeaders.find((x) => x.name === n)?.value;
  assert.equal(h('RateLimit-Policy'), '"tight";q=3;w=1');
  assert.equal(h('RateLimit'), '"tight";r=2;t=1');
});

test('concurrency: a slot is held until the response phase, then given back', async () => {
  const ch = chain({ concurrency: [{ name: 'one-at-a-time', max: 1, by: ['server'] }] });
  const first = await send(ch, toolCall(1));
  assert.equal(first.stop, undefined);
  assert.ok(first.carryKey, 'the call carries to the response phase');
  const second = await send(ch, toolCall(2));
  assert.equal(second.stop?.status, 200);
  assert.match(rpcError(second.stop!).error.message, /Too many concurrent calls: one-at-a-time/);
  assert.equal(header(second.stop!, 'ratelimit-policy'), '"one-at-a-time";q=1');
  await respond(ch, first.carryKey, 200, { jsonrpc: '2.0', id: 1, result: { content: [] } });
  assert.equal((await send(ch, toolCall(3))).stop, undefined, 'released by the answer');
});

test('concurrency on a fast route: the host refuses (needsResponsePhase) and the slot is not leaked', async () => {
  const conf = { concurrency: [{ name: 'fast-conc', max: 1 }] };
  const fast = chain(conf, { post_resp: false, server: 'crm' });
  const refused = await send(fast, toolCall(1));
  assert.equal(refused.stop?.status, 200);
  assert.equal(rpcError(refused.stop!).error.data && (rpcError(refused.stop!).error.data as { rule: string }).rule, 'needs-response-phase');
  // tools/list matches no concurrency limit: the fast route serves it.
  assert.equal((await send(fast, { jsonrpc: '2.0', id: 2, method: 'tools/list' })).stop, undefined);
  const full = chain(conf);
  assert.equal((await send(full, toolCall(3))).stop, undefined, 'the refused call released its slot');
});

test('a call stopped later in the chain gives its slot back at once; a lost answer frees it at lease expiry', async () => {
  const ch = chain({ concurrency: [{ name: 'stopped-later', max: 1, lease_seconds: 60 }] });
  const stopped = await send(ch, toolCall(1), [{ name: 'x-stop', value: '1' }]);
  assert.equal(stopped.stop?.status, 200);
  const kept = await send(ch, toolCall(2));
  assert.equal(kept.stop, undefined, 'the stopped call released its slot');
  // This call's answer never comes back: its lease (60 s) is the only way out.
  assert.equal((await send(ch, toolCall(3))).stop?.status, 200);
  clockMs += 59_999;
  assert.equal((await send(ch, toolCall(4))).stop?.status, 200);
  clockMs += 1;
  assert.equal((await send(ch, toolCall(5))).stop, undefined, 'lease expiry freed the lost slot');
});

test('breaker: upstream 5xx opens it (503 CircuitOpen + Retry-After), a probe after the cool-down closes it', async () => {
  const ch = chain({ breakers: [{ name: 'crm-5xx', failures: 2, window_seconds: 10, cooldown_seconds: 5 }] });
  for (let i = 0; i < 2; i++) {
    const s = await send(ch, toolCall(i));
    assert.equal(s.stop, undefined);
    const { channel } = await respond(ch, s.carryKey, 502);
    assert.ok(!channel.asked.some((q) => q.type === 'respBody'), 'a 5xx needs no body');
  }
  const open = await send(ch, toolCall('x'));
  assert.equal(open.stop?.status, 503);
  assert.equal(rpcError(open.stop!).error.code, -32030);
  assert.equal(rpcError(open.stop!).id, 'x');
  assert.equal(header(open.stop!, 'retry-after'), '5');
  assert.equal(open.decisions.find((d) => d.plugin === 'mcp-ratelimit')?.rule, 'crm-5xx');
  clockMs += 5000;
  const probe = await send(ch, toolCall('p'));
  assert.equal(probe.stop, undefined, 'half-open lets one probe through');
  assert.equal((await send(ch, toolCall('q'))).stop?.status, 503, 'only one probe at once');
  await respond(ch, probe.carryKey, 200, { jsonrpc: '2.0', id: 'p', result: {} });
  assert.equal((await send(ch, toolCall('r'))).stop, undefined, 'closed again');
});

test('breaker per tool counting JSON-RPC errors in 200 answers; client mistakes do not count', async () => {
  const ch = chain({ breakers: [{ name: 'tool-rpc', scope: 'tool', failures: 2, count_jsonrpc_errors: true, cooldown_seconds: 30 }] });
  const fail = async (id: number, code: number, tool = 'crm.flaky') => {
    const s = await send(ch, toolCall(id, tool));
    assert.equal(s.stop, undefined);
    const { channel } = await respond(ch, s.carryKey, 200, { jsonrpc: '2.0', id, error: { code, message: 'x' } });
    assert.ok(channel.asked.some((q) => q.type === 'respBody'), 'body read because the breaker counts JSON-RPC errors');
  };
  await fail(1, -32602);
  await fail(2, -32602);
  assert.equal((await send(ch, toolCall(3, 'crm.flaky'))).stop, undefined, 'invalid params are the client’s fault');
  await fail(4, -32603);
  await fail(5, -32000);
  assert.equal((await send(ch, toolCall(6, 'crm.flaky'))).stop?.status, 503);
  assert.equal((await send(ch, toolCall(7, 'crm.steady'))).stop, undefined, 'other tools unaffected');
});

test('budgets: per-tool cost weights against a daily tenant quota, reset at 00:00 UTC', async () => {
  clockMs = Date.UTC(2026, 2, 10, 23, 59, 0);
  const ch = chain({
    identity: { headers: { tenant: 'x-tenant' } },
    budgets: [{ name: 'tenant-daily', by: ['tenant'], quota: 11, period: 'day', costs: { 'billing.*': 5 }, default_cost: 1 }],
  });
  const t = [{ name: 'x-tenant', value: 'acme' }];
  assert.equal((await send(ch, toolCall(1, 'billing.invoice'), t)).stop, undefined);
  assert.equal((await send(ch, toolCall(2, 'billing.refund'), t)).stop, undefined);
  const over = await send(ch, toolCall(3, 'billing.invoice'), t);
  assert.equal(over.stop?.status, 200);
  assert.equal(header(over.stop!, 'retry-after'), '60', 'until midnight UTC');
  assert.match(rpcError(over.stop!).error.message, /Budget exhausted: tenant-daily/);
  assert.equal((await send(ch, toolCall(4, 'crm.lookup'), t)).stop, undefined, 'cost 1 still fits');
  assert.equal((await send(ch, toolCall(5, 'crm.lookup'), t)).stop?.status, 200);
  clockMs = Date.UTC(2026, 2, 11, 0, 0, 0);
  assert.equal((await send(ch, toolCall(6, 'billing.invoice'), t)).stop, undefined, 'new UTC day');
});

test('identity: ctx.identity first, else headers, unverified JWT claims (opt-in), consumer_name', async () => {
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const jwt = (sub: string) => `Bearer ${b64({ alg: 'RS256' })}.${b64({ sub })}.c2ln`;
  const ch = chain({
    identity: { unverified_jwt: { allow_unverified: true, claims: { user: 'sub' } }, consumer_name: true },
    limits: [{ name: 'per-user-id', by: ['user'], requests: 1, per: 'hour', missing: 'skip' }],
  });
  assert.equal((await send(ch, toolCall(1), [{ name: 'authorization', value: jwt('alice') }])).stop, undefined);
  assert.ok((await send(ch, toolCall(2), [{ name: 'authorization', value: jwt('alice') }])).stop);
  assert.equal((await send(ch, toolCall(3), [{ name: 'authorization', value: jwt('bob') }])).stop, undefined);
  assert.equal((await send(ch, toolCall(4), [], { consumer_name: 'carol' })).stop, undefined);
  assert.ok((await send(ch, toolCall(5), [], { consumer_name: 'carol' })).stop);
  // An identity plugin's ctx.identity wins over this plugin's own extraction.
  assert.equal((await send(ch, toolCall(8), [{ name: 'authorization', value: jwt('alice') }, { name: 'x-idp-user', value: 'dave' }])).stop, undefined);
  assert.ok((await send(ch, toolCall(9), [{ name: 'authorization', value: jwt('erin') }, { name: 'x-idp-user', value: 'dave' }])).stop);
  // missing: skip — an unknown caller is not limited by a per-user limit.
  assert.equal((await send(ch, toolCall(6))).stop, undefined);
  assert.equal((await send(ch, toolCall(7))).stop, undefined);
  // Without allow_unverified the conf is refused, naming the field.
  const bad = chain({ identity: { unverified_jwt: { claims: { user: 'sub' } } } });
  assert.match(bad.error ?? '', /unverified_jwt.*allow_unverified/);
});

test('conf errors name the field; duplicate limit names are refused', () => {
  assert.match(chain({ limits: [{ name: 'x', requests: 1, per: 'fortnight' }] }).error ?? '', /mcp-ratelimit: \/limits\/0\/per/);
  assert.match(chain({ limits: [{ name: 'x', requests: 0, per: 'minute' }] }).error ?? '', /\/limits\/0\/requests/);
  assert.match(chain({ store: { type: 'redis', url: 'http://x' } }).error ?? '', /\/store\/url/);
});

test('duplicate names fail the conf at call time (fail closed)', async () => {
  const ch = chain({ limits: [{ name: 'dup', requests: 1, per: 'minute' }, { name: 'dup', requests: 2, per: 'minute' }] });
  const r = await send(ch, toolCall(1));
  assert.equal(r.stop?.status, 500);
});

test('policy file (YAML): its limits apply in addition to the route conf', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'rl-policy-'));
  try {
    const file = join(dir, 'limits.yaml');
    await writeFile(file, 'limits:\n  - name: file-limit\n    requests: 1\n    per: hour\n    match:\n      tools: ["crm.*"]\n');
    const ch = chain({ policy_file: file });
    assert.equal((await send(ch, toolCall(1, 'crm.lookup'))).stop, undefined);
    const r = await send(ch, toolCall(2, 'crm.lookup'));
    assert.match(rpcError(r.stop!).error.message, /file-limit/);
    assert.equal((await send(ch, toolCall(3, 'other.tool'))).stop, undefined, 'match.tools scopes it');
    await writeFile(join(dir, 'bad.yaml'), 'limits:\n  - name: bad\n    requests: -1\n    per: hour\n');
    const bad = await send(chain({ policy_file: join(dir, 'bad.yaml') }), toolCall(4));
    assert.equal(bad.stop?.status, 500, 'an invalid policy file fails closed');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('Redis stopped: fail_closed answers 503 quickly, fail_open lets calls through; both count', async () => {
  const redis = await startRedis();
  const conf = (mode: string) => ({
    on_store_error: mode,
    store: { type: 'redis', url: redis.url, command_timeout_ms: 50, key_prefix: 'plugin' },
    limits: [{ name: `redis-${mode}`, requests: 100, per: 'minute' }],
  });
  const closed = chain(conf('fail_closed'));
  const open = chain(conf('fail_open'));
  try {
    // Wait for the shared connection to come up, then prove it counts through Redis.
    const deadline = Date.now() + 3000;
    while ((await send(closed, toolCall(0))).stop && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal((await send(closed, toolCall(1))).stop, undefined);
    await redis.stop();
    const before = { ...storeErrorTally };
    const started = performance.now();
    const c = await send(closed, toolCall(2));
    const o = await send(open, toolCall(3));
    assert.ok(performance.now() - started < 500, 'bounded: no hang while Redis is down');
    assert.equal(c.stop?.status, 503);
    assert.equal(rpcError(c.stop!).error.code, -32050);
    assert.equal(header(c.stop!, 'retry-after'), '1');
    assert.equal(o.stop, undefined);
    assert.equal(storeErrorTally.fail_closed, before.fail_closed + 1);
    assert.equal(storeErrorTally.fail_open, before.fail_open + 1);
    assert.equal(o.decisions.find((d) => d.plugin === 'mcp-ratelimit')?.rule, 'store');
  } finally {
    await redis.stop();
  }
});
