// The Redis store against a REAL redis-server: counters shared by independent stores and by
// two separate processes, exact window boundaries, leases, UTC budget rollover computed in Lua,
// all-or-nothing, and a stopped Redis answering with an error within the command timeout.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { startRedis, type RedisInstance } from '../../../testkit/redis.js';
import { RedisStore, createRedisClient } from '../../../plugins/mcp-ratelimit/store-redis.js';
import type { CheckBatch } from '../../../plugins/mcp-ratelimit/store.js';

let redis: RedisInstance;
const clients: Redis[] = [];

async function client(url = redis.url): Promise<Redis> {
  const c = createRedisClient(url);
  clients.push(c);
  if (c.status !== 'ready') {
    await new Promise<void>((resolve, reject) => {
      c.once('ready', () => resolve());
      setTimeout(() => reject(new Error('redis client not ready')), 3000).unref();
    });
  }
  return c;
}

let clockMs = Date.UTC(2026, 0, 15, 12, 0, 0);
const clock = () => clockMs;

async function store(opts: { clock?: () => number; prefix?: string } = {}): Promise<RedisStore> {
  return new RedisStore({ client: await client(), keyPrefix: opts.prefix ?? 't', commandTimeoutMs: 500, clock: opts.clock });
}

const rate = (key: string, intervalMs: number, burst: number, cost = 1): CheckBatch => ({
  leaseId: 'x',
  rates: [{ key, intervalMs, burst, cost }],
  concurrency: [],
  budgets: [],
});

before(async () => {
  redis = await startRedis();
});

after(async () => {
  for (const c of clients) c.disconnect();
  await redis.stop();
});

test('two independent stores (two connections) share one count', async () => {
  const a = await store({ clock });
  const b = await store({ clock });
  let allowed = 0;
  for (let i = 0; i < 10; i++) {
    if ((await a.check(rate('r|shared', 60_000, 5))).allowed) allowed++;
    if ((await b.check(rate('r|shared', 60_000, 5))).allowed) allowed++;
  }
  assert.equal(allowed, 5);
});

test('two separate processes share one count exactly (40 of 60 concurrent calls)', async () => {
  const child = fileURLToPath(new URL('../../../testkit/redis-child.js', import.meta.url));
  const run = () =>
    new Promise<number>((resolve, reject) => {
      const p = spawn(process.execPath, [child, redis.url, 't:r|procs', '30'], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      p.stdout.on('data', (d) => (out += d.toString()));
      p.on('exit', (code) => (code === 0 ? resolve((JSON.parse(out) as { allowed: number }).allowed) : reject(new Error(`child exit ${code}`))));
    });
  const [x, y] = await Promise.all([run(), run()]);
  assert.equal(x + y, 40);
});

test('GCRA boundary is exact in Lua too (injected clock)', async () => {
  const s = await store({ clock });
  clockMs = Date.UTC(2026, 0, 15, 12, 0, 0);
  for (let i = 0; i < 10; i++) assert.ok((await s.check(rate('r|edge', 100, 10))).allowed, `call ${i}`);
  const refused = await s.check(rate('r|edge', 100, 10));
  assert.ok(!refused.allowed && refused.kind === 'rate' && refused.retryAfterMs === 100);
  clockMs += 99;
  assert.equal((await s.check(rate('r|edge', 100, 10))).allowed, false);
  clockMs += 1;
  const at = await s.check(rate('r|edge', 100, 10));
  assert.ok(at.allowed);
  assert.equal(at.rates[0]!.remaining, 0);
  assert.equal((await s.check(rate('r|edge', 100, 10))).allowed, false);
});

test('with no injected clock the Redis server clock (TIME) drives the window', async () => {
  const s = await store();
  assert.ok((await s.check(rate('r|time', 300, 1))).allowed);
  assert.equal((await s.check(rate('r|time', 300, 1))).allowed, false);
  await new Promise((r) => setTimeout(r, 320));
  assert.ok((await s.check(rate('r|time', 300, 1))).allowed);
});

test('keys carry TTLs (GCRA until idle, leases, budgets until period end + 1 h)', async () => {
  clockMs = Date.UTC(2026, 0, 15, 23, 0, 0);
  const s = await store({ clock, prefix: 'ttl' });
  const r = await s.check({
    leaseId: 'L',
    rates: [{ key: 'r', intervalMs: 1000, burst: 5, cost: 2 }],
    concurrency: [{ key: 'c', max: 3, leaseMs: 60_000, count: 2 }],
    budgets: [{ key: 'b', quota: 100, cost: 2.5, period: 'day' }],
  });
  assert.ok(r.allowed);
  assert.deepEqual(r.budgets, [97.5]);
  const raw = await client();
  const rttl = await raw.pttl('ttl:r');
  assert.ok(rttl > 0 && rttl <= 2000, `rate ttl ${rttl}`);
  const cttl = await raw.pttl('ttl:c');
  assert.ok(cttl > 59_000 && cttl <= 60_000, `lease ttl ${cttl}`);
  const bkey = `ttl:b:${Date.UTC(2026, 0, 15)}`;
  const bttl = await raw.pttl(bkey);
  assert.ok(bttl > 2 * 3_600_000 - 1000 && bttl <= 2 * 3_600_000, `budget ttl ${bttl}`);
  assert.equal(await raw.get(bkey), '2.5');
  assert.deepEqual((await raw.zrange('ttl:c', '0', '-1')).sort(), ['L#0', 'L#1']);
});

test('concurrency: acquire, release, and lease expiry (Redis)', async () => {
  clockMs = Date.UTC(2026, 0, 15, 12, 0, 0);
  const a = await store({ clock });
  const b = await store({ clock });
  const conc = (leaseId: string, count = 1): CheckBatch => ({ leaseId, rates: [], budgets: [], concurrency: [{ key: 'c|k', max: 2, leaseMs: 30_000, count }] });
  assert.ok((await a.check(conc('one'))).allowed);
  assert.ok((await b.check(conc('two'))).allowed);
  const full = await a.check(conc('three'));
  assert.ok(!full.allowed && full.kind === 'concurrency');
  await b.release('one', [{ key: 'c|k', count: 1 }]);
  assert.ok((await a.check(conc('three'))).allowed, 'released by the other store');
  assert.equal((await a.check(conc('four'))).allowed, false);
  clockMs += 29_999;
  assert.equal((await a.check(conc('four'))).allowed, false);
  clockMs += 1;
  assert.ok((await a.check(conc('four', 2))).allowed, 'lost slots freed by lease expiry');
});

test('all-or-nothing in one script: a refusing budget consumes no rate or slot', async () => {
  clockMs = Date.UTC(2026, 0, 15, 12, 0, 0);
  const s = await store({ clock });
  const batch = (cost: number, leaseId: string): CheckBatch => ({
    leaseId,
    rates: [{ key: 'r|aon', intervalMs: 1000, burst: 3, cost: 1 }],
    concurrency: [{ key: 'c|aon', max: 1, leaseMs: 60_000, count: 1 }],
    budgets: [{ key: 'b|aon', quota: 5, cost, period: 'month' }],
  });
  const refused = await s.check(batch(6, 'a'));
  assert.ok(!refused.allowed && refused.kind === 'budget' && refused.index === 0);
  const raw = await client();
  assert.equal(await raw.exists('t:r|aon', 't:c|aon'), 0, 'nothing written');
  const ok = await s.check(batch(5, 'b'));
  assert.ok(ok.allowed);
  assert.equal(ok.rates[0]!.remaining, 2, 'the refused call did not spend a request');
});

test('budget periods computed in Lua match UTC calendar days and months', async () => {
  const s = await store({ clock, prefix: 'cal' });
  const raw = await client();
  const cases: Array<[number, 'day' | 'month', number, number]> = [
    [Date.UTC(2026, 0, 31, 23, 59, 59, 999), 'day', Date.UTC(2026, 0, 31), Date.UTC(2026, 1, 1)],
    [Date.UTC(2026, 1, 1, 0, 0, 0, 0), 'day', Date.UTC(2026, 1, 1), Date.UTC(2026, 1, 2)],
    [Date.UTC(2028, 1, 29, 12), 'month', Date.UTC(2028, 1, 1), Date.UTC(2028, 2, 1)],
    [Date.UTC(2026, 11, 31, 23, 59, 59, 999), 'month', Date.UTC(2026, 11, 1), Date.UTC(2027, 0, 1)],
    [Date.UTC(2027, 0, 1), 'month', Date.UTC(2027, 0, 1), Date.UTC(2027, 1, 1)],
    [Date.UTC(2100, 2, 1), 'month', Date.UTC(2100, 2, 1), Date.UTC(2100, 3, 1)],
  ];
  for (const [now, period, start, end] of cases) {
    clockMs = now;
    const key = `p${now}${period}`;
    assert.ok((await s.check({ leaseId: 'x', rates: [], concurrency: [], budgets: [{ key, quota: 1, cost: 1, period }] })).allowed);
    assert.equal(await raw.get(`cal:${key}:${start}`), '1', `${new Date(now).toISOString()} ${period}`);
    const refused = await s.check({ leaseId: 'x', rates: [], concurrency: [], budgets: [{ key, quota: 1, cost: 1, period }] });
    assert.ok(!refused.allowed);
    assert.equal(refused.retryAfterMs, end - now, `retry until the period ends (${new Date(now).toISOString()})`);
  }
  // Rollover: the last millisecond of a day and the first of the next use separate counters.
  const key = 'roll';
  clockMs = Date.UTC(2026, 4, 31, 23, 59, 59, 999);
  const b = (cost: number): CheckBatch => ({ leaseId: 'x', rates: [], concurrency: [], budgets: [{ key, quota: 10, cost, period: 'month' }] });
  assert.ok((await s.check(b(10))).allowed);
  assert.equal((await s.check(b(1))).allowed, false);
  clockMs += 1;
  assert.ok((await s.check(b(10))).allowed, 'June starts fresh');
});

test('a stopped Redis fails the check within the command timeout (no hang), and recovers', async () => {
  const own = await startRedis();
  try {
    const c = createRedisClient(own.url);
    clients.push(c);
    await new Promise<void>((resolve) => c.once('ready', () => resolve()));
    const s = new RedisStore({ client: c, commandTimeoutMs: 50, clock });
    assert.ok((await s.check(rate('r|down', 1000, 5))).allowed);
    await own.stop();
    for (let i = 0; i < 5; i++) {
      const started = performance.now();
      await assert.rejects(s.check(rate('r|down', 1000, 5)));
      assert.ok(performance.now() - started < 200, 'answered quickly');
    }
    // Redis comes back on the same port: the client reconnects on its own within a second.
    const again = await startRedis({ port: own.port });
    try {
      const deadline = Date.now() + 3000;
      let ok = false;
      while (!ok && Date.now() < deadline) {
        ok = await s.check(rate('r|down', 1000, 5)).then((r) => r.allowed, () => false);
        if (!ok) await new Promise((r) => setTimeout(r, 50));
      }
      assert.ok(ok, 'checks work again after Redis is back');
    } finally {
      await again.stop();
    }
  } finally {
    await own.stop();
  }
});
