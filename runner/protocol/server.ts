// The runner's Unix-socket server (spec §2.4, §2.5, §3.3–3.5). APISIX opens many pooled
// connections and runs one exchange at a time on each; this file owns the per-connection
// loop and state machine, conf tokens, ExtraInfo round trips, deadlines and graceful close.
// The socket file itself (address, stale socket, bind and unlink) is listener.ts's.
// It knows nothing about plugins: everything past the token lookup goes to the CallHost.

import net from 'node:net';
import {
  decodeExtraInfoResp,
  decodeHTTPReqCallReq,
  decodeHTTPRespCallReq,
  decodePrepareConfReq,
  encodeExtraInfoReqFrame,
  encodeHTTPReqCallRespFrame,
  encodeHTTPRespCallRespFrame,
  encodePrepareConfRespFrame,
  errFrame,
  peekConfToken,
} from './codec.js';
import { ConfStore } from './conf-store.js';
import { FrameReader } from './frame.js';
import { bindSocket, parseListenAddress, unlinkIfOurs } from './listener.js';
import type { CallHost, ExtraInfoChannel } from './handler.js';
import {
  ErrCode,
  FrameType,
  type ExtraInfoReq,
  type ExtraInfoResp,
  type HTTPReqCallResp,
  type HTTPRespCallResp,
} from './messages.js';

export { parseListenAddress, SOCKET_MODE } from './listener.js';

export const DEFAULT_CALL_TIMEOUT_MS = 50_000;
export const DEFAULT_CALL_GRACE_MS = 3_000;
/** APISIX reads every frame with a 60 s timeout (spec §2.6): our answers must come sooner. */
const APISIX_READ_TIMEOUT_MS = 60_000;
export const DEFAULT_DRAIN_MS = 800;
export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 150;
/** Questions a host may queue on one call before ask() rejects (hosts ask one at a time). */
const MAX_QUEUED_QUESTIONS = 64;

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
  /** Stop accepting, drain in-flight calls, close connections, remove our socket, shut the host down. */
  close(opts?: CloseOptions): Promise<void>;
}

export async function startServer<C>(opts: ServerOptions<C>): Promise<RunnerServer<C>> {
  const path = parseListenAddress(opts.address);
  const callTimeoutMs = opts.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
  const callGraceMs = opts.callGraceMs ?? DEFAULT_CALL_GRACE_MS;
  if (!(callTimeoutMs > 0) || !(callGraceMs >= 0) || callTimeoutMs + callGraceMs >= APISIX_READ_TIMEOUT_MS) {
    throw new RangeError(
      `callTimeoutMs (${callTimeoutMs}) + callGraceMs (${callGraceMs}) must be positive and below APISIX's 60000 ms read timeout`,
    );
  }
  const store =
    opts.store ?? new ConfStore<C>({ confExpireSeconds: opts.confExpireSeconds, maxEntries: opts.maxConfEntries });
  const core = new ServerCore<C>(opts.host, store, callTimeoutMs, callGraceMs, opts.logger ?? silentLogger);

  const netServer = net.createServer(core.accept);
  let inode: bigint;
  try {
    inode = await bindSocket(netServer, path);
  } catch (err) {
    netServer.close();
    if (opts.store === undefined) store.close();
    throw new Error(`cannot listen on unix:${path}: ${(err as Error).message}`, { cause: err });
  }
  core.start();

  let closing: Promise<void> | undefined;
  return {
    path,
    counters: core.counters,
    store,
    inFlight: () => core.busy.size,
    close(closeOpts: CloseOptions = {}): Promise<void> {
      closing ??= core.close(netServer, path, inode, closeOpts);
      return closing;
    },
  };
}

const IDLE = 0;
const BUSY = 1;
const CLOSED = 2;

interface PendingQuestion {
  question: ExtraInfoReq;
  resolve: (r: ExtraInfoResp) => void;
  reject: (e: Error) => void;
}

class ServerCore<C> {
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
  private allClosed: (() => void) | undefined;
  private watchdog: NodeJS.Timeout | undefined;

  constructor(
    readonly host: CallHost<C>,
    readonly store: ConfStore<C>,
    readonly callTimeoutMs: number,
    readonly callGraceMs: number,
    readonly log: ProtocolLogger,
  ) {}

  readonly accept = (socket: net.Socket): void => {
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
    this.connections.add(new Connection(this, socket));
  };

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

  async close(netServer: net.Server, path: string, inode: bigint, opts: CloseOptions): Promise<void> {
    const drainMs = opts.drainMs ?? DEFAULT_DRAIN_MS;
    const shutdownMs = opts.shutdownTimeoutMs ?? DEFAULT_SHUTDOWN_TIMEOUT_MS;
    this.closing = true;
    const stopped = new Promise<void>((resolve) => netServer.close(() => resolve()));
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
    await unlinkIfOurs(path, inode);
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

/** The ExtraInfo channel of one call; stale after the call ends (asks then reject). */
class CallChannel<C> implements ExtraInfoChannel {
  constructor(private readonly conn: Connection<C>, private readonly seq: number) {}
  ask(question: ExtraInfoReq): Promise<ExtraInfoResp> {
    return this.conn.ask(this.seq, question);
  }
}

class Connection<C> {
  state = IDLE;
  closeWhenIdle = false;
  /** Time after which the in-flight call is abandoned. */
  backstopAt = 0;
  private readonly reader = new FrameReader();
  private seq = 0;
  private callType: FrameType = FrameType.HTTPReqCall;
  private question: PendingQuestion | undefined;
  private queue: PendingQuestion[] = [];

  constructor(private readonly core: ServerCore<C>, private readonly socket: net.Socket) {
    socket.on('data', this.onData);
    socket.on('drain', this.onDrain);
    socket.on('error', this.onError);
    socket.on('close', this.onClose);
  }

  destroy(): void {
    if (this.state === CLOSED) return;
    this.markClosed();
    this.socket.destroy();
  }

  private readonly onData = (chunk: Buffer): void => {
    this.reader.push(chunk);
    while (this.state !== CLOSED) {
      let frame;
      try {
        frame = this.reader.next();
      } catch (err) {
        this.violation(err);
        return;
      }
      if (frame === undefined) return;
      if (this.state === IDLE) this.dispatch(frame.type, frame.body);
      else this.onBusyFrame(frame.type, frame.body);
    }
  };

  private readonly onDrain = (): void => {
    this.socket.resume();
  };

  private readonly onError = (err: Error): void => {
    this.core.log.debug({ err: err.message }, 'runner connection error');
  };

  private readonly onClose = (): void => {
    this.markClosed();
  };

  private markClosed(): void {
    if (this.state === CLOSED) return;
    const wasBusy = this.state === BUSY;
    this.state = CLOSED;
    if (wasBusy) this.core.counters.droppedCalls++;
    if (this.reader.buffered > 0) this.core.counters.truncatedFrames++;
    if (this.question !== undefined || this.queue.length > 0) {
      const eof = new Error('connection closed while waiting for ExtraInfo: call dropped');
      this.question?.reject(eof);
      this.question = undefined;
      for (const q of this.queue) q.reject(eof);
      this.queue = [];
    }
    this.core.connectionClosed(this);
  }

  private violation(err: unknown): void {
    this.core.counters.protocolErrors++;
    this.core.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'protocol error: closing runner connection');
    this.destroy();
  }

  private write(frame: Buffer): void {
    // Back-pressure: stop reading until the peer has taken a large answer.
    if (!this.socket.write(frame)) this.socket.pause();
  }

  private sendError(code: ErrCode): void {
    if (code === ErrCode.ConfTokenNotFound) this.core.counters.tokenNotFound++;
    else if (code === ErrCode.BadRequest) this.core.counters.badRequest++;
    else this.core.counters.serviceUnavailable++;
    this.write(errFrame(code));
  }

  private dispatch(type: number, body: Uint8Array): void {
    switch (type) {
      case FrameType.PrepareConf:
        this.prepareConf(body);
        return;
      case FrameType.HTTPReqCall:
      case FrameType.HTTPRespCall:
        this.call(type, body);
        return;
      default:
        this.sendError(ErrCode.BadRequest);
    }
  }

  private prepareConf(body: Uint8Array): void {
    const core = this.core;
    core.counters.prepareConf++;
    let req;
    try {
      req = decodePrepareConfReq(body);
    } catch (err) {
      this.violation(err);
      return;
    }
    let token: number;
    try {
      token = core.store.prepare(req.key, req.conf, () => core.host.buildChain(req.conf, req.key));
    } catch (err) {
      core.log.warn({ err: String(err) }, 'building a plugin chain failed');
      this.sendError(ErrCode.ServiceUnavailable);
      return;
    }
    this.write(encodePrepareConfRespFrame({ confToken: token }));
  }

  private call(type: FrameType.HTTPReqCall | FrameType.HTTPRespCall, body: Uint8Array): void {
    const core = this.core;
    if (type === FrameType.HTTPReqCall) core.counters.httpReqCalls++;
    else core.counters.httpRespCalls++;
    let chain: C | undefined;
    try {
      // Token first, before decoding anything else or asking for data (spec §4.1.4).
      chain = core.store.get(peekConfToken(type, body));
    } catch (err) {
      this.violation(err);
      return;
    }
    if (chain === undefined) {
      this.sendError(ErrCode.ConfTokenNotFound);
      return;
    }
    const now = Date.now();
    const deadline = now + core.callTimeoutMs;
    let work: Promise<HTTPReqCallResp | HTTPRespCallResp>;
    try {
      if (type === FrameType.HTTPReqCall) {
        const req = decodeHTTPReqCallReq(body);
        this.begin(type, deadline);
        work = core.host.onRequest(chain, req, new CallChannel(this, this.seq), deadline);
      } else {
        const req = decodeHTTPRespCallReq(body);
        this.begin(type, deadline);
        work = core.host.onResponse(chain, req, new CallChannel(this, this.seq), deadline);
      }
    } catch (err) {
      if (this.state === IDLE) this.violation(err);
      else this.onHostFailure(err);
      return;
    }
    work.then(this.onAnswer, this.onHostFailure);
  }

  private begin(type: FrameType, deadline: number): void {
    this.state = BUSY;
    this.seq++;
    this.callType = type;
    this.backstopAt = deadline + this.core.callGraceMs;
    this.core.callStarted(this);
  }

  private readonly onAnswer = (answer: HTTPReqCallResp | HTTPRespCallResp): void => {
    if (this.state !== BUSY) return; // connection gone: the answer cannot be delivered
    let frame: Buffer;
    try {
      frame =
        this.callType === FrameType.HTTPReqCall
          ? encodeHTTPReqCallRespFrame(answer as HTTPReqCallResp)
          : encodeHTTPRespCallRespFrame(answer as HTTPRespCallResp);
    } catch (err) {
      // Typically an answer over 16 MiB (spec §4.5).
      this.core.log.warn({ err: String(err) }, 'answer could not be encoded');
      this.end(undefined, ErrCode.ServiceUnavailable);
      return;
    }
    this.end(frame, undefined);
  };

  private readonly onHostFailure = (err: unknown): void => {
    if (this.state !== BUSY) return;
    this.core.log.warn({ err: String(err) }, 'host failed a call');
    this.end(undefined, ErrCode.ServiceUnavailable);
  };

  private end(frame: Buffer | undefined, code: ErrCode | undefined): void {
    this.state = IDLE;
    // Only build the Error (a stack capture) when a question is actually left pending.
    if (this.question !== undefined || this.queue.length > 0) {
      const stale = new Error('ExtraInfo asked after the call was answered');
      this.question?.reject(stale);
      this.question = undefined;
      for (const q of this.queue) q.reject(stale);
      this.queue = [];
    }
    if (frame !== undefined) this.write(frame);
    else this.sendError(code ?? ErrCode.ServiceUnavailable);
    this.core.callEnded(this);
    if (this.closeWhenIdle) {
      // Draining: the answer is flushed, then FIN; nothing more is read on this connection.
      this.markClosed();
      this.socket.end();
    }
  }

  ask(seq: number, question: ExtraInfoReq): Promise<ExtraInfoResp> {
    if (this.state !== BUSY || seq !== this.seq) {
      return Promise.reject(new Error('ExtraInfo asked outside its call (call finished or connection closed)'));
    }
    return new Promise<ExtraInfoResp>((resolve, reject) => {
      const pending: PendingQuestion = { question, resolve, reject };
      if (this.question === undefined) this.sendQuestion(pending);
      else if (this.queue.length < MAX_QUEUED_QUESTIONS) this.queue.push(pending);
      else reject(new Error('too many ExtraInfo questions queued on one call'));
    });
  }

  private sendQuestion(pending: PendingQuestion): void {
    let frame: Buffer;
    try {
      frame = encodeExtraInfoReqFrame(pending.question);
    } catch (err) {
      pending.reject(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    this.core.counters.extraInfoQuestions++;
    this.question = pending;
    this.write(frame);
  }

  /** In BUSY the only legal frame is the type-3 answer to our question (spec §3.4). */
  private onBusyFrame(type: number, body: Uint8Array): void {
    const pending = this.question;
    if (type !== FrameType.ExtraInfo || pending === undefined) {
      this.violation(new Error(`frame type ${type} arrived while a call was in flight`));
      return;
    }
    let answer: ExtraInfoResp;
    try {
      answer = decodeExtraInfoResp(body);
    } catch (err) {
      this.violation(err);
      return;
    }
    this.question = undefined;
    const next = this.queue.shift();
    if (next !== undefined) this.sendQuestion(next);
    pending.resolve(answer);
  }
}
