// Relaying one response-phase exchange to the process that owns the call (multi-process runner,
// docs/ext-plugin-protocol.md §9). The request phase of a call left its state (the carry) in
// the process that ran it; APISIX sends the HTTPRespCall on whatever pooled connection it
// takes, which may belong to another process. That process forwards the HTTPRespCall frame to
// the owner over a private socket and then pipes frames both ways: the owner's ExtraInfo
// questions go to APISIX, APISIX's answers go back, until the owner's final answer, which goes
// to APISIX as is. The owner serves the private socket like any APISIX connection.

import type net from 'node:net';
import { decodeExtraInfoReq, encodeExtraInfoResp } from './codec.js';
import { FrameReader, encodeFrame } from './frame.js';
import { FrameType, type ExtraInfoResp, type HTTPReqCallResp, type HTTPRespCallResp, type TextEntry } from './messages.js';

/** Allocates conf tokens for every process and resolves tokens another process handed out. */
export interface TokenAuthority {
  /** The token for this key and conf, the same in every process (idempotent by key, §4.1.5). */
  prepare(key: string, conf: readonly TextEntry[]): Promise<number>;
  /** The key and conf behind a token; undefined when no process issued it (or it expired). */
  lookup(token: number): Promise<{ key: string; conf: TextEntry[] } | undefined>;
}

/** A private socket to another runner process, for relayed exchanges. */
export interface PeerLink {
  acquire(): Promise<net.Socket>;
  /** Back to the pool after a completed exchange; destroyed otherwise. */
  release(socket: net.Socket, reusable: boolean): void;
}

/** Where each response phase is answered. */
export interface ResponseRouter {
  /** The APISIX variable holding the call's carry key; asked first in every response phase. */
  readonly varName: string;
  /** The process owning the call named by that variable, or undefined to answer here. */
  ownerOf(value: Uint8Array | undefined): PeerLink | undefined;
}

/** What a relay needs from the APISIX-side connection it serves. */
export interface RelayEnds {
  relayToApisix(frame: Buffer): void;
  relayFinished(frame: Buffer): void;
  relayFailed(reason: string): void;
}

const encoder = new TextEncoder();
const JSON_HEADERS: TextEntry[] = [{ name: 'content-type', value: 'application/json' }];
const WITHHELD_BODY = encoder.encode(
  '{"jsonrpc":"2.0","id":null,"error":{"code":-32603,"message":"gateway: the runner process holding this call\'s state failed; answer withheld"}}',
);
const DRAINING_BODY = encoder.encode(
  '{"jsonrpc":"2.0","id":null,"error":{"code":-32603,"message":"gateway: the policy runner is restarting; retry shortly"}}',
);

/** The response phase could not be run: the client gets an error, never the upstream body (§2.7). */
export function withheldResponse(id: number): HTTPRespCallResp {
  return { id, status: 502, headers: JSON_HEADERS, body: WITHHELD_BODY };
}

/** A request phase while the runner drains: refused with a Stop (fail closed even under degradation). */
export function drainingStop(id: number): HTTPReqCallResp {
  return {
    id,
    action: { type: 'stop', status: 503, headers: [...JSON_HEADERS, { name: 'retry-after', value: '1' }], body: DRAINING_BODY },
  };
}

export class Relay {
  private readonly reader = new FrameReader();
  private done = false;

  constructor(
    private readonly ends: RelayEnds,
    private readonly link: PeerLink,
    private readonly socket: net.Socket,
    /** The variable the router already asked APISIX: answered here, not asked twice. */
    private readonly knownVar: string,
    private readonly knownAnswer: ExtraInfoResp,
  ) {
    socket.on('data', this.onData);
    socket.on('close', this.onClose);
    socket.on('error', this.onError);
  }

  start(type: FrameType, body: Uint8Array): void {
    this.socket.write(encodeFrame(type, body));
  }

  /** An APISIX frame arrived during the exchange: only ExtraInfo answers are legal (§3.4). */
  fromApisix(type: number, body: Uint8Array): boolean {
    if (type !== FrameType.ExtraInfo) return false;
    this.socket.write(encodeFrame(FrameType.ExtraInfo, body));
    return true;
  }

  /** The APISIX side went away: drop the private connection too (the owner abandons the call). */
  abort(): void {
    if (this.done) return;
    this.detach();
    this.socket.destroy();
  }

  private detach(): void {
    this.done = true;
    this.socket.off('data', this.onData);
    this.socket.off('close', this.onClose);
    this.socket.off('error', this.onError);
  }

  private fail(reason: string): void {
    if (this.done) return;
    this.detach();
    this.link.release(this.socket, false);
    this.ends.relayFailed(reason);
  }

  private readonly onError = (): void => undefined;

  private readonly onClose = (): void => this.fail('owner process closed the relay connection');

  private readonly onData = (chunk: Buffer): void => {
    this.reader.push(chunk);
    while (!this.done) {
      let frame;
      try {
        frame = this.reader.next();
      } catch (err) {
        this.fail(`malformed frame from the owner process: ${(err as Error).message}`);
        return;
      }
      if (frame === undefined) return;
      if (frame.type === FrameType.ExtraInfo) this.question(frame.body);
      else if (frame.type === FrameType.HTTPRespCall || frame.type === FrameType.Error) {
        this.detach();
        this.link.release(this.socket, this.reader.buffered === 0);
        this.ends.relayFinished(encodeFrame(frame.type, frame.body));
      } else this.fail(`frame type ${frame.type} from the owner process`);
    }
  };

  private question(body: Uint8Array): void {
    let known = false;
    try {
      const q = decodeExtraInfoReq(body);
      known = q.type === 'var' && q.name === this.knownVar;
    } catch {
      // Not ours to judge: APISIX answers (or refuses) a malformed question itself.
    }
    if (known) this.socket.write(encodeFrame(FrameType.ExtraInfo, encodeExtraInfoResp(this.knownAnswer)));
    else this.ends.relayToApisix(encodeFrame(FrameType.ExtraInfo, body));
  }
}
