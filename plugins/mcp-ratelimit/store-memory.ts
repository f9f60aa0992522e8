// One-process store: a bounded Map of counters with lazy expiry on access and a periodic sweep.
// Beyond max_keys the oldest-inserted counters are evicted (under a flood of distinct keys the
// victims are the stalest ones). Single-threaded JS makes every check atomic.

import { gcra } from './gcra.js';
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

type Entry =
  | { kind: 'rate'; tat: number; expiresAt: number }
  | { kind: 'budget'; used: number; expiresAt: number }
  | { kind: 'conc'; leases: Map<string, number>; expiresAt: number };

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

  private live(key: string, now: number): Entry | undefined {
    const e = this.entries.get(key);
    if (e && e.expiresAt <= now) {
      this.entries.delete(key);
      return undefined;
    }
    return e;
  }

  /** Write and move to the end of the eviction order (recently written = evicted last). */
  private put(key: string, e: Entry): void {
    if (!this.entries.delete(key)) {
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

  checkNow(batch: CheckBatch, now: number): CheckResult {
    let refused: { kind: LimitKind; index: number } | undefined;
    let retryAfterMs = 0;
    const refuse = (kind: LimitKind, index: number, wait: number): void => {
      refused ??= { kind, index };
      if (wait > retryAfterMs) retryAfterMs = wait;
    };

    // Pass 1: decide everything without writing.
    const rateDecisions = batch.rates.map((r, i) => {
      const e = this.live(r.key, now);
      const d = gcra(e?.kind === 'rate' ? e.tat : undefined, now, r, r.cost);
      if (!d.allowed) refuse('rate', i, d.retryAfterMs);
      return d;
    });
    batch.concurrency.forEach((c, i) => {
      const e = this.live(c.key, now);
      const held = e?.kind === 'conc' ? pruneLeases(e.leases, now) : 0;
      if (held + c.count > c.max) refuse('concurrency', i, CONCURRENCY_RETRY_MS);
    });
    const budgetDecisions = batch.budgets.map((b, i) => {
      const w = periodWindow(now, b.period);
      const key = `${b.key}:${w.startMs}`;
      const e = this.live(key, now);
      const used = e?.kind === 'budget' ? e.used : 0;
      if (used + b.cost > b.quota + 1e-9) refuse('budget', i, w.endMs - now);
      return { key, used, endMs: w.endMs };
    });
    if (refused) return { allowed: false, kind: refused.kind, index: refused.index, retryAfterMs };

    // Pass 2: everything allowed; consume.
    const rates: RateState[] = [];
    batch.rates.forEach((r, i) => {
      const d = rateDecisions[i]!;
      this.put(r.key, { kind: 'rate', tat: d.tat, expiresAt: d.tat });
      rates.push({ remaining: d.remaining, resetMs: d.resetMs });
    });
    for (const c of batch.concurrency) {
      const e = this.live(c.key, now);
      const leases = e?.kind === 'conc' ? e.leases : new Map<string, number>();
      const expiresAt = now + c.leaseMs;
      for (const m of leaseMembers(batch.leaseId, c.count)) leases.set(m, expiresAt);
      this.put(c.key, { kind: 'conc', leases, expiresAt: Math.max(expiresAt, e?.expiresAt ?? 0) });
    }
    const budgets: number[] = [];
    batch.budgets.forEach((b, i) => {
      const d = budgetDecisions[i]!;
      const used = d.used + b.cost;
      this.put(d.key, { kind: 'budget', used, expiresAt: d.endMs + BUDGET_SLACK_MS });
      budgets.push(Math.max(0, b.quota - used));
    });
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
