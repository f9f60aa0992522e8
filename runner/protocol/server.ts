// The runner's Unix-socket server (docs/ext-plugin-protocol.md §2.3, §2.5, §2.6), its lean core: options,
// counters, accepting connections, the one deadline watchdog, and close with drain.
// listener.ts owns the socket file (address, stale socket, bind and unlink); connection.ts
// owns each connection's state machine, conf token lookup and ExtraInfo round trips.
// It knows nothing about plugins: everything past the token lookup goes to the CallHost.

import net from 'node:net';
import { ConfStore } from './conf-store.js';
import { Connection, IDLE, type ConnectionOwner } from './connection.js';
import type { CallHost } from './handler.js';
import { bindSocket, parseListenAddress, unlinkIfOurs } from './listener.js';
import type { ResponseRouter, TokenAuthority } from './relay.js';
import { SharedConnection } from './shared-connection.js';

export { parseListenAddress, SOCKET_MODE } from './listener.js';

export const DEFAULT_CALL_TIMEOUT_MS = 50_000;
export const DEFAULT_CALL_GRACE_MS = 3_000;
/** APISIX reads every frame with a 60 s timeout (docs/ext-plugin-protocol.md §2.6): our answers must come sooner. */
const APISIX_READ_TIMEOUT_MS = 60_000;
export const DEFAULT_DRAIN_MS = 800;
export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 150;

/** pino-compatible subset; nothing is logged per call above debug. */
export interface ProtocolLogger {
  debug(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

const silentLogger: ProtocolLogger = { debug() {}, warn() {} };

export interface ServerOptions<C> {
  /** APISIX_LISTEN_ADDRESS value: 'unix:/abs/path.sock'. */
  address: string;
  host: CallHost<C>;
  /** APISIX_CONF_EXPIRE_TIME (seconds, default 3600); tokens slide for ≥ 1.2 × this. */
  confExpireSeconds?: number;
  /** Deadline handed to the host for each call (default 50 s). */
  callTimeoutMs?: number;
  /** After deadline + grace with no answer, the connection is dropped (default 3 s). */
  callGraceMs?: number;
  /** Cap on live conf tokens. */
  maxConfEntries?: number;
  /** A prepared store (tests inject clocks and generations through it). */
  store?: ConfStore<C>;
  logger?: ProtocolLogger;
  /** No socket of its own (a cluster worker): it serves connections handed to adopt(). */
  adoptOnly?: boolean;
  /** Multi-process runner (runner/cluster/): the primary numbers and resolves conf tokens. */
  authority?: TokenAuthority;
  /** Multi-process runner: relays each response phase to the process that owns its call. */
  router?: ResponseRouter;
}

export interface ServerCounters {
  connectionsOpen: number;
  connectionsAccepted: number;
  prepareConf: number;
  httpReqCalls: number;
  httpRespCalls: number;
  extraInfoQuestions: number;
  /** Err CONF_TOKEN_NOT_FOUND answers. */
  tokenNotFound: number;
  /** Err BAD_REQUEST answers (unknown frame type). */
  badRequest: number;
  /** Err SERVICE_UNAVAILABLE answers (host failure, answer too large). */
  serviceUnavailable: number;
  /** Connections destroyed for malformed frames or frames out of turn. */
  protocolErrors: number;
  /** Calls abandoned because the connection closed before their answer. */
  droppedCalls: number;
  /** Calls whose host missed deadline + grace (connection dropped). */
  callTimeouts: number;
  /** Connections that closed with a partial frame buffered (APISIX gave up mid-frame). */
  truncatedFrames: number;
}

export interface DrainOptions {
  /** Request-phase states still waiting for their response phase (the host's carry count). */
  pending: () => number;
  /** Give up waiting after this long (APISIX kills the runner 1 s after SIGTERM). */
  maxMs: number;
}

export interface CloseOptions {
  /** How long in-flight calls may still finish (default 800 ms; APISIX kills after 1 s). */
  drainMs?: number;
  /** Bound on host.shutdown() (default 150 ms). */
  shutdownTimeoutMs?: number;
}

export interface RunnerServer<C = unknown> {
  /** Socket path (address without 'unix:'). */
  readonly path: string;
  readonly counters: Readonly<ServerCounters>;
  readonly store: ConfStore<C>;
  /** Calls currently in flight. */
  inFlight(): number;
  /** Serves a connection accepted elsewhere (the primary hands them over; peers relay on them). */
  adopt(socket: net.Socket, routed: boolean): void;
  /**
   * Keeps serving response phases (on open connections and new ones) while `pending()` is
   * non-zero or calls are in flight, at most `maxMs`; request phases are refused meanwhile.
   * Resolves with what was still pending.
   */
  drain(opts: DrainOptions): Promise<number>;
  /** Stop accepting, drain in-flight calls, close connections, remove our socket, shut the host down. */
  close(opts?: CloseOptions): Promise<void>;
}

export async function startServer<C>(opts: ServerOptions<C>): Promise<RunnerServer<C>> {
  const path = opts.adoptOnly ? '' : parseListenAddress(opts.address);
  const callTimeoutMs = opts.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
  const callGraceMs = opts.callGraceMs ?? DEFAULT_CALL_GRACE_MS;
  if (!(callTimeoutMs > 0) || !(callGraceMs >= 0) || callTimeoutMs + callGraceMs >= APISIX_READ_TIMEOUT_MS) {
    throw new RangeError(
      `callTimeoutMs (${callTimeoutMs}) + callGraceMs (${callGraceMs}) must be positive and below APISIX's 60000 ms read timeout`,
    );
  }
  const store =
    opts.store ?? new ConfStore<C>({ confExpireSeconds: opts.confExpireSeconds, maxEntries: opts.maxConfEntries });
  const core = new ServerCore<C>(opts, store, callTimeoutMs, callGraceMs);

  // A cluster worker listens on nothing: the primary owns the socket and hands connections over.
  let listening: { netServer: net.Server; inode: bigint } | undefined;
  if (!opts.adoptOnly) {
    const netServer = net.createServer(core.accept);
    try {
      listening = { netServer, inode: await bindSocket(netServer, path) };
    } catch (err) {
      netServer.close();
      if (opts.store === undefined) store.close();
      throw new Error(`cannot listen on unix:${path}: ${(err as Error).message}`, { cause: err });
    }
  }
  core.start();

  let closing: Promise<void> | undefined;
  let draining: Promise<number> | undefined;
  return {
    path,
    counters: core.counters,
    store,
    inFlight: () => core.busy.size,
    adopt: (socket, routed) => core.adopt(socket, routed),
    drain(drainOpts: DrainOptions): Promise<number> {
      draining ??= core.drain(drainOpts);
      return draining;
    },
    close(closeOpts: CloseOptions = {}): Promise<void> {
      closing ??= core.close(listening, path, closeOpts);
      return closing;
    },
  };
}


class ServerCore<C> implements ConnectionOwner<C> {
  readonly counters: ServerCounters = {
    connectionsOpen: 0,
    connectionsAccepted: 0,
    prepareConf: 0,
    httpReqCalls: 0,
    httpRespCalls: 0,
    extraInfoQuestions: 0,
    tokenNotFound: 0,
    badRequest: 0,
    serviceUnavailable: 0,
    protocolErrors: 0,
    droppedCalls: 0,
    callTimeouts: 0,
    truncatedFrames: 0,
  };
  readonly connections = new Set<Connection<C>>();
  readonly busy = new Set<Connection<C>>();
  /** Every accepted socket until it is fully closed (connections leave `connections` earlier). */
  private readonly sockets = new Set<net.Socket>();
  closing = false;
  draining = false;
  readonly host: CallHost<C>;
  readonly log: ProtocolLogger;
  readonly authority: TokenAuthority | undefined;
  readonly router: ResponseRouter | undefined;
  private allClosed: (() => void) | undefined;
  private watchdog: NodeJS.Timeout | undefined;

  constructor(
    opts: ServerOptions<C>,
    readonly store: ConfStore<C>,
    readonly callTimeoutMs: number,
    readonly callGraceMs: number,
  ) {
    this.host = opts.host;
    this.log = opts.logger ?? silentLogger;
    this.authority = opts.authority;
    this.router = opts.router;
  }

  readonly accept = (socket: net.Socket): void => {
    this.adopt(socket, true);
  };

  adopt(socket: net.Socket, routed: boolean): void {
    if (this.closing) {
      socket.destroy();
      return;
    }
    this.counters.connectionsAccepted++;
    this.counters.connectionsOpen++;
    this.sockets.add(socket);
    socket.once('close', () => {
      this.sockets.delete(socket);
      if (this.closing && this.sockets.size === 0) this.allClosed?.();
    });
    const shared = this.authority !== undefined || this.router !== undefined;
    this.connections.add(
      shared ? new SharedConnection(this, socket, this.authority, routed ? this.router : undefined) : new Connection(this, socket),
    );
  }

  async drain(opts: DrainOptions): Promise<number> {
    this.draining = true;
    const until = Date.now() + opts.maxMs;
    // Idle connections stay open: after a reload APISIX's old workers reach us only through them.
    while (Date.now() < until && (opts.pending() > 0 || this.busy.size > 0) && !this.closing) {
      await new Promise<void>((resolve) => setTimeout(resolve, Math.min(20, Math.max(1, until - Date.now()))));
    }
    return opts.pending();
  }

  /** One coarse timer for all calls instead of a timer per call. */
  start(): void {
    const tick = Math.max(100, Math.min(1000, this.callGraceMs || 1000));
    this.watchdog = setInterval(() => this.checkDeadlines(), tick);
    this.watchdog.unref();
  }

  private checkDeadlines(): void {
    const now = Date.now();
    for (const conn of this.busy) {
      if (now > conn.backstopAt) {
        this.counters.callTimeouts++;
        this.log.warn({ afterMs: now - conn.backstopAt + this.callTimeoutMs + this.callGraceMs }, 'call exceeded its deadline: connection dropped');
        conn.destroy();
      }
    }
  }

  callStarted(conn: Connection<C>): void {
    this.busy.add(conn);
  }

  callEnded(conn: Connection<C>): void {
    this.busy.delete(conn);
  }

  connectionClosed(conn: Connection<C>): void {
    if (this.connections.delete(conn)) this.counters.connectionsOpen--;
    this.callEnded(conn);
  }

  async close(listening: { netServer: net.Server; inode: bigint } | undefined, path: string, opts: CloseOptions): Promise<void> {
    const drainMs = opts.drainMs ?? DEFAULT_DRAIN_MS;
    const shutdownMs = opts.shutdownTimeoutMs ?? DEFAULT_SHUTDOWN_TIMEOUT_MS;
    this.closing = true;
    const stopped = listening
      ? new Promise<void>((resolve) => listening.netServer.close(() => resolve()))
      : Promise.resolve();
    for (const conn of this.connections) {
      if (conn.state === IDLE) conn.destroy();
      else conn.closeWhenIdle = true; // answers, then ends the connection
    }
    // Busy connections finish their call, flush the answer and close; bounded by drainMs.
    if (this.sockets.size > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, drainMs);
        this.allClosed = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    for (const conn of this.connections) conn.destroy();
    for (const socket of this.sockets) socket.destroy();
    await stopped;
    if (this.watchdog) clearInterval(this.watchdog);
    if (listening) await unlinkIfOurs(path, listening.inode);
    this.store.close();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.host.shutdown().catch((err: unknown) => this.log.warn({ err: String(err) }, 'host shutdown failed')),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, shutdownMs);
      }),
    ]);
    clearTimeout(timer);
  }
}

