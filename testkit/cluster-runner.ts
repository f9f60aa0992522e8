// Starts the real runner (dist/runner/main.js) as its own process, as APISIX's ext-plugin.cmd
// would, with MCP_RUNNER_WORKERS workers and the test-pid plugin, on a socket in a temp dir
// that also holds the runner's TMPDIR (its private peer sockets): removed after the test.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { after } from 'node:test';
import { ProtocolClient } from './apisix-client.js';
import { tempDir } from './temp.js';
import type { HTTPReqCallResp, TextEntry } from '../runner/protocol/messages.js';

const here = dirname(fileURLToPath(import.meta.url));
export const RUNNER_MAIN = join(here, '..', 'runner', 'main.js');
export const PID_PLUGIN = join(here, 'pid-plugin.js');

/** A route whose chain records which process ran each phase (post-resp on). */
export const PID_CONF: TextEntry[] = [
  { name: 'mcp-route', value: '{"post_resp":true}' },
  { name: 'test-pid', value: '{}' },
];

export interface ClusterRunner {
  readonly path: string;
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Everything the runner wrote (stdout + stderr). */
  output(): string;
  connect(): Promise<ProtocolClient>;
}

export async function startClusterRunner(workers: number, env: Record<string, string> = {}): Promise<ClusterRunner> {
  const dir = tempDir('mcp-cluster-');
  const path = join(dir, 'runner.sock');
  let out = '';
  const child = spawn(process.execPath, [RUNNER_MAIN], {
    env: {
      PATH: process.env['PATH'] ?? '',
      TMPDIR: dir,
      APISIX_LISTEN_ADDRESS: `unix:${path}`,
      APISIX_CONF_EXPIRE_TIME: '3600',
      MCP_RUNNER_WORKERS: String(workers),
      MCP_RUNNER_PLUGINS: PID_PLUGIN,
      MCP_RUNNER_LOG_LEVEL: 'warn',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const clients: ProtocolClient[] = [];
  after(async () => {
    for (const c of clients) c.close();
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
  });
  const runner: ClusterRunner = {
    path,
    child,
    exited,
    output: () => out,
    async connect() {
      const c = await ProtocolClient.open(path);
      clients.push(c);
      return c;
    },
  };
  // Ready when every worker has taken a connection and answered on it.
  const until = Date.now() + 30_000;
  const seen = new Set<string>();
  while (seen.size < workers) {
    if (Date.now() > until) throw new Error(`runner not ready: ${out}`);
    if (!existsSync(path)) {
      await sleep(50);
      continue;
    }
    try {
      const c = await runner.connect();
      const token = await c.prepare(PID_CONF, 'ready#probe');
      const answer = await c.reqCall({ id: 1, srcIp: undefined, method: 'GET', path: '/', args: [], headers: [], confToken: token }, {});
      const pid = rewriteHeader(answer, 'x-runner-pid');
      if (pid !== undefined) seen.add(pid);
      c.close();
    } catch {
      await sleep(50);
    }
  }
  return runner;
}

/** A header of a Rewrite answer (undefined for Stop or no action). */
export function rewriteHeader(answer: HTTPReqCallResp, name: string): string | undefined {
  if (answer.action?.type !== 'rewrite') return undefined;
  return answer.action.headers.find((h) => h.name === name)?.value;
}

/** Whether a process is alive. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
