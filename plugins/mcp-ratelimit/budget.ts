// Budget periods are UTC calendar windows: a day runs 00:00:00.000 to 24:00 UTC, a month from
// the 1st 00:00 UTC to the 1st of the next month. The counter key carries the period's start so
// a new period starts from zero without any reset job; old counters simply expire.
// store-redis.ts computes the same periods in Lua from the Redis clock.

export type BudgetPeriod = 'day' | 'month';

export interface PeriodWindow {
  /** Start of the period, ms since the epoch (also the counter key suffix). */
  readonly startMs: number;
  /** Start of the next period. */
  readonly endMs: number;
}

const DAY_MS = 86_400_000;

export function periodWindow(now: number, period: BudgetPeriod): PeriodWindow {
  if (period === 'day') {
    const startMs = Math.floor(now / DAY_MS) * DAY_MS;
    return { startMs, endMs: startMs + DAY_MS };
  }
  const d = new Date(now);
  const y = d.getUTCFullYear();
  const m = d.getUTCMonth();
  return { startMs: Date.UTC(y, m, 1), endMs: Date.UTC(y, m + 1, 1) };
}

/** Cost of one call against a budget: first matching glob wins, else the default. */
export function costOf(target: string | undefined, costs: readonly CostRule[], defaultCost: number): number {
  if (target !== undefined) {
    for (const rule of costs) if (rule.pattern.test(target)) return rule.cost;
  }
  return defaultCost;
}

export interface CostRule {
  readonly pattern: RegExp;
  readonly cost: number;
}
