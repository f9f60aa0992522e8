// One-process store: a bounded Map of counters with lazy expiry on access and a periodic sweep.
// Beyond max_keys the oldest-inserted counters are evicted (under a flood of distinct keys the
// victims are the stalest ones). Single-threaded JS makes every check atomic.

import { gcra, type GcraDecision } from './gcra.js';
import { periodWindow } from './budget.js';
import { leaseMembers, pruneLeases } from './concurrency.js';
import {
  CONCURRENCY_RETRY_MS,
  type CheckBatch,
  type CheckResult,
  type LimitKind,
  type LimitStore,
  type RateState,
} from './store.js';

/** `movedAt`: when the counter last moved to the end of the eviction order. */
type Entry =
  | { kind: 'rate'; tat: number; expiresAt: number; movedAt: number }
  | { kind: 'budget'; used: number; expiresAt: number; movedAt: number }
  | { kind: 'conc'; leases: Map<string, number>; expiresAt: number; movedAt: number };

/**
 * A written counter moves to the end of the eviction order at most this often: a Map delete
 * and insert per write cost more than the check itself, and a counter written within the last
 * second is among the most recent of any flood that could evict it.
 */
const REORDER_MS = 1000;

export interface MemoryStoreOptions {
  maxKeys?: number;
  /** Milliseconds since the epoch; injectable for tests. */
  clock?: () => number;
  sweepIntervalMs?: number;
}

const BUDGET_SLACK_MS = 3_600_000;

export class MemoryStore implements LimitStore {
  private readonly entries = new Map<string, Entry>();
  private readonly maxKeys: number;
  private readonly clock: () => number;
  private readonly sweeper: NodeJS.Timeout;

  constructor(opts: MemoryStoreOptions = {}) {
    this.maxKeys = opts.maxKeys ?? 100_000;
    this.clock = opts.clock ?? Date.now;
    this.sweeper = setInterval(() => this.sweep(), opts.sweepIntervalMs ?? 30_000);
    this.sweeper.unref();
  }

  get size(): number {
    return this.entries.size;
  }

  /** Drop every expired counter. */
  sweep(): void {
    const now = this.clock();
    for (const [key, e] of this.entries) {
      if (e.kind === 'conc') pruneLeases(e.leases, now);
      if (e.expiresAt <= now || (e.kind === 'conc' && e.leases.size === 0)) this.entries.delete(key);
    }
  }

  /**
   * The stored entry of a rate or budget counter, expired or not: an expired counter reads as
   * absent but its object and place are reused when it is written again (no delete and insert,
   * no new object, for the keys of callers who come back after their counter ran out).
   */
  private stored(key: string): Entry | undefined {
    return this.entries.get(key);
  }

  private live(key: string, now: number): Entry | undefined {
    const e = this.entries.get(key);
    if (e && e.expiresAt <= now) {
      this.entries.delete(key);
      return undefined;
    }
    return e;
  }

  /**
   * Write `e` (a fresh object, or `prev` updated in place) and move it to the end of the
   * eviction order (recently written = evicted last) unless it moved there under REORDER_MS
   * ago. `prev` is the live entry read in this same synchronous check, if any.
   */
  private put(key: string, prev: Entry | undefined, e: Entry, now: number): void {
    if (prev !== undefined && now - prev.movedAt < REORDER_MS) {
      e.movedAt = prev.movedAt;
      if (e !== prev) this.entries.set(key, e);
      return;
    }
    e.movedAt = now;
    if (prev === undefined || !this.entries.delete(key)) {
      while (this.entries.size >= this.maxKeys) {
        const oldest = this.entries.keys().next();
        if (oldest.done) break;
        this.entries.delete(oldest.value);
      }
    }
    this.entries.set(key, e);
  }

  async check(batch: CheckBatch): Promise<CheckResult> {
    return this.checkNow(batch, this.clock());
  }

  checkSync(batch: CheckBatch): CheckResult {
    return this.checkNow(batch, this.clock());
  }

  checkNow(batch: CheckBatch, now: number): CheckResult {
    // Plain loops, no closure or callback arrays: this runs on every limited call.
    let refusedKind: LimitKind | undefined;
    let refusedIndex = 0;
    let retryAfterMs = 0;

    // Pass 1: decide everything without writing.
    const rateChecks = batch.rates;
    const rateEntries: Array<Entry | undefined> = [];
    const rateDecisions: GcraDecision[] = [];
    for (let i = 0; i < rateChecks.length; i++) {
      const r = rateChecks[i]!;
      const e = this.stored(r.key);
      rateEntries.push(e);
      const d = gcra(e?.kind === 'rate' && e.expiresAt > now ? e.tat : undefined, now, r, r.cost);
      rateDecisions.push(d);
      if (!d.allowed) {
        if (refusedKind === undefined) {
          refusedKind = 'rate';
          refusedIndex = i;
        }
        if (d.retryAfterMs > retryAfterMs) retryAfterMs = d.retryAfterMs;
      }
    }
    const concChecks = batch.concurrency;
    for (let i = 0; i < concChecks.length; i++) {
      const c = concChecks[i]!;
      const e = this.live(c.key, now);
      const held = e?.kind === 'conc' ? pruneLeases(e.leases, now) : 0;
      if (held + c.count > c.max) {
        if (refusedKind === undefined) {
          refusedKind = 'concurrency';
          refusedIndex = i;
        }
        if (CONCURRENCY_RETRY_MS > retryAfterMs) retryAfterMs = CONCURRENCY_RETRY_MS;
      }
    }
    const budgetChecks = batch.budgets;
    const budgetDecisions: Array<{ key: string; used: number; endMs: number; entry: Entry | undefined }> = [];
    for (let i = 0; i < budgetChecks.length; i++) {
      const b = budgetChecks[i]!;
      const w = periodWindow(now, b.period);
      const key = `${b.key}:${w.startMs}`;
      const e = this.stored(key);
      const used = e?.kind === 'budget' && e.expiresAt > now ? e.used : 0;
      if (used + b.cost > b.quota + 1e-9) {
        if (refusedKind === undefined) {
          refusedKind = 'budget';
          refusedIndex = i;
        }
        const wait = w.endMs - now;
        if (wait > retryAfterMs) retryAfterMs = wait;
      }
      budgetDecisions.push({ key, used, endMs: w.endMs, entry: e });
    }
    if (refusedKind !== undefined) return { allowed: false, kind: refusedKind, index: refusedIndex, retryAfterMs };

    // Pass 2: everything allowed; consume.
    const rates: RateState[] = [];
    for (let i = 0; i < rateChecks.length; i++) {
      const r = rateChecks[i]!;
      const d = rateDecisions[i]!;
      const prev = rateEntries[i];
      if (prev?.kind === 'rate') {
        prev.tat = d.tat;
        prev.expiresAt = d.tat;
        this.put(r.key, prev, prev, now);
      } else {
        this.put(r.key, prev, { kind: 'rate', tat: d.tat, expiresAt: d.tat, movedAt: now }, now);
      }
      rates.push({ remaining: d.remaining, resetMs: d.resetMs });
    }
    for (const c of concChecks) {
      const e = this.live(c.key, now);
      const leases = e?.kind === 'conc' ? e.leases : new Map<string, number>();
      const expiresAt = now + c.leaseMs;
      for (const m of leaseMembers(batch.leaseId, c.count)) leases.set(m, expiresAt);
      this.put(c.key, e, { kind: 'conc', leases, expiresAt: Math.max(expiresAt, e?.expiresAt ?? 0), movedAt: now }, now);
    }
    const budgets: number[] = [];
    for (let i = 0; i < budgetChecks.length; i++) {
      const b = budgetChecks[i]!;
      const d = budgetDecisions[i]!;
      const used = d.used + b.cost;
      const prev = d.entry;
      if (prev?.kind === 'budget') {
        prev.used = used;
        prev.expiresAt = d.endMs + BUDGET_SLACK_MS;
        this.put(d.key, prev, prev, now);
      } else {
        this.put(d.key, prev, { kind: 'budget', used, expiresAt: d.endMs + BUDGET_SLACK_MS, movedAt: now }, now);
      }
      budgets.push(Math.max(0, b.quota - used));
    }
    return { allowed: true, rates, budgets };
  }

  async release(leaseId: string, slots: ReadonlyArray<{ key: string; count: number }>): Promise<void> {
    for (const s of slots) {
      const e = this.entries.get(s.key);
      if (e?.kind !== 'conc') continue;
      for (const m of leaseMembers(leaseId, s.count)) e.leases.delete(m);
      if (e.leases.size === 0) this.entries.delete(s.key);
    }
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    this.entries.clear();
  }
}
