// The memory store's check equals a plain model of the same rules on random sequences of
// batches (rates, concurrency slots, budgets; shared keys, refusals, time moving on): same
// answers, same retry-after, same remaining counts.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MemoryStore } from '../../../plugins/mcp-ratelimit/store-memory.js';
import { gcra } from '../../../plugins/mcp-ratelimit/gcra.js';
import { periodWindow } from '../../../plugins/mcp-ratelimit/budget.js';
import { leaseMembers, pruneLeases } from '../../../plugins/mcp-ratelimit/concurrency.js';
import { CONCURRENCY_RETRY_MS, type CheckBatch, type CheckResult } from '../../../plugins/mcp-ratelimit/store.js';

/** The rules stated plainly: decide every check, refuse on the first failing one, else consume all. */
class Model {
  tat = new Map<string, { tat: number }>();
  used = new Map<string, { used: number; until: number }>();
  leases = new Map<string, { leases: Map<string, number>; until: number }>();

  check(b: CheckBatch, now: number): CheckResult {
    let refused: { kind: 'rate' | 'concurrency' | 'budget'; index: number } | undefined;
    let wait = 0;
    const no = (kind: 'rate' | 'concurrency' | 'budget', index: number, w: number): void => {
      refused ??= { kind, index };
      wait = Math.max(wait, w);
    };
    const tatOf = (k: string): number | undefined => {
      const e = this.tat.get(k);
      return e !== undefined && e.tat > now ? e.tat : undefined;
    };
    const ds = b.rates.map((r, i) => {
      const d = gcra(tatOf(r.key), now, r, r.cost);
      if (!d.allowed) no('rate', i, d.retryAfterMs);
      return d;
    });
    b.concurrency.forEach((c, i) => {
      const e = this.leases.get(c.key);
      const held = e !== undefined && e.until > now ? pruneLeases(e.leases, now) : 0;
      if (held + c.count > c.max) no('concurrency', i, CONCURRENCY_RETRY_MS);
    });
    const bs = b.budgets.map((x, i) => {
      const w = periodWindow(now, x.period);
      const key = `${x.key}:${w.startMs}`;
      const e = this.used.get(key);
      const used = e !== undefined && e.until > now ? e.used : 0;
      if (used + x.cost > x.quota + 1e-9) no('budget', i, w.endMs - now);
      return { key, used, endMs: w.endMs };
    });
    if (refused) return { allowed: false, kind: refused.kind, index: refused.index, retryAfterMs: wait };
    b.rates.forEach((r, i) => this.tat.set(r.key, { tat: ds[i]!.tat }));
    for (const c of b.concurrency) {
      const e = this.leases.get(c.key);
      const leases = e !== undefined && e.until > now ? e.leases : new Map<string, number>();
      for (const m of leaseMembers(b.leaseId, c.count)) leases.set(m, now + c.leaseMs);
      this.leases.set(c.key, { leases, until: Math.max(now + c.leaseMs, e !== undefined && e.until > now ? e.until : 0) });
    }
    b.budgets.forEach((x, i) => this.used.set(bs[i]!.key, { used: bs[i]!.used + x.cost, until: bs[i]!.endMs + 3_600_000 }));
    return { allowed: true, rates: ds.map((d) => ({ remaining: d.remaining, resetMs: d.resetMs })), budgets: b.budgets.map((x, i) => Math.max(0, x.quota - bs[i]!.used - x.cost)) };
  }
}

// Counter keys never collide across kinds (each names its limit), so each kind has its own.
const key = (kind: string): fc.Arbitrary<string> => fc.constantFrom(`${kind}1`, `${kind}2`, `${kind}3`);
const batch = fc.record({
  rates: fc.array(fc.record({ key: key('rate'), intervalMs: fc.constantFrom(10, 100, 1000), burst: fc.integer({ min: 1, max: 4 }), cost: fc.integer({ min: 1, max: 3 }) }), { maxLength: 3 }),
  concurrency: fc.array(fc.record({ key: key('conc'), max: fc.integer({ min: 1, max: 3 }), leaseMs: fc.constantFrom(50, 500), count: fc.integer({ min: 1, max: 2 }) }), { maxLength: 2 }),
  budgets: fc.array(fc.record({ key: key('budget'), quota: fc.integer({ min: 1, max: 6 }), cost: fc.constantFrom(1, 2, 0.5), period: fc.constantFrom('day' as const, 'month' as const) }), { maxLength: 2 }),
  advance: fc.constantFrom(0, 5, 60, 400, 86_400_000),
});

test('memory store checks equal the plain model on random batch sequences (fast-check)', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(batch, { minLength: 1, maxLength: 25 }), async (batches) => {
      let now = Date.UTC(2026, 0, 31, 23, 59, 0);
      const store = new MemoryStore({ clock: () => now });
      const model = new Model();
      try {
        let n = 0;
        for (const { advance, ...checks } of batches) {
          now += advance;
          const b: CheckBatch = { ...checks, leaseId: `lease-${n++}` };
          assert.deepEqual(store.checkNow(b, now), model.check(b, now));
        }
      } finally {
        await store.close();
      }
    }),
    { numRuns: 400 },
  );
});
