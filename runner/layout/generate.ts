// The route layout: the response phase (ext-plugin-post-resp) costs about a third
// of APISIX's throughput, so only calls whose answers policy must read go to the FULL route.
// Every other call takes a pre-req-only FAST route that matches it positively with `vars` on
// post_arg.method / post_arg.params.name (2026-07-28 calls: on their routing headers, see
// modern.ts). Which calls are fast is decided by asking the real
// host (Host.needsResponsePhase) about synthetic calls, which is the very check the runner
// applies to calls arriving on a fast route: the layout and the runtime guard cannot disagree.

import { access, constants } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import { Host, ROUTE_ENTRY, type CompiledChain } from '../host/chain.js';
import { PluginRegistry, loadPlugins, formatConfErrors } from '../host/registry.js';
import type { ExtraInfoChannel } from '../protocol/handler.js';
import type { ExtraInfoReq, ExtraInfoResp, HTTPReqCallReq, TextEntry } from '../protocol/messages.js';
import type { GatewayDoc } from './gateway.js';
import { classifyModern, modernMethodVars, modernToolVars } from './modern.js';

export interface ExtPluginConf {
  conf: { name: string; value: string }[];
  allow_degradation: false;
}

/** An APISIX route (same JSON in standalone apisix.yaml and in Admin API bodies). */
export interface ApisixRoute {
  id: string;
  name: string;
  desc: string;
  uri: string;
  hosts?: string[];
  methods: string[];
  priority: number;
  vars?: unknown[];
  plugins: { 'ext-plugin-pre-req': ExtPluginConf; 'ext-plugin-post-resp'?: ExtPluginConf };
  upstream: Record<string, unknown>;
}

export interface Layout {
  routes: ApisixRoute[];
  /** Which calls go where and why, one line each. */
  explanation: string[];
}

export interface LayoutOptions {
  /** Directory relative file paths in plugin confs resolve against (the runner's working directory). */
  baseDir: string;
  /** A registry with the plugins loaded; default: the built-in plugins. */
  registry?: PluginRegistry;
}

export class LayoutError extends Error {}

/** MCP methods a client sends (2025-06-18 to 2026-07-28), other than tools/call (decided per tool). */
export const CLIENT_METHODS: readonly string[] = [
  'initialize',
  'server/discover',
  'subscriptions/listen',
  'ping',
  'notifications/initialized',
  'notifications/cancelled',
  'notifications/progress',
  'notifications/roots/list_changed',
  'tools/list',
  'resources/list',
  'resources/templates/list',
  'resources/read',
  'resources/subscribe',
  'resources/unsubscribe',
  'prompts/list',
  'prompts/get',
  'completion/complete',
  'logging/setLevel',
];

/** Conf fields that name files the plugins read at prepare time. */
const FILE_FIELDS: Readonly<Record<string, readonly string[]>> = {
  'mcp-authz': ['policy_file'],
  'mcp-ratelimit': ['policy_file'],
};

/** Placeholder for secrets the layout check does not need (no call is ever authenticated). */
const PLACEHOLDER_SECRET = 'layout-check-placeholder-secret-not-used-for-any-call-0123456789';

const encoder = new TextEncoder();

/** Answers ExtraInfo like APISIX would for one synthetic call: the body, and a few variables. */
class SyntheticExtra implements ExtraInfoChannel {
  constructor(private readonly body: Uint8Array | undefined, private readonly vars: ReadonlyMap<string, string>) {}
  async ask(q: ExtraInfoReq): Promise<ExtraInfoResp> {
    if (q.type === 'reqBody') return { result: this.body };
    if (q.type === 'var') {
      const v = this.vars.get(q.name);
      return { result: v === undefined ? undefined : encoder.encode(v) };
    }
    return { result: undefined };
  }
}

interface Probe {
  label: string;
  method: 'POST' | 'GET' | 'DELETE';
  body?: Record<string, unknown>;
}

function rpc(method: string, params: Record<string, unknown>, id: number | undefined = 1): Record<string, unknown> {
  const msg: Record<string, unknown> = { jsonrpc: '2.0', method, params };
  if (id !== undefined) msg['id'] = id;
  return msg;
}

/** Representative synthetic calls for a method (several when a name parameter may matter). */
function methodProbes(method: string, g: GatewayDoc): Probe[] {
  const post = (params: Record<string, unknown>, label = method): Probe => ({
    label,
    method: 'POST',
    body: rpc(method, params, method.startsWith('notifications/') ? undefined : 1),
  });
  switch (method) {
    case 'initialize':
      return [post({ protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'layout-probe', version: '0' } })];
    case 'notifications/cancelled':
      return [post({ requestId: 1 })];
    case 'notifications/progress':
      return [post({ progressToken: 1, progress: 1 })];
    case 'resources/read':
    case 'resources/subscribe':
    case 'resources/unsubscribe':
      return ['layout-probe://unlisted', ...(g.resources ?? [])].map((uri) => post({ uri }, `${method} ${uri}`));
    case 'prompts/get':
      return ['layout-probe.unlisted', ...(g.prompts ?? [])].map((name) => post({ name, arguments: {} }, `${method} ${name}`));
    case 'completion/complete':
      return [post({ ref: { type: 'ref/prompt', name: 'layout-probe' }, argument: { name: 'a', value: '' } })];
    case 'logging/setLevel':
      return [post({ level: 'info' })];
    default:
      return [post({})];
  }
}

/** A copy of the conf with relative file paths made absolute against baseDir (check chain only). */
function resolveFiles(name: string, conf: Record<string, unknown>, baseDir: string): Record<string, unknown> {
  const fields = FILE_FIELDS[name];
  if (!fields) return conf;
  const out = { ...conf };
  for (const f of fields) {
    const v = out[f];
    if (typeof v === 'string' && !isAbsolute(v)) out[f] = resolve(baseDir, v);
  }
  return out;
}

function envRefs(value: unknown, out: Set<string>): void {
  if (typeof value === 'string') {
    if (value.startsWith('$env://')) out.add(value.slice('$env://'.length));
  } else if (Array.isArray(value)) {
    for (const v of value) envRefs(v, out);
  } else if (value !== null && typeof value === 'object') {
    for (const v of Object.values(value)) envRefs(v, out);
  }
}

function entry(name: string, value: unknown): { name: string; value: string } {
  return { name, value: JSON.stringify(value) };
}

/** The mcp-route settings entry. */
function routeSettings(g: GatewayDoc, postResp: boolean, validateBody: boolean): { name: string; value: string } {
  const s: Record<string, unknown> = { server: g.server, post_resp: postResp };
  if (g.max_body_bytes !== undefined) s['max_body_bytes'] = g.max_body_bytes;
  if (validateBody) s['validate_body'] = true;
  return entry(ROUTE_ENTRY, s);
}

export async function generateLayout(g: GatewayDoc, opts: LayoutOptions): Promise<Layout> {
  let registry = opts.registry;
  if (!registry) {
    registry = new PluginRegistry();
    const failures = await loadPlugins(registry);
    if (failures.length > 0) throw new LayoutError(`plugins failed to load:\n${failures.join('\n')}`);
  }

  // Every conf is validated here, with the runner's own validators; errors name the field.
  const errors: string[] = [];
  for (const p of g.plugins) {
    const reg = registry.get(p.name);
    if (!reg) {
      errors.push(`${p.name}: unknown plugin (known: ${registry.names().join(', ')})`);
      continue;
    }
    const copy = structuredClone(p.conf);
    if (!reg.validate(copy)) errors.push(formatConfErrors(p.name, reg.validate.errors));
  }
  // Files the runner will read must exist now (the plugins would only log and refuse calls).
  for (const p of g.plugins) {
    for (const f of FILE_FIELDS[p.name] ?? []) {
      const v = p.conf[f];
      if (typeof v !== 'string') continue;
      try {
        await access(resolve(opts.baseDir, v), constants.R_OK);
      } catch (err) {
        errors.push(`${p.name}: /${f} ${v}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}; relative paths resolve against ${opts.baseDir})`);
      }
    }
  }
  if (errors.length > 0) throw new LayoutError(errors.join('\n'));

  const chainEntries = g.plugins.map((p) => entry(p.name, p.conf));
  const responseNames = g.response_plugins ?? g.plugins.filter((p) => registry.get(p.name)!.plugin.onResponse !== undefined).map((p) => p.name);
  const responseEntries = responseNames.map((n) => entry(n, g.plugins.find((p) => p.name === n)!.conf));

  const host = new Host({ registry });
  const env = new Set<string>();
  envRefs(g.plugins.map((p) => p.conf), env);
  const placeheld = [...env].filter((n) => process.env[n] === undefined || process.env[n] === '');
  for (const n of placeheld) process.env[n] = PLACEHOLDER_SECRET;
  try {
    // Only plugins that can ask for the response phase take part in the check: the others
    // cannot change its answer, and preparing them would have side effects (audit sinks).
    const checking = g.plugins.filter((p) => registry.get(p.name)!.plugin.needsResponsePhase !== undefined);
    const checkConf: TextEntry[] = [routeSettings(g, false, true), ...checking.map((p) => entry(p.name, resolveFiles(p.name, p.conf, opts.baseDir)))];
    const chain = host.buildChain(checkConf, `layout-check#${g.server}`);
    await settle(chain);

    const needs = async (probe: Probe): Promise<string | undefined> => {
      const body = probe.body === undefined ? undefined : encoder.encode(JSON.stringify(probe.body));
      const headers: TextEntry[] = [{ name: 'accept', value: 'application/json, text/event-stream' }];
      if (body) {
        headers.push({ name: 'content-type', value: 'application/json' });
        headers.push({ name: 'content-length', value: String(body.length) });
      }
      const call: HTTPReqCallReq = { id: 1, srcIp: undefined, method: probe.method, path: g.uri, args: [], headers, confToken: 0 };
      const vars = new Map([['request_method', probe.method], ['uri', g.uri]]);
      try {
        return await host.needsResponsePhase(chain, call, new SyntheticExtra(body, vars));
      } catch (err) {
        throw new LayoutError(`checking ${probe.label}: ${(err as Error).message}`);
      }
    };

    const explanation: string[] = [];
    const fastMethods: string[] = [];
    const slowMethods: string[] = [];
    for (const method of CLIENT_METHODS) {
      let needer: { plugin: string; label: string } | undefined;
      for (const probe of methodProbes(method, g)) {
        const plugin = await needs(probe);
        if (plugin) {
          needer = { plugin, label: probe.label };
          break;
        }
      }
      if (needer) {
        slowMethods.push(method);
        explanation.push(`${method} -> full: ${needer.plugin} needs the response phase (probe: ${needer.label})`);
      } else {
        fastMethods.push(method);
        explanation.push(`${method} -> fast-methods: no plugin needs the response phase`);
      }
    }
    const fastTools: string[] = [];
    for (const tool of g.tools) {
      const plugin = await needs({ label: `tools/call ${tool}`, method: 'POST', body: rpc('tools/call', { name: tool, arguments: {} }) });
      if (plugin) explanation.push(`tools/call ${tool} -> full: ${plugin} needs the response phase`);
      else {
        fastTools.push(tool);
        explanation.push(`tools/call ${tool} -> fast-tools: no plugin needs the response phase`);
      }
    }
    const modern = await classifyModern(g, needs, explanation);
    const sessionNeeder = (await needs({ label: 'GET (session stream)', method: 'GET' })) ?? (await needs({ label: 'DELETE (session end)', method: 'DELETE' }));

    const ids = {
      full: `mcp-${g.server}-full`,
      fastMethods: `mcp-${g.server}-fast-methods`,
      fastTools: `mcp-${g.server}-fast-tools`,
      fastMethods2026: `mcp-${g.server}-fast-methods-2026`,
      fastTools2026: `mcp-${g.server}-fast-tools-2026`,
      session: `mcp-${g.server}-session`,
      prm: `mcp-${g.server}-prm`,
      approvals: `mcp-${g.server}-approvals`,
    };
    const base = (id: string, desc: string, uri: string, methods: string[], priority: number): Omit<ApisixRoute, 'plugins'> => {
      const r: Omit<ApisixRoute, 'plugins'> = { id, name: id, desc, uri, methods, priority, upstream: {} };
      if (g.hosts) r.hosts = [...g.hosts];
      return r;
    };
    const pre = (settings: { name: string; value: string }, list: { name: string; value: string }[]): ExtPluginConf => ({ conf: [settings, ...list], allow_degradation: false });
    const fullPlugins = {
      'ext-plugin-pre-req': pre(routeSettings(g, true, false), chainEntries),
      'ext-plugin-post-resp': pre(routeSettings(g, true, false), responseEntries),
    };
    const fastPlugins = { 'ext-plugin-pre-req': pre(routeSettings(g, false, true), chainEntries) };

    const routes: ApisixRoute[] = [
      {
        ...base(ids.full, `${g.server}: every MCP call no fast route matches (batches, responses, unlisted tools, calls whose answers policy reads); pre-req + post-resp`, g.uri, ['POST'], 0),
        plugins: fullPlugins,
      },
    ];
    explanation.unshift(
      `${ids.full}: POST ${g.uri}, priority 0, pre-req + post-resp [${responseNames.join(', ')}]: the default for anything not matched positively below (batches, JSON-RPC responses, unlisted tools, unreadable bodies)`,
    );
    if (fastMethods.length > 0) {
      routes.push({
        ...base(ids.fastMethods, `${g.server}: methods whose answers no plugin reads; pre-req only`, g.uri, ['POST'], 10),
        vars: [['post_arg.method', 'in', fastMethods]],
        plugins: fastPlugins,
      });
      explanation.push(`${ids.fastMethods}: POST ${g.uri}, priority 10, pre-req only, post_arg.method in [${fastMethods.join(', ')}]`);
    }
    if (fastTools.length > 0) {
      routes.push({
        ...base(ids.fastTools, `${g.server}: tools/call of reviewed tools whose results no plugin reads; pre-req only`, g.uri, ['POST'], 10),
        vars: [
          ['post_arg.method', '==', 'tools/call'],
          ['post_arg.params.name', 'in', fastTools],
        ],
        plugins: fastPlugins,
      });
      explanation.push(`${ids.fastTools}: POST ${g.uri}, priority 10, pre-req only, tools/call with params.name in [${fastTools.join(', ')}]`);
    }
    if (modern.fastMethods.length > 0) {
      routes.push({
        ...base(ids.fastMethods2026, `${g.server}: 2026-07-28 methods whose answers no plugin reads, matched on the Mcp-Method header; pre-req only`, g.uri, ['POST'], 20),
        vars: modernMethodVars(modern.fastMethods),
        plugins: fastPlugins,
      });
      explanation.push(`${ids.fastMethods2026}: POST ${g.uri}, priority 20, pre-req only, MCP-Protocol-Version 2026-07-28 and Mcp-Method in [${modern.fastMethods.join(', ')}]`);
    }
    if (modern.fastTools.length > 0) {
      routes.push({
        ...base(ids.fastTools2026, `${g.server}: 2026-07-28 tools/call of reviewed tools whose results no plugin reads, matched on the Mcp-Method and Mcp-Name headers; pre-req only`, g.uri, ['POST'], 20),
        vars: modernToolVars(modern.fastTools),
        plugins: fastPlugins,
      });
      explanation.push(`${ids.fastTools2026}: POST ${g.uri}, priority 20, pre-req only, MCP-Protocol-Version 2026-07-28, Mcp-Method tools/call and Mcp-Name in [${modern.fastTools.join(', ')}]`);
    }
    if (sessionNeeder) {
      // Fail closed rather than refuse every session: the stream is then buffered by post-resp.
      routes.push({ ...base(ids.session, `${g.server}: session stream (GET) and session end (DELETE); pre-req + post-resp`, g.uri, ['GET', 'DELETE'], 0), plugins: fullPlugins });
      explanation.push(`${ids.session}: GET/DELETE ${g.uri}, pre-req + post-resp because ${sessionNeeder} needs the response phase for them (server-sent streams are buffered)`);
    } else {
      routes.push({
        ...base(ids.session, `${g.server}: session stream (GET) and session end (DELETE); pre-req only so SSE streams natively`, g.uri, ['GET', 'DELETE'], 0),
        plugins: { 'ext-plugin-pre-req': pre(routeSettings(g, false, false), chainEntries) },
      });
      explanation.push(`${ids.session}: GET/DELETE ${g.uri}, pre-req only (identity, limits, audit, credentials; the stream is not buffered)`);
    }
    const authz = g.plugins.find((p) => p.name === 'mcp-authz');
    if (authz) {
      routes.push({
        ...base(ids.prm, `${g.server}: OAuth protected resource metadata (RFC 9728), answered by mcp-authz`, '/.well-known/oauth-protected-resource*', ['GET', 'HEAD'], 0),
        plugins: { 'ext-plugin-pre-req': pre(routeSettings(g, false, false), [entry(authz.name, authz.conf)]) },
      });
      explanation.push(`${ids.prm}: GET /.well-known/oauth-protected-resource*, pre-req only, mcp-authz answers it`);
      const page = approvalPagePath(authz.conf);
      if (page !== undefined) {
        const audit = g.plugins.find((p) => p.name === 'mcp-audit');
        const pageChain = [...(audit ? [entry(audit.name, audit.conf)] : []), entry(authz.name, authz.conf)];
        routes.push({
          ...base(ids.approvals, `${g.server}: the approval page of risky calls (URL-mode elicitation), answered by mcp-authz`, `${page}/*`, ['GET', 'POST'], 0),
          plugins: { 'ext-plugin-pre-req': pre(routeSettings(g, false, false), pageChain) },
        });
        explanation.push(`${ids.approvals}: GET/POST ${page}/*, pre-req only, mcp-authz answers it (approvals are audited)`);
      }
    }
    if (placeheld.length > 0) explanation.push(`note: unset secret references were given placeholders for the check only: ${placeheld.map((n) => `$env://${n}`).join(', ')}`);
    return { routes: routes.map((r) => ordered(r, g)), explanation };
  } finally {
    for (const n of placeheld) delete process.env[n];
    await host.shutdown();
  }
}

/** Where mcp-authz serves its approval page, or undefined when URL-mode confirmation is off. */
function approvalPagePath(conf: unknown): string | undefined {
  const c = (conf as { confirmation?: { channels?: { url?: boolean }; approval_page?: { path?: string } } } | undefined)?.confirmation;
  if (c?.channels?.url === false) return undefined;
  return (c?.approval_page?.path ?? '/mcp-approvals').replace(/\/+$/, '');
}

/** Readable key order (matchers, then plugins, then upstream); each route gets its own copies. */
function ordered(r: ApisixRoute, g: GatewayDoc): ApisixRoute {
  const out: ApisixRoute = { id: r.id, name: r.name, desc: r.desc, uri: r.uri, methods: r.methods, priority: r.priority, plugins: structuredClone(r.plugins), upstream: structuredClone(g.upstream) };
  if (r.hosts) out.hosts = r.hosts;
  if (r.vars) out.vars = r.vars;
  return {
    id: out.id, name: out.name, desc: out.desc, uri: out.uri,
    ...(out.hosts ? { hosts: out.hosts } : {}),
    methods: out.methods, priority: out.priority,
    ...(out.vars ? { vars: out.vars } : {}),
    plugins: out.plugins, upstream: out.upstream,
  };
}

/** Wait for async prepare() of every entry; a failure is a conf error. */
async function settle(chain: CompiledChain): Promise<void> {
  if (chain.error !== undefined) throw new LayoutError(chain.error.split('; ').join('\n'));
  await Promise.allSettled(chain.entries.map((e) => e.pending));
  const failed = chain.entries.filter((e) => e.error !== undefined).map((e) => e.error!);
  if (failed.length > 0) throw new LayoutError(failed.join('\n'));
}
