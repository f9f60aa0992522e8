// Limits from the one reviewable policy file (mcp-authz's, `authz_policy_file`): each
// `routes[]` / `mcp_gateway.routes[]` entry with `limits` becomes limits scoped by the entry's
// `match` (server, tools, resources, prompts):
//
//   requests_per_minute -> GCRA rate limit  routes/<name>/requests_per_minute
//   concurrent_calls    -> concurrency limit routes/<name>/concurrent_calls
//
// Key choice: by `limits.by`, default [user]. One counter per user for the entry, shared by
// every tool and server the entry matches (the entry is the unit operators review); calls
// without a user share one bucket ('!'), so anonymous traffic cannot escape the limit.
// The file is watched by the runner's policy service (one watcher per path, shared with
// mcp-authz); a new version is compiled on the first call after it was accepted.

import { routeLimitRules, type PolicyDoc, type PolicyService, type PolicySource } from '../../runner/policy/index.js';
import type { Dimension } from './conf.js';
import { IDENTITY_DIMENSIONS, keyedPer } from './keys.js';
import type { CompiledConcurrency, CompiledLimits, CompiledRate } from './limits.js';

const DEFAULT_BY: readonly Dimension[] = ['user'];
const DEFAULT_LEASE_MS = 60_000;

/** The rate and concurrency limits of every route entry that has `limits`. */
export function routeLimits(doc: PolicyDoc): { rates: CompiledRate[]; concurrency: CompiledConcurrency[] } {
  const rates: CompiledRate[] = [];
  const concurrency: CompiledConcurrency[] = [];
  for (const rule of routeLimitRules(doc)) {
    const by = (rule.by as Dimension[] | undefined) ?? DEFAULT_BY;
    const match = rule.match;
    if (rule.requestsPerMinute !== undefined) {
      const name = `${rule.name}/requests_per_minute`;
      const requests = rule.requestsPerMinute;
      rates.push({ kind: 'rate', name, by, match, skipMissing: false, prefix: `r|${name}`, keyedPer: keyedPer(by), requests, windowSeconds: 60, intervalMs: 60_000 / requests, burst: requests });
    }
    if (rule.concurrentCalls !== undefined) {
      const name = `${rule.name}/concurrent_calls`;
      concurrency.push({ kind: 'concurrency', name, by, match, skipMissing: false, prefix: `c|${name}`, keyedPer: keyedPer(by), max: rule.concurrentCalls, leaseMs: DEFAULT_LEASE_MS });
    }
  }
  return { rates, concurrency };
}

/** The conf's limits plus the policy file's route limits (conf first). */
export function withRouteLimits(base: CompiledLimits, doc: PolicyDoc | undefined): CompiledLimits {
  if (doc === undefined) return base;
  const extra = routeLimits(doc);
  if (extra.rates.length + extra.concurrency.length === 0) return base;
  return {
    ...base,
    rates: [...base.rates, ...extra.rates],
    concurrency: [...base.concurrency, ...extra.concurrency],
    needsCaller: base.needsCaller || [...extra.rates, ...extra.concurrency].some((l) => l.by.some((d) => IDENTITY_DIMENSIONS.has(d))),
  };
}

/**
 * Limits that follow the policy file: `current()` is called per call and recompiles only when
 * the shared source accepted a new version (a number compare otherwise).
 */
export class PolicyLimits {
  private version: number;
  private limits: CompiledLimits;

  private constructor(
    private readonly base: CompiledLimits,
    private readonly source: PolicySource,
  ) {
    this.version = source.current.version;
    this.limits = withRouteLimits(base, source.current.doc);
  }

  /** At prepare: load (or reuse) the watched file; errors name the conf field, file and field. */
  static async open(policies: PolicyService, path: string, base: CompiledLimits): Promise<PolicyLimits> {
    return new PolicyLimits(base, await policies.loaded(path, 'authz_policy_file'));
  }

  current(): CompiledLimits {
    const snap = this.source.current;
    if (snap.version !== this.version) {
      this.version = snap.version;
      this.limits = withRouteLimits(this.base, snap.doc);
    }
    return this.limits;
  }
}
