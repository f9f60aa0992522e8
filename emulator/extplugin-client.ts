// APISIX's side of the ext-plugin protocol (apisix/plugins/ext-plugin/init.lua, docs/ext-plugin-protocol.md §2–4):
// per-worker keepalive pools, the two-level conf token cache (worker LRU + shared dict under
// one global lock), PrepareConf on a second connection, communicate() with its three attempts
// on CONF_TOKEN_NOT_FOUND, ExtraInfo answering, and the failure classes (503 vs 500).

import { createConnection, type Socket } from 'node:net';
import { FrameReader, encodeFrame, type Frame } from '../runner/protocol/frame.js';
import {
  decodeErrResp,
  decodeExtraInfoReq,
  decodePrepareConfResp,
  encodeExtraInfoResp,
  encodePrepareConfReq,
} from '../runner/protocol/codec.js';
import { ErrCode, FrameType, type ExtraInfoReq, type TextEntry } from '../runner/protocol/messages.js';
import type { ErrorLog } from './errorlog.js';

/** A Lua error inside the ext-plugin code: the request ends with 500, degradation does not apply. */
export class LuaException extends Error {
  override name = 'LuaException';
}

/** An error communicate() returns: 503, or "continue" with allow_degradation. */
export class RpcError extends Error {
  override name = 'RpcError';
}

export interface Counters {
  /** Frames APISIX sent, by exchange type. */
  exchanges: { prepareConf: number; httpReqCall: number; httpRespCall: number; extraInfo: number };
  /** PrepareConf frames actually sent (not served from a cache). */
  prepareConf: number;
  runnerConnectionsOpened: number;
  upstreamConnectionsOpened: number;
  confTokenRetries: number;
}

export function newCounters(): Counters {
  return {
    exchanges: { prepareConf: 0, httpReqCall: 0, httpRespCall: 0, extraInfo: 0 },
    prepareConf: 0,
    runnerConnectionsOpened: 0,
    upstreamConnectionsOpened: 0,
    confTokenRetries: 0,
  };
}

export interface ClientSettings {
  /** The runner's socket path (no "unix:" prefix). */
  socketPath: string;
  connectTimeoutMs: number;
  /** Per send and per receive (APISIX: 60 s). */
  rpcTimeoutMs: number;
  log: ErrorLog;
  counters: Counters;
}

const KEEPALIVE_IDLE_MS = 180_000;
const KEEPALIVE_POOL_SIZE = 32;
const LRU_ITEMS = 8; // resty.lrucache "plugin" type default
const LRU_TTL_MS = 3600_000;
const SHARED_TTL_MS = 0.9 * 3600_000;
const LOCK_WAIT_MS = 5_000;
const LOCK_EXPIRE_MS = 30_000;

// ----------------------------------------------------------------------------------------
// One connection to the runner.

class RunnerConn {
  private readonly reader = new FrameReader();
  private waiter: { resolve: (f: Frame) => void; reject: (e: Error) => void } | undefined;
  private failure: Error | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  busy = true;

  constructor(readonly socket: Socket, private readonly onIdleClose: (c: RunnerConn) => void) {
    socket.on('data', (chunk: Buffer) => {
      if (!this.busy) {
        // Bytes on an idle pooled connection: nginx closes it.
        this.destroy();
        return;
      }
      this.reader.push(chunk);
      this.pump();
    });
    socket.on('error', (err) => this.fail(err));
    socket.on('close', () => this.fail(new Error('closed')));
  }

  get alive(): boolean {
    return this.failure === undefined && !this.socket.destroyed;
  }

  /** Unread bytes after the final answer: nginx refuses to pool such a connection. */
  get dubious(): boolean {
    return this.reader.buffered > 0;
  }

  private fail(err: Error): void {
    if (this.failure === undefined) this.failure = err;
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer);
    if (!this.busy) this.onIdleClose(this);
    const w = this.waiter;
    this.waiter = undefined;
    w?.reject(this.failure);
  }

  private pump(): void {
    if (this.waiter === undefined) return;
    let frame: Frame | undefined;
    try {
      frame = this.reader.next();
    } catch (err) {
      this.destroy();
      this.fail(err as Error);
      return;
    }
    if (frame === undefined) return;
    const w = this.waiter;
    this.waiter = undefined;
    w.resolve(frame);
  }

  send(type: FrameType, body: Uint8Array, timeoutMs: number): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('timeout')), timeoutMs);
      this.socket.write(encodeFrame(type, body), (err) => {
        clearTimeout(timer);
        if (err) reject(err);
        else resolve();
      });
    });
  }

  receive(timeoutMs: number): Promise<Frame> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        reject(new Error('timeout'));
      }, timeoutMs);
      this.waiter = {
        resolve: (f) => {
          clearTimeout(timer);
          resolve(f);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      this.pump();
    });
  }

  park(): void {
    this.busy = false;
    this.idleTimer = setTimeout(() => this.destroy(), KEEPALIVE_IDLE_MS);
    this.idleTimer.unref();
  }

  unpark(): void {
    this.busy = true;
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer);
  }

  destroy(): void {
    this.socket.destroy();
  }
}

// ----------------------------------------------------------------------------------------
// Token caches.

/** resty.lock on the shared dict: waits up to 5 s, a lock left held expires after 30 s. */
class GlobalLock {
  private heldUntil = 0;

  async acquire(): Promise<boolean> {
    const deadline = Date.now() + LOCK_WAIT_MS;
    let step = 1;
    for (;;) {
      const now = Date.now();
      if (this.heldUntil <= now) {
        this.heldUntil = now + LOCK_EXPIRE_MS;
        return true;
      }
      if (now >= deadline) return false;
      await new Promise((r) => setTimeout(r, Math.min(step, deadline - now)));
      step = Math.min(step * 2, 500); // resty.lock's step/ratio/max_step
    }
  }

  release(): void {
    this.heldUntil = 0;
  }
}

/** The `ext-plugin` lua_shared_dict: shared by all workers. */
export class SharedTokenDict {
  private readonly tokens = new Map<string, { token: number; expiresAt: number }>();
  readonly lock = new GlobalLock();

  get(key: string): number | undefined {
    const hit = this.tokens.get(key);
    if (hit === undefined) return undefined;
    if (hit.expiresAt <= Date.now()) {
      this.tokens.delete(key);
      return undefined;
    }
    return hit.token;
  }

  set(key: string, token: number): void {
    this.tokens.set(key, { token, expiresAt: Date.now() + SHARED_TTL_MS });
    // The real dict is 1 MiB; keep it bounded the same rough way (oldest first).
    if (this.tokens.size > 8192) this.tokens.delete(this.tokens.keys().next().value as string);
  }

  flushAll(): void {
    this.tokens.clear();
  }

  get size(): number {
    return this.tokens.size;
  }
}

/** resty.lrucache with versioned entries (core.lrucache.plugin_ctx). */
class TokenLru {
  private readonly entries = new Map<string, { version: number; token: number; expiresAt: number }>();

  get(key: string, version: number): number | undefined {
    const hit = this.entries.get(key);
    if (hit === undefined || hit.version !== version || hit.expiresAt <= Date.now()) return undefined;
    this.entries.delete(key);
    this.entries.set(key, hit);
    return hit.token;
  }

  set(key: string, version: number, token: number): void {
    this.entries.delete(key);
    this.entries.set(key, { version, token, expiresAt: Date.now() + LRU_TTL_MS });
    if (this.entries.size > LRU_ITEMS) this.entries.delete(this.entries.keys().next().value as string);
  }
}

// ----------------------------------------------------------------------------------------
// A worker: its own pool, LRU and id space.

export interface ConfRef {
  /** `route#<id>#<plugin>`: the LRU key. */
  lruKey: string;
  version: number;
  conf: readonly TextEntry[];
}

/** Answers the runner's ExtraInfo questions for one call. */
export interface ExtraInfoSource {
  variable(name: string): string | undefined;
  reqBody(): Uint8Array | undefined;
  /** Only in HTTPRespCall: reads the WHOLE upstream body. Undefined in HTTPReqCall. */
  respBody: (() => Promise<Uint8Array | undefined>) | undefined;
}

export class Worker {
  private readonly idle: RunnerConn[] = [];
  private lru = new TokenLru();
  private counter = 0;

  constructor(readonly index: number, private readonly settings: ClientSettings, private readonly shared: SharedTokenDict) {}

  /** `(worker << 22) + counter`, counter wrapping at 2^22 (init.lua). */
  nextId(): number {
    const id = this.index * 2 ** 22 + this.counter;
    this.counter = (this.counter + 1) % 2 ** 22;
    return id;
  }

  /** recreate_lrucache(): flush the shared dict and replace this worker's LRU. */
  flushTokenCaches(): void {
    this.shared.flushAll();
    this.settings.log.write('warn', 'flush conf token in shared dict');
    this.lru = new TokenLru();
    this.settings.log.write('warn', 'flush conf token lrucache');
  }

  /** The runner_exit event: every worker drops its LRU (the shared dict is flushed once). */
  dropLru(): void {
    this.lru = new TokenLru();
  }

  logDegradation(): void {
    this.settings.log.write('warn', 'Plugin Runner is wrong, allow degradation');
  }

  closeIdle(): void {
    for (const c of this.idle.splice(0)) c.destroy();
  }

  private connect(): Promise<RunnerConn> {
    const { socketPath, connectTimeoutMs, counters } = this.settings;
    return new Promise((resolve, reject) => {
      const socket = createConnection(socketPath);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error('timeout'));
      }, connectTimeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        counters.runnerConnectionsOpened++;
        resolve(new RunnerConn(socket, (c) => this.forget(c)));
      });
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
  }

  private forget(conn: RunnerConn): void {
    const at = this.idle.indexOf(conn);
    if (at >= 0) this.idle.splice(at, 1);
  }

  private async acquire(): Promise<RunnerConn> {
    while (this.idle.length > 0) {
      const conn = this.idle.pop()!;
      if (conn.alive) {
        conn.unpark();
        return conn;
      }
    }
    try {
      return await this.connect();
    } catch (err) {
      const msg = `failed to connect to the unix socket unix:${this.settings.socketPath}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`;
      this.settings.log.write('error', msg);
      throw new RpcError(msg);
    }
  }

  /** setkeepalive(180000, 32): the oldest idle connection goes when the pool is full. */
  private release(conn: RunnerConn): void {
    if (!conn.alive) return;
    if (conn.dubious) {
      this.settings.log.write('error', 'failed to setkeepalive: connection in dubious state');
      conn.destroy();
      return;
    }
    conn.park();
    this.idle.push(conn);
    if (this.idle.length > KEEPALIVE_POOL_SIZE) this.idle.shift()!.destroy();
  }

  /** rpc_call(): take a connection, run the exchange, pool it on success, close it on error. */
  private async rpcCall<T>(exchange: (conn: RunnerConn) => Promise<T>): Promise<T> {
    const conn = await this.acquire();
    try {
      const result = await exchange(conn);
      this.release(conn);
      return result;
    } catch (err) {
      conn.destroy();
      if (err instanceof LuaException) throw err;
      throw err instanceof RpcError ? err : new RpcError((err as Error).message);
    }
  }

  /** Reads one frame; a zero-length body makes APISIX's FlatBuffers library throw. */
  private async receive(conn: RunnerConn, what: string): Promise<Frame> {
    let frame: Frame;
    try {
      frame = await conn.receive(this.settings.rpcTimeoutMs);
    } catch (err) {
      throw new RpcError(`failed to receive ${what}: ${(err as Error).message}`);
    }
    if (frame.body.length === 0) throw new LuaException(`bad argument #1 to 'New' (zero-length ${what} body)`);
    if (frame.type === FrameType.Error) {
      const code = this.decode(() => decodeErrResp(frame.body)).code;
      throw new RpcError(errCodeText(code));
    }
    return frame;
  }

  private decode<T>(f: () => T): T {
    try {
      return f();
    } catch (err) {
      throw new LuaException(`failed to decode runner answer: ${(err as Error).message}`);
    }
  }

  private async send(conn: RunnerConn, type: FrameType, body: Uint8Array, what: string): Promise<void> {
    this.settings.log.write('info', `sending rpc type: ${type} data length: ${body.length}`);
    try {
      await conn.send(type, body, this.settings.rpcTimeoutMs);
    } catch (err) {
      throw new RpcError(`failed to send ${what}: ${(err as Error).message}`);
    }
  }

  /** The conf token for a plugin conf: LRU, then PrepareConf on a second connection. */
  private async confToken(ref: ConfRef): Promise<number> {
    const cached = this.lru.get(ref.lruKey, ref.version);
    if (cached !== undefined) return cached;
    const token = await this.rpcCall((conn) => this.prepareConf(conn, ref));
    this.lru.set(ref.lruKey, ref.version, token);
    return token;
  }

  private async prepareConf(conn: RunnerConn, ref: ConfRef): Promise<number> {
    const key = `${ref.lruKey}#${ref.version}`;
    const fromDict = this.shared.get(key);
    if (fromDict !== undefined) {
      this.settings.log.write('info', 'successfully fetched token from shared dict.');
      return fromDict;
    }
    if (!(await this.shared.lock.acquire())) throw new RpcError('failed to acquire the lock: timeout');
    // A Lua exception while holding the lock leaves it held until it expires (30 s).
    const again = this.shared.get(key);
    if (again !== undefined) {
      this.shared.lock.release();
      return again;
    }
    let token: number;
    try {
      this.settings.counters.exchanges.prepareConf++;
      this.settings.counters.prepareConf++;
      await this.send(conn, FrameType.PrepareConf, encodePrepareConfReq({ conf: [...ref.conf], key }), 'RPC_PREPARE_CONF');
      const frame = await this.receive(conn, 'RPC_PREPARE_CONF');
      if (frame.type !== FrameType.PrepareConf) throw new RpcError(`failed to receive RPC_PREPARE_CONF: unexpected type ${frame.type}`);
      token = this.decode(() => decodePrepareConfResp(frame.body)).confToken;
    } catch (err) {
      if (!(err instanceof LuaException)) this.shared.lock.release();
      throw err;
    }
    this.shared.set(key, token);
    this.shared.lock.release();
    this.settings.log.write('notice', 'successfully obtained conf token.');
    return token;
  }

  /**
   * One HTTPReqCall/HTTPRespCall exchange: connect C1, get the token (maybe PrepareConf on C2),
   * send the call, answer ExtraInfo questions until the final answer.
   */
  private async callOnce<T>(
    type: FrameType.HTTPReqCall | FrameType.HTTPRespCall,
    ref: ConfRef,
    build: (id: number, token: number) => Uint8Array,
    decode: (body: Uint8Array) => T,
    extra: ExtraInfoSource,
  ): Promise<T> {
    const what = type === FrameType.HTTPReqCall ? 'RPC_HTTP_REQ_CALL' : 'RPC_HTTP_RESP_CALL';
    return this.rpcCall(async (conn) => {
      const token = await this.confToken(ref);
      const body = build(this.nextId(), token);
      if (type === FrameType.HTTPReqCall) this.settings.counters.exchanges.httpReqCall++;
      else this.settings.counters.exchanges.httpRespCall++;
      await this.send(conn, type, body, what);
      for (;;) {
        const frame = await this.receive(conn, what);
        this.settings.log.write('info', `receiving rpc type: ${frame.type} data length: ${frame.body.length}`);
        if (frame.type === FrameType.ExtraInfo) {
          const answer = await this.answerExtraInfo(frame.body, extra);
          this.settings.counters.exchanges.extraInfo++;
          await this.send(conn, FrameType.ExtraInfo, answer, 'RPC_EXTRA_INFO');
          continue;
        }
        if (frame.type !== type) throw new RpcError(`failed to receive ${what}: unexpected type ${frame.type}`);
        return this.decode(() => decode(frame.body));
      }
    });
  }

  private async answerExtraInfo(body: Uint8Array, extra: ExtraInfoSource): Promise<Uint8Array> {
    let question: ExtraInfoReq;
    try {
      question = decodeExtraInfoReq(body);
    } catch (err) {
      // An info type APISIX does not know: it aborts the call and closes the socket.
      if (/unknown info type/.test((err as Error).message)) throw new RpcError(`failed to handle RPC_EXTRA_INFO: unsupported info type`);
      throw new LuaException(`failed to decode RPC_EXTRA_INFO: ${(err as Error).message}`);
    }
    let result: Uint8Array | undefined;
    if (question.type === 'var') {
      const v = extra.variable(question.name);
      result = v === undefined ? undefined : Buffer.from(v, 'utf8');
    } else if (question.type === 'reqBody') {
      result = extra.reqBody();
    } else if (extra.respBody === undefined) {
      this.settings.log.write('error', 'failed to read response body: not exits');
      result = undefined;
    } else {
      result = await extra.respBody();
    }
    if (result !== undefined && result.length > 0xffffff) {
      throw new RpcError('failed to reply RPC_EXTRA_INFO: the max length of data is 16777215');
    }
    return encodeExtraInfoResp({ result });
  }

  /**
   * communicate(): up to 3 attempts while the runner says CONF_TOKEN_NOT_FOUND; any other
   * failure ends at once. Returns the decoded answer, or throws RpcError (→ 503 / degrade)
   * or LuaException (→ 500).
   */
  async communicate<T>(
    type: FrameType.HTTPReqCall | FrameType.HTTPRespCall,
    ref: ConfRef,
    build: (id: number, token: number) => Uint8Array,
    decode: (body: Uint8Array) => T,
    extra: ExtraInfoSource,
  ): Promise<T> {
    let last: RpcError | undefined;
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        return await this.callOnce(type, ref, build, decode, extra);
      } catch (err) {
        if (!(err instanceof RpcError)) throw err;
        last = err;
        this.settings.log.write('error', `failed to call rpc: ${err.message}`);
        if (err.message !== CONF_TOKEN_NOT_FOUND) break;
        this.settings.counters.confTokenRetries++;
        this.settings.log.write('warn', 'refresh cache and try again');
        this.flushTokenCaches();
      }
    }
    throw last!;
  }
}

const CONF_TOKEN_NOT_FOUND = 'conf token not found';

/** init.lua's err_code_to_str. */
function errCodeText(code: number): string {
  switch (code) {
    case ErrCode.BadRequest: return 'bad request';
    case ErrCode.ServiceUnavailable: return 'service unavailable';
    case ErrCode.ConfTokenNotFound: return CONF_TOKEN_NOT_FOUND;
    default: return `unknown err ${code}`;
  }
}
