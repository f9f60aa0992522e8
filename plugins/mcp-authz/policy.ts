// Policy: load (YAML file or inline object), validate against schemas/mcp-policy.schema.json
// with errors that name the field path, and compile into indexes so a decision is a few map
// lookups. PolicySource keeps a file hot-reloaded: fs.watch plus a periodic stat fallback,
// debounced; an invalid new version is rejected (logged) and the last good one stays.

import { watch, type FSWatcher } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { load as loadYaml } from 'js-yaml';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsImport from 'ajv-formats';
import { loadSchema } from '../../runner/host/schema-file.js';
import { GlobSet, PatternIndex } from './match.js';
import { log } from './log.js';

export type Risk = 'read-only' | 'write' | 'financial' | 'security-sensitive' | 'production';
export type Access = 'read' | 'write';
export type UseKind = 'tool' | 'resource' | 'prompt';

/** Identity fields an actor entry or route auth can test. */
export const ACTOR_FIELDS = ['user', 'app', 'agent', 'tenant', 'environment'] as const;
export type ActorField = (typeof ACTOR_FIELDS)[number];

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
  /** server ('*' = any) -> tool -> sha256 hex of the canonical definition. */
  readonly pins: ReadonlyMap<string, ReadonlyMap<string, string>>;
  /** Tool name or glob -> read or write, for grants with access: read. */
  readonly toolRegistry: PatternIndex<RegistryEntry>;
  readonly ruleCount: number;
}

/** A policy that failed to load or validate; message lists every problem with its field path. */
export class PolicyError extends Error {
  override readonly name = 'PolicyError';
}

type Formats = (ajv: Ajv) => Ajv;
const addFormats = ((addFormatsImport as unknown as { default?: Formats }).default ?? addFormatsImport) as unknown as Formats;

const policySchema = loadSchema('mcp-policy.schema.json');
const validatePolicyShape: ValidateFunction = new Ajv({ allErrors: true, strict: false }).compile(policySchema);

/** Turn ajv errors into "label: /path message (allowed values)" lines, most useful first. */
export function formatAjvErrors(label: string, errors: readonly ErrorObject[] | null | undefined): string[] {
  const out = new Set<string>();
  for (const e of errors ?? []) {
    let msg = e.message ?? 'is invalid';
    if (e.keyword === 'enum') {
      const allowed = (e.params as { allowedValues?: unknown[] }).allowedValues ?? [];
      msg += ` (${allowed.map(String).join(', ')})`;
    } else if (e.keyword === 'additionalProperties') {
      msg = `must NOT have additional property '${(e.params as { additionalProperty?: string }).additionalProperty}'`;
    }
    out.add(`${label}: ${e.instancePath || '/'} ${msg}`);
  }
  return [...out];
}

/** Validate a parsed policy document; throws PolicyError naming every bad field. */
export function validatePolicyDocument(doc: unknown, label: string): asserts doc is PolicyDoc {
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    throw new PolicyError(`${label}: / must be a mapping (object) at the top level`);
  }
  if (!validatePolicyShape(doc)) {
    throw new PolicyError(formatAjvErrors(label, validatePolicyShape.errors).slice(0, 10).join('\n'));
  }
}

/** Parse YAML text (JSON is YAML) and validate it. */
export function parsePolicyText(text: string, label: string): PolicyDoc {
  let doc: unknown;
  try {
    doc = loadYaml(text);
  } catch (err) {
    throw new PolicyError(`${label}: invalid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  validatePolicyDocument(doc, label);
  return doc;
}

// ---- The document shape (as validated by the schema) ----

type StringOrList = string | string[];
interface ActorMatchDoc { user?: StringOrList; app?: StringOrList; agent?: StringOrList; tenant?: StringOrList; environment?: StringOrList; role?: StringOrList }
interface AllowedToolDoc { name: string; server?: StringOrList; access?: Access; risk?: Risk; requires_user_confirmation?: boolean; arguments?: object | boolean }
interface DeniedNameDoc { name: string; server?: StringOrList; reason?: string }
interface AllowedResourceDoc { uri: string; server?: StringOrList; risk?: Risk; requires_user_confirmation?: boolean }
interface DeniedResourceDoc { uri: string; server?: StringOrList; reason?: string }
interface AllowedPromptDoc { name: string; server?: StringOrList; requires_user_confirmation?: boolean }
interface ActorPolicyDoc {
  name?: string;
  actor: ActorMatchDoc;
  servers?: StringOrList;
  /** read: every tool grant of this actor covers read-only tools only. */
  access?: Access;
  allowed_tools?: Array<string | AllowedToolDoc>;
  denied_tools?: Array<string | DeniedNameDoc>;
  allowed_resources?: Array<string | AllowedResourceDoc>;
  denied_resources?: Array<string | DeniedResourceDoc>;
  allowed_prompts?: Array<string | AllowedPromptDoc>;
  denied_prompts?: Array<string | DeniedNameDoc>;
}
export interface RouteRuleDoc {
  name?: string;
  match: { server?: StringOrList; tools?: string[]; resources?: string[]; prompts?: string[] };
  auth?: {
    require_user?: boolean;
    require_app?: StringOrList;
    require_role?: StringOrList;
    require_agent?: StringOrList;
    require_tenant?: StringOrList;
    require_environment?: StringOrList;
  };
  action?: 'allow' | 'deny';
  reason?: string;
  access?: Access;
  risk?: Risk;
  requires_user_confirmation?: boolean;
  arguments?: object | boolean;
  /** Applied by mcp-ratelimit (authz_policy_file). */
  limits?: { requests_per_minute?: number; concurrent_calls?: number; by?: string[] };
  /** Applied by mcp-redact (policy_file). */
  data_policy?: { redact?: string[] };
}
export interface PolicyDoc {
  version?: number;
  methods?: { default?: 'allow' | 'deny'; allow?: string[]; deny?: string[] };
  risk?: { confirm?: Risk[]; deny?: Risk[] };
  actors?: ActorPolicyDoc[];
  /** The requirements document's per-actor shape: one actor entry or a list of them. */
  mcp_tool_policy?: ActorPolicyDoc | ActorPolicyDoc[];
  routes?: RouteRuleDoc[];
  mcp_gateway?: { routes?: RouteRuleDoc[] };
  pins?: Record<string, Record<string, string>>;
  tool_registry?: Array<{ name: string; server?: StringOrList; access: Access }>;
}

// ---- Compilation ----

/**
 * Every route rule with its field path: `routes[]`, then `mcp_gateway.routes[]`. An unnamed
 * rule is called `routes[<index>]` (index over both lists); mcp-ratelimit and mcp-redact name
 * what they derive from a rule the same way.
 */
export function routeEntries(doc: PolicyDoc): Array<{ r: RouteRuleDoc; path: string; index: number }> {
  const out: Array<{ r: RouteRuleDoc; path: string; index: number }> = [];
  (doc.routes ?? []).forEach((r, i) => out.push({ r, path: `/routes/${i}`, index: out.length }));
  (doc.mcp_gateway?.routes ?? []).forEach((r, i) => out.push({ r, path: `/mcp_gateway/routes/${i}`, index: out.length }));
  return out;
}

/** The rule name of a route entry (as in decisions: routes/<name>). */
export function routeEntryName(r: RouteRuleDoc, index: number): string {
  return r.name ?? `routes[${index}]`;
}

/**
 * Every actor entry with its field path: `actors[]`, then `mcp_tool_policy` (one entry, as in
 * the requirements document, or a list), all compiled the same way.
 */
function actorEntries(doc: PolicyDoc): Array<{ a: ActorPolicyDoc; path: string; defaultName: string }> {
  const out = (doc.actors ?? []).map((a, i) => ({ a, path: `/actors/${i}`, defaultName: `actors[${i}]` }));
  const tp = doc.mcp_tool_policy;
  if (Array.isArray(tp)) tp.forEach((a, i) => out.push({ a, path: `/mcp_tool_policy/${i}`, defaultName: `mcp_tool_policy[${i}]` }));
  else if (tp !== undefined) out.push({ a: tp, path: '/mcp_tool_policy', defaultName: 'mcp_tool_policy' });
  return out;
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
    pins,
    toolRegistry,
    ruleCount,
  };
}

/** Read, parse, validate and compile one policy file (used by the explain CLI and reloads). */
export async function loadPolicyFile(path: string): Promise<{ doc: PolicyDoc; label: string }> {
  const label = basename(path);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new PolicyError(`${label}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return { doc: parsePolicyText(text, label), label };
}

// ---- Hot reload ----

export interface PolicySnapshot {
  /** Increments on every accepted version. */
  readonly version: number;
  readonly doc: PolicyDoc | undefined;
  readonly label: string;
  /** Why the file is unusable when no good version was ever loaded. */
  readonly error: string | undefined;
}

/** A watched policy file. The last good version stays when a new one is invalid. */
export class PolicySource {
  private snapshot: PolicySnapshot;
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private lastStat = '';
  private loading: Promise<void> | undefined;
  private pending = false;
  private closed = false;
  /** Resolves once the first load attempt finished. */
  readonly ready: Promise<void>;

  constructor(
    readonly path: string,
    private readonly intervalMs: number,
    private readonly debounceMs = 50,
  ) {
    this.snapshot = { version: 0, doc: undefined, label: basename(path), error: `${basename(path)}: not loaded yet` };
    this.ready = this.reload();
    this.startWatching();
  }

  get current(): PolicySnapshot {
    return this.snapshot;
  }

  /** Load now (serialised: a change during a load triggers one more load afterwards). */
  reload(): Promise<void> {
    if (this.loading) {
      this.pending = true;
      return this.loading;
    }
    this.loading = this.loadOnce().finally(() => {
      this.loading = undefined;
      if (this.pending && !this.closed) {
        this.pending = false;
        void this.reload();
      }
    });
    return this.loading;
  }

  private async loadOnce(): Promise<void> {
    try {
      const st = await stat(this.path).catch(() => undefined);
      this.lastStat = st ? `${st.mtimeMs}:${st.size}:${st.ino}` : 'missing';
      const { doc, label } = await loadPolicyFile(this.path);
      // Compile once here too so a schema-valid file with a broken arguments schema is rejected
      // before it replaces the last good one.
      compilePolicy([{ doc, label }]);
      this.snapshot = { version: this.snapshot.version + 1, doc, label, error: undefined };
      log.info({ path: this.path, version: this.snapshot.version }, 'policy loaded');
    } catch (err) {
      const message = (err as Error).message;
      if (this.snapshot.doc === undefined) {
        this.snapshot = { ...this.snapshot, error: message };
        log.error({ path: this.path, error: message }, 'policy unusable: calls on routes using it are refused');
      } else {
        log.error({ path: this.path, error: message, keptVersion: this.snapshot.version }, 'new policy rejected; keeping the last good version');
      }
    }
  }

  private schedule(): void {
    if (this.closed) return;
    if (this.debounce) clearTimeout(this.debounce);
    this.debounce = setTimeout(() => {
      this.debounce = undefined;
      void this.reload();
    }, this.debounceMs);
    this.debounce.unref();
  }

  private startWatching(): void {
    // Watch the directory: editors and config management replace files (rename), which a
    // file watch would lose.
    const dir = dirname(this.path);
    const file = basename(this.path);
    try {
      this.watcher = watch(dir, { persistent: false }, (_event, name) => {
        if (name === null || name === file) this.schedule();
      });
      this.watcher.on('error', () => {
        this.watcher?.close();
        this.watcher = undefined;
      });
    } catch {
      this.watcher = undefined; // the stat poll below still catches changes
    }
    this.timer = setInterval(() => {
      stat(this.path).then(
        (st) => {
          const key = `${st.mtimeMs}:${st.size}:${st.ino}`;
          if (key !== this.lastStat) this.schedule();
        },
        () => {
          if (this.lastStat !== 'missing') {
            this.lastStat = 'missing';
            this.schedule();
          }
        },
      );
    }, this.intervalMs);
    this.timer.unref();
  }

  close(): void {
    this.closed = true;
    this.watcher?.close();
    if (this.timer) clearInterval(this.timer);
    if (this.debounce) clearTimeout(this.debounce);
  }
}

const MAX_SOURCES = 64;
const sources = new Map<string, PolicySource>();

/** One watched source per policy file path, shared by every route conf that names it. */
export function policySourceFor(path: string, intervalMs: number): PolicySource {
  const key = resolve(path);
  let src = sources.get(key);
  if (!src) {
    if (sources.size >= MAX_SOURCES) throw new PolicyError(`too many distinct policy files (limit ${MAX_SOURCES})`);
    src = new PolicySource(key, intervalMs);
    sources.set(key, src);
  }
  return src;
}

/** How often a policy file is stat-ed when fs.watch is silent, unless a conf says otherwise. */
export const DEFAULT_RELOAD_INTERVAL_MS = 2000;

/**
 * For the plugins that read the route entries of the shared policy file (mcp-ratelimit,
 * mcp-redact), at prepare: the watched source, first load done. Errors start with `field`,
 * the conf field that named the file.
 */
export async function loadedPolicySource(path: string, field: string): Promise<PolicySource> {
  let source: PolicySource;
  try {
    source = policySourceFor(path, DEFAULT_RELOAD_INTERVAL_MS);
  } catch (err) {
    throw new Error(`${field}: ${(err as Error).message}`);
  }
  await source.ready;
  if (source.current.doc === undefined) throw new Error(`${field}: ${source.current.error ?? `${path} not loaded`}`);
  return source;
}

/** Stop every watcher (plugin shutdown, tests). */
export function closePolicySources(): void {
  for (const s of sources.values()) s.close();
  sources.clear();
}
