// ext-plugin.cmd: spawn the runner like APISIX's privileged agent does (docs/ext-plugin-protocol.md §2.2–2.3):
// scrubbed environment, stdout+stderr merged into error.log at warn level, respawn after an
// exit (with the runner_exit cache flush), SIGTERM then SIGKILL after 1 s on stop.

import { spawn, type ChildProcess } from 'node:child_process';
import type { ErrorLog } from './errorlog.js';

/** Variables nginx keeps for the runner in any case (ngx_tpl.lua `env` lines). */
const ALWAYS_PASSED = ['PATH', 'APISIX_PROFILE', 'APISIX_DEPLOYMENT_ETCD_HOST', 'GCP_SERVICE_ACCOUNT'];
/** APISIX reads the pipe in chunks of at most this many bytes. */
const LOG_CHUNK = 3800;

export interface SpawnerOptions {
  cmd: readonly string[];
  /** `unix:<path>` */
  listenAddress: string;
  /** Names from nginx_config.envs (values from this process), or explicit name → value. */
  envs: readonly string[] | Readonly<Record<string, string>> | undefined;
  respawnDelayMs: number;
  log: ErrorLog;
  /** The runner_exit broadcast: every worker flushes its token caches. */
  onExit: () => void;
}

export function runnerEnvironment(opts: Pick<SpawnerOptions, 'listenAddress' | 'envs'>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of ALWAYS_PASSED) {
    const v = process.env[name];
    if (v !== undefined) env[name] = v;
  }
  // nginx keeps TZ as well.
  if (process.env.TZ !== undefined) env.TZ = process.env.TZ;
  if (Array.isArray(opts.envs)) {
    for (const name of opts.envs as readonly string[]) {
      const v = process.env[name];
      if (v !== undefined) env[name] = v;
    }
  } else if (opts.envs !== undefined) {
    Object.assign(env, opts.envs);
  }
  env.APISIX_LISTEN_ADDRESS = opts.listenAddress;
  env.APISIX_CONF_EXPIRE_TIME = '3600';
  return env;
}

export class RunnerSpawner {
  private child: ChildProcess | undefined;
  private respawnTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  spawnCount = 0;

  constructor(private readonly opts: SpawnerOptions) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  start(): void {
    if (this.stopped) return;
    const [file, ...args] = this.opts.cmd;
    if (file === undefined) throw new Error('ext-plugin.cmd must not be empty');
    let child: ChildProcess;
    try {
      child = spawn(file, args, { env: runnerEnvironment(this.opts), stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      // APISIX raises inside the timer and never retries (TODO: add retry).
      this.opts.log.write('error', `failed to spawn runner: ${(err as Error).message}`);
      return;
    }
    this.spawnCount++;
    this.child = child;
    const forward = (chunk: Buffer): void => {
      for (let i = 0; i < chunk.length; i += LOG_CHUNK) {
        this.opts.log.write('warn', chunk.subarray(i, i + LOG_CHUNK).toString('utf8'));
      }
    };
    child.stdout?.on('data', forward);
    child.stderr?.on('data', forward);
    child.on('error', (err) => {
      this.opts.log.write('error', `failed to spawn runner: ${err.message}`);
      if (this.child === child) this.child = undefined;
    });
    child.on('exit', (code, signal) => {
      if (this.child === child) this.child = undefined;
      const reason = signal !== null ? 'signal' : 'exit';
      const status = signal !== null ? signal : String(code);
      this.opts.log.write('warn', `runner exited with reason: ${reason}, status: ${status}`);
      if (this.stopped) return;
      this.opts.onExit();
      this.opts.log.write('warn', `respawn runner ${this.opts.respawnDelayMs / 1000} seconds later with cmd: ${JSON.stringify(this.opts.cmd)}`);
      this.respawnTimer = setTimeout(() => this.start(), this.opts.respawnDelayMs);
    });
  }

  /** SIGTERM, wait up to 1 s, then SIGKILL (exit_worker + pipe GC). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.respawnTimer !== undefined) clearTimeout(this.respawnTimer);
    const child = this.child;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), 1000));
    if ((await Promise.race([exited, timer])) === 'timeout') {
      child.kill('SIGKILL');
      await exited;
    }
  }
}
