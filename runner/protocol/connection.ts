// One APISIX connection's state machine (docs/ext-plugin-protocol.md §3.3–3.5): IDLE until a frame arrives, BUSY
// while its one call is in flight (the only legal frame then is the answer to our ExtraInfo
// question), CLOSED once the socket is gone. APISIX runs one exchange at a time on each
// pooled connection, so a connection holds at most one call, its questions and its deadline.

import type net from 'node:net';
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
import type { ConfStore } from './conf-store.js';
import { FrameReader } from './frame.js';
import { drainingStop } from './relay.js';
import type { CallHost, ExtraInfoChannel } from './handler.js';
import {
  ErrCode,
  FrameType,
  type ExtraInfoReq,
  type ExtraInfoResp,
  type HTTPReqCallResp,
  type HTTPRespCallReq,
  type HTTPRespCallResp,
  type TextEntry,
} from './messages.js';
import type { ProtocolLogger, ServerCounters } from './server.js';

/** Questions a host may queue on one call before ask() rejects (hosts ask one at a time). */
const MAX_QUEUED_QUESTIONS = 64;

/** What a connection needs from the server that accepted it. */
export interface ConnectionOwner<C> {
  readonly host: CallHost<C>;
  readonly store: ConfStore<C>;
  readonly counters: ServerCounters;
  readonly callTimeoutMs: number;
  readonly callGraceMs: number;
  readonly log: ProtocolLogger;
  /** Draining: request phases are refused, response phases still served. */
  readonly draining: boolean;
  callStarted(conn: Connection<C>): void;
  callEnded(conn: Connection<C>): void;
  connectionClosed(conn: Connection<C>): void;
}

export const IDLE = 0;
export const BUSY = 1;
const CLOSED = 2;

interface PendingQuestion {
  question: ExtraInfoReq;
  resolve: (r: ExtraInfoResp) => void;
  reject: (e: Error) => void;
}

/** The ExtraInfo channel of one call; stale after the call ends (asks then reject). */
export class CallChannel<C> implements ExtraInfoChannel {
  constructor(
    private readonly conn: Connection<C>,
    private readonly seq: number,
    /** A variable the router already asked for this call, answered without a round trip. */
    private readonly knownVar?: string,
    private readonly knownAnswer?: ExtraInfoResp,
  ) {}
  ask(question: ExtraInfoReq): Promise<ExtraInfoResp> {
    if (this.knownAnswer !== undefined && question.type === 'var' && question.name === this.knownVar) {
      return Promise.resolve(this.knownAnswer);
    }
    return this.conn.ask(this.seq, question);
  }
}

export class Connection<C> {
  state = IDLE;
  closeWhenIdle = false;
  /** Time after which the in-flight call is abandoned. */
  backstopAt = 0;
  private readonly reader = new FrameReader();
  protected seq = 0;
  private callType: FrameType = FrameType.HTTPReqCall;
  private question: PendingQuestion | undefined;
  private queue: PendingQuestion[] = [];

  constructor(protected readonly core: ConnectionOwner<C>, protected readonly socket: net.Socket) {
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

  protected markClosed(): void {
    if (this.state === CLOSED) return;
    const wasBusy = this.state === BUSY;
    this.state = CLOSED;
    this.closed();
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

  protected violation(err: unknown): void {
    this.core.counters.protocolErrors++;
    this.core.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'protocol error: closing runner connection');
    this.destroy();
  }

  protected write(frame: Buffer): void {
    // Back-pressure: stop reading until the peer has taken a large answer.
    if (!this.socket.write(frame)) this.socket.pause();
  }

  protected sendError(code: ErrCode): void {
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
    if (this.prepareElsewhere(req.key, req.conf)) return;
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
    let token: number;
    try {
      // Token first, before decoding anything else or asking for data (docs/ext-plugin-protocol.md §4.1.4).
      token = peekConfToken(type, body);
      chain = core.store.get(token);
    } catch (err) {
      this.violation(err);
      return;
    }
    if (chain !== undefined) this.run(type, body, chain);
    else this.unknownToken(type, token, body);
  }

  /** Multi-process hook: PrepareConf answered with a token from elsewhere (true = handled). */
  protected prepareElsewhere(_key: string, _conf: TextEntry[]): boolean {
    return false;
  }

  /** A token this process does not hold: unknown here means unknown (one process). */
  protected unknownToken(_type: FrameType.HTTPReqCall | FrameType.HTTPRespCall, _token: number, _body: Uint8Array): void {
    this.sendError(ErrCode.ConfTokenNotFound);
  }

  /** Multi-process hook: the response phase answered by another process (true = handled). */
  protected respondElsewhere(_chain: C, _req: HTTPRespCallReq, _body: Uint8Array, _deadline: number): boolean {
    return false;
  }

  /** Multi-process hook: a frame from APISIX while the exchange is relayed (true = handled). */
  protected relayedFrame(_type: number, _body: Uint8Array): boolean {
    return false;
  }

  /** Multi-process hook: the connection closed. */
  protected closed(): void {}

  protected run(type: FrameType.HTTPReqCall | FrameType.HTTPRespCall, body: Uint8Array, chain: C): void {
    const core = this.core;
    const now = Date.now();
    const deadline = now + core.callTimeoutMs;
    let work: Promise<HTTPReqCallResp | HTTPRespCallResp>;
    try {
      if (type === FrameType.HTTPReqCall) {
        const req = decodeHTTPReqCallReq(body);
        this.begin(type, deadline);
        // Draining: no new request phase (its response phase may find us gone, §2.7).
        if (core.draining) {
          this.onAnswer(drainingStop(req.id));
          return;
        }
        work = core.host.onRequest(chain, req, new CallChannel(this, this.seq), deadline);
      } else {
        const req = decodeHTTPRespCallReq(body);
        this.begin(type, deadline);
        if (this.respondElsewhere(chain, req, body, deadline)) return;
        work = core.host.onResponse(chain, req, new CallChannel(this, this.seq), deadline);
      }
    } catch (err) {
      if (this.state === IDLE) this.violation(err);
      else this.onHostFailure(err);
      return;
    }
    work.then(this.onAnswer, this.onHostFailure);
  }

  protected begin(type: FrameType, deadline: number): void {
    this.state = BUSY;
    this.seq++;
    this.callType = type;
    this.backstopAt = deadline + this.core.callGraceMs;
    this.core.callStarted(this);
  }

  protected readonly onAnswer = (answer: HTTPReqCallResp | HTTPRespCallResp): void => {
    if (this.state !== BUSY) return; // connection gone: the answer cannot be delivered
    let frame: Buffer;
    try {
      frame =
        this.callType === FrameType.HTTPReqCall
          ? encodeHTTPReqCallRespFrame(answer as HTTPReqCallResp)
          : encodeHTTPRespCallRespFrame(answer as HTTPRespCallResp);
    } catch (err) {
      // Typically an answer over 16 MiB (docs/ext-plugin-protocol.md §4.5).
      this.core.log.warn({ err: String(err) }, 'answer could not be encoded');
      this.end(undefined, ErrCode.ServiceUnavailable);
      return;
    }
    this.end(frame, undefined);
  };

  protected readonly onHostFailure = (err: unknown): void => {
    if (this.state !== BUSY) return;
    this.core.log.warn({ err: String(err) }, 'host failed a call');
    this.end(undefined, ErrCode.ServiceUnavailable);
  };

  protected end(frame: Buffer | undefined, code: ErrCode | undefined): void {
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

  /** In BUSY the only legal frame is the type-3 answer to our question (docs/ext-plugin-protocol.md §3.4). */
  private onBusyFrame(type: number, body: Uint8Array): void {
    if (this.relayedFrame(type, body)) return;
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
