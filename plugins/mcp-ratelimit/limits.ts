// Compile the conf (and the optional policy file) once per PrepareConf into lookup-ready
// limits: globs become regexes, windows become GCRA intervals, breakers get their runner-wide
// state. Nothing here runs per call.

import { readFile } from 'node:fs/promises';
import { load as loadYaml } from 'js-yaml';
import { Ajv, type ValidateFunction } from 'ajv';
import type { JsonSchema } from '../../runner/host/plugin.js';
import type { McpMessage } from '../../runner/mcp/types.js';
import type { BudgetPeriod, CostRule } from './budget.js';
import type { BreakerParams, BreakerSet, BreakerSets } from './breaker.js';
import type {
  BreakerConf,
  Dimension,
  IdentityConf,
  LimitSections,
  MatchConf,
  RateLimitConf,
  RatelimitConf,
} from './conf.js';
import { globsToRegExp } from '../../runner/util/glob.js';
import { IDENTITY_DIMENSIONS, keyedPer, targetOf, type KeyedBy } from './keys.js';

/** Methods that count when a limit has no `match.methods`. */
export const DEFAULT_COUNTED_METHODS: readonly string[] = ['tools/call', 'resources/read', 'prompts/get'];

/** Which messages a limit counts; `server` is the call's MCP server (conf, route or route key). */
export interface MessageMatch {
  matches(msg: McpMessage, server: string): boolean;
}

export class CompiledMatch implements MessageMatch {
  private readonly allMethods: boolean;
  private readonly methods: ReadonlySet<string>;
  private readonly targets: RegExp | undefined;
  constructor(m: MatchConf | undefined) {
    const methods = m?.methods ?? DEFAULT_COUNTED_METHODS;
    this.allMethods = methods.includes('*');
    this.methods = new Set(methods);
    this.targets = m?.tools ? globsToRegExp(m.tools) : undefined;
  }
  /** Requests only: notifications and responses never count. */
  matches(msg: McpMessage): boolean {
    if (msg.type !== 'request' || msg.method === undefined) return false;
    if (!this.allMethods && !this.methods.has(msg.method)) return false;
    if (this.targets) {
      const t = targetOf(msg);
      return t !== undefined && this.targets.test(t);
    }
    return true;
  }
}

interface KeyedLimit extends KeyedBy {
  readonly name: string;
  readonly by: readonly Dimension[];
  readonly match: MessageMatch;
  readonly skipMissing: boolean;
  /** Counter key prefix: kind + name. */
  readonly prefix: string;
}

export interface CompiledRate extends KeyedLimit {
  readonly kind: 'rate';
  readonly requests: number;
  readonly windowSeconds: number;
  readonly intervalMs: number;
  readonly burst: number;
}

export interface CompiledConcurrency extends KeyedLimit {
  readonly kind: 'concurrency';
  readonly max: number;
  readonly leaseMs: number;
}

export interface CompiledBudget extends KeyedLimit {
  readonly kind: 'budget';
  readonly quota: number;
  readonly period: BudgetPeriod;
  readonly costs: readonly CostRule[];
  readonly defaultCost: number;
}

export interface CompiledBreaker {
  readonly name: string;
  readonly scope: 'server' | 'tool';
  readonly match: CompiledMatch;
  readonly countJsonRpcErrors: boolean;
  readonly countToolErrors: boolean;
  readonly set: BreakerSet;
}

export interface CompiledLimits {
  readonly rates: readonly CompiledRate[];
  readonly concurrency: readonly CompiledConcurrency[];
  readonly budgets: readonly CompiledBudget[];
  readonly breakers: readonly CompiledBreaker[];
  /** Does any limit key need the caller's identity? (skip identity work otherwise) */
  readonly needsCaller: boolean;
}

const WINDOW_SECONDS = { second: 1, minute: 60, hour: 3600, day: 86400 } as const;

export function windowSeconds(per: RateLimitConf['per']): number {
  return typeof per === 'number' ? per : WINDOW_SECONDS[per];
}

function duplicateNames(kind: string, names: readonly string[]): void {
  const seen = new Set<string>();
  for (const n of names) {
    if (seen.has(n)) throw new Error(`${kind}: the name "${n}" is used twice (names key the counters)`);
    seen.add(n);
  }
}

/** Compile limits; breakers take their state from the runner's `breakerSets` (kept across re-prepare). */
export function compileLimits(sections: LimitSections, breakerSets: BreakerSets): CompiledLimits {
  const rates = (sections.limits ?? []).map((l, i): CompiledRate => {
    const win = windowSeconds(l.per);
    const burst = l.burst ?? l.requests;
    if (!(win > 0)) throw new Error(`limits[${i}].per: must be a positive window`);
    return {
      kind: 'rate',
      name: l.name,
      by: l.by ?? [],
      match: new CompiledMatch(l.match),
      skipMissing: l.missing === 'skip',
      prefix: `r|${l.name}`,
      keyedPer: keyedPer(l.by ?? []),
      requests: l.requests,
      windowSeconds: win,
      intervalMs: (win * 1000) / l.requests,
      burst,
    };
  });
  const concurrency = (sections.concurrency ?? []).map(
    (c): CompiledConcurrency => ({
      kind: 'concurrency',
      name: c.name,
      by: c.by ?? [],
      match: new CompiledMatch(c.match),
      skipMissing: c.missing === 'skip',
      prefix: `c|${c.name}`,
      keyedPer: keyedPer(c.by ?? []),
      max: c.max,
      leaseMs: (c.lease_seconds ?? 60) * 1000,
    }),
  );
  const budgets = (sections.budgets ?? []).map(
    (b): CompiledBudget => ({
      kind: 'budget',
      name: b.name,
      by: b.by ?? [],
      match: new CompiledMatch(b.match),
      skipMissing: b.missing === 'skip',
      prefix: `b|${b.name}`,
      keyedPer: keyedPer(b.by ?? []),
      quota: b.quota,
      period: b.period,
      costs: Object.entries(b.costs ?? {}).map(([glob, cost]) => ({ pattern: globsToRegExp([glob]), cost })),
      defaultCost: b.default_cost ?? 1,
    }),
  );
  const breakers = (sections.breakers ?? []).map((b): CompiledBreaker => {
    const failures = b.failures ?? (b.error_rate === undefined ? 5 : undefined);
    const params: BreakerParams = {
      failures,
      errorRate: b.error_rate,
      minCalls: b.min_calls ?? (b.error_rate === undefined ? 1 : 10),
      windowMs: (b.window_seconds ?? 30) * 1000,
      cooldownMs: (b.cooldown_seconds ?? 30) * 1000,
      halfOpenProbes: b.half_open_probes ?? 1,
    };
    return {
      name: b.name,
      scope: b.scope ?? 'server',
      match: new CompiledMatch(b.match),
      countJsonRpcErrors: b.count_jsonrpc_errors === true,
      countToolErrors: b.count_tool_errors === true,
      set: breakerSets.setFor(b.name, b.scope ?? 'server', params),
    };
  });
  duplicateNames('limits', rates.map((r) => r.name));
  duplicateNames('concurrency', concurrency.map((r) => r.name));
  duplicateNames('budgets', budgets.map((r) => r.name));
  duplicateNames('breakers', breakers.map((r) => r.name));
  const keyed: KeyedLimit[] = [...rates, ...concurrency, ...budgets];
  return {
    rates,
    concurrency,
    budgets,
    breakers,
    needsCaller: keyed.some((l) => l.by.some((d) => IDENTITY_DIMENSIONS.has(d))),
  };
}

/** Route sections plus the policy file's, route first. */
export function mergeSections(a: LimitSections, b: LimitSections | undefined): LimitSections {
  if (!b) return a;
  return {
    limits: [...(a.limits ?? []), ...(b.limits ?? [])],
    concurrency: [...(a.concurrency ?? []), ...(b.concurrency ?? [])],
    budgets: [...(a.budgets ?? []), ...(b.budgets ?? [])],
    breakers: [...(a.breakers ?? []), ...(b.breakers ?? [])],
  };
}

let policyValidator: ValidateFunction | undefined;

/** Read a policy file (YAML or JSON, same shape as the conf's limit sections). */
export async function loadPolicyFile(path: string, schema: JsonSchema): Promise<LimitSections> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new Error(`policy_file: cannot read ${path}: ${(e as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = loadYaml(text);
  } catch (e) {
    throw new Error(`policy_file: ${path} is not valid YAML/JSON: ${(e as Error).message}`);
  }
  policyValidator ??= new Ajv({ allErrors: false, strict: false }).compile(schema);
  if (!policyValidator(doc ?? {})) {
    const err = policyValidator.errors?.[0];
    const d = doc as Record<string, unknown> | null;
    const authzShaped = d !== null && typeof d === 'object' && ['mcp_gateway', 'actors', 'routes', 'mcp_tool_policy', 'version'].some((k) => k in d);
    const hint = authzShaped ? ' (this looks like an mcp-authz policy file: name it in authz_policy_file instead)' : '';
    throw new Error(`policy_file ${path}: ${err?.instancePath || '/'} ${err?.message ?? 'invalid'}${hint}`);
  }
  const d = (doc ?? {}) as RatelimitConf;
  return { limits: d.limits, concurrency: d.concurrency, budgets: d.budgets, breakers: d.breakers };
}

export type { IdentityConf };
