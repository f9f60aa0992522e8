// mcp-ratelimit's request phase in named steps: admit the call through its breakers, sum the
// counters every limit of every message touches, check and consume them in one store round
// trip, and hold concurrency slots and breaker tickets for the response phase.

import type { CallContext, Outcome } from '../../runner/host/plugin.js';
import type { JsonRpcId, McpMessage } from '../../runner/mcp/types.js';
import { isEndlessStream } from '../../runner/mcp/revision.js';
import { circuitOpen, limitRefusal, PLUGIN_NAME, rateLimitHeader, rateLimitPolicyHeader, storeUnavailable } from './answers.js';
import { costOf } from './budget.js';
import type { Breaker, BreakerTicket } from './breaker.js';
import { newLeaseId } from './concurrency.js';
import type { RatelimitConf } from './conf.js';
import { cachedLimitKey, targetOf, type CallFacts } from './keys.js';
import type { CompiledBreaker, CompiledBudget, CompiledConcurrency, CompiledLimits, CompiledRate } from './limits.js';
import { storeFailed } from './observe.js';
import type { BudgetCheck, CheckBatch, CheckResult, ConcurrencyCheck, LimitStore, RateCheck, RateState } from './store.js';

export interface PreparedRatelimit {
  /** conf.server; else the route's `mcp-route` server; else the route key. */
  readonly server: string | undefined;
  readonly limits: CompiledLimits;
  readonly store: LimitStore;
  readonly failOpen: boolean;
  readonly identity: RatelimitConf['identity'];
  readonly headersOnAllow: boolean;
  /** Some limit or breaker exists at all (fast exit otherwise). */
  readonly active: boolean;
}

/** A breaker ticket with what the response phase needs to judge it. */
export interface HeldTicket {
  readonly breaker: CompiledBreaker;
  readonly target: Breaker;
  readonly ticket: BreakerTicket;
  /** Request ids this target covers (to attribute JSON-RPC errors in a batch). */
  readonly ids: JsonRpcId[];
}

/** Carried from the request phase to the response phase of the same HTTP call. */
export interface Carried {
  readonly store: LimitStore;
  readonly leaseId: string;
  readonly slots: Array<{ key: string; count: number }>;
  readonly tickets: HeldTicket[];
  released: boolean;
}

/** The counters one call touches, summed per counter key (several messages of a batch add up). */
export interface CallCounters {
  readonly rates: Array<[string, { limit: CompiledRate; cost: number }]>;
  readonly concurrency: Array<[string, { limit: CompiledConcurrency; count: number }]>;
  readonly budgets: Array<[string, { limit: CompiledBudget; cost: number }]>;
}

/** The server limits are keyed by: the conf's, else the route's, else the route key. */
export function serverOf(ctx: CallContext, p: PreparedRatelimit): string {
  return p.server ?? ctx.route.server ?? ctx.routeKey;
}

/** The requests of the body (notifications and responses never count). */
export async function countedMessages(ctx: CallContext): Promise<readonly McpMessage[]> {
  const body = await ctx.mcp();
  if (!body.ok) return [];
  return body.messages.filter((m) => m.type === 'request');
}

/**
 * Breakers first: local and cheap, and an open circuit should not spend anyone's quota. Fills
 * `tickets` with one ticket per breaker target; answers the refusal when a circuit is open.
 */
export function admitBreakers(ctx: CallContext, breakers: readonly CompiledBreaker[], messages: readonly McpMessage[], server: string, now: number, tickets: HeldTicket[]): Outcome {
  for (const b of breakers) {
    const byTarget = new Map<string, JsonRpcId[]>();
    for (const m of messages) {
      if (!b.match.matches(m) || isEndlessStream(m)) continue;
      const target = b.scope === 'tool' ? `${server}\u0000${targetOf(m) ?? m.method ?? ''}` : server;
      let ids = byTarget.get(target);
      if (!ids) byTarget.set(target, (ids = []));
      if (m.id !== undefined) ids.push(m.id);
    }
    for (const [targetKey, ids] of byTarget) {
      const target = b.set.get(targetKey);
      const admission = target.admit(now);
      if (!admission.allowed) {
        cancelTickets(tickets);
        const shown = targetKey.replace('\u0000', '/');
        ctx.record({
          plugin: PLUGIN_NAME,
          action: 'limit',
          rule: b.name,
          reason: 'circuit open',
          detail: { kind: 'breaker', scope: b.scope, retry_after_ms: Math.ceil(admission.retryAfterMs) },
        });
        return circuitOpen(b.name, shown, admission.retryAfterMs);
      }
      tickets.push({ breaker: b, target, ticket: admission.ticket, ids });
    }
  }
  return undefined;
}

/**
 * Counters of one call, summed per key in first-seen order: a list searched linearly (a call
 * touches a handful of counters), indexed by a Map only once it grows past a few entries.
 */
class CounterList<E> {
  readonly entries: Array<[string, E]> = [];
  private index: Map<string, E> | undefined;

  find(key: string): E | undefined {
    if (this.index !== undefined) return this.index.get(key);
    for (const [k, e] of this.entries) if (k === key) return e;
    return undefined;
  }

  add(key: string, e: E): void {
    this.entries.push([key, e]);
    if (this.index !== undefined) this.index.set(key, e);
    else if (this.entries.length > 8) this.index = new Map(this.entries);
  }
}

/** Every limit of every message, summed per counter key. */
export function countersOf(limits: CompiledLimits, messages: readonly McpMessage[], server: string, facts: CallFacts): CallCounters {
  const rates = new CounterList<{ limit: CompiledRate; cost: number }>();
  const concs = new CounterList<{ limit: CompiledConcurrency; count: number }>();
  const budgets = new CounterList<{ limit: CompiledBudget; cost: number }>();
  for (const m of messages) {
    for (const l of limits.rates) {
      if (!l.match.matches(m, server)) continue;
      const key = cachedLimitKey(l, facts, m);
      if (key === undefined) continue;
      const e = rates.find(key);
      if (e) e.cost++;
      else rates.add(key, { limit: l, cost: 1 });
    }
    for (const l of limits.concurrency) {
      if (!l.match.matches(m, server) || isEndlessStream(m)) continue;
      const key = cachedLimitKey(l, facts, m);
      if (key === undefined) continue;
      const e = concs.find(key);
      if (e) e.count++;
      else concs.add(key, { limit: l, count: 1 });
    }
    for (const l of limits.budgets) {
      if (!l.match.matches(m, server)) continue;
      const key = cachedLimitKey(l, facts, m);
      if (key === undefined) continue;
      const cost = costOf(targetOf(m), l.costs, l.defaultCost);
      const e = budgets.find(key);
      if (e) e.cost += cost;
      else budgets.add(key, { limit: l, cost });
    }
  }
  return { rates: rates.entries, concurrency: concs.entries, budgets: budgets.entries };
}

/** Check and consume every counter in one store round trip, then answer: pass, refuse or fail. */
export async function checkCounters(ctx: CallContext, p: PreparedRatelimit, counters: CallCounters, tickets: HeldTicket[]): Promise<Outcome> {
  const { rates: rateList, concurrency: concList, budgets: budgetList } = counters;
  const leaseId = concList.length > 0 ? newLeaseId() : '-';
  let result: CheckResult;
  try {
    const batch: CheckBatch = {
      leaseId,
      rates: rateList.map(([key, e]): RateCheck => ({ key, intervalMs: e.limit.intervalMs, burst: e.limit.burst, cost: e.cost })),
      concurrency: concList.map(([key, e]): ConcurrencyCheck => ({ key, max: e.limit.max, leaseMs: e.limit.leaseMs, count: e.count })),
      budgets: budgetList.map(([key, e]): BudgetCheck => ({ key, quota: e.limit.quota, cost: e.cost, period: e.limit.period })),
    };
    // An in-process store answers without a promise and a turn of the microtask queue.
    const store = p.store;
    result = store.checkSync !== undefined ? store.checkSync(batch) : await store.check(batch);
  } catch (err) {
    return storeFailure(ctx, p, err, tickets);
  }

  if (!result.allowed) {
    cancelTickets(tickets);
    const list = result.kind === 'rate' ? rateList : result.kind === 'concurrency' ? concList : budgetList;
    const limit = list[result.index]?.[1].limit;
    if (!limit) return storeUnavailable();
    ctx.record({
      plugin: PLUGIN_NAME,
      action: 'limit',
      rule: limit.name,
      reason: limit.kind === 'rate' ? 'rate limit exceeded' : limit.kind === 'budget' ? 'budget exhausted' : 'too many concurrent calls',
      detail: {
        kind: limit.kind,
        by: limit.by,
        limit: limit.kind === 'rate' ? limit.requests : limit.kind === 'budget' ? limit.quota : limit.max,
        window: limit.kind === 'rate' ? limit.windowSeconds : limit.kind === 'budget' ? limit.period : undefined,
        retry_after_ms: result.retryAfterMs,
      },
    });
    return limitRefusal(limit, result.retryAfterMs);
  }

  const slots = concList.map(([key, e]) => ({ key, count: e.count }));
  if (slots.length > 0 || tickets.length > 0) hold(ctx, p.store, leaseId, slots, tickets);
  if (p.headersOnAllow && result.rates.length > 0) addRateHeaders(ctx, result.rates, rateList);
  return undefined;
}

/** The store could not answer: refuse (fail_closed) or let through (fail_open), and say which. */
function storeFailure(ctx: CallContext, p: PreparedRatelimit, err: unknown, tickets: HeldTicket[]): Outcome {
  storeFailed(p.failOpen ? 'fail_open' : 'fail_closed', err);
  ctx.record({
    plugin: PLUGIN_NAME,
    action: 'error',
    rule: 'store',
    reason: p.failOpen ? 'store unavailable; let through (fail_open)' : 'store unavailable; refused (fail_closed)',
  });
  if (!p.failOpen) {
    cancelTickets(tickets);
    return storeUnavailable();
  }
  if (tickets.length > 0) hold(ctx, p.store, '', [], tickets);
  return undefined;
}

/** The tightest rate limit of the call speaks for it in RateLimit / RateLimit-Policy. */
function addRateHeaders(ctx: CallContext, states: readonly RateState[], rateList: CallCounters['rates']): void {
  let best = 0;
  states.forEach((r, i) => {
    if (r.remaining < states[best]!.remaining) best = i;
  });
  const state = states[best]!;
  const limit = rateList[best]![1].limit;
  ctx.requestMutations.addResponseHeader('RateLimit-Policy', rateLimitPolicyHeader(limit));
  ctx.requestMutations.addResponseHeader('RateLimit', rateLimitHeader(limit.name, state.remaining, state.resetMs / 1000));
}

/** Keep slots and tickets for the response phase; give them back now if the call stops here. */
export function hold(ctx: CallContext, store: LimitStore, leaseId: string, slots: Carried['slots'], tickets: HeldTicket[]): void {
  const carried: Carried = { store, leaseId, slots, tickets, released: false };
  ctx.carry.set(PLUGIN_NAME, carried);
  ctx.onDone((r) => {
    if (r.outcome === 'stop' || r.outcome === 'error') {
      // The upstream will not be called (a later plugin or the host refused): nothing to wait for.
      cancelTickets(tickets);
      release(carried);
    }
  });
}

export function release(c: Carried): void {
  if (c.released) return;
  c.released = true;
  if (c.slots.length === 0) return;
  // On failure the leases expire on their own.
  c.store.release(c.leaseId, c.slots).catch((err: unknown) => storeFailed('release', err));
}

export function cancelTickets(tickets: readonly HeldTicket[]): void {
  for (const t of tickets) t.target.cancel(t.ticket);
  (tickets as HeldTicket[]).length = 0;
}
