// A small scriptable CallHost for the protocol tests (the protocol layer is what is under
// test; testkit/apisix-client.ts plays APISIX's side of the socket).

import { setTimeout as sleep } from 'node:timers/promises';
import type { CallHost, ExtraInfoChannel } from '../runner/protocol/handler.js';
import type { ExtraInfoReq, HTTPReqCallReq, HTTPReqCallResp, HTTPRespCallReq, HTTPRespCallResp, TextEntry } from '../runner/protocol/messages.js';

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
