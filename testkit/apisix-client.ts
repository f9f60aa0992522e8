// Plays APISIX's runner-facing half of the ext-plugin protocol over a real Unix socket: one
// connection, frames in order, ExtraInfo questions answered by the caller or from a per-call
// table. Used by the protocol tests (frame by frame) and by the benchmarks (reqCall/respCall,
// one exchange at a time like APISIX, so the runner is what gets measured).

import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { FrameReader, encodeFrame, type Frame } from '../runner/protocol/frame.js';
import { tempDir } from './temp.js';
import {
  decodeErrResp,
  decodeExtraInfoReq,
  decodeHTTPReqCallResp,
  decodeHTTPRespCallResp,
  decodePrepareConfResp,
  encodeExtraInfoResp,
  encodeHTTPReqCallReq,
  encodeHTTPRespCallReq,
  encodePrepareConfReq,
} from '../runner/protocol/codec.js';
import {
  FrameType,
  type ExtraInfoReq,
  type HTTPReqCallReq,
  type HTTPReqCallResp,
  type HTTPRespCallReq,
  type HTTPRespCallResp,
  type TextEntry,
} from '../runner/protocol/messages.js';

/** What APISIX would answer to ExtraInfo questions during one call. */
export interface CallData {
  vars?: Readonly<Record<string, string>>;
  reqBody?: Uint8Array;
  respBody?: Uint8Array;
}

/** Answers ExtraInfo questions from `data`; the response body only exists in the response phase. */
export function answerFrom(data: CallData, phase: 'request' | 'response'): (q: ExtraInfoReq) => Uint8Array | undefined {
  return (q) => {
    if (q.type === 'var') {
      const v = data.vars?.[q.name];
      return v === undefined ? undefined : Buffer.from(v);
    }
    if (q.type === 'reqBody') return data.reqBody;
    return phase === 'response' ? data.respBody : undefined;
  };
}

/** A fresh socket path in its own temp dir, removed after the current test (or file). */
export function tempSocketPath(name = 'runner.sock'): string {
  return join(tempDir('mcp-proto-'), name);
}

/** An HTTPReqCall with test defaults (POST /mcp, JSON, from 127.0.0.1) and the given fields. */
export function reqCall(req: Partial<HTTPReqCallReq> & { confToken: number }): HTTPReqCallReq {
  return {
    id: 1,
    srcIp: new Uint8Array([127, 0, 0, 1]),
    method: 'POST',
    path: '/mcp',
    args: [],
    headers: [{ name: 'content-type', value: 'application/json' }],
    ...req,
  };
}

/** Decoders of every frame type the runner sends. */
export const RUNNER_FRAME_DECODERS: Readonly<Record<number, (b: Uint8Array) => unknown>> = {
  [FrameType.Error]: decodeErrResp,
  [FrameType.PrepareConf]: decodePrepareConfResp,
  [FrameType.HTTPReqCall]: decodeHTTPReqCallResp,
  [FrameType.ExtraInfo]: decodeExtraInfoReq,
  [FrameType.HTTPRespCall]: decodeHTTPRespCallResp,
};

/** One APISIX-side connection: send frames, await the runner's frames in order. */
export class ProtocolClient {
  readonly socket: Socket;
  private readonly reader = new FrameReader();
  private readonly frames: Frame[] = [];
  private waiter: (() => void) | undefined;
  private closedFlag = false;
  readonly closed: Promise<void>;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.reader.push(chunk);
      for (let f = this.reader.next(); f !== undefined; f = this.reader.next()) this.frames.push(f);
      this.wake();
    });
    // An error is always followed by 'close', which is what waiters see.
    socket.on('error', () => {});
    this.closed = new Promise((resolve) =>
      socket.on('close', () => {
        this.closedFlag = true;
        this.wake();
        resolve();
      }),
    );
  }

  static open(path: string): Promise<ProtocolClient> {
    return new Promise((resolve, reject) => {
      const s = connect(path);
      s.once('error', reject);
      s.once('connect', () => {
        s.off('error', reject);
        resolve(new ProtocolClient(s));
      });
    });
  }

  get isClosed(): boolean {
    return this.closedFlag;
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  send(type: number, body: Uint8Array): void {
    this.socket.write(encodeFrame(type as FrameType, body));
  }

  /** Writes the bytes `pieceSize` at a time, yielding between them so each is its own chunk. */
  async sendInPieces(bytes: Uint8Array, pieceSize = 1): Promise<void> {
    for (let i = 0; i < bytes.length; i += pieceSize) {
      this.socket.write(bytes.subarray(i, i + pieceSize));
      await sleep(0);
    }
  }

  /** The runner's next frame; rejects on close or after `timeoutMs` (Infinity: no timer). */
  async next(timeoutMs = 3000): Promise<Frame> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const f = this.frames.shift();
      if (f !== undefined) return f;
      if (this.closedFlag) throw new Error('connection closed by the runner');
      const left = until - Date.now();
      if (left <= 0) throw new Error('timed out waiting for a frame');
      await new Promise<void>((resolve) => {
        if (left === Number.POSITIVE_INFINITY) {
          this.waiter = resolve;
          return;
        }
        const t = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  }

  async prepare(conf: TextEntry[], key: string): Promise<number> {
    this.send(FrameType.PrepareConf, encodePrepareConfReq({ conf, key }));
    const f = await this.next();
    if (f.type !== FrameType.PrepareConf) throw new Error(`expected a PrepareConf answer, got type ${f.type}`);
    return decodePrepareConfResp(f.body).confToken;
  }

  sendReqCall(req: Partial<HTTPReqCallReq> & { confToken: number }): void {
    this.send(FrameType.HTTPReqCall, encodeHTTPReqCallReq(reqCall(req)));
  }

  sendRespCall(req: Partial<HTTPRespCallReq> & { confToken: number }): void {
    this.send(FrameType.HTTPRespCall, encodeHTTPRespCallReq({ id: 0, status: 200, headers: [], ...req }));
  }

  /** Answers ExtraInfo questions with `answer` until another frame arrives, and returns that frame. */
  private async serveExtraInfo(answer: (q: ExtraInfoReq) => Uint8Array | undefined, timeoutMs: number): Promise<Frame> {
    for (;;) {
      const f = await this.next(timeoutMs);
      if (f.type !== FrameType.ExtraInfo) return f;
      this.send(FrameType.ExtraInfo, encodeExtraInfoResp({ result: answer(decodeExtraInfoReq(f.body)) }));
    }
  }

  /** Answers ExtraInfo questions with `answer` until the final frame arrives; returns it and the questions. */
  async finish(
    answer: (q: ExtraInfoReq) => Uint8Array | undefined = () => undefined,
  ): Promise<{ frame: Frame; questions: ExtraInfoReq[] }> {
    const questions: ExtraInfoReq[] = [];
    const frame = await this.serveExtraInfo((q) => {
      questions.push(q);
      return answer(q);
    }, 3000);
    return { frame, questions };
  }

  async expectError(): Promise<number> {
    const f = await this.next();
    if (f.type !== FrameType.Error) throw new Error(`expected an error frame, got type ${f.type}`);
    return decodeErrResp(f.body).code;
  }

  /** One request phase as APISIX drives it: the call, ExtraInfo answered from `data`, the decoded answer. */
  async reqCall(call: HTTPReqCallReq | Uint8Array, data: CallData): Promise<HTTPReqCallResp> {
    this.send(FrameType.HTTPReqCall, call instanceof Uint8Array ? call : encodeHTTPReqCallReq(call));
    const f = this.expectType(await this.serveExtraInfo(answerFrom(data, 'request'), Number.POSITIVE_INFINITY), FrameType.HTTPReqCall);
    return decodeHTTPReqCallResp(f.body);
  }

  /** One response phase, likewise. */
  async respCall(call: HTTPRespCallReq | Uint8Array, data: CallData): Promise<HTTPRespCallResp> {
    this.send(FrameType.HTTPRespCall, call instanceof Uint8Array ? call : encodeHTTPRespCallReq(call));
    const f = this.expectType(await this.serveExtraInfo(answerFrom(data, 'response'), Number.POSITIVE_INFINITY), FrameType.HTTPRespCall);
    return decodeHTTPRespCallResp(f.body);
  }

  private expectType(f: Frame, type: FrameType): Frame {
    if (f.type === FrameType.Error) throw new Error(`runner error frame code ${decodeErrResp(f.body).code}`);
    if (f.type !== type) throw new Error(`unexpected frame type ${f.type}`);
    return f;
  }

  /** Half-close: no more frames from this side. */
  end(): void {
    this.socket.end();
  }

  close(): void {
    this.socket.destroy();
  }
}
