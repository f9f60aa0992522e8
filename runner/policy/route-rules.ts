// The route rules of a policy (`routes[]`, `mcp_gateway.routes[]`) as other plugins read them:
// a message test for the rule's `match`, and the parts one plugin applies (`limits` for
// mcp-ratelimit, `data_policy` for mcp-redact). Same meaning as in mcp-authz: a `match` with
// only `server` covers everything on that server; globs from runner/util/glob.ts.

import type { McpMessage } from '../mcp/types.js';
import { globsToRegExp } from '../util/glob.js';
import { routeEntries, routeEntryName, type PolicyDoc, type RouteRuleDoc } from './document.js';

const USE_METHODS = ['tools/call', 'resources/read', 'prompts/get'] as const;

export class RouteEntryMatch {
  private constructor(
    private readonly servers: ReadonlySet<string> | undefined,
    /** Method -> target globs (undefined = any target of that method). */
    private readonly targets: ReadonlyMap<string, RegExp | undefined>,
  ) {}

  static of(r: RouteRuleDoc): RouteEntryMatch {
    const m = r.match;
    const servers = m.server === undefined ? undefined : new Set(typeof m.server === 'string' ? [m.server] : m.server);
    const targets = new Map<string, RegExp | undefined>();
    if (m.tools === undefined && m.resources === undefined && m.prompts === undefined) {
      for (const method of USE_METHODS) targets.set(method, undefined);
    } else {
      if (m.tools) targets.set('tools/call', globsToRegExp(m.tools));
      if (m.resources) targets.set('resources/read', globsToRegExp(m.resources));
      if (m.prompts) targets.set('prompts/get', globsToRegExp(m.prompts));
    }
    return new RouteEntryMatch(servers, targets);
  }

  /** A request this entry covers; `server` undefined (unnamed route) never matches a server list. */
  matches(msg: McpMessage, server: string | undefined): boolean {
    if (msg.type !== 'request' || msg.method === undefined || !this.targets.has(msg.method)) return false;
    if (this.servers !== undefined && (server === undefined || !this.servers.has(server))) return false;
    const re = this.targets.get(msg.method);
    if (re === undefined) return true;
    const target = msg.toolName ?? msg.promptName ?? msg.resourceUri;
    return target !== undefined && re.test(target);
  }
}

/** A route rule with `limits`: its decision name (routes/<name>), match and limits. */
export interface RouteLimitRule {
  readonly name: string;
  readonly match: RouteEntryMatch;
  readonly requestsPerMinute: number | undefined;
  readonly concurrentCalls: number | undefined;
  /** The key dimensions as written (the plugin checks them against its own list). */
  readonly by: readonly string[] | undefined;
}

/** Every route rule that sets a request rate or a concurrency cap. */
export function routeLimitRules(doc: PolicyDoc): RouteLimitRule[] {
  const out: RouteLimitRule[] = [];
  for (const { r, index } of routeEntries(doc)) {
    const l = r.limits;
    if (l === undefined || (l.requests_per_minute === undefined && l.concurrent_calls === undefined)) continue;
    out.push({ name: `routes/${routeEntryName(r, index)}`, match: RouteEntryMatch.of(r), requestsPerMinute: l.requests_per_minute, concurrentCalls: l.concurrent_calls, by: l.by });
  }
  return out;
}

/** A route rule with `data_policy.redact`: the detector names it turns on for what it matches. */
export interface RouteRedactionRule {
  readonly match: RouteEntryMatch;
  readonly detectors: readonly string[];
}

/** Every route rule that asks for redaction (detector names as written; the schema lists them). */
export function routeRedactionRules(doc: PolicyDoc): RouteRedactionRule[] {
  const out: RouteRedactionRule[] = [];
  for (const { r } of routeEntries(doc)) {
    const detectors = r.data_policy?.redact ?? [];
    if (detectors.length > 0) out.push({ match: RouteEntryMatch.of(r), detectors });
  }
  return out;
}
