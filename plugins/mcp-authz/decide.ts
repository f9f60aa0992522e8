// Decisions. For one MCP message and one identity: deny rules first (deny wins), then allow
// rules; nothing allows -> default deny. Pure functions over a CompiledPolicy so the plugin,
// the tests and the explain CLI share exactly the same logic.
//
// Semantics (documented for operators):
// - Route rules (routes / mcp_gateway.routes) with action allow that match a call are
//   requirements: at least one of them must have its auth met, else the call is denied by
//   the first of them, even when an actor rule would allow it.
// - Among allowing rules, exact names beat globs: when an exact-name rule applies, glob rules
//   are ignored (so `run_query` narrowed by an arguments schema is not widened by `db.*`).
// - Confirmation is needed when any of the chosen allowing rules asks for it, or when its risk
//   is listed in risk.confirm; a risk in risk.deny denies.
// - Methods that are not tool, resource or prompt use are allowed for an authenticated actor
//   unless methods.deny matches or methods.default is deny and methods.allow does not match.

import type { Identity } from '../../runner/host/plugin.js';
import type { JsonObject, McpMessage } from '../../runner/mcp/types.js';
import type { ActorField, AuthRequirement, CompiledPolicy, PolicyEntry, Risk, Access, UseKind } from '../../runner/policy/index.js';

export type Effect = 'allow' | 'deny' | 'confirm';

export interface Decision {
  readonly effect: Effect;
  readonly rule: string;
  readonly reason: string;
  /** What was used: tool/resource/prompt, or method for other messages. */
  readonly kind: UseKind | 'method' | 'response';
  /** Tool name, resource URI, prompt name or method. */
  readonly target: string;
  readonly access?: Access | undefined;
  readonly risk?: Risk | undefined;
}

/** Per-call view: the identity and which actor entries it matches (computed once per call). */
export interface Subject {
  readonly identity: Identity;
  readonly actors: readonly boolean[];
  readonly server: string | undefined;
}

function identityField(id: Identity, f: ActorField): string | undefined {
  return id[f];
}

function fieldsMatch(fields: ReadonlyMap<ActorField, ReadonlySet<string>>, roles: ReadonlySet<string> | undefined, id: Identity): boolean {
  for (const [f, allowed] of fields) {
    const v = identityField(id, f);
    if (v === undefined || !allowed.has(v)) return false;
  }
  if (roles && !id.roles.some((r) => roles.has(r))) return false;
  return true;
}

export function subjectFor(policy: CompiledPolicy, identity: Identity, server: string | undefined): Subject {
  return { identity, server, actors: policy.actors.map((a) => fieldsMatch(a.fields, a.roles, identity)) };
}

function authFailure(auth: AuthRequirement, id: Identity): string | undefined {
  if (auth.requireUser && id.user === undefined) return 'a user identity is required';
  for (const [f, allowed] of auth.fields) {
    const v = identityField(id, f);
    if (v === undefined || !allowed.has(v)) return `${f} must be one of ${[...allowed].join(', ')}`;
  }
  if (auth.roles && !id.roles.some((r) => auth.roles!.has(r))) return `one of the roles ${[...auth.roles].join(', ')} is required`;
  return undefined;
}

/** Grants need the route's server to be listed; denies also apply when the server is unknown. */
function serverAllows(servers: ReadonlySet<string> | undefined, server: string | undefined): boolean {
  return servers === undefined || (server !== undefined && servers.has(server));
}
function serverDenies(servers: ReadonlySet<string> | undefined, server: string | undefined): boolean {
  return servers === undefined || server === undefined || servers.has(server);
}

function entryMatchesSubject(e: PolicyEntry, s: Subject): boolean {
  if (e.actor !== undefined) return s.actors[e.actor] === true;
  return e.auth === undefined || authFailure(e.auth, s.identity) === undefined;
}

const NOUN: Record<UseKind, string> = { tool: 'tool', resource: 'resource', prompt: 'prompt' };

function indexFor(policy: CompiledPolicy, kind: UseKind) {
  return kind === 'tool' ? policy.tools : kind === 'resource' ? policy.resources : policy.prompts;
}

/**
 * Decide one use of a tool, resource or prompt. `args` undefined means "could this actor use
 * it at all" (list filtering): argument schemas are not checked then.
 */
export function decideUse(policy: CompiledPolicy, s: Subject, kind: UseKind, name: string, args: JsonObject | undefined): Decision {
  const { exact, glob } = indexFor(policy, kind).lookup(name);
  const deny = (rule: string, reason: string): Decision => ({ effect: 'deny', rule, reason, kind, target: name });

  for (const list of [exact, glob]) {
    for (const e of list) {
      if (e.effect === 'deny' && serverDenies(e.servers, s.server) && entryMatchesSubject(e, s)) {
        return deny(e.rule, e.reason ?? `${NOUN[kind]} '${name}' is denied`);
      }
    }
  }

  // Route allow rules: requirements that at least one must meet.
  let routeMatched: PolicyEntry | undefined;
  let routeFailure: string | undefined;
  const exactGrants: PolicyEntry[] = [];
  const globGrants: PolicyEntry[] = [];
  let routeSatisfied = false;
  for (const [list, grants] of [[exact, exactGrants], [glob, globGrants]] as const) {
    for (const e of list) {
      if (e.effect !== 'allow' || !serverAllows(e.servers, s.server)) continue;
      if (e.actor !== undefined) {
        if (s.actors[e.actor] === true) grants.push(e);
        continue;
      }
      const failure = e.auth ? authFailure(e.auth, s.identity) : undefined;
      if (failure === undefined) {
        routeSatisfied = true;
        grants.push(e);
      } else if (routeMatched === undefined) {
        routeMatched = e;
        routeFailure = failure;
      }
    }
  }
  if (routeMatched && !routeSatisfied) {
    return deny(routeMatched.rule, `${NOUN[kind]} '${name}': ${routeFailure}`);
  }
  const grants = exactGrants.length > 0 ? exactGrants : globGrants;
  if (grants.length === 0) return deny('default-deny', `no rule allows ${NOUN[kind]} '${name}' for this identity`);

  let usable = grants;
  if (args !== undefined) {
    usable = [];
    let argFailure: string | undefined;
    let argRule: string | undefined;
    for (const g of grants) {
      if (!g.args || g.args(args)) usable.push(g);
      else if (argRule === undefined) {
        argRule = g.rule;
        const err = g.args.errors?.[0];
        argFailure = err ? `arguments${err.instancePath} ${err.message ?? 'are invalid'}` : 'arguments are not allowed';
      }
    }
    if (usable.length === 0) return deny(argRule ?? 'default-deny', `${argFailure ?? 'arguments are not allowed'} (rule ${argRule})`);
  }

  let confirm = false;
  for (const g of usable) {
    if (g.risk !== undefined && policy.riskDeny.has(g.risk)) {
      return deny(`risk/${g.risk}`, `${NOUN[kind]} '${name}' has risk '${g.risk}', which this policy denies`);
    }
    if (g.confirm || (g.risk !== undefined && policy.riskConfirm.has(g.risk))) confirm = true;
  }
  const primary = usable.find((g) => g.confirm || (g.risk !== undefined && policy.riskConfirm.has(g.risk))) ?? usable[0]!;
  return {
    effect: confirm ? 'confirm' : 'allow',
    rule: primary.rule,
    reason: confirm ? `${NOUN[kind]} '${name}' requires user confirmation` : `allowed by ${primary.rule}`,
    kind,
    target: name,
    access: primary.access,
    risk: primary.risk,
  };
}

export function decideMethod(policy: CompiledPolicy, method: string): Decision {
  if (policy.methodsDeny.has(method)) return { effect: 'deny', rule: 'methods/deny', reason: `method '${method}' is denied`, kind: 'method', target: method };
  if (policy.methodsDefault === 'deny' && !policy.methodsAllow.has(method)) {
    return { effect: 'deny', rule: 'methods/default', reason: `method '${method}' is not allowed`, kind: 'method', target: method };
  }
  return { effect: 'allow', rule: 'methods/default', reason: `method '${method}' is allowed`, kind: 'method', target: method };
}

/** Decide one element of a request body. */
export function decideMessage(policy: CompiledPolicy, s: Subject, msg: McpMessage): Decision {
  if (msg.type === 'response') return { effect: 'allow', rule: 'responses', reason: 'client responses are allowed', kind: 'response', target: '' };
  const method = msg.method ?? '';
  switch (msg.kind) {
    case 'tools/call':
      if (typeof msg.toolName !== 'string') return { effect: 'deny', rule: 'invalid-params', reason: 'tools/call without a tool name', kind: 'tool', target: '' };
      return decideUse(policy, s, 'tool', msg.toolName, msg.arguments ?? {});
    case 'resources/read':
    case 'resources/subscribe':
    case 'resources/unsubscribe':
      if (typeof msg.resourceUri !== 'string') return { effect: 'deny', rule: 'invalid-params', reason: `${method} without a uri`, kind: 'resource', target: '' };
      return decideUse(policy, s, 'resource', msg.resourceUri, undefined);
    case 'prompts/get':
      if (typeof msg.promptName !== 'string') return { effect: 'deny', rule: 'invalid-params', reason: 'prompts/get without a name', kind: 'prompt', target: '' };
      return decideUse(policy, s, 'prompt', msg.promptName, undefined);
    default:
      return decideMethod(policy, method);
  }
}

/**
 * True when no item of this kind can be hidden from the subject: a `*` grant applies to it and
 * no deny, unmet route requirement or denied risk does. Then a list answer needs no filtering
 * and need not be read at all (reading holds back SSE in APISIX).
 */
export function seesEverything(policy: CompiledPolicy, s: Subject, kind: UseKind): boolean {
  let everything = false;
  for (const e of indexFor(policy, kind).entries()) {
    if (e.effect === 'deny') {
      if (serverDenies(e.servers, s.server) && entryMatchesSubject(e, s)) return false;
      continue;
    }
    if (!serverAllows(e.servers, s.server)) continue;
    if (e.actor === undefined && e.auth !== undefined && authFailure(e.auth, s.identity) !== undefined) return false;
    if (!entryMatchesSubject(e, s)) continue;
    if (e.risk !== undefined && policy.riskDeny.has(e.risk)) return false;
    if (e.pattern === '*') everything = true;
  }
  return everything;
}

/** Whether a listed tool/resource/prompt should stay visible to this subject. */
export function isVisible(policy: CompiledPolicy, s: Subject, kind: UseKind, name: string): boolean {
  return decideUse(policy, s, kind, name, undefined).effect !== 'deny';
}
