// mcp-ratelimit: request-rate limits, concurrent-call limits, budgets and circuit breakers for
// MCP calls, keyed by any mix of user, agent, app, tenant, environment, tool, server, method,
// ip and route. All limits of one call are checked and consumed together in one store round
// trip (all-or-nothing). See README.md beside this file for the decisions.

import type { CallContext, Plugin, PrepareEnv } from '../../runner/host/plugin.js';
import type { JsonRpcId, JsonValue, McpMessage } from '../../runner/mcp/types.js';
import { circuitOpen, limitRefusal, PLUGIN_NAME, rateLimitHeader, rateLimitPolicyHeader, storeUnavailable } from './answers.js';
import { costOf } from './budget.js';
import type { Breaker, BreakerTicket } from './breaker.js';
import { newLeaseId } from './concurrency.js';
import { confSchema, type RatelimitConf } from './conf.js';
import { limitKey, resolveCaller, targetOf, type CallFacts } from './keys.js';
import {
  compileLimits,
  loadPolicyFile,
  mergeSections,
  type CompiledBreaker,
  type CompiledBudget,
  type CompiledConcurrency,
  type CompiledLimits,
  type CompiledRate,
} from './limits.js';
import { storeFailed } from './observe.js';
import { PolicyLimits } from './policy-routes.js';
import { MemoryStore } from './store-memory.js';
import { closeSharedRedisClients, RedisStore, sharedRedisClient, whenRedisReady } from './store-redis.js';
import type { BudgetCheck, ConcurrencyCheck, LimitStore, RateCheck } from './store.js';

export type { RatelimitConf } from './conf.js';

export { confSchema } from './conf.js';

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
interface HeldTicket {
  readonly breaker: CompiledBreaker;
  readonly target: Breaker;
  readonly ticket: BreakerTicket;
  /** Request ids this target covers (to attribute JSON-RPC errors in a batch). */
  readonly ids: JsonRpcId[];
}

/** Carried from the request phase to the response phase of the same HTTP call. */
interface Carried {
  readonly store: LimitStore;
  readonly leaseId: string;
  readonly slots: Array<{ key: string; count: number }>;
  readonly tickets: HeldTicket[];
  released: boolean;
}

export interface RatelimitPluginOptions {
  /** Milliseconds since the epoch, for breakers and the memory store (tests inject one). */
  clock?: () => number;
  /** The process-wide memory store (tests pass their own). */
  memoryStore?: MemoryStore;
  /** Clock handed to Redis stores; absent = the Redis server's TIME. */
  redisClock?: () => number;
}

export function createRatelimitPlugin(opts: RatelimitPluginOptions = {}): Plugin<RatelimitConf, PreparedRatelimit> {
  const clock = opts.clock ?? Date.now;
  let memory = opts.memoryStore;
  const memoryStore = (maxKeys: number | undefined): MemoryStore => {
    memory ??= new MemoryStore({ clock, maxKeys });
    return memory;
  };

  async function prepare(conf: RatelimitConf, _env: PrepareEnv): Promise<PreparedRatelimit> {
    const fromFile = conf.policy_file ? await loadPolicyFile(conf.policy_file, confSchema) : undefined;
    const compiled = compileLimits(mergeSections(conf, fromFile));
    const fromPolicy = conf.authz_policy_file ? await PolicyLimits.open(conf.authz_policy_file, compiled) : undefined;
    const s = conf.store ?? { type: 'memory' as const };
    let store: LimitStore;
    if (s.type === 'redis') {
      if (!s.url) throw new Error('store.url: required when store.type is redis');
      const client = sharedRedisClient(s.url);
      // Prepare runs off APISIX's PrepareConf lock (the host awaits it at call time), so a
      // short wait for the first connection costs no PrepareConf latency.
      await whenRedisReady(client, 3000);
      store = new RedisStore({
        client,
        keyPrefix: s.key_prefix,
        commandTimeoutMs: s.command_timeout_ms,
        clock: opts.redisClock,
      });
    } else {
      store = memoryStore(s.max_keys);
    }
    const isActive = (l: CompiledLimits): boolean => l.rates.length + l.concurrency.length + l.budgets.length + l.breakers.length > 0;
    const settings = {
      server: conf.server,
      store,
      failOpen: conf.on_store_error === 'fail_open',
      identity: conf.identity,
      headersOnAllow: conf.headers_on_allow === true,
    };
    if (fromPolicy) {
      // Route limits follow the policy file (reloaded on change): look them up per call.
      return {
        ...settings,
        get limits() {
          return fromPolicy.current();
        },
        get active() {
          return isActive(fromPolicy.current());
        },
      };
    }
    return { ...settings, limits: compiled, active: isActive(compiled) };
  }

  async function countedMessages(ctx: CallContext): Promise<readonly McpMessage[]> {
    const body = await ctx.mcp();
    if (!body.ok) return [];
    return body.messages.filter((m) => m.type === 'request');
  }

  async function onRequest(ctx: CallContext, p: PreparedRatelimit) {
    if (!p.active) return;
    const messages = await countedMessages(ctx);
    if (messages.length === 0) return;
    const { limits } = p;
    const server = p.server ?? ctx.route.server ?? ctx.routeKey;
    const facts: CallFacts = {
      caller: limits.needsCaller ? await resolveCaller(ctx, p.identity) : {},
      server,
      route: ctx.routeKey,
      ip: ctx.request.srcIp,
    };

    // Breakers first: local and cheap, and an open circuit should not spend anyone's quota.
    const tickets: HeldTicket[] = [];
    const now = clock();
    for (const b of limits.breakers) {
      const byTarget = new Map<string, JsonRpcId[]>();
      for (const m of messages) {
        if (!b.match.matches(m)) continue;
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

    // Every limit of every message, summed per counter key.
    const rates = new Map<string, { limit: CompiledRate; cost: number }>();
    const concs = new Map<string, { limit: CompiledConcurrency; count: number }>();
    const budgets = new Map<string, { limit: CompiledBudget; cost: number }>();
    for (const m of messages) {
      for (const l of limits.rates) {
        if (!l.match.matches(m, server)) continue;
        const key = limitKey(l.prefix, l.by, l.skipMissing, facts, m);
        if (key === undefined) continue;
        const e = rates.get(key);
        if (e) e.cost++;
        else rates.set(key, { limit: l, cost: 1 });
      }
      for (const l of limits.concurrency) {
        if (!l.match.matches(m, server)) continue;
        const key = limitKey(l.prefix, l.by, l.skipMissing, facts, m);
        if (key === undefined) continue;
        const e = concs.get(key);
        if (e) e.count++;
        else concs.set(key, { limit: l, count: 1 });
      }
      for (const l of limits.budgets) {
        if (!l.match.matches(m, server)) continue;
        const key = limitKey(l.prefix, l.by, l.skipMissing, facts, m);
        if (key === undefined) continue;
        const cost = costOf(targetOf(m), l.costs, l.defaultCost);
        const e = budgets.get(key);
        if (e) e.cost += cost;
        else budgets.set(key, { limit: l, cost });
      }
    }
    if (rates.size + concs.size + budgets.size === 0) {
      if (tickets.length > 0) hold(ctx, p.store, '', [], tickets);
      return;
    }

    const rateList = [...rates];
    const concList = [...concs];
    const budgetList = [...budgets];
    const leaseId = concs.size > 0 ? newLeaseId() : '-';
    let result;
    try {
      result = await p.store.check({
        leaseId,
        rates: rateList.map(([key, e]): RateCheck => ({ key, intervalMs: e.limit.intervalMs, burst: e.limit.burst, cost: e.cost })),
        concurrency: concList.map(([key, e]): ConcurrencyCheck => ({ key, max: e.limit.max, leaseMs: e.limit.leaseMs, count: e.count })),
        budgets: budgetList.map(([key, e]): BudgetCheck => ({ key, quota: e.limit.quota, cost: e.cost, period: e.limit.period })),
      });
    } catch (err) {
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
      return;
    }

    if (!result.allowed) {
      cancelTickets(tickets);
      const list = result.kind === 'rate' ? rateList : result.kind === 'concurrency' ? concList : budgetList;
      const entry = list[result.index];
      const limit = entry?.[1].limit;
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

    if (p.headersOnAllow && result.rates.length > 0) {
      // The tightest rate limit of the call speaks for it.
      let best = 0;
      result.rates.forEach((r, i) => {
        if (r.remaining < result.rates[best]!.remaining) best = i;
      });
      const state = result.rates[best]!;
      const limit = rateList[best]![1].limit;
      ctx.requestMutations.addResponseHeader('RateLimit-Policy', rateLimitPolicyHeader(limit));
      ctx.requestMutations.addResponseHeader(
        'RateLimit',
        rateLimitHeader(limit.name, state.remaining, state.resetMs / 1000),
      );
    }
    return;
  }

  /** Keep slots and tickets for the response phase; give them back now if the call stops here. */
  function hold(ctx: CallContext, store: LimitStore, leaseId: string, slots: Carried['slots'], tickets: HeldTicket[]): void {
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

  function release(c: Carried): void {
    if (c.released) return;
    c.released = true;
    if (c.slots.length === 0) return;
    // On failure the leases expire on their own.
    c.store.release(c.leaseId, c.slots).catch((err: unknown) => storeFailed('release', err));
  }

  function cancelTickets(tickets: readonly HeldTicket[]): void {
    for (const t of tickets) t.target.cancel(t.ticket);
    (tickets as HeldTicket[]).length = 0;
  }

  function needsResponseBody(ctx: CallContext): boolean {
    const c = ctx.carry.get(PLUGIN_NAME) as Carried | undefined;
    if (!c || (ctx.response && ctx.response.status >= 500)) return false;
    return c.tickets.some((t) => t.breaker.countJsonRpcErrors || t.breaker.countToolErrors);
  }

  async function onResponse(ctx: CallContext) {
    const c = ctx.carry.get(PLUGIN_NAME) as Carried | undefined;
    if (!c) return;
    ctx.onDone(() => release(c));
    if (c.tickets.length === 0) return;
    const status = ctx.response?.status ?? 0;
    const now = clock();
    if (status >= 500) {
      for (const t of c.tickets) t.target.record(t.ticket, true, now);
      return;
    }
    // JSON-RPC / tool errors inside a 2xx answer, by request id (only when a breaker asked).
    const failedIds = new Set<string>();
    if (c.tickets.some((t) => t.breaker.countJsonRpcErrors || t.breaker.countToolErrors)) {
      const wantRpc = c.tickets.some((t) => t.breaker.countJsonRpcErrors);
      const wantTool = c.tickets.some((t) => t.breaker.countToolErrors);
      try {
        const body = await ctx.mcpResponse();
        for (const ev of body?.events ?? []) collectFailures(ev.json, wantRpc, wantTool, failedIds);
      } catch {
        // An unreadable body is not evidence against the upstream.
      }
    }
    for (const t of c.tickets) {
      const failed = t.ids.some(
        (id) =>
          (t.breaker.countJsonRpcErrors && failedIds.has(idKey(id, 'rpc'))) ||
          (t.breaker.countToolErrors && failedIds.has(idKey(id, 'tool'))),
      );
      t.target.record(t.ticket, failed, now);
    }
    return;
  }

  async function needsResponsePhase(ctx: CallContext, p: PreparedRatelimit): Promise<boolean> {
    const limits = p.limits;
    if (limits.concurrency.length === 0 && limits.breakers.length === 0) return false;
    const messages = await countedMessages(ctx);
    const server = p.server ?? ctx.route.server ?? ctx.routeKey;
    return messages.some(
      (m) => limits.concurrency.some((l) => l.match.matches(m, server)) || limits.breakers.some((b) => b.match.matches(m)),
    );
  }

  return {
    name: PLUGIN_NAME,
    confSchema,
    prepare,
    onRequest,
    onResponse,
    needsResponseBody,
    needsResponsePhase,
    async shutdown() {
      await memory?.close();
      await closeSharedRedisClients();
    },
  };
}

/** Client mistakes say nothing about the upstream's health. */
const CLIENT_ERROR_CODES: ReadonlySet<number> = new Set([-32700, -32600, -32601, -32602]);

function idKey(id: JsonRpcId, kind: 'rpc' | 'tool'): string {
  return `${kind}:${typeof id}:${String(id)}`;
}

function collectFailures(json: JsonValue | undefined, rpc: boolean, tool: boolean, out: Set<string>): void {
  if (Array.isArray(json)) {
    for (const el of json) collectFailures(el, rpc, tool, out);
    return;
  }
  if (json === null || typeof json !== 'object') return;
  const id = json['id'];
  if (id === undefined || (typeof id !== 'string' && typeof id !== 'number' && id !== null)) return;
  const error = json['error'];
  if (rpc && error && typeof error === 'object' && !Array.isArray(error)) {
    const code = error['code'];
    if (typeof code !== 'number' || !CLIENT_ERROR_CODES.has(code)) out.add(idKey(id, 'rpc'));
  }
  const result = json['result'];
  if (tool && result && typeof result === 'object' && !Array.isArray(result) && result['isError'] === true) {
    out.add(idKey(id, 'tool'));
  }
}

export const plugin: Plugin<RatelimitConf, PreparedRatelimit> = createRatelimitPlugin();
