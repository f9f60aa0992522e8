// The demo's stack: the sample MCP server, the APISIX emulator with the shipped routes of
// conf/apisix.yaml (upstream pointed at the sample server), the runner spawned like
// ext-plugin.cmd, secrets passed through `envs` like nginx_config.envs, and an HS256 token
// for the demo identity signed with the secret the shipped mcp-authz conf reads.

import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { PACKAGE_ROOT } from '../runner/host/schema-file.js';
import { startSampleMcpServer, type SampleServer } from '../examples/sample-mcp-server.js';
import { startEmulator, type Emulator } from '../emulator/index.js';
import type { AuditEvent } from '../e2e/harness.js';
import { freePorts, readJsonLines } from '../testkit/local-run.js';
import { adaptShippedRoutes, freshSecrets, jwtSettings, loadShippedRoutes, type JwtSettings } from '../testkit/shipped-conf.js';

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
  /** Every runner process's endpoint: worker i of a multi-process runner serves its own counters on port + i. */
  metricsUrls: string[];
  routeIds: string[];
  /** The bearer token of DEMO_IDENTITY. */
  token: string;
  tokenIssuer: string;
  /** Issuer, audience, claim names and secret variable of the shipped mcp-authz conf. */
  jwt: JwtSettings;
  /** This run's HS256 secret (fresh per run), in a file only this user can read: for minting tokens and `npm run e2e`. */
  secretFile: string;
  auditPath: string;
  auditEvents(): Promise<AuditEvent[]>;
  /** Stops everything; removes the work dir, or with `keepLogs` all of it but the audit and runner logs. */
  stop(): Promise<void>;
}

export function mintToken(s: JwtSettings, secret: string, who: DemoIdentity, lifetime = '10m'): Promise<string> {
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
    .setExpirationTime(lifetime)
    .sign(new TextEncoder().encode(secret));
}

export interface DemoStackOptions {
  /** Emulator HTTP port (default: any free port). */
  port?: number;
  /** host:port of an MCP server to use instead of starting the sample server. */
  upstream?: string;
  /** Lifetime of the demo bearer token (jose time span, e.g. '10m', '8h'). */
  tokenLifetime?: string;
  /** Keep the audit log and the runner's log when stopping (`npm run dev`: the user was reading them). */
  keepLogs?: boolean;
  /** MCP_RUNNER_WORKERS for the spawned runner (default 1: one process). */
  runnerWorkers?: number;
}

/** The files `keepLogs` keeps in the work dir. */
const KEPT_LOGS = new Set(['mcp-audit.log', 'error.log']);

async function removeWorkDir(dir: string, keepLogs: boolean): Promise<void> {
  if (!keepLogs) return rm(dir, { recursive: true, force: true });
  for (const name of await readdir(dir)) if (!KEPT_LOGS.has(name)) await rm(join(dir, name), { recursive: true, force: true });
}

export async function startDemoStack(opts: DemoStackOptions = {}): Promise<DemoStack> {
  const dir = await mkdtemp(join(tmpdir(), 'mcp-demo-'));
  const auditPath = join(dir, 'mcp-audit.log');
  const cleanups: (() => Promise<void>)[] = [];
  // A stack that never started keeps nothing: there is no log a user was reading.
  const stop = async (keepLogs = opts.keepLogs === true): Promise<void> => {
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
    await removeWorkDir(dir, keepLogs).catch(() => undefined);
  };
  try {
    const sample = await startSampleMcpServer();
    cleanups.push(() => sample.close());
    const routes = adaptShippedRoutes(await loadShippedRoutes(), { upstream: opts.upstream ?? `127.0.0.1:${sample.port}`, auditPath });
    const jwt = jwtSettings(routes);
    // Fresh secrets per run for every $env:// reference (JWT and confirmation secrets, backend token).
    const envs = freshSecrets(routes);
    const metricsPort = await freePorts(opts.runnerWorkers ?? 1);
    envs['MCP_RUNNER_METRICS_PORT'] = String(metricsPort);
    envs['MCP_RUNNER_LOG_LEVEL'] = process.env['MCP_RUNNER_LOG_LEVEL'] ?? 'warn';
    envs['MCP_RUNNER_WORKERS'] = String(opts.runnerWorkers ?? 1);
    const secretFile = join(dir, 'jwt-secret');
    await writeFile(secretFile, envs[jwt.secretEnv]!, { mode: 0o600 });
    // The emulator works in our dir, so its error.log (the runner's output) sits beside the audit log.
    const emulator = await startEmulator({ routes, cmd: [process.execPath, join(PACKAGE_ROOT, 'dist', 'runner', 'main.js')], envs, port: opts.port, workDir: dir });
    cleanups.push(() => emulator.stop());
    await emulator.waitForRunner(10_000);
    const token = await mintToken(jwt, envs[jwt.secretEnv]!, DEMO_IDENTITY, opts.tokenLifetime);
    const uri = routes[0]?.uri ?? '/mcp';
    return {
      sample,
      emulator,
      mcpUrl: `${emulator.url}${uri}`,
      metricsUrl: `http://127.0.0.1:${metricsPort}/metrics`,
      metricsUrls: Array.from({ length: opts.runnerWorkers ?? 1 }, (_, i) => `http://127.0.0.1:${metricsPort + i}/metrics`),
      routeIds: routes.map((r) => String(r.id)),
      token,
      tokenIssuer: jwt.issuer,
      jwt,
      secretFile,
      auditPath,
      auditEvents: () => readJsonLines<AuditEvent>(auditPath),
      stop: () => stop(),
    };
  } catch (err) {
    await stop(false);
    throw err;
  }
}
