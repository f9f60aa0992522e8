// Compiling validated policy documents into indexes, so an authorization decision is a few
// map lookups: actors, per-name allow/deny entries for tools, resources and prompts (exact
// names in maps, globs compiled once), method lists, risk sets, pins and the tool registry.

import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsImport from 'ajv-formats';
import { GlobSet, PatternIndex } from '../util/patterns.js';
import { ACTOR_FIELDS, actorEntries, PolicyError, routeEntries, type Access, type ActorField, type PolicyDoc, type Risk, type StringOrList } from './document.js';

type Formats = (ajv: Ajv) => Ajv;
const addFormats = ((addFormatsImport as unknown as { default?: Formats }).default ?? addFormatsImport) as unknown as Formats;

export interface ActorMatcher {
  readonly name: string;
  /** Every given field must match (role: any one of the identity's roles). */
  readonly fields: ReadonlyMap<ActorField, ReadonlySet<string>>;
  readonly roles: ReadonlySet<string> | undefined;
}

export interface AuthRequirement {
  readonly requireUser: boolean;
  readonly fields: ReadonlyMap<ActorField, ReadonlySet<string>>;
  readonly roles: ReadonlySet<string> | undefined;
}

/** One compiled allow or deny rule for one name pattern. */
export interface PolicyEntry {
  readonly effect: 'allow' | 'deny';
  /** Stable, reviewable name, e.g. support-agent/allowed_tools/crm.* or routes/billing-deny. */
  readonly rule: string;
  readonly reason: string | undefined;
  /** Index into CompiledPolicy.actors for actor rules. */
  readonly actor: number | undefined;
  /** Identity requirements of route rules. */
  readonly auth: AuthRequirement | undefined;
  readonly servers: ReadonlySet<string> | undefined;
  readonly access: Access | undefined;
  readonly risk: Risk | undefined;
  readonly confirm: boolean;
  readonly args: ValidateFunction | undefined;
  /** The pattern as written (for explain output). */
  readonly pattern: string;
}

/** What the reviewed tool registry says a tool does (tool_registry in the policy). */
export interface RegistryEntry {
  readonly access: Access;
  readonly servers: ReadonlySet<string> | undefined;
}

export interface CompiledPolicy {
  readonly label: string;
  readonly actors: readonly ActorMatcher[];
  readonly tools: PatternIndex<PolicyEntry>;
  readonly resources: PatternIndex<PolicyEntry>;
  readonly prompts: PatternIndex<PolicyEntry>;
  readonly methodsDefault: 'allow' | 'deny';
  readonly methodsAllow: GlobSet;
  readonly methodsDeny: GlobSet;
  readonly riskConfirm: ReadonlySet<Risk>;
  readonly riskDeny: ReadonlySet<Risk>;
  /** Roles whose holders may approve another user's risky call on the approval page. */
  readonly approverRoles: ReadonlySet<string>;
  /** server ('*' = any) -> tool -> sha256 hex of the canonical definition. */
  readonly pins: ReadonlyMap<string, ReadonlyMap<string, string>>;
  /** Tool name or glob -> read or write, for grants with access: read. */
  readonly toolRegistry: PatternIndex<RegistryEntry>;
  readonly ruleCount: number;
}

function toSet(v: StringOrList | undefined): ReadonlySet<string> | undefined {
  if (v === undefined) return undefined;
  return new Set(typeof v === 'string' ? [v] : v);
}

/** Compile one or more validated documents (file first, then inline) into one policy. */
export function compilePolicy(docs: ReadonlyArray<{ doc: PolicyDoc; label: string; rulePrefix?: string }>): CompiledPolicy {
  // A fresh Ajv per compile: ajv caches every compiled schema, so reusing one instance across
  // hot reloads would grow without bound.
  const argsAjv = addFormats(new Ajv({ allErrors: false, strict: false }));
  const actors: ActorMatcher[] = [];
  const tools = new PatternIndex<PolicyEntry>();
  const resources = new PatternIndex<PolicyEntry>();
  const prompts = new PatternIndex<PolicyEntry>();
  const methodsAllow: string[] = [];
  const methodsDeny: string[] = [];
  let methodsDefault: 'allow' | 'deny' = 'allow';
  const riskConfirm = new Set<Risk>();
  const riskDeny = new Set<Risk>();
  const approverRoles = new Set<string>();
  const pins = new Map<string, Map<string, string>>();
  const toolRegistry = new PatternIndex<RegistryEntry>();
  const usedNames = new Set<string>();
  let ruleCount = 0;

  for (const { doc, label, rulePrefix = '' } of docs) {
    const compileArgs = (schema: object | boolean | undefined, path: string): ValidateFunction | undefined => {
      if (schema === undefined) return undefined;
      try {
        return argsAjv.compile(schema);
      } catch (err) {
        throw new PolicyError(`${label}: ${path}/arguments is not a valid JSON Schema: ${(err as Error).message}`);
      }
    };
    const uniqueName = (name: string, path: string): string => {
      if (usedNames.has(name)) throw new PolicyError(`${label}: ${path}/name '${name}' is used twice`);
      usedNames.add(name);
      return name;
    };

    if (doc.methods?.default === 'deny') methodsDefault = 'deny';
    methodsAllow.push(...(doc.methods?.allow ?? []));
    methodsDeny.push(...(doc.methods?.deny ?? []));
    for (const r of doc.risk?.confirm ?? []) riskConfirm.add(r);
    for (const r of doc.risk?.deny ?? []) riskDeny.add(r);
    for (const r of doc.confirmation?.approver_roles ?? []) approverRoles.add(r);
    for (const [server, map] of Object.entries(doc.pins ?? {})) {
      const target = pins.get(server) ?? new Map<string, string>();
      for (const [tool, pin] of Object.entries(map)) target.set(tool, pin.slice('sha256:'.length));
      pins.set(server, target);
    }
    // Read/write: what the reviewed registry says each tool does.
    for (const t of doc.tool_registry ?? []) toolRegistry.add(t.name, { access: t.access, servers: toSet(t.server) });

    for (const { a, path, defaultName } of actorEntries(doc)) {
      const name = uniqueName(a.name ?? `${rulePrefix}${defaultName}`, path);
      const fields = new Map<ActorField, ReadonlySet<string>>();
      for (const f of ACTOR_FIELDS) {
        const s = toSet(a.actor[f]);
        if (s) fields.set(f, s);
      }
      const actorIndex = actors.length;
      actors.push({ name, fields, roles: toSet(a.actor.role) });
      const actorServers = toSet(a.servers);
      const serversOf = (s: StringOrList | undefined): ReadonlySet<string> | undefined => toSet(s) ?? actorServers;
      const base = { actor: actorIndex, auth: undefined, access: undefined, risk: undefined, confirm: false, args: undefined, reason: undefined };

      (a.allowed_tools ?? []).forEach((t, j) => {
        const e = typeof t === 'string' ? { name: t } : t;
        tools.add(e.name, {
          ...base,
          effect: 'allow',
          rule: `${name}/allowed_tools/${e.name}`,
          pattern: e.name,
          servers: serversOf(e.server),
          // A read-only actor caps every tool grant it has.
          access: a.access === 'read' ? 'read' : e.access,
          risk: e.risk,
          confirm: e.requires_user_confirmation === true,
          args: compileArgs(e.arguments, `${path}/allowed_tools/${j}`),
        });
        ruleCount++;
      });
      (a.denied_tools ?? []).forEach((t) => {
        const e = typeof t === 'string' ? { name: t } : t;
        tools.add(e.name, { ...base, effect: 'deny', rule: `${name}/denied_tools/${e.name}`, pattern: e.name, servers: serversOf(e.server), reason: e.reason });
        ruleCount++;
      });
      (a.allowed_resources ?? []).forEach((r) => {
        const e = typeof r === 'string' ? { uri: r } : r;
        resources.add(e.uri, {
          ...base,
          effect: 'allow',
          rule: `${name}/allowed_resources/${e.uri}`,
          pattern: e.uri,
          servers: serversOf(e.server),
          risk: e.risk,
          confirm: e.requires_user_confirmation === true,
        });
        ruleCount++;
      });
      (a.denied_resources ?? []).forEach((r) => {
        const e = typeof r === 'string' ? { uri: r } : r;
        resources.add(e.uri, { ...base, effect: 'deny', rule: `${name}/denied_resources/${e.uri}`, pattern: e.uri, servers: serversOf(e.server), reason: e.reason });
        ruleCount++;
      });
      (a.allowed_prompts ?? []).forEach((p) => {
        const e = typeof p === 'string' ? { name: p } : p;
        prompts.add(e.name, {
          ...base,
          effect: 'allow',
          rule: `${name}/allowed_prompts/${e.name}`,
          pattern: e.name,
          servers: serversOf(e.server),
          confirm: e.requires_user_confirmation === true,
        });
        ruleCount++;
      });
      (a.denied_prompts ?? []).forEach((p) => {
        const e = typeof p === 'string' ? { name: p } : p;
        prompts.add(e.name, { ...base, effect: 'deny', rule: `${name}/denied_prompts/${e.name}`, pattern: e.name, servers: serversOf(e.server), reason: e.reason });
        ruleCount++;
      });
    }

    for (const { r, path, index } of routeEntries(doc)) {
      const name = uniqueName(r.name ?? `${rulePrefix}routes[${index}]`, path);
      const fields = new Map<ActorField, ReadonlySet<string>>();
      const auth = r.auth ?? {};
      const pairs: Array<[ActorField, StringOrList | undefined]> = [
        ['app', auth.require_app],
        ['agent', auth.require_agent],
        ['tenant', auth.require_tenant],
        ['environment', auth.require_environment],
      ];
      for (const [f, v] of pairs) {
        const s = toSet(v);
        if (s) fields.set(f, s);
      }
      const effect = r.action ?? 'allow';
      const entry: PolicyEntry = {
        effect,
        rule: `routes/${name}`,
        reason: r.reason,
        actor: undefined,
        auth: { requireUser: auth.require_user === true, fields, roles: toSet(auth.require_role) },
        servers: toSet(r.match.server),
        access: r.access,
        risk: r.risk,
        confirm: r.requires_user_confirmation === true,
        args: compileArgs(r.arguments, path),
        pattern: '',
      };
      const m = r.match;
      const onlyServer = m.tools === undefined && m.resources === undefined && m.prompts === undefined;
      if (!onlyServer && r.arguments !== undefined && m.tools === undefined) {
        throw new PolicyError(`${label}: ${path}/arguments only applies to tools; add match.tools`);
      }
      const add = (index: PatternIndex<PolicyEntry>, patterns: readonly string[]): void => {
        for (const p of patterns) {
          index.add(p, { ...entry, pattern: p });
          ruleCount++;
        }
      };
      add(tools, onlyServer ? ['*'] : (m.tools ?? []));
      add(resources, onlyServer ? ['*'] : (m.resources ?? []));
      add(prompts, onlyServer ? ['*'] : (m.prompts ?? []));
    }
  }

  return {
    label: docs.map((d) => d.label).join(' + '),
    actors,
    tools,
    resources,
    prompts,
    methodsDefault,
    methodsAllow: new GlobSet(methodsAllow),
    methodsDeny: new GlobSet(methodsDeny),
    riskConfirm,
    riskDeny,
    approverRoles,
    pins,
    toolRegistry,
    ruleCount,
  };
}
