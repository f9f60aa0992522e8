// A lean APISIX-side ext-plugin client for benchmarks: one connection, one exchange at a
// time (like APISIX), answering the runner's ExtraInfo questions from a per-call table.
// It plays only the runner-facing half of APISIX, so the runner is what gets measured.

import { connect, type Socket } from 'node:net';
import { FrameReader, encodeFrame, type Frame } from '../../runner/protocol/frame.js';
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
} from '../../runner/protocol/codec.js';
import {
  FrameType,
  type HTTPReqCallReq,
  type HTTPReqCallResp,
  type HTTPRespCallReq,
  type HTTPRespCallResp,
  type TextEntry,
} from '../../runner/protocol/messages.js';

/** What APISIX would answer to ExtraInfo questions during one call. */
export interface CallData {
  vars?: Readonly<Record<string, string>>;
  reqBody?: Uint8Array;
  respBody?: Uint8Array;
}

export class ProtocolClient {
  private readonly reader = new FrameReader();
  private waiting: ((f: Frame) => void) | undefined;
  private failed: ((e: Error) => void) | undefined;
  private readonly frames: Frame[] = [];

  private constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.reader.push(chunk);
      for (let f = this.reader.next(); f; f = this.reader.next()) {
        const w = this.waiting;
        if (w) {
          this.waiting = undefined;
          w(f);
        } else this.frames.push(f);
      }
    });
    const fail = (err: Error): void => {
      const f = this.failed;
      this.waiting = undefined;
      this.failed = undefined;
      f?.(err);
    };
    socket.on('error', fail);
    socket.on('close', () => fail(new Error('runner closed the connection')));
  }

  static open(path: string): Promise<ProtocolClient> {
    return new Promise((resolve, reject) => {
      const s = connect(path, () => resolve(new ProtocolClient(s)));
      s.once('error', reject);
    });
  }

  private nextFrame(): Promise<Frame> {
    const f = this.frames.shift();
    if (f) return Promise.resolve(f);
    return new Promise((resolve, reject) => {
      this.waiting = resolve;
      this.failed = reject;
    });
  }

  async prepare(conf: TextEntry[], key: string): Promise<number> {
    this.socket.write(encodeFrame(FrameType.PrepareConf, encodePrepareConfReq({ conf, key })));
    const f = await this.nextFrame();
    if (f.type !== FrameType.PrepareConf) throw new Error(`PrepareConf answered with type ${f.type}`);
    return decodePrepareConfResp(f.body).confToken;
  }

  /** Send one frame and serve ExtraInfo questions until the final answer of `type`. */
  private async exchange(type: FrameType, body: Uint8Array, data: CallData): Promise<Frame> {
    this.socket.write(encodeFrame(type, body));
    for (;;) {
      const f = await this.nextFrame();
      if (f.type === FrameType.ExtraInfo) {
        const q = decodeExtraInfoReq(f.body);
        const result =
          q.type === 'var'
            ? data.vars?.[q.name] !== undefined
              ? Buffer.from(data.vars[q.name]!)
              : undefined
            : q.type === 'reqBody'
              ? data.reqBody
              : type === FrameType.HTTPRespCall
                ? data.respBody
                : undefined;
        this.socket.write(encodeFrame(FrameType.ExtraInfo, encodeExtraInfoResp({ result })));
        continue;
      }
      if (f.type === FrameType.Error) throw new Error(`runner error frame code ${decodeErrResp(f.body).code}`);
      if (f.type !== type) throw new Error(`unexpected frame type ${f.type}`);
      return f;
    }
  }

  async reqCall(call: HTTPReqCallReq | Uint8Array, data: CallData): Promise<HTTPReqCallResp> {
    const body = call instanceof Uint8Array ? call : encodeHTTPReqCallReq(call);
    const f = await this.exchange(FrameType.HTTPReqCall, body, data);
    return decodeHTTPReqCallResp(f.body);
  }

  async respCall(call: HTTPRespCallReq | Uint8Array, data: CallData): Promise<HTTPRespCallResp> {
    const body = call instanceof Uint8Array ? call : encodeHTTPRespCallReq(call);
    const f = await this.exchange(FrameType.HTTPRespCall, body, data);
    return decodeHTTPRespCallResp(f.body);
  }

  close(): void {
    this.socket.destroy();
  }
}
