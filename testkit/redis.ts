// Starts a REAL redis-server for a test on a free 127.0.0.1 port (no persistence) and stops it.
// A missing redis-server is a test failure, not a skip.

import { spawn, type ChildProcess } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { freePort } from './local-run.js';

export const REDIS_SERVER_BIN = process.env['REDIS_SERVER_BIN'] ?? '/usr/bin/redis-server';

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

export async function startRedis(opts: { port?: number; timeoutMs?: number } = {}): Promise<RedisInstance> {
  try {
    await access(REDIS_SERVER_BIN, constants.X_OK);
  } catch {
    throw new Error(`redis-server not found at ${REDIS_SERVER_BIN}: these tests need a real Redis`);
  }
  const port = opts.port ?? (await freePort());
  const child = spawn(
    REDIS_SERVER_BIN,
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
