// mcp-ratelimit: request-rate limits, concurrent-call limits, budgets and circuit breakers for
// MCP calls, keyed by any mix of user, agent, app, tenant, environment, tool, server, method,
// ip and route. All limits of one call are checked and consumed together in one store round
// trip (all-or-nothing). See README.md beside this file for the decisions.

import type { CallContext, Outcome, Plugin, PrepareEnv } from '../../runner/host/plugin.js';
import type { RunnerState } from '../../runner/host/state.js';
import { log } from '../../runner/log.js';
import { isEndlessStream } from '../../runner/mcp/revision.js';
import { PLUGIN_NAME } from './answers.js';
import { BreakerSets } from './breaker.js';
import { confSchema, type RatelimitConf } from './conf.js';
import { callerOf, resolveCaller, type CallFacts } from './keys.js';
import { compileLimits, loadPolicyFile, mergeSections, type CompiledLimits } from './limits.js';
import { PolicyLimits } from './policy-routes.js';
import { admitBreakers, checkCounters, countedMessages, countersOf, hold, serverOf, type HeldTicket, type PreparedRatelimit } from './request.js';
import { needsResponseBody, settleCall } from './response.js';
import { MemoryStore } from './store-memory.js';
import { RedisClients, RedisStore, whenRedisReady } from './store-redis.js';
import type { LimitStore } from './store.js';

export type { RatelimitConf } from './conf.js';
export type { PreparedRatelimit } from './request.js';

export { confSchema } from './conf.js';

export interface RatelimitPluginOptions {
  /** Milliseconds since the epoch, for breakers and the memory store (tests inject one). */
  clock?: () => number;
  /** The memory store every runner using this plugin shares (tests pass their own); default: one per runner. */
  memoryStore?: MemoryStore;
  /** Clock handed to Redis stores; absent = the Redis server's TIME. */
  redisClock?: () => number;
}

/** The runner's breakers (state survives re-prepare of a conf). */
function breakerSetsOf(state: RunnerState): BreakerSets {
  return state.own('mcp-ratelimit/breakers', () => new BreakerSets());
}

/**
 * The memory store counts in each runner process alone: with N processes a route's limits,
 * budgets and concurrency caps admit up to N times what they say. Said once per route key, at
 * prepare, where an operator reads the log after a deploy.
 */
function warnPerProcessCounts(env: PrepareEnv): void {
  const processes = env.state.shared.processes;
  if (processes <= 1) return;
  const warned = env.state.own('mcp-ratelimit/per-process-warned', () => new Set<string>());
  if (warned.has(env.routeKey)) return;
  warned.add(env.routeKey);
  log.warn(
    { route: env.routeKey, processes },
    `mcp-ratelimit: the memory store counts per runner process; with ${processes} processes this route's limits admit up to ${processes}× their figures (use store: redis for exact limits, or MCP_RUNNER_WORKERS=1)`,
  );
}

export function createRatelimitPlugin(opts: RatelimitPluginOptions = {}): Plugin<RatelimitConf, PreparedRatelimit> {
  const clock = opts.clock ?? Date.now;
  /** The runner's memory store (closed with the runner's state), unless the options gave one. */
  const memoryStore = (state: RunnerState, maxKeys: number | undefined): MemoryStore =>
    opts.memoryStore ?? state.own('mcp-ratelimit/memory-store', () => new MemoryStore({ clock, maxKeys }));

  async function prepare(conf: RatelimitConf, env: PrepareEnv): Promise<PreparedRatelimit> {
    const fromFile = conf.policy_file ? await loadPolicyFile(conf.policy_file, confSchema) : undefined;
    const compiled = compileLimits(mergeSections(conf, fromFile), breakerSetsOf(env.state));
    const fromPolicy = conf.authz_policy_file ? await PolicyLimits.open(env.state.policies, conf.authz_policy_file, compiled) : undefined;
    const s = conf.store ?? { type: 'memory' as const };
    let store: LimitStore;
    if (s.type === 'redis') {
      if (!s.url) throw new Error('store.url: required when store.type is redis');
      const client = env.state.own('mcp-ratelimit/redis', () => new RedisClients()).client(s.url);
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
      store = memoryStore(env.state, s.max_keys);
      if (fromPolicy !== undefined || compiled.rates.length + compiled.concurrency.length + compiled.budgets.length > 0) warnPerProcessCounts(env);
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

  /** Breakers, then every counter of the call in one store round trip (see request.ts). */
  async function onRequest(ctx: CallContext, p: PreparedRatelimit): Promise<Outcome> {
    if (!p.active) return;
    const messages = await countedMessages(ctx);
    if (messages.length === 0) return;
    const { limits } = p;
    const server = serverOf(ctx, p);
    const shared = limits.needsCaller && ctx.identity !== undefined ? callerOf(ctx.identity) : undefined;
    const facts: CallFacts = {
      caller: shared?.caller ?? (limits.needsCaller ? await resolveCaller(ctx, p.identity) : {}),
      keys: shared?.keys,
      server,
      route: ctx.routeKey,
      ip: ctx.request.srcIp,
    };
    const tickets: HeldTicket[] = [];
    const open = admitBreakers(ctx, limits.breakers, messages, server, clock(), tickets);
    if (open) return open;
    const counters = countersOf(limits, messages, server, facts);
    if (counters.rates.length + counters.concurrency.length + counters.budgets.length === 0) {
      if (tickets.length > 0) hold(ctx, p.store, '', [], tickets);
      return;
    }
    return checkCounters(ctx, p, counters, tickets);
  }

  async function onResponse(ctx: CallContext): Promise<Outcome> {
    await settleCall(ctx, clock());
  }

  async function needsResponsePhase(ctx: CallContext, p: PreparedRatelimit): Promise<boolean> {
    const limits = p.limits;
    if (limits.concurrency.length === 0 && limits.breakers.length === 0) return false;
    const messages = await countedMessages(ctx);
    const server = serverOf(ctx, p);
    return messages.some(
      (m) => !isEndlessStream(m) && (limits.concurrency.some((l) => l.match.matches(m, server)) || limits.breakers.some((b) => b.match.matches(m))),
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
      // The runner's memory store and Redis connections close with its state; a store the
      // options gave is ours.
      await opts.memoryStore?.close();
    },
  };
}

export const plugin: Plugin<RatelimitConf, PreparedRatelimit> = createRatelimitPlugin();
