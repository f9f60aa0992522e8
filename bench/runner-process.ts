// Starts the real runner (dist/runner/main.js) as APISIX's ext-plugin.cmd would, and reads its RSS.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

export const RUNNER_MAIN = join(dirname(fileURLToPath(import.meta.url)), '..', 'runner', 'main.js');

export interface RunnerProcess {
  socket: string;
  child: ChildProcess;
  rssMiB(): number;
  /** User + system CPU seconds the runner has used so far. */
  cpuSeconds(): number;
  stop(): Promise<void>;
}

export async function startRunner(socket: string, env: Record<string, string> = {}, nodeArgs: string[] = []): Promise<RunnerProcess> {
  const child = spawn(process.execPath, [...nodeArgs, RUNNER_MAIN], {
    env: { PATH: process.env['PATH'] ?? '', APISIX_LISTEN_ADDRESS: `unix:${socket}`, APISIX_CONF_EXPIRE_TIME: '3600', MCP_RUNNER_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const deadline = Date.now() + 10_000;
  while (!existsSync(socket)) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error('runner did not start');
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    socket,
    child,
    rssMiB() {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
      return m ? Number(m[1]) / 1024 : NaN;
    },
    cpuSeconds() {
      // /proc/<pid>/stat fields 14 and 15 (utime, stime) in clock ticks (100 Hz on Linux).
      const stat = readFileSync(`/proc/${child.pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return (Number(fields[11]) + Number(fields[12])) / 100;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
