// Starts a REAL redis-server for a test on a free 127.0.0.1 port (no persistence) and stops it.
// A missing redis-server is a test failure, not a skip, and an immediate one: the message says
// what to install, and the tests that do not need Redis run on.

import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { createConnection } from 'node:net';
import { delimiter, join } from 'node:path';
import { freePort } from './local-run.js';

const isExecutable = (path: string): boolean => {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
};

/** `REDIS_SERVER_BIN` when set (used as given), else the first executable `redis-server` on PATH. */
export function findRedisServer(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const explicit = env['REDIS_SERVER_BIN'];
  if (explicit !== undefined && explicit !== '') return explicit;
  for (const dir of (env['PATH'] ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, 'redis-server');
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

export const REDIS_SERVER_BIN = findRedisServer();

export function missingRedisMessage(bin: string | undefined): string {
  const where = bin === undefined ? 'no redis-server on PATH' : `REDIS_SERVER_BIN=${bin} is not an executable`;
  return `${where}: the Redis tests need a real redis-server. Install Redis (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis) or set REDIS_SERVER_BIN to its path.`;
}

export interface RedisInstance {
  readonly port: number;
  readonly url: string;
  /** Stop the server (SIGKILL after 2 s); resolves once the process has exited. */
  stop(): Promise<void>;
  readonly process: ChildProcess;
}

/** One raw PING over RESP; true when the server answers +PONG. */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createConnection({ host: '127.0.0.1', port });
    const timer = setTimeout(() => {
      sock.destroy();
      resolve(false);
    }, 200);
    let data = '';
    sock.on('connect', () => sock.write('PING\r\n'));
    sock.on('data', (d) => {
      data += d.toString();
      if (data.includes('\r\n')) {
        clearTimeout(timer);
        sock.destroy();
        resolve(data.startsWith('+PONG'));
      }
    });
    sock.on('error', () => {
      clearTimeout(timer);
      resolve(false);
    });
  });
}

/** Why startRedis would fail at once (what to install), or undefined when redis-server is runnable. */
export function redisServerProblem(bin: string | undefined = REDIS_SERVER_BIN): string | undefined {
  return bin !== undefined && isExecutable(bin) ? undefined : missingRedisMessage(bin);
}

export async function startRedis(opts: { port?: number; timeoutMs?: number; bin?: string } = {}): Promise<RedisInstance> {
  const bin = opts.bin ?? REDIS_SERVER_BIN;
  if (bin === undefined || !isExecutable(bin)) throw new Error(missingRedisMessage(bin));
  const port = opts.port ?? (await freePort());
  const child = spawn(
    bin,
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'yes'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (d) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let alive = true;
  void exited.then(() => (alive = false));

  const deadline = Date.now() + (opts.timeoutMs ?? 5000);
  while (!(await ping(port))) {
    if (!alive) throw new Error(`redis-server exited on start: ${stderr.trim()}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`redis-server did not answer PING on port ${port}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }

  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    process: child,
    async stop() {
      if (!alive) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
      await exited;
      clearTimeout(timer);
    },
  };
}
