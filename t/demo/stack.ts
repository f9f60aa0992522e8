// The demo's stack: the sample MCP server, the APISIX emulator with the shipped routes of
// conf/apisix.yaml (upstream pointed at the sample server), the runner spawned like
// ext-plugin.cmd, secrets passed through `envs` like nginx_config.envs, and an HS256 token
// for the demo identity signed with the secret the shipped mcp-authz conf reads.

import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { SignJWT } from 'jose';
import { PACKAGE_ROOT } from '../../runner/host/schema-file.js';
import { startSampleMcpServer, type SampleServer } from '../../examples/sample-mcp-server.js';
import { loadApisixYaml } from '../emulator/config.js';
import { startEmulator, type Emulator, type RouteConf } from '../emulator/index.js';
import type { AuditEvent } from '../e2e/harness.js';

export const SHIPPED_ROUTES = join(PACKAGE_ROOT, 'conf', 'apisix.yaml');
const EXT_PLUGINS = ['ext-plugin-pre-req', 'ext-plugin-post-req', 'ext-plugin-post-resp'] as const;
const ENV_REF = /\$env:\/\/([A-Za-z_][A-Za-z0-9_]*)/g;

export interface DemoIdentity {
  user: string;
  app: string;
  environment: string;
  tenant: string;
  roles: string[];
}

export const DEMO_IDENTITY: DemoIdentity = { user: 'alice', app: 'support-agent', environment: 'production', tenant: 'acme', roles: ['support'] };

export interface DemoStack {
  sample: SampleServer;
  emulator: Emulator;
  /** The gateway's MCP endpoint. */
  mcpUrl: string;
  metricsUrl: string;
  routeIds: string[];
  /** The bearer token of DEMO_IDENTITY. */
  token: string;
  tokenIssuer: string;
  auditPath: string;
  auditEvents(): Promise<AuditEvent[]>;
  stop(): Promise<void>;
}

type JsonObject = Record<string, unknown>;
const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The shipped routes, adapted to a local run: upstream nodes → the sample server, the audit file
 * sink → a temp file (the session's events, not the repo's logs/), a relative policy_file
 * resolved against the package root (the runner's cwd may be anywhere). Nothing else changes.
 */
export function adaptShippedRoutes(routes: readonly RouteConf[], o: { upstream: string; auditPath: string }): RouteConf[] {
  return routes.map((shipped) => {
    const route = structuredClone(shipped);
    route.upstream = { ...route.upstream, nodes: { [o.upstream]: 1 } };
    for (const phase of EXT_PLUGINS) {
      const entries = route.plugins?.[phase]?.conf;
      if (entries === undefined) continue;
      for (const entry of entries) {
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

/** Every `$env://NAME` the route confs reference (what nginx_config.envs must pass on). */
export function referencedEnvs(routes: readonly RouteConf[]): string[] {
  const names = new Set<string>();
  for (const route of routes) {
    for (const phase of EXT_PLUGINS) {
      for (const entry of route.plugins?.[phase]?.conf ?? []) for (const m of entry.value.matchAll(ENV_REF)) names.add(m[1]!);
    }
  }
  return [...names].sort();
}

export interface JwtSettings {
  secretEnv: string;
  issuer: string;
  audience: string;
  claims: Record<string, string>;
}

/** The JWT settings of the first mcp-authz conf: the demo signs what the shipped conf verifies. */
export function jwtSettings(routes: readonly RouteConf[]): JwtSettings {
  for (const route of routes) {
    const entry = route.plugins?.['ext-plugin-pre-req']?.conf?.find((e) => e.name === 'mcp-authz');
    if (entry === undefined) continue;
    const conf: unknown = JSON.parse(entry.value);
    const identity = isObject(conf) && isObject(conf['identity']) ? conf['identity'] : undefined;
    const jwt = identity !== undefined && isObject(identity['jwt']) ? identity['jwt'] : undefined;
    const secretRef = jwt?.['shared_secret'];
    const env = typeof secretRef === 'string' ? /^\$env:\/\/(.+)$/.exec(secretRef)?.[1] : undefined;
    if (jwt === undefined || env === undefined || typeof jwt['issuer'] !== 'string' || typeof jwt['audience'] !== 'string') {
      throw new Error(`route ${String(route.id)}: the demo expects mcp-authz identity.jwt with shared_secret: $env://NAME, issuer and audience`);
    }
    const claims: Record<string, string> = { user: 'sub', app: 'azp', environment: 'environment', roles: 'roles', tenant: 'tenant' };
    if (isObject(identity?.['claims'])) for (const [k, v] of Object.entries(identity['claims'])) if (typeof v === 'string') claims[k] = v;
    return { secretEnv: env, issuer: jwt['issuer'], audience: jwt['audience'], claims };
  }
  throw new Error('no route with mcp-authz in the shipped conf');
}

export function mintToken(s: JwtSettings, secret: string, who: DemoIdentity): Promise<string> {
  const claims: Record<string, unknown> = {
    [s.claims['app'] ?? 'azp']: who.app,
    [s.claims['environment'] ?? 'environment']: who.environment,
    [s.claims['roles'] ?? 'roles']: who.roles,
    [s.claims['tenant'] ?? 'tenant']: who.tenant,
  };
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(who.user)
    .setIssuer(s.issuer)
    .setAudience(s.audience)
    .setIssuedAt()
    .setExpirationTime('10m')
    .sign(new TextEncoder().encode(secret));
}

async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createNetServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as AddressInfo).port;
      s.close(() => res(p));
    });
  });
}

async function readAuditFile(path: string): Promise<AuditEvent[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return [];
  }
  const out: AuditEvent[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      out.push(JSON.parse(line) as AuditEvent);
    } catch {
      /* a line still being written */
    }
  }
  return out;
}

export async function startDemoStack(): Promise<DemoStack> {
  const dir = await mkdtemp(join(tmpdir(), 'mcp-demo-'));
  const auditPath = join(dir, 'mcp-audit.log');
  const cleanups: (() => Promise<void>)[] = [() => rm(dir, { recursive: true, force: true })];
  const stop = async (): Promise<void> => {
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
  };
  try {
    const sample = await startSampleMcpServer();
    cleanups.push(() => sample.close());
    const shipped = (await loadApisixYaml(SHIPPED_ROUTES)).routes ?? [];
    if (shipped.length === 0) throw new Error(`${SHIPPED_ROUTES} has no routes (run npm run layout)`);
    const routes = adaptShippedRoutes(shipped, { upstream: `127.0.0.1:${sample.port}`, auditPath });
    const jwt = jwtSettings(routes);
    // Fresh secrets per run for every $env:// reference (JWT and confirmation secrets, backend token).
    const envs: Record<string, string> = {};
    for (const name of referencedEnvs(routes)) envs[name] = randomBytes(32).toString('hex');
    const metricsPort = await freePort();
    envs['MCP_RUNNER_METRICS_PORT'] = String(metricsPort);
    envs['MCP_RUNNER_LOG_LEVEL'] = process.env['MCP_RUNNER_LOG_LEVEL'] ?? 'warn';
    const emulator = await startEmulator({ routes, cmd: [process.execPath, join(PACKAGE_ROOT, 'dist', 'runner', 'main.js')], envs });
    cleanups.push(() => emulator.stop());
    await emulator.waitForRunner(10_000);
    const token = await mintToken(jwt, envs[jwt.secretEnv]!, DEMO_IDENTITY);
    const uri = routes[0]?.uri ?? '/mcp';
    return {
      sample,
      emulator,
      mcpUrl: `${emulator.url}${uri}`,
      metricsUrl: `http://127.0.0.1:${metricsPort}/metrics`,
      routeIds: routes.map((r) => String(r.id)),
      token,
      tokenIssuer: jwt.issuer,
      auditPath,
      auditEvents: () => readAuditFile(auditPath),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
