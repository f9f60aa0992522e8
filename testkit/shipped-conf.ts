// The shipped conf/apisix.yaml made runnable on this machine, for the demo (dev/stack.ts)
// and the e2e stack (e2e/harness.ts): upstream nodes → a local server, the audit file sink →
// a temp file, relative policy paths → the package root, a fresh secret for every `$env://`
// reference, and the JWT settings the shipped mcp-authz conf verifies (so tests can sign them).

import { randomBytes } from 'node:crypto';
import { isAbsolute, join, resolve } from 'node:path';
import { PACKAGE_ROOT } from '../runner/host/schema-file.js';
import { EXT_PLUGIN_NAMES, loadApisixYaml, type RouteConf } from '../emulator/config.js';

export const SHIPPED_ROUTES = join(PACKAGE_ROOT, 'conf', 'apisix.yaml');

type JsonObject = Record<string, unknown>;
const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);
const ENV_REFS = /\$env:\/\/([A-Za-z_][A-Za-z0-9_]*)/g;

/** The NAME of a `$env://NAME` value; undefined for anything else. */
export function envRefName(value: unknown): string | undefined {
  return typeof value === 'string' ? /^\$env:\/\/(.+)$/.exec(value)?.[1] : undefined;
}

/** The routes of an apisix.yaml (the shipped one by default); a file without routes is an error. */
export async function loadShippedRoutes(path: string = SHIPPED_ROUTES): Promise<RouteConf[]> {
  const routes = (await loadApisixYaml(path)).routes ?? [];
  if (routes.length === 0) throw new Error(`${path} has no routes (run npm run layout)`);
  return routes;
}

/**
 * The shipped routes, adapted to a local run: upstream nodes → `upstream`, the audit file sink →
 * `auditPath` (the run's events, not the repo's logs/), a relative policy_file resolved against
 * the package root (the runner's cwd may be anywhere). Nothing else changes; the input is not mutated.
 */
export function adaptShippedRoutes(routes: readonly RouteConf[], o: { upstream: string; auditPath: string }): RouteConf[] {
  return routes.map((shipped) => {
    const route = structuredClone(shipped);
    route.upstream = { ...route.upstream, nodes: { [o.upstream]: 1 } };
    for (const phase of EXT_PLUGIN_NAMES) {
      for (const entry of route.plugins?.[phase]?.conf ?? []) {
        const conf: unknown = JSON.parse(entry.value);
        if (!isObject(conf)) continue;
        if (entry.name === 'mcp-audit' && isObject(conf['sink']) && conf['sink']['type'] === 'file') conf['sink'] = { ...conf['sink'], path: o.auditPath };
        const policyFile = conf['policy_file'];
        if (entry.name === 'mcp-authz' && typeof policyFile === 'string' && !isAbsolute(policyFile)) conf['policy_file'] = resolve(PACKAGE_ROOT, policyFile);
        entry.value = JSON.stringify(conf);
      }
    }
    return route;
  });
}

/** Every `$env://NAME` the route confs reference (what nginx_config.envs must pass on), sorted. */
export function referencedEnvs(routes: readonly RouteConf[]): string[] {
  const names = new Set<string>();
  for (const route of routes) {
    for (const phase of EXT_PLUGIN_NAMES) {
      for (const entry of route.plugins?.[phase]?.conf ?? []) for (const m of entry.value.matchAll(ENV_REFS)) names.add(m[1]!);
    }
  }
  return [...names].sort();
}

/** A fresh random value per run for every `$env://` reference (JWT and confirmation secrets, backend tokens). */
export function freshSecrets(routes: readonly RouteConf[]): Record<string, string> {
  const envs: Record<string, string> = {};
  for (const name of referencedEnvs(routes)) envs[name] = randomBytes(32).toString('hex');
  return envs;
}

/** The parsed conf of the first `name` entry in a pre-req chain; undefined when no route has one. */
export function firstPluginConf(routes: readonly RouteConf[], name: string): JsonObject | undefined {
  for (const route of routes) {
    const entry = route.plugins?.['ext-plugin-pre-req']?.conf?.find((e) => e.name === name);
    if (entry === undefined) continue;
    const conf: unknown = JSON.parse(entry.value);
    if (isObject(conf)) return conf;
  }
  return undefined;
}

export interface JwtSettings {
  /** The env var holding the HS256 shared secret. */
  secretEnv: string;
  issuer: string;
  audience: string;
  /** Identity field → claim name (the shipped mapping over the plugin's defaults). */
  claims: Record<string, string>;
}

/** The JWT settings of the first mcp-authz conf: tests sign what the shipped conf verifies. */
export function jwtSettings(routes: readonly RouteConf[]): JwtSettings {
  const conf = firstPluginConf(routes, 'mcp-authz');
  if (conf === undefined) throw new Error('no route with mcp-authz in the shipped conf');
  const identity = isObject(conf['identity']) ? conf['identity'] : undefined;
  const jwt = identity !== undefined && isObject(identity['jwt']) ? identity['jwt'] : undefined;
  const env = envRefName(jwt?.['shared_secret']);
  if (jwt === undefined || env === undefined || typeof jwt['issuer'] !== 'string' || typeof jwt['audience'] !== 'string') {
    throw new Error('the shipped mcp-authz conf must have identity.jwt with shared_secret: $env://NAME, issuer and audience');
  }
  const claims: Record<string, string> = { user: 'sub', app: 'azp', environment: 'environment', roles: 'roles', tenant: 'tenant' };
  if (isObject(identity?.['claims'])) for (const [k, v] of Object.entries(identity['claims'])) if (typeof v === 'string') claims[k] = v;
  return { secretEnv: env, issuer: jwt['issuer'], audience: jwt['audience'], claims };
}
