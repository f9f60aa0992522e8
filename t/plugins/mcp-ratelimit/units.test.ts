// Pure parts of mcp-ratelimit with an injected clock: GCRA at the exact boundary, the memory
// store's all-or-nothing consumption, concurrency leases, UTC budget periods, breaker states.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gcra } from '../../../plugins/mcp-ratelimit/gcra.js';
import { periodWindow } from '../../../plugins/mcp-ratelimit/budget.js';
import { Breaker } from '../../../plugins/mcp-ratelimit/breaker.js';
import { MemoryStore } from '../../../plugins/mcp-ratelimit/store-memory.js';
import { keyPart, limitKey, unverifiedClaims } from '../../../plugins/mcp-ratelimit/keys.js';
import { globsToRegExp as compileGlobs } from '../../../runner/util/glob.js';
import type { McpMessage } from '../../../runner/mcp/types.js';

const T0 = Date.UTC(2026, 0, 15, 12, 0, 0);

function clockAt(start: number): { now: () => number; set(ms: number): void; advance(ms: number): void } {
  let t = start;
  return { now: () => t, set: (ms) => (t = ms), advance: (ms) => (t += ms) };
}

test('GCRA: 10/s with burst 10 takes 10 at once, then exactly one more per 100 ms', () => {
  const p = { intervalMs: 100, burst: 10 };
  let tat: number | undefined;
  for (let i = 0; i < 10; i++) {
    const d = gcra(tat, T0, p, 1);
    assert.ok(d.allowed, `call ${i}`);
    assert.equal(d.remaining, 9 - i);
    tat = d.tat;
  }
  const refused = gcra(tat, T0, p, 1);
  assert.equal(refused.allowed, false);
  assert.equal(refused.retryAfterMs, 100);
  assert.equal(gcra(tat, T0 + 99, p, 1).allowed, false, '1 ms before the boundary');
  const at = gcra(tat, T0 + 100, p, 1);
  assert.equal(at.allowed, true, 'exactly at the boundary');
  assert.equal(at.remaining, 0);
  assert.equal(gcra(at.tat, T0 + 100, p, 1).allowed, false);
  // Idle for a full window: the whole burst is back, not more.
  const idle = gcra(at.tat, T0 + 100 + 1000, p, 10);
  assert.equal(idle.allowed, true);
  assert.equal(gcra(idle.tat, T0 + 1100, p, 1).allowed, false);
});

test('GCRA: no fixed-window doubling across a minute boundary', () => {
  // 60/min burst 60: 60 calls at 00:59.999 leave nothing for 00:60.000.
  const p = { intervalMs: 1000, burst: 60 };
  const edge = Date.UTC(2026, 0, 1, 0, 1, 0);
  let tat: number | undefined;
  for (let i = 0; i < 60; i++) tat = gcra(tat, edge - 1, p, 1).tat;
  assert.equal(gcra(tat, edge, p, 1).allowed, false);
  assert.equal(gcra(tat, edge - 1 + 999, p, 1).allowed, false);
  assert.equal(gcra(tat, edge - 1 + 1000, p, 1).allowed, true);
});

test('GCRA: a cost larger than the burst is refused, even when idle', () => {
  const d = gcra(undefined, T0, { intervalMs: 100, burst: 3 }, 4);
  assert.equal(d.allowed, false);
  assert.equal(d.retryAfterMs, 100);
});

test('memory store: all-or-nothing — one refusing limit consumes nothing anywhere', async () => {
  const clock = clockAt(T0);
  const store = new MemoryStore({ clock: clock.now });
  const wide = { key: 'r|wide', intervalMs: 10, burst: 100, cost: 1 };
  const narrow = { key: 'r|narrow', intervalMs: 1000, burst: 1, cost: 1 };
  const conc = { key: 'c|conc', max: 5, leaseMs: 60_000, count: 1 };
  const budget = { key: 'b|bud', quota: 10, cost: 2, period: 'day' as const };
  assert.equal((await store.check({ leaseId: 'a', rates: [wide, narrow], concurrency: [conc], budgets: [budget] })).allowed, true);
  const r = await store.check({ leaseId: 'b', rates: [wide, narrow], concurrency: [conc], budgets: [budget] });
  assert.equal(r.allowed, false);
  assert.ok(!r.allowed && r.kind === 'rate' && r.index === 1 && r.retryAfterMs === 1000);
  // Nothing of the refused call was consumed: wide still has 99 of 100, 4 slots, budget 8.
  const ok = await store.check({ leaseId: 'c', rates: [wide], concurrency: [{ ...conc, count: 4 }], budgets: [{ ...budget, cost: 8 }] });
  assert.ok(ok.allowed);
  assert.equal(ok.rates[0]!.remaining, 98);
  assert.equal(ok.budgets[0], 0);
  await store.close();
});

test('memory store: the longest wait of all refusing limits is the Retry-After', async () => {
  const store = new MemoryStore({ clock: () => T0 });
  const a = { key: 'r|a', intervalMs: 100, burst: 1, cost: 1 };
  const b = { key: 'r|b', intervalMs: 5000, burst: 1, cost: 1 };
  await store.check({ leaseId: 'x', rates: [a, b], concurrency: [], budgets: [] });
  const r = await store.check({ leaseId: 'y', rates: [a, b], concurrency: [], budgets: [] });
  assert.ok(!r.allowed);
  assert.equal(r.kind, 'rate');
  assert.equal(r.index, 0);
  assert.equal(r.retryAfterMs, 5000);
  await store.close();
});

test('memory store: concurrency slots are acquired, released, and freed by lease expiry', async () => {
  const clock = clockAt(T0);
  const store = new MemoryStore({ clock: clock.now });
  const conc = (count = 1) => ({ leaseId: '', rates: [], budgets: [], concurrency: [{ key: 'c|k', max: 2, leaseMs: 60_000, count }] });
  assert.ok((await store.check({ ...conc(), leaseId: 'one' })).allowed);
  assert.ok((await store.check({ ...conc(), leaseId: 'two' })).allowed);
  const full = await store.check({ ...conc(), leaseId: 'three' });
  assert.ok(!full.allowed && full.kind === 'concurrency');
  await store.release('one', [{ key: 'c|k', count: 1 }]);
  await store.release('one', [{ key: 'c|k', count: 1 }]); // twice is harmless
  assert.ok((await store.check({ ...conc(), leaseId: 'three' })).allowed);
  assert.equal((await store.check({ ...conc(), leaseId: 'four' })).allowed, false);
  // 'two' and 'three' never come back: their leases run out at T0 + 60 s.
  clock.advance(59_999);
  assert.equal((await store.check({ ...conc(), leaseId: 'four' })).allowed, false);
  clock.advance(1);
  assert.ok((await store.check({ ...conc(2), leaseId: 'four' })).allowed, 'both expired leases are free');
  await store.close();
});

test('budget periods are UTC calendar days and months (leap February, year end)', () => {
  assert.deepEqual(periodWindow(Date.UTC(2026, 2, 5, 23, 59, 59, 999), 'day'), {
    startMs: Date.UTC(2026, 2, 5),
    endMs: Date.UTC(2026, 2, 6),
  });
  assert.deepEqual(periodWindow(Date.UTC(2028, 1, 29, 10), 'month'), { startMs: Date.UTC(2028, 1, 1), endMs: Date.UTC(2028, 2, 1) });
  assert.deepEqual(periodWindow(Date.UTC(2026, 11, 31, 23, 59, 59, 999), 'month'), {
    startMs: Date.UTC(2026, 11, 1),
    endMs: Date.UTC(2027, 0, 1),
  });
});

test('memory store: budgets with cost weights roll over at 00:00 UTC and on the 1st', async () => {
  const clock = clockAt(Date.UTC(2026, 0, 31, 23, 59, 59, 0));
  const store = new MemoryStore({ clock: clock.now });
  const day = (cost: number) => ({ leaseId: 'x', rates: [], concurrency: [], budgets: [{ key: 'b|day', quota: 10, cost, period: 'day' as const }] });
  const month = (cost: number) => ({ leaseId: 'x', rates: [], concurrency: [], budgets: [{ key: 'b|mon', quota: 10, cost, period: 'month' as const }] });
  assert.ok((await store.check(day(7))).allowed);
  const over = await store.check(day(4));
  assert.ok(!over.allowed && over.kind === 'budget');
  assert.equal(over.retryAfterMs, 1000, 'until midnight UTC');
  assert.ok((await store.check(day(3))).allowed, 'exactly the quota');
  assert.ok((await store.check(month(10))).allowed);
  assert.equal((await store.check(month(1))).allowed, false);
  clock.advance(999);
  assert.equal((await store.check(day(1))).allowed, false, '23:59:59.999 is still the same day');
  clock.advance(1);
  assert.ok((await store.check(day(10))).allowed, 'new UTC day');
  assert.ok((await store.check(month(10))).allowed, 'new UTC month (Feb 1st)');
  await store.close();
});

test('memory store: bounded — beyond max_keys the oldest counters go; sweep drops expired ones', async () => {
  const clock = clockAt(T0);
  const store = new MemoryStore({ clock: clock.now, maxKeys: 100 });
  for (let i = 0; i < 250; i++) await store.check({ leaseId: 'x', rates: [{ key: `r|${i}`, intervalMs: 10, burst: 1, cost: 1 }], concurrency: [], budgets: [] });
  assert.equal(store.size, 100);
  clock.advance(11);
  store.sweep();
  assert.equal(store.size, 0);
  await store.close();
});

test('memory store: a counter written again after a second moves behind newer keys; within a second it keeps its place', async () => {
  const clock = clockAt(T0);
  const store = new MemoryStore({ clock: clock.now, maxKeys: 100 });
  // Two calls per minute: a present counter that took two refuses the third; an evicted one allows.
  const call = (key: string) => store.check({ leaseId: 'x', rates: [{ key, intervalMs: 60_000, burst: 2, cost: 1 }], concurrency: [], budgets: [] });
  await call('r|a');
  await call('r|b');
  for (let i = 0; i < 98; i++) await call(`r|fill-${i}`);
  clock.advance(500);
  assert.ok((await call('r|b')).allowed, 'second call of b, within a second of its first write: keeps its place');
  clock.advance(1000);
  assert.ok((await call('r|a')).allowed, 'second call of a, 1.5 s after its first write: moves to the end');
  await call('r|new'); // the store is full: the oldest goes
  assert.equal(store.size, 100);
  assert.equal((await call('r|a')).allowed, false, 'a kept its counter');
  assert.equal((await call('r|b')).allowed, true, 'b was the oldest and went');
  await store.close();
});

test('memory store: an expired counter reads as absent (full burst, fresh budget) and is written again in place', async () => {
  const clock = clockAt(T0);
  const store = new MemoryStore({ clock: clock.now, maxKeys: 100 });
  const call = () =>
    store.check({ leaseId: 'x', rates: [{ key: 'r|u', intervalMs: 1000, burst: 3, cost: 1 }], concurrency: [], budgets: [{ key: 'b|t', quota: 2, cost: 2, period: 'day' }] });
  const first = await call();
  assert.ok(first.allowed && first.rates[0]!.remaining === 2 && first.budgets[0] === 0);
  assert.equal((await call()).allowed, false, 'the budget is spent for the day');
  clock.advance(86_400_000 + 3_600_001); // the next day's budget key; the rate counter long expired
  const again = await call();
  assert.ok(again.allowed && again.rates[0]!.remaining === 2 && again.budgets[0] === 0, 'as if never seen');
  assert.equal(store.size, 3, 'rate counter rewritten in place; the old day\'s budget waits for the sweep');
  store.sweep();
  assert.equal(store.size, 2);
  await store.close();
});

test('breaker: closed → open after N failures → half-open after cool-down → closed on probe success', () => {
  const b = new Breaker({ failures: 3, errorRate: undefined, minCalls: 1, windowMs: 10_000, cooldownMs: 5000, halfOpenProbes: 1 });
  const t = { probe: false };
  b.record(t, true, T0);
  b.record(t, false, T0 + 1);
  b.record(t, true, T0 + 2);
  assert.equal(b.state(T0 + 2), 'closed');
  b.record(t, true, T0 + 3);
  assert.equal(b.state(T0 + 3), 'open');
  const refused = b.admit(T0 + 1003);
  assert.ok(!refused.allowed && refused.retryAfterMs === 4000);
  assert.equal(b.admit(T0 + 5002).allowed, false);
  const probe = b.admit(T0 + 5003);
  assert.ok(probe.allowed && probe.ticket.probe, 'one probe after the cool-down');
  assert.equal(b.state(T0 + 5003), 'half-open');
  assert.equal(b.admit(T0 + 5004).allowed, false, 'only K=1 probe at once');
  b.record(probe.ticket, false, T0 + 5100);
  assert.equal(b.state(T0 + 5100), 'closed');
  assert.ok(b.admit(T0 + 5101).allowed);
});

test('breaker: a failed probe re-opens for a new cool-down; an unanswered probe frees its place', () => {
  const b = new Breaker({ failures: 1, errorRate: undefined, minCalls: 1, windowMs: 10_000, cooldownMs: 1000, halfOpenProbes: 2 });
  b.record({ probe: false }, true, T0);
  assert.equal(b.state(T0), 'open');
  const p1 = b.admit(T0 + 1000);
  const p2 = b.admit(T0 + 1000);
  assert.ok(p1.allowed && p2.allowed);
  assert.equal(b.admit(T0 + 1000).allowed, false);
  b.record(p1.ticket, true, T0 + 1200);
  assert.equal(b.state(T0 + 1200), 'open');
  assert.equal(b.admit(T0 + 2199).allowed, false);
  const lost = b.admit(T0 + 2200);
  assert.ok(lost.allowed && lost.ticket.probe);
  b.admit(T0 + 2200);
  assert.equal(b.admit(T0 + 2300).allowed, false, 'both probes out');
  assert.ok(b.admit(T0 + 3200).allowed, 'probes never answered stop counting after a cool-down');
});

test('breaker: error rate needs the minimum volume, and old failures leave the window', () => {
  const b = new Breaker({ failures: undefined, errorRate: 0.5, minCalls: 4, windowMs: 10_000, cooldownMs: 1000, halfOpenProbes: 1 });
  const t = { probe: false };
  b.record(t, true, T0);
  b.record(t, true, T0 + 1);
  b.record(t, true, T0 + 2);
  assert.equal(b.state(T0 + 2), 'closed', '3 calls < min 4');
  // 11 s later the three failures are gone: 1 failure in 4 calls is 25%.
  const later = T0 + 11_000;
  b.record(t, false, later);
  b.record(t, false, later);
  b.record(t, false, later);
  b.record(t, true, later);
  assert.equal(b.state(later), 'closed');
  b.record(t, true, later + 1);
  assert.equal(b.state(later + 1), 'closed', '2/5 = 40%');
  b.record(t, true, later + 2);
  assert.equal(b.state(later + 2), 'open', '3/6 = 50%');
});

const msg = (over: Partial<McpMessage>): McpMessage => ({
  type: 'request',
  kind: 'tools/call',
  id: 1,
  method: 'tools/call',
  params: {},
  raw: {},
  toolName: 'crm.lookup',
  ...over,
});

test('keys: dimensions in order, missing values shared or skipped, odd values hashed', () => {
  const facts = { caller: { tenant: 'acme', user: 'a|b' }, server: 'crm', route: 'r1', ip: '10.0.0.1' };
  assert.equal(limitKey('r|x', ['tenant', 'tool', 'server'], false, facts, msg({})), 'r|x|acme|crm.lookup|crm');
  assert.equal(limitKey('r|x', ['agent'], false, facts, msg({})), 'r|x|!');
  assert.equal(limitKey('r|x', ['agent'], true, facts, msg({})), undefined);
  const hashed = limitKey('r|x', ['user'], false, facts, msg({}))!;
  assert.match(hashed, /^r\|x\|#[A-Za-z0-9_-]{22}$/);
  assert.equal(keyPart('x'.repeat(64)), 'x'.repeat(64));
  assert.notEqual(keyPart('x'.repeat(65)), keyPart('x'.repeat(66)));
  // A caller cannot pick a value that lands in someone else's bucket: not the missing bucket,
  // not the hash of another (long or odd) value.
  const long = 'y'.repeat(80);
  assert.notEqual(keyPart(keyPart(long)), keyPart(long));
  assert.notEqual(keyPart('!'), '!');
  assert.equal(keyPart('-'), '-');
});

test('unverified JWT claims are read only from a well-formed token', () => {
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const token = `${b64({ alg: 'none' })}.${b64({ sub: 'alice', tid: 'acme' })}.sig`;
  assert.deepEqual(unverifiedClaims(`Bearer ${token}`), { sub: 'alice', tid: 'acme' });
  assert.equal(unverifiedClaims('Bearer not-a-jwt'), undefined);
  assert.equal(unverifiedClaims(undefined), undefined);
  assert.equal(unverifiedClaims(`Bearer ${'a'.repeat(20000)}`), undefined);
});

test('globs: * and ? only, everything else literal', () => {
  const re = compileGlobs(['billing.*', 'crm.get?', 'a+b']);
  assert.ok(re.test('billing.update_payment'));
  assert.ok(re.test('crm.get1'));
  assert.ok(!re.test('crm.get12'));
  assert.ok(re.test('a+b'));
  assert.ok(!re.test('aab'));
  assert.ok(!re.test('xbilling.x'));
});
