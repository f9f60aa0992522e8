// Test helpers that play APISIX's side of the ext-plugin protocol over a real Unix socket,
// plus a small scriptable CallHost (the protocol layer is what is under test here).

import net from 'node:net';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { encodeFrame, FrameReader, type Frame } from '../../runner/protocol/frame.js';
import {
  decodeErrResp,
  decodeExtraInfoReq,
  decodePrepareConfResp,
  encodeExtraInfoResp,
  encodeHTTPReqCallReq,
  encodeHTTPRespCallReq,
  encodePrepareConfReq,
} from '../../runner/protocol/codec.js';
import type { CallHost, ExtraInfoChannel } from '../../runner/protocol/handler.js';
import {
  FrameType,
  type ExtraInfoReq,
  type HTTPReqCallReq,
  type HTTPReqCallResp,
  type HTTPRespCallReq,
  type HTTPRespCallResp,
  type TextEntry,
} from '../../runner/protocol/messages.js';

export function tempSocketPath(name = 'runner.sock'): string {
  return join(mkdtempSync(join(tmpdir(), 'mcp-proto-')), name);
}

/** One APISIX-side connection: send frames, await the runner's frames in order. */
export class ApisixConn {
  readonly socket: net.Socket;
  private readonly reader = new FrameReader();
  private readonly frames: Frame[] = [];
  private waiter: (() => void) | undefined;
  private closedFlag = false;
  readonly closed: Promise<void>;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.reader.push(chunk);
      for (let f = this.reader.next(); f !== undefined; f = this.reader.next()) this.frames.push(f);
      this.wake();
    });
    socket.on('error', () => {});
    this.closed = new Promise((resolve) =>
      socket.on('close', () => {
        this.closedFlag = true;
        this.wake();
        resolve();
      }),
    );
  }

  static connect(path: string): Promise<ApisixConn> {
    return new Promise((resolve, reject) => {
      const s = net.connect(path);
      s.once('error', reject);
      s.once('connect', () => {
        s.off('error', reject);
        resolve(new ApisixConn(s));
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

  /** Writes the bytes one at a time, yielding between them so each is its own chunk. */
  async sendInPieces(bytes: Uint8Array, pieceSize = 1): Promise<void> {
    for (let i = 0; i < bytes.length; i += pieceSize) {
      this.socket.write(bytes.subarray(i, i + pieceSize));
      await sleep(0);
    }
  }

  /** The runner's next frame; rejects on close or timeout. */
  async next(timeoutMs = 3000): Promise<Frame> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const f = this.frames.shift();
      if (f !== undefined) return f;
      if (this.closedFlag) throw new Error('connection closed by the runner');
      const left = until - Date.now();
      if (left <= 0) throw new Error('timed out waiting for a frame');
      await new Promise<void>((resolve) => {
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

  /** Answers ExtraInfo questions with `answer` until the final frame arrives; returns it and the questions. */
  async finish(
    answer: (q: ExtraInfoReq) => Uint8Array | undefined = () => undefined,
  ): Promise<{ frame: Frame; questions: ExtraInfoReq[] }> {
    const questions: ExtraInfoReq[] = [];
    for (;;) {
      const f = await this.next();
      if (f.type !== FrameType.ExtraInfo) return { frame: f, questions };
      const q = decodeExtraInfoReq(f.body);
      questions.push(q);
      this.send(FrameType.ExtraInfo, encodeExtraInfoResp({ result: answer(q) }));
    }
  }

  async expectError(): Promise<number> {
    const f = await this.next();
    if (f.type !== FrameType.Error) throw new Error(`expected an error frame, got type ${f.type}`);
    return decodeErrResp(f.body).code;
  }

  end(): void {
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }
}

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

export interface TestChain {
  readonly key: string;
  readonly conf: readonly TextEntry[];
}

/**
 * A CallHost whose behaviour is scripted by the first conf entry:
 *   (none)            continue
 *   stop    "<code>"  Stop with that status
 *   var     "<name>"  ask Var, Stop 200 with the result as body ("<absent>" when none)
 *   reqbody           ask ReqBody, same
 *   respbody          (response phase) ask RespBody, replace the body with it
 *   two-vars "a,b"    ask two Vars at once (questions are serialized), body "a=…;b=…"
 *   sleep   "<ms>"    wait, then continue
 *   hang              never answer
 *   big     "<bytes>" Stop with a body of that size
 *   throw             reject
 */
export class TestHost implements CallHost<TestChain> {
  builds = 0;
  shutdowns = 0;
  deadlines: number[] = [];
  askErrors: Error[] = [];
  lastChannel: ExtraInfoChannel | undefined;

  buildChain(conf: readonly TextEntry[], key: string): TestChain {
    this.builds++;
    return { key, conf };
  }

  async onRequest(chain: TestChain, call: HTTPReqCallReq, extra: ExtraInfoChannel, deadline: number): Promise<HTTPReqCallResp> {
    this.deadlines.push(deadline);
    this.lastChannel = extra;
    const body = await this.run(chain, extra);
    if (body === undefined) return { id: call.id, action: undefined };
    if (typeof body === 'number') return { id: call.id, action: { type: 'stop', status: body, headers: [], body: undefined } };
    return {
      id: call.id,
      action: { type: 'stop', status: 200, headers: [{ name: 'content-type', value: 'text/plain' }], body },
    };
  }

  async onResponse(chain: TestChain, call: HTTPRespCallReq, extra: ExtraInfoChannel, deadline: number): Promise<HTTPRespCallResp> {
    this.deadlines.push(deadline);
    this.lastChannel = extra;
    const body = await this.run(chain, extra);
    return {
      id: call.id,
      status: typeof body === 'number' ? body : 0,
      headers: call.headers,
      body: typeof body === 'number' ? undefined : body,
    };
  }

  private async run(chain: TestChain, extra: ExtraInfoChannel): Promise<Uint8Array | number | undefined> {
    const first = chain.conf[0];
    if (first === undefined) return undefined;
    const text = (r: Uint8Array | undefined): string => (r === undefined ? '<absent>' : Buffer.from(r).toString());
    const ask = async (q: ExtraInfoReq): Promise<Uint8Array | undefined> => {
      try {
        return (await extra.ask(q)).result;
      } catch (err) {
        this.askErrors.push(err as Error);
        throw err;
      }
    };
    switch (first.name) {
      case 'stop':
        return Number(first.value);
      case 'var':
        return Buffer.from(text(await ask({ type: 'var', name: first.value ?? '' })));
      case 'reqbody':
        return Buffer.from(text(await ask({ type: 'reqBody' })));
      case 'respbody':
        return Buffer.from(text(await ask({ type: 'respBody' })));
      case 'two-vars': {
        const [a = '', b = ''] = (first.value ?? '').split(',');
        const [ra, rb] = await Promise.all([ask({ type: 'var', name: a }), ask({ type: 'var', name: b })]);
        return Buffer.from(`${a}=${text(ra)};${b}=${text(rb)}`);
      }
      case 'sleep':
        await sleep(Number(first.value));
        return undefined;
      case 'hang':
        return new Promise<never>(() => {});
      case 'big':
        return Buffer.alloc(Number(first.value), 0x61);
      case 'throw':
        throw new Error('scripted host failure');
      default:
        return undefined;
    }
  }

  async shutdown(): Promise<void> {
    this.shutdowns++;
  }
}
