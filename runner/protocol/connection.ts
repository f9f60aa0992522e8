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
import { Relay, drainingStop, withheldResponse, type RelayEnds, type ResponseRouter, type TokenAuthority } from './relay.js';
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
  /** Multi-process runner: the primary numbers tokens and knows every process's. */
  readonly authority: TokenAuthority | undefined;
  /** Multi-process runner: response phases go to the process that ran their request phase. */
  readonly router: ResponseRouter | undefined;
  /** Draining: request phases are refused, response phases still served. */
  readonly draining: boolean;
  callStarted(conn: Connection<C>): void;
  callEnded(conn: Connection<C>): void;
  connectionClosed(conn: Connection<C>): void;
}

export const IDLE = 0;
const BUSY = 1;
const CLOSED = 2;

interface PendingQuestion {
  question: ExtraInfoReq;
  resolve: (r: ExtraInfoResp) => void;
  reject: (e: Error) => void;
}

/** The ExtraInfo channel of one call; stale after the call ends (asks then reject). */
class CallChannel<C> implements ExtraInfoChannel {
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

export class Connection<C> implements RelayEnds {
  state = IDLE;
  closeWhenIdle = false;
  /** Time after which the in-flight call is abandoned. */
  backstopAt = 0;
  private readonly reader = new FrameReader();
  private seq = 0;
  private callType: FrameType = FrameType.HTTPReqCall;
  private question: PendingQuestion | undefined;
  private queue: PendingQuestion[] = [];
  private relay: Relay | undefined;
  private relayedCallId = 0;

  /** `routed`: response phases may be relayed to their owner (not on connections from peers). */
  constructor(private readonly core: ConnectionOwner<C>, private readonly socket: net.Socket, private readonly routed = true) {
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
    this.relay?.abort();
    this.relay = undefined;
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
    if (core.authority !== undefined) {
      this.prepareShared(core.authority, req.key, req.conf);
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

  /** The primary numbers the token, so every process resolves it (runner/cluster/). */
  private prepareShared(authority: TokenAuthority, key: string, conf: TextEntry[]): void {
    this.begin(FrameType.PrepareConf, Date.now() + this.core.callTimeoutMs);
    const seq = this.seq;
    authority.prepare(key, conf).then(
      (token) => {
        if (this.state !== BUSY || seq !== this.seq) return;
        try {
          this.core.store.adopt(token, key, conf, () => this.core.host.buildChain(conf, key));
        } catch (err) {
          this.core.log.warn({ err: String(err) }, 'building a plugin chain failed');
          this.end(undefined, ErrCode.ServiceUnavailable);
          return;
        }
        this.end(encodePrepareConfRespFrame({ confToken: token }), undefined);
      },
      (err: unknown) => {
        if (this.state !== BUSY || seq !== this.seq) return;
        this.core.log.warn({ err: String(err) }, 'the primary did not answer a PrepareConf');
        this.end(undefined, ErrCode.ServiceUnavailable);
      },
    );
  }

  /** A token this process has not seen: another process may have issued it (ask the primary). */
  private resolveToken(authority: TokenAuthority, type: FrameType.HTTPReqCall | FrameType.HTTPRespCall, token: number, body: Uint8Array): void {
    this.begin(type, Date.now() + this.core.callTimeoutMs);
    const seq = this.seq;
    authority.lookup(token).then(
      (found) => {
        if (this.state !== BUSY || seq !== this.seq) return;
        this.settle();
        if (found === undefined) {
          this.sendError(ErrCode.ConfTokenNotFound);
          this.closeIfDraining();
          return;
        }
        let chain: C;
        try {
          chain = this.core.store.adopt(token, found.key, found.conf, () => this.core.host.buildChain(found.conf, found.key));
        } catch (err) {
          this.core.log.warn({ err: String(err) }, 'building a plugin chain failed');
          this.sendError(ErrCode.ServiceUnavailable);
          this.closeIfDraining();
          return;
        }
        this.run(type, body, chain);
      },
      (err: unknown) => this.onHostFailure(err),
    );
  }

  /** Back to IDLE without an answer written (the caller writes or runs the call next). */
  private settle(): void {
    this.state = IDLE;
    this.core.callEnded(this);
  }

  private closeIfDraining(): void {
    if (!this.closeWhenIdle || this.state !== IDLE) return;
    this.markClosed();
    this.socket.end();
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
    else if (core.authority !== undefined) this.resolveToken(core.authority, type, token, body);
    else this.sendError(ErrCode.ConfTokenNotFound);
  }

  private run(type: FrameType.HTTPReqCall | FrameType.HTTPRespCall, body: Uint8Array, chain: C): void {
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
        if (core.router !== undefined && this.routed) {
          this.route(core.router, chain, req, body, deadline);
          return;
        }
        work = core.host.onResponse(chain, req, new CallChannel(this, this.seq), deadline);
      }
    } catch (err) {
      if (this.state === IDLE) this.violation(err);
      else this.onHostFailure(err);
      return;
    }
    work.then(this.onAnswer, this.onHostFailure);
  }

  /** Answers here, or relays the exchange to the process that ran the request phase. */
  private route(router: ResponseRouter, chain: C, req: HTTPRespCallReq, body: Uint8Array, deadline: number): void {
    const seq = this.seq;
    this.ask(seq, { type: 'var', name: router.varName }).then((known) => {
      if (this.state !== BUSY || seq !== this.seq) return;
      const owner = router.ownerOf(known.result);
      const local = (): void => {
        this.core.host.onResponse(chain, req, new CallChannel(this, seq, router.varName, known), deadline).then(this.onAnswer, this.onHostFailure);
      };
      if (owner === undefined) {
        local();
        return;
      }
      owner.acquire().then(
        (socket) => {
          if (this.state !== BUSY || seq !== this.seq) {
            owner.release(socket, true);
            return;
          }
          this.relayedCallId = req.id;
          this.relay = new Relay(this, owner, socket, router.varName, known);
          this.relay.start(FrameType.HTTPRespCall, body);
        },
        (err: unknown) => {
          // Owner unreachable: its state is lost with it; the host here fails the call closed.
          this.core.log.warn({ err: String(err) }, 'owner process unreachable: response phase answered here');
          if (this.state === BUSY && seq === this.seq) local();
        },
      );
    }, this.onHostFailure);
  }

  relayToApisix(frame: Buffer): void {
    if (this.state === BUSY) this.write(frame);
  }

  relayFinished(frame: Buffer): void {
    this.relay = undefined;
    if (this.state === BUSY) this.end(frame, undefined);
  }

  relayFailed(reason: string): void {
    this.relay = undefined;
    this.core.log.warn({ reason }, 'relayed response phase failed: answer withheld');
    this.onAnswer(withheldResponse(this.relayedCallId));
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
      // Typically an answer over 16 MiB (docs/ext-plugin-protocol.md §4.5).
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

  /** In BUSY the only legal frame is the type-3 answer to our question (docs/ext-plugin-protocol.md §3.4). */
  private onBusyFrame(type: number, body: Uint8Array): void {
    if (this.relay !== undefined) {
      if (!this.relay.fromApisix(type, body)) this.violation(new Error(`frame type ${type} arrived while a call was relayed`));
      return;
    }
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
