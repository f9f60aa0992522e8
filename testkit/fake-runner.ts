// A tiny scripted runner for the emulator's own tests: speaks the wire protocol through the
// real codec and frame reader, records every event, and lets a test decide each answer
// (a message, an error frame, raw bytes, or closing the connection).

import { createServer, type Server, type Socket } from 'node:net';
import { unlink } from 'node:fs/promises';
import { FrameReader, encodeFrame, type Frame } from '../runner/protocol/frame.js';
import {
  decodeExtraInfoResp,
  decodeHTTPReqCallReq,
  decodeHTTPRespCallReq,
  decodePrepareConfReq,
  encodeErrResp,
  encodeExtraInfoReq,
  encodeHTTPReqCallResp,
  encodeHTTPRespCallResp,
  encodePrepareConfResp,
} from '../runner/protocol/codec.js';
import {
  ErrCode,
  FrameType,
  type ExtraInfoReq,
  type ExtraInfoResp,
  type HTTPReqCallReq,
  type HTTPReqCallResp,
  type HTTPRespCallReq,
  type HTTPRespCallResp,
  type PrepareConfReq,
} from '../runner/protocol/messages.js';

export type Special = { errorCode: ErrCode } | { rawFrame: Buffer; thenClose?: boolean } | { close: true };
export type Answer<T> = T | Special;

export interface CallCtx {
  connId: number;
  /** Ask APISIX a question on this call's connection. */
  ask(q: ExtraInfoReq): Promise<ExtraInfoResp>;
  /** Send a hand-made ExtraInfo frame (e.g. an unknown info type) and wait for the answer. */
  askRaw(frame: Buffer): Promise<ExtraInfoResp>;
}

export interface Script {
  prepareConf?(req: PrepareConfReq, connId: number, runner: FakeRunner): Answer<number> | Promise<Answer<number>>;
  reqCall?(req: HTTPReqCallReq, ctx: CallCtx, runner: FakeRunner): Answer<HTTPReqCallResp> | Promise<Answer<HTTPReqCallResp>>;
  respCall?(req: HTTPRespCallReq, ctx: CallCtx, runner: FakeRunner): Answer<HTTPRespCallResp> | Promise<Answer<HTTPRespCallResp>>;
}

export type RunnerEvent =
  | { kind: 'accept'; connId: number }
  | { kind: 'close'; connId: number }
  | { kind: 'prepareConf'; connId: number; req: PrepareConfReq; token: number | undefined }
  | { kind: 'reqCall'; connId: number; req: HTTPReqCallReq }
  | { kind: 'respCall'; connId: number; req: HTTPRespCallReq };

class FrameConn {
  private readonly reader = new FrameReader();
  private waiting: ((f: Frame | undefined) => void) | undefined;
  private ended = false;

  constructor(readonly socket: Socket) {
    socket.on('data', (c: Buffer) => {
      this.reader.push(c);
      this.pump();
    });
    socket.on('close', () => {
      this.ended = true;
      this.pump();
    });
    socket.on('error', () => undefined);
  }

  private pump(): void {
    if (this.waiting === undefined) return;
    const f = this.reader.next();
    if (f === undefined && !this.ended) return;
    const w = this.waiting;
    this.waiting = undefined;
    w(f);
  }

  next(): Promise<Frame | undefined> {
    return new Promise((resolve) => {
      this.waiting = resolve;
      this.pump();
    });
  }
}

function isSpecial(a: unknown): a is Special {
  return typeof a === 'object' && a !== null && ('errorCode' in a || 'rawFrame' in a || 'close' in a);
}

export class FakeRunner {
  readonly events: RunnerEvent[] = [];
  /** key → token (idempotent, like our runner and the Go runner). */
  readonly tokensByKey = new Map<string, number>();
  readonly knownTokens = new Set<number>();
  private nextToken = 1 + Math.floor(Math.random() * 1000) * 1000;
  private readonly sockets = new Set<Socket>();
  private connSeq = 0;

  constructor(readonly path: string, private readonly server: Server, public script: Script) {}

  /** Default PrepareConf: same key → same token. */
  issueToken(key: string): number {
    let t = this.tokensByKey.get(key);
    if (t === undefined) {
      t = this.nextToken++;
      this.tokensByKey.set(key, t);
      this.knownTokens.add(t);
    }
    return t;
  }

  /** Forget every token (as after a restart). */
  forgetTokens(): void {
    this.tokensByKey.clear();
    this.knownTokens.clear();
  }

  of<K extends RunnerEvent['kind']>(kind: K): Extract<RunnerEvent, { kind: K }>[] {
    return this.events.filter((e) => e.kind === kind) as Extract<RunnerEvent, { kind: K }>[];
  }

  accept(socket: Socket): void {
    const connId = ++this.connSeq;
    this.sockets.add(socket);
    socket.on('close', () => {
      this.sockets.delete(socket);
      this.events.push({ kind: 'close', connId });
    });
    this.events.push({ kind: 'accept', connId });
    void this.serve(new FrameConn(socket), connId);
  }

  private async reply(conn: FrameConn, type: FrameType, answer: unknown, encode: (m: never) => Uint8Array): Promise<boolean> {
    if (isSpecial(answer)) {
      if ('close' in answer) {
        conn.socket.destroy();
        return false;
      }
      if ('rawFrame' in answer) {
        conn.socket.write(answer.rawFrame);
        if (answer.thenClose === true) {
          conn.socket.end();
          return false;
        }
      } else conn.socket.write(encodeFrame(FrameType.Error, encodeErrResp({ code: answer.errorCode })));
      return true;
    }
    conn.socket.write(encodeFrame(type, encode(answer as never)));
    return true;
  }

  private async serve(conn: FrameConn, connId: number): Promise<void> {
    const callCtx = (): CallCtx => {
      const askRaw = async (frame: Buffer): Promise<ExtraInfoResp> => {
        conn.socket.write(frame);
        const f = await conn.next();
        if (f === undefined) throw new Error('connection closed while waiting for ExtraInfo');
        if (f.type !== FrameType.ExtraInfo) throw new Error(`expected ExtraInfo answer, got type ${f.type}`);
        return decodeExtraInfoResp(f.body);
      };
      return { connId, askRaw, ask: (q) => askRaw(encodeFrame(FrameType.ExtraInfo, encodeExtraInfoReq(q))) };
    };
    for (;;) {
      const frame = await conn.next();
      if (frame === undefined) return;
      try {
        if (frame.type === FrameType.PrepareConf) {
          const req = decodePrepareConfReq(frame.body);
          const answer = this.script.prepareConf ? await this.script.prepareConf(req, connId, this) : this.issueToken(req.key);
          this.events.push({ kind: 'prepareConf', connId, req, token: typeof answer === 'number' ? answer : undefined });
          if (!(await this.reply(conn, FrameType.PrepareConf, typeof answer === 'number' ? { confToken: answer } : answer, encodePrepareConfResp as never))) return;
        } else if (frame.type === FrameType.HTTPReqCall) {
          const req = decodeHTTPReqCallReq(frame.body);
          this.events.push({ kind: 'reqCall', connId, req });
          const answer = this.script.reqCall
            ? await this.script.reqCall(req, callCtx(), this)
            : this.knownTokens.has(req.confToken)
              ? { id: req.id, action: undefined }
              : { errorCode: ErrCode.ConfTokenNotFound };
          if (!(await this.reply(conn, FrameType.HTTPReqCall, answer, encodeHTTPReqCallResp as never))) return;
        } else if (frame.type === FrameType.HTTPRespCall) {
          const req = decodeHTTPRespCallReq(frame.body);
          this.events.push({ kind: 'respCall', connId, req });
          const answer = this.script.respCall
            ? await this.script.respCall(req, callCtx(), this)
            : { id: req.id, status: 0, headers: [], body: undefined };
          if (!(await this.reply(conn, FrameType.HTTPRespCall, answer, encodeHTTPRespCallResp as never))) return;
        } else {
          conn.socket.write(encodeFrame(FrameType.Error, encodeErrResp({ code: ErrCode.BadRequest })));
        }
      } catch {
        conn.socket.destroy();
        return;
      }
    }
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    await unlink(this.path).catch(() => undefined);
  }
}

export async function startFakeRunner(path: string, script: Script = {}): Promise<FakeRunner> {
  await unlink(path).catch(() => undefined);
  const server = createServer();
  const runner = new FakeRunner(path, server, script);
  server.on('connection', (s) => runner.accept(s));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve());
  });
  return runner;
}
