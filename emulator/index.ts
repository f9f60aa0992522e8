// An APISIX 3.18 emulator for tests: an HTTP front on 127.0.0.1 that routes like APISIX, runs
// ext-plugin-pre-req → key-auth → ext-plugin-post-req → (ext-plugin-post-resp | proxy_pass)
// against our runner over its Unix socket, and proxies to a real upstream. Production runs
// under real APISIX; this exists so every test sees APISIX's behaviour, quirks included.

import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import { createConnection, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  RouteTable,
  consumerKeys,
  loadApisixYaml,
  type ApisixYaml,
  type ConsumerConf,
  type ExtPluginConf,
  type ExtPluginName,
  type KeyAuthConf,
  type LoadedRoute,
  type RouteConf,
} from './config.js';
import { ErrorLog, type LogLevel } from './errorlog.js';
import { LuaException, RpcError, SharedTokenDict, Worker, newCounters, type Counters } from './extplugin-client.js';
import { runPostResp } from './post-resp.js';
import { NodePicker, proxyToUpstream, type UpstreamDeps } from './proxy.js';
import { runReqPlugin } from './reqcall.js';
import { exitBody, sendErrorPage, sendExit } from './responses.js';
import { compileRoutes, matchRoute } from './routing.js';
import { RunnerSpawner } from './spawner.js';
import { HeaderList, ResponseHeaders, type RequestState } from './state.js';
import { normalizeUri, parseArgs, encodeArgs } from './uri.js';

export type { Counters } from './extplugin-client.js';
export type { RouteConf, ConsumerConf, ApisixYaml, ExtPluginConf } from './config.js';

export interface EmulatorOptions {
  /** apisix.yaml content (routes + consumers) or a path to a YAML/JSON file. */
  config?: ApisixYaml | string;
  /** Shortcut for config.routes. */
  routes?: RouteConf[];
  /** Shortcut for config.consumers (key-auth). */
  consumers?: ConsumerConf[];
  /** ext-plugin.cmd: spawn and supervise the runner (argv, no shell). */
  cmd?: string[];
  /** ext-plugin.path_for_test: connect to this socket (no "unix:"); spawn nothing unless cmd is set too. */
  pathForTest?: string;
  /** nginx_config.envs: names passed from this process, or explicit name → value. */
  envs?: string[] | Record<string, string>;
  /** Default 3000, like APISIX. */
  respawnDelayMs?: number;
  /** nginx worker_processes. Default 1. */
  workers?: number;
  /** HTTP port on 127.0.0.1; default 0 (any free port). */
  port?: number;
  /** Directory for apisix-<pid>.sock and error.log; default a new temp dir (removed on stop). */
  workDir?: string;
  /** Per send/receive on the runner socket; default 60 000 like APISIX. */
  rpcTimeoutMs?: number;
  /** Default 1000 like APISIX. */
  connectTimeoutMs?: number;
  /** error.log level (nginx `error_log`); default 'warn' like APISIX. 'info' adds the per-frame lines. */
  logLevel?: LogLevel;
}

export interface Emulator {
  /** http://127.0.0.1:PORT */
  readonly url: string;
  readonly port: number;
  /** The runner socket path (without "unix:"). */
  readonly socketPath: string;
  readonly errorLogPath: string;
  readonly counters: Counters;
  /** Replace the routes; changed or new routes get a new conf version (new PrepareConf key). */
  setRoutes(routes: RouteConf[]): void;
  setConsumers(consumers: ConsumerConf[]): void;
  /** The conf version of a route, as used in `route#<id>#<plugin>#<version>`. */
  routeVersion(id: string | number): number | undefined;
  /** error.log text: runner output (warn) and APISIX's ext-plugin log lines. */
  runnerLog(): string;
  /** The spawned runner's pid (cmd mode). */
  runnerPid(): number | undefined;
  /** Resolves once the runner socket accepts connections. */
  waitForRunner(timeoutMs?: number): Promise<void>;
  /** The runner_exit event by hand (what cmd mode does when the runner exits). */
  flushTokenCaches(): void;
  stop(): Promise<void>;
}

function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(chunks.length === 0 ? undefined : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function headerPairs(req: IncomingMessage): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) out.push([req.rawHeaders[i]!, req.rawHeaders[i + 1]!]);
  return out;
}

function plainAddr(addr: string | undefined): string {
  if (addr === undefined) return '';
  return addr.startsWith('::ffff:') ? addr.slice(7) : addr;
}

/** Why the emulator could not listen, naming the port; `code` is the system's (EADDRINUSE, EACCES). */
export class EmulatorListenError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
    readonly port: number,
  ) {
    super(message);
    this.name = 'EmulatorListenError';
  }
}

function listenError(err: unknown, port: number): EmulatorListenError {
  const code = (err as NodeJS.ErrnoException).code;
  const why = code === 'EADDRINUSE' ? 'is already in use' : code === 'EACCES' ? 'needs privileges this process lacks' : `cannot be listened on (${(err as Error).message})`;
  return new EmulatorListenError(`127.0.0.1:${port} ${why}`, code, port);
}

export async function startEmulator(opts: EmulatorOptions = {}): Promise<Emulator> {
  const fileConf: ApisixYaml = typeof opts.config === 'string' ? await loadApisixYaml(opts.config) : opts.config ?? {};
  const ownDir = opts.workDir === undefined;
  const workDir = opts.workDir ?? (await mkdtemp(join(tmpdir(), 'apisix-emu-')));
  const socketPath = opts.pathForTest ?? join(workDir, `apisix-${process.pid}.sock`);
  const errorLogPath = join(workDir, 'error.log');
  const log = new ErrorLog(errorLogPath, opts.logLevel);
  const counters = newCounters();

  const table = new RouteTable();
  let candidates = compileRoutes([]);
  const setRoutes = (routes: RouteConf[]): void => {
    table.set(routes);
    candidates = compileRoutes(table.routes);
  };
  setRoutes(opts.routes ?? fileConf.routes ?? []);
  let keys = consumerKeys(opts.consumers ?? fileConf.consumers);

  const shared = new SharedTokenDict();
  const settings = {
    socketPath,
    connectTimeoutMs: opts.connectTimeoutMs ?? 1000,
    rpcTimeoutMs: opts.rpcTimeoutMs ?? 60_000,
    log,
    counters,
  };
  const workers = Array.from({ length: Math.max(1, opts.workers ?? 1) }, (_, i) => new Worker(i, settings, shared));
  const flushAll = (): void => {
    shared.flushAll();
    for (const w of workers) w.dropLru();
  };

  const upstreamDeps: UpstreamDeps = {
    agent: new http.Agent({ keepAlive: true, maxFreeSockets: 320 }),
    httpsAgent: new https.Agent({ keepAlive: true, maxFreeSockets: 320 }),
    counters,
    seenSockets: new WeakSet<Socket>(),
  };
  const picker = new NodePicker();

  // A client connection is accepted by one worker, which serves all its requests.
  const workerOf = new WeakMap<Socket, Worker>();
  let nextWorker = 0;

  const server = http.createServer((req, res) => {
    void handle(req, res).catch((err: unknown) => {
      log.write('error', `emulator: ${(err as Error).stack ?? String(err)}`);
      if (!res.headersSent) sendErrorPage(res, 500);
      else res.destroy();
    });
  });
  server.on('connection', (socket: Socket) => {
    workerOf.set(socket, workers[nextWorker % workers.length]!);
    nextWorker++;
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const worker = workerOf.get(req.socket) ?? workers[0]!;
    const body = await readBody(req);
    const requestUri = req.url ?? '/';
    const q = requestUri.indexOf('?');
    const headers = new HeaderList(headerPairs(req));
    const local = req.socket.address() as AddressInfo;
    const partial: Omit<RequestState, 'route'> = {
      requestId: randomBytes(16).toString('hex'),
      method: req.method ?? 'GET',
      requestUri,
      uri: normalizeUri(q < 0 ? requestUri : requestUri.slice(0, q)),
      query: q < 0 ? '' : requestUri.slice(q + 1),
      upstreamUri: undefined,
      upstreamHost: headers.get('host') ?? '',
      headers,
      body,
      remoteAddr: plainAddr(req.socket.remoteAddress),
      remotePort: req.socket.remotePort ?? 0,
      serverAddr: plainAddr(local.address),
      serverPort: local.port,
      scheme: 'http',
      consumerName: undefined,
      respHeaders: new ResponseHeaders(),
    };
    const route = matchRoute(candidates, partial);
    if (route === undefined) {
      sendExit(res, 404, exitBody({ error_msg: '404 Route Not Found' }));
      return;
    }
    const state: RequestState = { ...partial, route };
    try {
      await runPhases(worker, state, route, res);
    } catch (err) {
      if (!(err instanceof LuaException)) throw err;
      log.write('error', `lua entry thread aborted: runtime error: ${err.message}`);
      if (!res.headersSent) sendErrorPage(res, 500);
      else res.destroy();
    }
  }

  /** Runs one -req plugin; true when the request was answered (Stop or failure). */
  async function reqPlugin(worker: Worker, state: RequestState, name: ExtPluginName, res: ServerResponse): Promise<boolean> {
    const conf = state.route.conf.plugins?.[name] as ExtPluginConf | undefined;
    if (conf === undefined || conf._meta?.disable === true) return false;
    try {
      const outcome = await runReqPlugin(worker, state, name, conf);
      if (outcome.kind === 'continue') return false;
      sendExit(res, outcome.status, outcome.body, outcome.headers, conf._meta);
      return true;
    } catch (err) {
      if (!(err instanceof RpcError)) throw err;
      if (conf.allow_degradation === true) {
        worker.logDegradation();
        return false;
      }
      sendExit(res, 503, undefined, state.respHeaders, conf._meta);
      return true;
    }
  }

  /** key-auth (priority 2500): after pre-req, before post-req; sets consumer_name. */
  function keyAuth(state: RequestState, conf: KeyAuthConf, res: ServerResponse): boolean {
    const headerName = conf.header ?? 'apikey';
    const queryName = conf.query ?? 'apikey';
    let key = state.headers.get(headerName);
    let fromHeader = true;
    if (key === undefined) {
      fromHeader = false;
      key = parseArgs(state.query).find((a) => a.name === queryName)?.value;
    }
    if (key === undefined || key === '') {
      sendExit(res, 401, exitBody({ message: 'Missing API key in request' }), state.respHeaders, conf._meta);
      return false;
    }
    const username = keys.get(key);
    if (username === undefined) {
      sendExit(res, 401, exitBody({ message: 'Invalid API key in request' }), state.respHeaders, conf._meta);
      return false;
    }
    state.consumerName = username;
    if (conf.hide_credentials === true) {
      if (fromHeader) state.headers.set(headerName, undefined);
      else state.query = encodeArgs(parseArgs(state.query).filter((a) => a.name !== queryName));
    }
    return true;
  }

  async function runPhases(worker: Worker, state: RequestState, route: LoadedRoute, res: ServerResponse): Promise<void> {
    const plugins = route.conf.plugins ?? {};
    if (await reqPlugin(worker, state, 'ext-plugin-pre-req', res)) return;
    const keyAuthConf = plugins['key-auth'];
    if (keyAuthConf !== undefined && keyAuthConf._meta?.disable !== true && !keyAuth(state, keyAuthConf, res)) return;
    if (await reqPlugin(worker, state, 'ext-plugin-post-req', res)) return;
    const node = picker.pick(route);
    const postResp = plugins['ext-plugin-post-resp'];
    if (postResp !== undefined && postResp._meta?.disable !== true) {
      await runPostResp(upstreamDeps, worker, state, node, postResp, res);
      return;
    }
    await proxyToUpstream(upstreamDeps, state, node, res);
  }

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
    });
  } catch (err) {
    // Nothing started yet but the error log and the work dir: leave nothing behind.
    upstreamDeps.agent.destroy();
    upstreamDeps.httpsAgent.destroy();
    await log.close();
    if (ownDir) await rm(workDir, { recursive: true, force: true });
    throw listenError(err, opts.port ?? 0);
  }
  const port = (server.address() as AddressInfo).port;

  let spawner: RunnerSpawner | undefined;
  if (opts.cmd !== undefined) {
    spawner = new RunnerSpawner({
      cmd: opts.cmd,
      listenAddress: `unix:${socketPath}`,
      envs: oneRunnerProcessUnlessAsked(opts.envs),
      respawnDelayMs: opts.respawnDelayMs ?? 3000,
      log,
      onExit: flushAll,
    });
    spawner.start();
  }

  const emulator: Emulator = {
    url: `http://127.0.0.1:${port}`,
    port,
    socketPath,
    errorLogPath,
    counters,
    setRoutes,
    setConsumers(consumers) {
      keys = consumerKeys(consumers);
    },
    routeVersion(id) {
      return table.routes.find((r) => r.id === String(id))?.version;
    },
    runnerLog: () => log.contents(),
    runnerPid: () => spawner?.pid,
    async waitForRunner(timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const ok = await new Promise<boolean>((resolve) => {
          const s = createConnection(socketPath);
          s.once('connect', () => {
            s.destroy();
            resolve(true);
          });
          s.once('error', () => resolve(false));
        });
        if (ok) return;
        if (Date.now() > deadline) throw new Error(`runner socket ${socketPath} not accepting after ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    flushTokenCaches: flushAll,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      for (const w of workers) w.closeIdle();
      upstreamDeps.agent.destroy();
      upstreamDeps.httpsAgent.destroy();
      await spawner?.stop();
      await log.close();
      if (ownDir) await rm(workDir, { recursive: true, force: true });
    },
  };
  return emulator;
}

/**
 * The emulator's one departure in environment: unless the caller lists MCP_RUNNER_WORKERS, the
 * runner runs as one process (as if an operator had put MCP_RUNNER_WORKERS=1 in
 * nginx_config.envs), so what a test observes does not depend on the machine's core count.
 * The multi-process runner has tests of its own that ask for workers explicitly.
 */
function oneRunnerProcessUnlessAsked(envs: EmulatorOptions['envs']): EmulatorOptions['envs'] {
  if (envs === undefined) return { MCP_RUNNER_WORKERS: '1' };
  if (!Array.isArray(envs)) return 'MCP_RUNNER_WORKERS' in envs ? envs : { ...envs, MCP_RUNNER_WORKERS: '1' };
  if (envs.includes('MCP_RUNNER_WORKERS')) return envs;
  // Names passed from this process become explicit values, so the one extra can join them.
  const explicit: Record<string, string> = { MCP_RUNNER_WORKERS: '1' };
  for (const name of envs) {
    const value = process.env[name];
    if (value !== undefined) explicit[name] = value;
  }
  return explicit;
}

