// Starts the real runner (dist/runner/main.js) as APISIX's ext-plugin.cmd would, and reads its
// RSS and CPU: with MCP_RUNNER_WORKERS > 1, summed over the primary and its worker processes.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

export const RUNNER_MAIN = join(dirname(fileURLToPath(import.meta.url)), '..', 'runner', 'main.js');

/** The primary and its live child processes (workers). */
function processTree(pid: number): number[] {
  const pids = [pid];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // Field 4 (after the command in parentheses) is the parent pid.
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) pids.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

function cpuOf(pid: number): number {
  try {
    // /proc/<pid>/stat fields 14 and 15 (utime, stime) in clock ticks (100 Hz on Linux).
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

function rssOf(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

export interface RunnerProcess {
  socket: string;
  child: ChildProcess;
  /** Processes serving (1, or the workers of a multi-process runner). */
  readonly workers: number;
  rssMiB(): number;
  /** User + system CPU seconds the runner (all its processes) has used so far. */
  cpuSeconds(): number;
  stop(): Promise<void>;
}

export async function startRunner(socket: string, env: Record<string, string> = {}, nodeArgs: string[] = []): Promise<RunnerProcess> {
  const child = spawn(process.execPath, [...nodeArgs, RUNNER_MAIN], {
    env: { PATH: process.env['PATH'] ?? '', APISIX_LISTEN_ADDRESS: `unix:${socket}`, APISIX_CONF_EXPIRE_TIME: '3600', MCP_RUNNER_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const workers = Math.max(1, Number(env['MCP_RUNNER_WORKERS'] ?? '1') || 1);
  const pid = child.pid ?? 0;
  const deadline = Date.now() + 20_000;
  // The socket appears once one worker serves; wait for every worker's process too.
  while (!existsSync(socket) || (workers > 1 && processTree(pid).length < workers + 1)) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error('runner did not start');
    await new Promise((r) => setTimeout(r, 20));
  }
  // Workers load their plugins after they fork: give them time to announce themselves.
  if (workers > 1) await new Promise((r) => setTimeout(r, 2000));
  return {
    socket,
    child,
    workers,
    rssMiB: () => processTree(pid).reduce((sum, p) => sum + rssOf(p), 0),
    cpuSeconds: () => processTree(pid).reduce((sum, p) => sum + cpuOf(p), 0),
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
