// An APISIX connection of one worker of a multi-process runner (runner/cluster/): the same state
// machine as Connection, plus what several processes serving one socket need. Conf tokens
// come from the primary (a token another worker prepared resolves here before any
// CONF_TOKEN_NOT_FOUND), and a response phase whose request phase ran in another process is
// relayed there (relay.ts), where its carried state lives. docs/ext-plugin-protocol.md §9.

import type net from 'node:net';
import { encodePrepareConfRespFrame } from './codec.js';
import { BUSY, CallChannel, Connection, IDLE, type ConnectionOwner } from './connection.js';
import { ErrCode, FrameType, type HTTPRespCallReq, type TextEntry } from './messages.js';
import { Relay, withheldResponse, type RelayEnds, type ResponseRouter, type TokenAuthority } from './relay.js';

export class SharedConnection<C> extends Connection<C> implements RelayEnds {
  private relay: Relay | undefined;
  private relayedCallId = 0;

  /** `routed`: response phases may be relayed to their owner (false on connections from peers). */
  constructor(
    core: ConnectionOwner<C>,
    socket: net.Socket,
    private readonly authority: TokenAuthority | undefined,
    private readonly router: ResponseRouter | undefined,
  ) {
    super(core, socket);
  }

  /** The primary numbers the token, so every process resolves it. */
  protected override prepareElsewhere(key: string, conf: TextEntry[]): boolean {
    const authority = this.authority;
    if (authority === undefined) return false;
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
    return true;
  }

  /** A token this process has not seen: another process may have issued it (ask the primary). */
  protected override unknownToken(type: FrameType.HTTPReqCall | FrameType.HTTPRespCall, token: number, body: Uint8Array): void {
    const authority = this.authority;
    if (authority === undefined) {
      super.unknownToken(type, token, body);
      return;
    }
    this.begin(type, Date.now() + this.core.callTimeoutMs);
    const seq = this.seq;
    authority.lookup(token).then(
      (found) => {
        if (this.state !== BUSY || seq !== this.seq) return;
        // Back to IDLE without an answer: run() starts the call anew, or an error goes out.
        this.state = IDLE;
        this.core.callEnded(this);
        let chain: C | undefined;
        let code = ErrCode.ConfTokenNotFound;
        if (found !== undefined) {
          try {
            chain = this.core.store.adopt(token, found.key, found.conf, () => this.core.host.buildChain(found.conf, found.key));
          } catch (err) {
            this.core.log.warn({ err: String(err) }, 'building a plugin chain failed');
            code = ErrCode.ServiceUnavailable;
          }
        }
        if (chain !== undefined) {
          this.run(type, body, chain);
          return;
        }
        this.sendError(code);
        if (this.closeWhenIdle) {
          this.markClosed();
          this.socket.end();
        }
      },
      (err: unknown) => this.onHostFailure(err),
    );
  }

  /** Answers here, or relays the exchange to the process that ran the request phase. */
  protected override respondElsewhere(chain: C, req: HTTPRespCallReq, body: Uint8Array, deadline: number): boolean {
    const router = this.router;
    if (router === undefined) return false;
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
          // Owner unreachable: its state is lost with it; the host here withholds the answer.
          this.core.log.warn({ err: String(err) }, 'owner process unreachable: response phase answered here');
          if (this.state === BUSY && seq === this.seq) local();
        },
      );
    }, this.onHostFailure);
    return true;
  }

  protected override relayedFrame(type: number, body: Uint8Array): boolean {
    if (this.relay === undefined) return false;
    if (!this.relay.fromApisix(type, body)) this.violation(new Error(`frame type ${type} arrived while a call was relayed`));
    return true;
  }

  protected override closed(): void {
    this.relay?.abort();
    this.relay = undefined;
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
}
