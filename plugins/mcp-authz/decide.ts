// Decisions. For one MCP message and one identity. Pure functions over a CompiledPolicy so
// the plugin, the tests and the explain CLI share exactly the same logic.
//
// Semantics (documented for operators in the README):
// - Every rule that matches a call applies; the most restrictive outcome wins
//   (deny > confirm > allow). Nothing allows -> default deny.
// - Deny rules that match deny.
// - Route rules (routes / mcp_gateway.routes) with action allow are requirements: each one that
//   matches must have its auth met (and, with access: read, the tool must be read-only), else
//   the call is denied by it. A route rule whose auth is met also grants.
// - Actor rules grant. A grant with access: read covers only tools known to be read-only
//   (tool-hints.ts); for any other tool it does not apply.
// - Every grant that applies applies whole: each argument schema must pass, a risk listed in
//   risk.deny denies, and confirmation is needed when any of them asks for it (or has a risk
//   listed in risk.confirm).
// - Precedence among rules of one kind: exact names first, then globs, each in policy order;
//   the first rule that denies is the one reported.
// - Methods that are not tool, resource or prompt use are allowed for an authenticated actor
//   unless methods.deny matches or methods.default is deny and methods.allow does not match.
//   An actor with no grant on the route's server is refused every method (see holdsGrantHere).

import type { Identity } from '../../runner/host/plugin.js';
import type { JsonObject, McpMessage } from '../../runner/mcp/types.js';
import type { ActorField, AuthRequirement, CompiledPolicy, PolicyEntry, Risk, Access, UseKind } from '../../runner/policy/index.js';
import { classifyTool, notReadOnlyReason, type ToolAccess, type ToolHints, type ToolHintStore } from './tool-hints.js';

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

/** One rule that matched a call and what it did (explain lists them). */
export interface MatchedRule {
  readonly rule: string;
  /** not-covered: a read-only grant that does not cover this (writing or unknown) tool. */
  readonly effect: Effect | 'not-covered';
  readonly reason: string;
}

/** Per-call view: the identity and which actor entries it matches (computed once per call). */
export interface Subject {
  readonly identity: Identity;
  readonly actors: readonly boolean[];
  readonly server: string | undefined;
  /** Annotations seen in tools/list, for read grants (absent: registry only). */
  readonly toolHints: ToolHintStore | undefined;
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

export function subjectFor(policy: CompiledPolicy, identity: Identity, server: string | undefined, toolHints?: ToolHintStore): Subject {
  return { identity, server, actors: policy.actors.map((a) => fieldsMatch(a.fields, a.roles, identity)), toolHints };
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

function denied(kind: UseKind, name: string, rule: string, reason: string): Decision {
  return { effect: 'deny', rule, reason, kind, target: name };
}

function argumentsFailure(g: PolicyEntry): string {
  const err = g.args?.errors?.[0];
  return `${err ? `arguments${err.instancePath} ${err.message ?? 'are invalid'}` : 'arguments are not allowed'} (rule ${g.rule})`;
}

/**
 * Decide one use of a tool, resource or prompt. `args` undefined means "could this actor use
 * it at all" (list filtering): argument schemas are not checked then. `hints`: the tool's
 * annotations when the caller has them at hand (a tools/list item); else the subject's store.
 * `trace`: when given, every matching rule is appended with its effect (explain); the decision
 * is the same with or without it.
 */
export function decideUse(policy: CompiledPolicy, s: Subject, kind: UseKind, name: string, args: JsonObject | undefined, hints?: ToolHints, trace?: MatchedRule[]): Decision {
  const { exact, glob } = indexFor(policy, kind).lookup(name);
  /** The most restrictive outcome so far; without a trace the first one is returned at once. */
  let verdict: Decision | undefined;

  for (let pass = 0; pass < 2; pass++) {
    for (const e of pass === 0 ? exact : glob) {
      if (e.effect !== 'deny' || !serverDenies(e.servers, s.server) || !entryMatchesSubject(e, s)) continue;
      const d = denied(kind, name, e.rule, e.reason ?? `${NOUN[kind]} '${name}' is denied`);
      if (trace === undefined) return d;
      trace.push({ rule: e.rule, effect: 'deny', reason: d.reason });
      verdict ??= d;
    }
  }

  // Requirements (route rules) and grants (actor rules, met route rules). Read access needs
  // the tool's class, looked up once and only when a read-only rule matches.
  let toolAccess: ToolAccess | undefined;
  let notCovered: PolicyEntry | undefined;
  const grants: PolicyEntry[] = [];
  for (let pass = 0; pass < 2; pass++) {
    for (const e of pass === 0 ? exact : glob) {
      if (e.effect !== 'allow' || !serverAllows(e.servers, s.server)) continue;
      const readOnly = kind === 'tool' && e.access === 'read';
      if (e.actor !== undefined) {
        if (s.actors[e.actor] !== true) continue;
        if (readOnly) {
          toolAccess ??= classifyTool(policy, s.server, name, hints ?? s.toolHints?.get(s.server, name));
          if (toolAccess.access !== 'read') {
            notCovered ??= e;
            trace?.push({ rule: e.rule, effect: 'not-covered', reason: notReadOnlyReason(name, toolAccess) });
            continue;
          }
        }
        grants.push(e);
        continue;
      }
      const failure = e.auth ? authFailure(e.auth, s.identity) : undefined;
      let d: Decision | undefined;
      if (failure !== undefined) d = denied(kind, name, e.rule, `${NOUN[kind]} '${name}': ${failure}`);
      else if (readOnly) {
        toolAccess ??= classifyTool(policy, s.server, name, hints ?? s.toolHints?.get(s.server, name));
        if (toolAccess.access !== 'read') d = denied(kind, name, e.rule, notReadOnlyReason(name, toolAccess));
      }
      if (d === undefined) {
        grants.push(e);
        continue;
      }
      if (trace === undefined) return d;
      trace.push({ rule: e.rule, effect: 'deny', reason: d.reason });
      verdict ??= d;
    }
  }

  if (grants.length === 0 && verdict === undefined) {
    verdict = notCovered
      ? denied(kind, name, notCovered.rule, notReadOnlyReason(name, toolAccess!))
      : denied(kind, name, 'default-deny', `no rule allows ${NOUN[kind]} '${name}' for this identity`);
    if (trace === undefined) return verdict;
  }

  let confirmBy: PolicyEntry | undefined;
  for (const g of grants) {
    let d: Decision | undefined;
    if (args !== undefined && g.args !== undefined && !g.args(args)) d = denied(kind, name, g.rule, argumentsFailure(g));
    else if (g.risk !== undefined && policy.riskDeny.has(g.risk)) d = denied(kind, name, `risk/${g.risk}`, `${NOUN[kind]} '${name}' has risk '${g.risk}', which this policy denies`);
    if (d !== undefined) {
      if (trace === undefined) return d;
      trace.push({ rule: g.rule, effect: 'deny', reason: d.reason });
      verdict ??= d;
      continue;
    }
    const asks = g.confirm || (g.risk !== undefined && policy.riskConfirm.has(g.risk));
    if (asks) confirmBy ??= g;
    trace?.push({ rule: g.rule, effect: asks ? 'confirm' : 'allow', reason: asks ? 'asks for user confirmation' : 'grants' });
  }
  if (verdict !== undefined) return verdict;

  const primary = confirmBy ?? grants[0]!;
  return {
    effect: confirmBy ? 'confirm' : 'allow',
    rule: primary.rule,
    reason: confirmBy ? `${NOUN[kind]} '${name}' requires user confirmation` : `allowed by ${primary.rule}`,
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

/** Decide one element of a request body (`trace`: see decideUse). */
export function decideMessage(policy: CompiledPolicy, s: Subject, msg: McpMessage, trace?: MatchedRule[]): Decision {
  if (msg.type === 'response') return { effect: 'allow', rule: 'responses', reason: 'client responses are allowed', kind: 'response', target: '' };
  const method = msg.method ?? '';
  switch (msg.kind) {
    case 'tools/call':
      if (typeof msg.toolName !== 'string') return { effect: 'deny', rule: 'invalid-params', reason: 'tools/call without a tool name', kind: 'tool', target: '' };
      return decideUse(policy, s, 'tool', msg.toolName, msg.arguments ?? {}, undefined, trace);
    case 'resources/read':
    case 'resources/subscribe':
    case 'resources/unsubscribe':
      if (typeof msg.resourceUri !== 'string') return { effect: 'deny', rule: 'invalid-params', reason: `${method} without a uri`, kind: 'resource', target: '' };
      return decideUse(policy, s, 'resource', msg.resourceUri, undefined, undefined, trace);
    case 'prompts/get':
      if (typeof msg.promptName !== 'string') return { effect: 'deny', rule: 'invalid-params', reason: 'prompts/get without a name', kind: 'prompt', target: '' };
      return decideUse(policy, s, 'prompt', msg.promptName, undefined, undefined, trace);
    default:
      return decideMethod(policy, method);
  }
}

/**
 * True when no item of this kind can be hidden from the subject: a `*` grant (not limited to
 * read access) applies to it and no deny, unmet route requirement, read-only route requirement
 * or denied risk does. Then a list answer needs no filtering and need not be read at all
 * (reading holds back SSE in APISIX).
 */
export function seesEverything(policy: CompiledPolicy, s: Subject, kind: UseKind): boolean {
  let everything = false;
  for (const e of indexFor(policy, kind).entries()) {
    if (e.effect === 'deny') {
      if (serverDenies(e.servers, s.server) && entryMatchesSubject(e, s)) return false;
      continue;
    }
    if (!serverAllows(e.servers, s.server)) continue;
    const readOnly = kind === 'tool' && e.access === 'read';
    if (e.actor === undefined && ((e.auth !== undefined && authFailure(e.auth, s.identity) !== undefined) || readOnly)) return false;
    if (!entryMatchesSubject(e, s)) continue;
    if (e.risk !== undefined && policy.riskDeny.has(e.risk)) return false;
    if (e.pattern === '*' && !readOnly) everything = true;
  }
  return everything;
}

/** Whether a listed tool/resource/prompt should stay visible to this subject. */
export function isVisible(policy: CompiledPolicy, s: Subject, kind: UseKind, name: string, hints?: ToolHints): boolean {
  return decideUse(policy, s, kind, name, undefined, hints).effect !== 'deny';
}

/** Every allow rule of a policy, computed once per compiled policy. */
const allowRules = new WeakMap<CompiledPolicy, readonly PolicyEntry[]>();

/**
 * Whether the subject holds a grant on its server: an actor allow rule of any kind (tool,
 * resource, prompt) whose actor matches and whose servers include this one (or that names no
 * server), or a route allow rule whose auth it meets on this server. An actor without one is
 * refused every method on the route, initialize and ping included.
 */
export function holdsGrantHere(policy: CompiledPolicy, s: Subject): boolean {
  let rules = allowRules.get(policy);
  if (rules === undefined) {
    const all: PolicyEntry[] = [];
    for (const index of [policy.tools, policy.resources, policy.prompts]) for (const e of index.entries()) if (e.effect === 'allow') all.push(e);
    rules = all;
    allowRules.set(policy, rules);
  }
  for (const e of rules) if (serverAllows(e.servers, s.server) && entryMatchesSubject(e, s)) return true;
  return false;
}
