// Circuit breakers, kept per runner process: each node judges the upstream from the answers it
// sees itself (like Envoy's outlier detection), with no store round trip on the hot path.
//   closed    --(failures >= N, or error rate >= R, within the window, with >= min calls)--> open
//   open      --(cool-down elapsed)--> half-open: up to K probe calls go through at once
//   half-open --(a probe succeeds)--> closed;  --(a probe fails)--> open (new cool-down)
// A probe whose answer never comes back frees its place after the cool-down, so a lost
// response cannot wedge the breaker half-open.

export interface BreakerParams {
  readonly failures: number | undefined;
  readonly errorRate: number | undefined;
  readonly minCalls: number;
  readonly windowMs: number;
  readonly cooldownMs: number;
  readonly halfOpenProbes: number;
}

export type BreakerState = 'closed' | 'open' | 'half-open';

const BUCKETS = 10;

/** A rolling count of calls and failures over windowMs, in BUCKETS slices. */
class RollingCounts {
  private readonly calls = new Array<number>(BUCKETS).fill(0);
  private readonly fails = new Array<number>(BUCKETS).fill(0);
  private slice = 0;
  constructor(private readonly sliceMs: number) {}

  private advance(now: number): number {
    const current = Math.floor(now / this.sliceMs);
    const gap = current - this.slice;
    if (gap > 0) {
      for (let i = 1; i <= Math.min(gap, BUCKETS); i++) {
        const idx = (this.slice + i) % BUCKETS;
        this.calls[idx] = 0;
        this.fails[idx] = 0;
      }
      this.slice = current;
    }
    return current % BUCKETS;
  }

  add(now: number, failed: boolean): void {
    const idx = this.advance(now);
    this.calls[idx] = this.calls[idx]! + 1;
    if (failed) this.fails[idx] = this.fails[idx]! + 1;
  }

  totals(now: number): { calls: number; fails: number } {
    this.advance(now);
    let calls = 0;
    let fails = 0;
    for (let i = 0; i < BUCKETS; i++) {
      calls += this.calls[i]!;
      fails += this.fails[i]!;
    }
    return { calls, fails };
  }

  reset(): void {
    this.calls.fill(0);
    this.fails.fill(0);
  }
}

/** What admit() hands out: needed to report the answer. */
export interface BreakerTicket {
  readonly probe: boolean;
}

export type Admission = { allowed: true; ticket: BreakerTicket } | { allowed: false; retryAfterMs: number };

export class Breaker {
  private stateNow: BreakerState = 'closed';
  private openedAt = 0;
  private probeStarts: number[] = [];
  private readonly counts: RollingCounts;

  constructor(private readonly p: BreakerParams) {
    this.counts = new RollingCounts(p.windowMs / BUCKETS);
  }

  state(now: number): BreakerState {
    if (this.stateNow === 'open' && now - this.openedAt >= this.p.cooldownMs) {
      this.stateNow = 'half-open';
      this.probeStarts = [];
    }
    return this.stateNow;
  }

  admit(now: number): Admission {
    const s = this.state(now);
    if (s === 'closed') return { allowed: true, ticket: { probe: false } };
    if (s === 'open') return { allowed: false, retryAfterMs: this.openedAt + this.p.cooldownMs - now };
    // half-open: probes that never answered stop counting after a cool-down.
    this.probeStarts = this.probeStarts.filter((t) => now - t < this.p.cooldownMs);
    if (this.probeStarts.length >= this.p.halfOpenProbes) {
      const oldest = this.probeStarts[0] ?? now;
      return { allowed: false, retryAfterMs: Math.max(1, oldest + this.p.cooldownMs - now) };
    }
    this.probeStarts.push(now);
    return { allowed: true, ticket: { probe: true } };
  }

  /** The call was admitted but will not reach the upstream (another limit refused it). */
  cancel(ticket: BreakerTicket): void {
    if (ticket.probe && this.stateNow === 'half-open') this.probeStarts.shift();
  }

  record(ticket: BreakerTicket, failed: boolean, now: number): void {
    const s = this.state(now);
    if (s === 'half-open') {
      if (!ticket.probe) return; // admitted before the breaker opened: stale evidence
      if (failed) this.open(now);
      else this.close();
      return;
    }
    if (s === 'open') return;
    this.counts.add(now, failed);
    if (!failed) return;
    const { calls, fails } = this.counts.totals(now);
    if (calls < this.p.minCalls) return;
    const byCount = this.p.failures !== undefined && fails >= this.p.failures;
    const byRate = this.p.errorRate !== undefined && fails / calls >= this.p.errorRate;
    if (byCount || byRate) this.open(now);
  }

  private open(now: number): void {
    this.stateNow = 'open';
    this.openedAt = now;
    this.probeStarts = [];
    this.counts.reset();
  }

  private close(): void {
    this.stateNow = 'closed';
    this.probeStarts = [];
    this.counts.reset();
  }
}

/** Breakers by target (server, or server + tool), bounded: beyond maxTargets the oldest-created goes. */
export class BreakerSet {
  private readonly breakers = new Map<string, Breaker>();
  constructor(
    readonly params: BreakerParams,
    private readonly maxTargets = 10_000,
  ) {}

  get(target: string): Breaker {
    let b = this.breakers.get(target);
    if (!b) {
      if (this.breakers.size >= this.maxTargets) {
        const oldest = this.breakers.keys().next();
        if (!oldest.done) this.breakers.delete(oldest.value);
      }
      b = new Breaker(this.params);
      this.breakers.set(target, b);
    }
    return b;
  }

  peek(target: string): Breaker | undefined {
    return this.breakers.get(target);
  }
}

const MAX_BREAKER_SETS = 1000;

/**
 * One runner's breakers. Breaker state survives re-prepare of the same conf (APISIX re-sends
 * confs on token expiry): breakers with the same name and settings share state, per target
 * (server or server + tool).
 */
export class BreakerSets {
  private readonly sets = new Map<string, BreakerSet>();

  setFor(name: string, scope: string, params: BreakerParams): BreakerSet {
    const id = `${name}\u0000${scope}\u0000${JSON.stringify(params)}`;
    let set = this.sets.get(id);
    if (!set) {
      if (this.sets.size >= MAX_BREAKER_SETS) {
        const oldest = this.sets.keys().next();
        if (!oldest.done) this.sets.delete(oldest.value);
      }
      set = new BreakerSet(params);
      this.sets.set(id, set);
    }
    return set;
  }
}
