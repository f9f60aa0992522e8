// Route and consumer configuration in APISIX's own formats: the `routes:` / `consumers:`
// sections of a standalone apisix.yaml, which are the same JSON as Admin API bodies.
// Each route carries a conf version (APISIX's modifiedIndex) that goes into PrepareConf keys.

import { readFile } from 'node:fs/promises';
import { load as loadYaml } from 'js-yaml';

export type ExtPluginName = 'ext-plugin-pre-req' | 'ext-plugin-post-req' | 'ext-plugin-post-resp';
export const EXT_PLUGIN_NAMES: readonly ExtPluginName[] = ['ext-plugin-pre-req', 'ext-plugin-post-req', 'ext-plugin-post-resp'];

export interface PluginMeta {
  disable?: boolean;
  /** Replaces the body of every exit with status >= 400 (apisix/plugin.lua). */
  error_response?: unknown;
}

export interface ExtPluginConf {
  conf?: { name: string; value: string }[];
  allow_degradation?: boolean;
  _meta?: PluginMeta;
  [extra: string]: unknown;
}

export interface KeyAuthConf {
  header?: string;
  query?: string;
  hide_credentials?: boolean;
  _meta?: PluginMeta;
}

export interface UpstreamNode {
  host: string;
  port: number;
  weight?: number;
}

export interface UpstreamConf {
  type?: string;
  scheme?: 'http' | 'https';
  nodes: Record<string, number> | UpstreamNode[];
  /** Seconds, like APISIX. */
  timeout?: { connect?: number; send?: number; read?: number };
}

/** A lua-resty-expr rule list: [[var, op, value], ...] (AND), or ["OR"|"AND"|"!OR"|"!AND", ...]. */
export type VarsExpr = unknown[];

export interface RouteConf {
  id: string | number;
  name?: string;
  uri?: string;
  uris?: string[];
  host?: string;
  hosts?: string[];
  methods?: string[];
  vars?: VarsExpr;
  priority?: number;
  status?: number;
  plugins?: {
    'ext-plugin-pre-req'?: ExtPluginConf;
    'ext-plugin-post-req'?: ExtPluginConf;
    'ext-plugin-post-resp'?: ExtPluginConf;
    'key-auth'?: KeyAuthConf;
    [other: string]: unknown;
  };
  upstream: UpstreamConf;
}

export interface ConsumerConf {
  username: string;
  /** Shortcut for plugins['key-auth'].key. */
  key?: string;
  plugins?: { 'key-auth'?: { key: string } };
}

export interface ApisixYaml {
  routes?: RouteConf[];
  consumers?: ConsumerConf[];
}

/** A route as the emulator uses it: the original config plus its conf version. */
export interface LoadedRoute {
  conf: RouteConf;
  id: string;
  /** modifiedIndex: bumped whenever this route's config changes. */
  version: number;
  /** Position in the config, used to break priority ties deterministically. */
  order: number;
  nodes: UpstreamNode[];
}

/** Reads a standalone apisix.yaml (or JSON) file; the trailing `#END` marker is just a comment. */
export async function loadApisixYaml(path: string): Promise<ApisixYaml> {
  const text = await readFile(path, 'utf8');
  const doc: unknown = loadYaml(text);
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new Error(`${path}: expected a mapping with routes:`);
  return doc as ApisixYaml;
}

function parseNodes(route: RouteConf): UpstreamNode[] {
  const where = `route ${String(route.id)}: upstream.nodes`;
  const nodes = route.upstream?.nodes;
  if (nodes === undefined || nodes === null) throw new Error(`${where} is required`);
  if (Array.isArray(nodes)) {
    return nodes.map((n, i) => {
      if (typeof n?.host !== 'string' || typeof n.port !== 'number') throw new Error(`${where}[${i}] needs host and port`);
      return { host: n.host, port: n.port, weight: n.weight ?? 1 };
    });
  }
  return Object.entries(nodes).map(([hostPort, weight]) => {
    const at = hostPort.lastIndexOf(':');
    const host = at > 0 ? hostPort.slice(0, at) : hostPort;
    const port = at > 0 ? Number(hostPort.slice(at + 1)) : route.upstream.scheme === 'https' ? 443 : 80;
    if (!Number.isInteger(port)) throw new Error(`${where}: bad node "${hostPort}"`);
    return { host, port, weight };
  });
}

function validateRoute(route: RouteConf, index: number): void {
  if (route === null || typeof route !== 'object') throw new Error(`routes[${index}] must be an object`);
  if (route.id === undefined || route.id === null) throw new Error(`routes[${index}].id is required`);
  if (route.uri === undefined && route.uris === undefined) throw new Error(`route ${String(route.id)}: uri or uris is required`);
  for (const name of EXT_PLUGIN_NAMES) {
    const pc = route.plugins?.[name];
    if (pc === undefined) continue;
    if (pc.conf !== undefined) {
      if (!Array.isArray(pc.conf) || pc.conf.length === 0) throw new Error(`route ${String(route.id)}: plugins.${name}.conf must be a non-empty array`);
      pc.conf.forEach((e, i) => {
        if (typeof e?.name !== 'string' || e.name.length < 1 || e.name.length > 128) {
          throw new Error(`route ${String(route.id)}: plugins.${name}.conf[${i}].name must be a string of 1..128 chars`);
        }
        if (typeof e.value !== 'string') throw new Error(`route ${String(route.id)}: plugins.${name}.conf[${i}].value must be a string`);
      });
    }
  }
}

/**
 * Holds the route table and gives each route a modifiedIndex. Like etcd, one revision counter
 * for the whole store: a changed or new route gets the next revision, unchanged ones keep theirs.
 */
export class RouteTable {
  private revision = 0;
  private byId = new Map<string, { json: string; version: number }>();
  routes: LoadedRoute[] = [];

  constructor(initialRevision = 0) {
    this.revision = initialRevision;
  }

  set(routes: readonly RouteConf[]): void {
    routes.forEach(validateRoute);
    const next = new Map<string, { json: string; version: number }>();
    const loaded: LoadedRoute[] = [];
    routes.forEach((conf, order) => {
      const id = String(conf.id);
      if (next.has(id)) throw new Error(`duplicate route id ${id}`);
      const json = JSON.stringify(conf);
      const prev = this.byId.get(id);
      const version = prev !== undefined && prev.json === json ? prev.version : ++this.revision;
      next.set(id, { json, version });
      loaded.push({ conf: structuredClone(conf), id, version, order, nodes: parseNodes(conf) });
    });
    this.byId = next;
    this.routes = loaded;
  }
}

/** username by key-auth key. */
export function consumerKeys(consumers: readonly ConsumerConf[] | undefined): Map<string, string> {
  const keys = new Map<string, string>();
  for (const c of consumers ?? []) {
    const key = c.key ?? c.plugins?.['key-auth']?.key;
    if (typeof c.username !== 'string' || typeof key !== 'string') throw new Error('consumers[]: username and key-auth key are required');
    keys.set(key, c.username);
  }
  return keys;
}
