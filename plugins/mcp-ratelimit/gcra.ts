// GCRA (generic cell rate algorithm): one number per key, the "theoretical arrival time" (TAT).
// A limit of `requests` per `periodMs` with a burst of B spaces calls by T = periodMs / requests
// and accepts a call while it would not push the TAT more than B*T past now. That is a smooth
// token bucket without a refill timer, exact at every instant (no fixed-window edge doubling).
// The Redis store runs the same arithmetic in Lua (store-redis.ts); keep the two in step.

/** Float slack so that exactly-on-the-boundary calls are accepted despite rounding. */
export const GCRA_EPSILON_MS = 1e-6;

export interface GcraParams {
  /** T: milliseconds between calls at the steady rate. */
  readonly intervalMs: number;
  /** B: calls accepted at once from an idle key. */
  readonly burst: number;
}

export interface GcraDecision {
  readonly allowed: boolean;
  /** TAT to store when allowed (unchanged TAT when refused). */
  readonly tat: number;
  /** Whole calls still accepted right now after this decision. */
  readonly remaining: number;
  /** Refused: how long until this cost would be accepted (ms). Allowed: 0. */
  readonly retryAfterMs: number;
  /** How long until the key is idle again (the full burst is back), ms. */
  readonly resetMs: number;
}

export function gcra(tat: number | undefined, now: number, p: GcraParams, cost: number): GcraDecision {
  const base = tat === undefined || tat < now ? now : tat;
  const capacity = p.burst * p.intervalMs;
  const next = base + cost * p.intervalMs;
  if (next - now > capacity + GCRA_EPSILON_MS) {
    return {
      allowed: false,
      tat: base,
      remaining: Math.max(0, Math.floor((capacity - (base - now)) / p.intervalMs + GCRA_EPSILON_MS)),
      retryAfterMs: next - capacity - now,
      resetMs: base - now,
    };
  }
  return {
    allowed: true,
    tat: next,
    remaining: Math.max(0, Math.floor((capacity - (next - now)) / p.intervalMs + GCRA_EPSILON_MS)),
    retryAfterMs: 0,
    resetMs: next - now,
  };
}
