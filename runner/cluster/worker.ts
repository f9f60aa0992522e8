// A worker of a multi-process runner: a full runner (plugins, host, state) without a socket of
// its own. The primary hands it APISIX connections, numbers its conf tokens and resolves the
// tokens other workers prepared (TokenAuthority); it listens on a private socket where peers
// relay the response phases of calls whose request phase ran here, and relays to them the
// response phases of theirs (ResponseRouter).

import cluster from 'node:cluster';
import net from 'node:net';
import { join } from 'node:path';
import type { TextEntry } from '../protocol/messages.js';
import type { PeerLink, ResponseRouter, TokenAuthority } from '../protocol/relay.js';
import { ENV_PEER_DIR, ENV_ROLE, ENV_WORKER_COUNT, carryKeyPrefix, ownerOfCarryKey, type ToPrimary, type ToWorker } from './messages.js';
import { RemoteSharedState } from './shared-remote.js';
import { SharedStateUnavailable, type SharedOp, type SharedResult } from './shared-state.js';

/** The primary answers from memory; a slower answer means it is gone or wedged. */
const PRIMARY_TIMEOUT_MS = 2000;
/** Shared-state questions sit on a caller's path (a confirmation, an approval): fail sooner. */
export const SHARED_TIMEOUT_MS = 1000;
/** Idle private connections kept per peer. */
const POOL_PER_PEER = 8;

export function isClusterWorker(): boolean {
  return cluster.isWorker && process.env[ENV_ROLE] === 'worker';
}

class Peer implements PeerLink {
  private readonly idle: net.Socket[] = [];
  constructor(readonly path: string) {}

  acquire(): Promise<net.Socket> {
    const pooled = this.idle.pop();
    if (pooled !== undefined) return Promise.resolve(pooled);
    return new Promise((resolve, reject) => {
      const socket = net.connect(this.path);
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        socket.on('error', () => undefined);
        socket.once('close', () => this.forget(socket));
        resolve(socket);
      });
    });
  }

  release(socket: net.Socket, reusable: boolean): void {
    if (reusable && !socket.destroyed && this.idle.length < POOL_PER_PEER) this.idle.push(socket);
    else socket.destroy();
  }

  private forget(socket: net.Socket): void {
    const i = this.idle.indexOf(socket);
    if (i >= 0) this.idle.splice(i, 1);
  }

  close(): void {
    for (const s of this.idle.splice(0)) s.destroy();
  }
}

interface Waiting {
  resolve: (msg: ToWorker) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

export interface WorkerHandlers {
  /** A connection from APISIX (routed) or from a peer relaying to us (not routed). */
  adopt(socket: net.Socket, routed: boolean): void;
  /** SIGTERM reached the primary, or the primary is gone (maxMs 0). */
  drain(maxMs: number): void;
}

export class WorkerLink implements TokenAuthority, ResponseRouter {
  readonly id: number;
  readonly carryKeyPrefix: string;
  readonly varName: string;
  private readonly peers = new Map<number, Peer>();
  private readonly waiting = new Map<number, Waiting>();
  private seq = 0;
  private peerServer: net.Server | undefined;
  /** The cluster's shared state, asked of the primary (RunnerState.shared of this worker). */
  readonly shared: RemoteSharedState;

  constructor(varName: string) {
    const worker = cluster.worker;
    if (worker === undefined) throw new Error('not a cluster worker');
    this.id = worker.id;
    this.carryKeyPrefix = carryKeyPrefix(this.id);
    this.varName = varName;
    this.shared = new RemoteSharedState(
      (op) => this.askShared(op),
      (name, key, value) => void this.send(value === undefined ? { t: 'rep', name, key } : { t: 'rep', name, key, value }),
      // A worker forked without the count is still one of several processes.
      Math.max(2, Number(process.env[ENV_WORKER_COUNT]) || 2),
    );
  }

  /** Start the private socket and take messages from the primary. */
  async start(handlers: WorkerHandlers): Promise<void> {
    const dir = process.env[ENV_PEER_DIR];
    if (!dir) throw new Error(`${ENV_PEER_DIR} is not set`);
    const peerPath = join(dir, `w${this.id}.sock`);
    const server = net.createServer((socket) => handlers.adopt(socket, false));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(peerPath, () => resolve());
    });
    this.peerServer = server;
    process.on('message', (msg: ToWorker, handle: unknown) => this.onMessage(msg, handle, handlers));
    // The primary is gone (killed, crashed): nobody hands us connections or numbers tokens.
    process.on('disconnect', () => handlers.drain(0));
    this.send({ t: 'ready', peerPath });
  }

  private onMessage(msg: ToWorker, handle: unknown, handlers: WorkerHandlers): void {
    switch (msg.t) {
      case 'conn':
        if (handle instanceof net.Socket) handlers.adopt(handle, true);
        return;
      case 'peers':
        this.setPeers(msg.peers);
        return;
      case 'drain':
        handlers.drain(msg.maxMs);
        return;
      case 'rep':
        this.shared.applyRemote(msg.name, msg.key, msg.value);
        return;
      case 'rep-all':
        for (const [name, entries] of msg.maps) for (const [key, value] of entries) this.shared.applyRemote(name, key, value);
        return;
      case 'prepared':
      case 'found':
      case 'shared': {
        const w = this.waiting.get(msg.n);
        if (w === undefined) return;
        this.waiting.delete(msg.n);
        clearTimeout(w.timer);
        w.resolve(msg);
        return;
      }
    }
  }

  private setPeers(list: Array<[number, string]>): void {
    const live = new Set<number>();
    for (const [id, path] of list) {
      if (id === this.id) continue;
      live.add(id);
      const known = this.peers.get(id);
      if (known === undefined || known.path !== path) {
        known?.close();
        this.peers.set(id, new Peer(path));
      }
    }
    for (const [id, peer] of this.peers) {
      if (!live.has(id)) {
        peer.close();
        this.peers.delete(id);
      }
    }
  }

  private send(msg: ToPrimary): boolean {
    if (!process.connected || process.send === undefined) return false;
    process.send(msg);
    return true;
  }

  private ask(msg: ToPrimary & { n: number }, timeoutMs = PRIMARY_TIMEOUT_MS): Promise<ToWorker> {
    return new Promise((resolve, reject) => {
      if (!this.send(msg)) {
        reject(new Error('the primary is gone'));
        return;
      }
      const timer = setTimeout(() => {
        this.waiting.delete(msg.n);
        reject(new Error(`the primary did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(msg.n, { resolve, reject, timer });
    });
  }

  async prepare(key: string, conf: readonly TextEntry[]): Promise<number> {
    const answer = await this.ask({ t: 'prepare', n: ++this.seq, key, conf: [...conf] });
    if (answer.t !== 'prepared') throw new Error('unexpected answer from the primary');
    return answer.token;
  }

  async lookup(token: number): Promise<{ key: string; conf: TextEntry[] } | undefined> {
    const answer = await this.ask({ t: 'lookup', n: ++this.seq, token });
    if (answer.t !== 'found') throw new Error('unexpected answer from the primary');
    return answer.key !== undefined && answer.conf !== undefined ? { key: answer.key, conf: answer.conf } : undefined;
  }

  private async askShared(op: SharedOp): Promise<SharedResult> {
    let answer: ToWorker;
    try {
      answer = await this.ask({ t: 'shared', n: ++this.seq, op }, SHARED_TIMEOUT_MS);
    } catch (err) {
      throw new SharedStateUnavailable(`cluster state unavailable: ${(err as Error).message}`);
    }
    if (answer.t !== 'shared') throw new SharedStateUnavailable('cluster state unavailable: unexpected answer from the primary');
    return answer.result;
  }

  /** ConfStore.onRefresh: keep the primary's registry entry alive while this worker uses it. */
  readonly touched = (token: number): void => {
    this.send({ t: 'touch', token });
  };

  ownerOf(value: Uint8Array | undefined): PeerLink | undefined {
    const id = ownerOfCarryKey(value);
    if (id === undefined || id === this.id) return undefined;
    // A dead owner's calls are lost: answered here, where the host finds no state and fails closed.
    return this.peers.get(id);
  }

  close(): void {
    this.peerServer?.close();
    for (const p of this.peers.values()) p.close();
    for (const w of this.waiting.values()) {
      clearTimeout(w.timer);
      w.reject(new Error('worker stopping'));
    }
    this.waiting.clear();
  }
}
