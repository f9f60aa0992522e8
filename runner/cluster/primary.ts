// The primary of a multi-process runner (MCP_RUNNER_WORKERS > 1). It runs no plugins. It owns
// the socket APISIX connects to (bound and removed as runner/protocol/listener.ts does), hands
// each accepted connection to a worker in turn, numbers every conf token (one registry, so a
// token prepared on one worker resolves on any other, immediately), tells workers where their
// peers listen, holds the state every worker must agree on (shared-state.ts: single-use claims,
// approvals, pins, secrets; replicated maps), replaces a worker that dies, and on SIGTERM lets all workers drain, then exits
// within APISIX's 1 s (docs/ext-plugin-protocol.md §2.3, §9).

import { onParentGone } from '../parent-watch.js';
import cluster, { type Worker } from 'node:cluster';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfStore } from '../protocol/conf-store.js';
import { bindSocket, parseListenAddress, unlinkIfOurs } from '../protocol/listener.js';
import type { Logger } from 'pino';
import { ENV_PEER_DIR, ENV_ROLE, ENV_SLOT, ENV_WORKER_COUNT, type ToPrimary, type ToWorker } from './messages.js';
import { ReplicatedMaster, SharedTables } from './shared-state.js';

/** Workers that die sooner than this after their start are restarted after a pause. */
const CRASH_LOOP_MS = 1000;
/** APISIX SIGKILLs the runner 1 s after SIGTERM: everything is gone before that. */
export const STOP_BUDGET_MS = 950;
/** How long workers may serve response phases after SIGTERM (then they close and flush). */
export const DRAIN_MS = 650;

export interface PrimaryOptions {
  address: string;
  workers: number;
  confExpireSeconds: number;
  logger: Logger;
  /** Base of per-worker metrics ports (worker slot i serves base + i). */
  metricsPortBase?: number | undefined;
}

interface Slot {
  index: number;
  worker: Worker | undefined;
  startedAt: number;
  peerPath: string | undefined;
}

export async function runPrimary(opts: PrimaryOptions): Promise<void> {
  const log = opts.logger;
  const path = parseListenAddress(opts.address);
  // Tokens only: the chains live in the workers. Same TTL rules as a single runner (§4.1.3).
  const registry = new ConfStore<true>({ confExpireSeconds: opts.confExpireSeconds });
  const shared = new SharedTables();
  const replicated = new ReplicatedMaster();
  const peerDir = mkdtempSync(join(tmpdir(), 'mcp-runner-'));
  const slots: Slot[] = [];
  let stopping = false;
  let next = 0;
  /** Connections accepted while no worker was ready (all restarting): handed over when one is. */
  const waiting: net.Socket[] = [];
  let firstReady: (() => void) | undefined;
  const ready = new Promise<void>((resolve) => (firstReady = resolve));

  const send = (worker: Worker, msg: ToWorker, handle?: net.Socket): void => {
    if (!worker.isConnected()) return;
    try {
      if (handle) worker.send(msg, handle);
      else worker.send(msg);
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'IPC to a worker failed');
    }
  };

  const broadcastPeers = (): void => {
    const peers: Array<[number, string]> = [];
    for (const s of slots) if (s.worker && s.peerPath) peers.push([s.worker.id, s.peerPath]);
    for (const s of slots) if (s.worker) send(s.worker, { t: 'peers', peers });
  };

  const onMessage = (slot: Slot, worker: Worker, msg: ToPrimary): void => {
    switch (msg.t) {
      case 'ready':
        slot.peerPath = msg.peerPath;
        log.info({ worker: worker.id, pid: worker.process.pid }, 'runner worker ready');
        broadcastPeers();
        firstReady?.();
        // Before any connection: what other workers replicated (pin blocks, tool hints) holds here too.
        send(worker, { t: 'rep-all', maps: replicated.snapshot() });
        for (let s = waiting.shift(); s !== undefined; s = waiting.shift()) if (!s.destroyed) send(worker, { t: 'conn' }, s);
        return;
      case 'prepare':
        send(worker, { t: 'prepared', n: msg.n, token: registry.prepare(msg.key, msg.conf, () => true) });
        return;
      case 'lookup': {
        const found = registry.describe(msg.token);
        send(worker, found ? { t: 'found', n: msg.n, key: found.key, conf: [...found.conf] } : { t: 'found', n: msg.n });
        return;
      }
      case 'touch':
        registry.refresh(msg.token);
        return;
      case 'shared':
        send(worker, { t: 'shared', n: msg.n, result: shared.apply(msg.op) });
        return;
      case 'rep':
        replicated.apply(msg.name, msg.key, msg.value);
        for (const s of slots) if (s.worker && s.worker !== worker) send(s.worker, msg);
        return;
    }
  };

  const fork = (slot: Slot): void => {
    const env: Record<string, string> = { [ENV_ROLE]: 'worker', [ENV_PEER_DIR]: peerDir, [ENV_SLOT]: String(slot.index), [ENV_WORKER_COUNT]: String(opts.workers) };
    if (opts.metricsPortBase !== undefined) env['MCP_RUNNER_METRICS_PORT'] = String(opts.metricsPortBase + slot.index);
    const worker = cluster.fork(env);
    slot.worker = worker;
    slot.startedAt = Date.now();
    slot.peerPath = undefined;
    worker.on('message', (msg: ToPrimary) => onMessage(slot, worker, msg));
    worker.on('exit', (code, signal) => {
      if (slot.worker !== worker) return;
      slot.worker = undefined;
      slot.peerPath = undefined;
      if (stopping) return;
      broadcastPeers();
      // Its carried calls are lost with it: their response phases fail closed elsewhere.
      log.error({ slot: slot.index, pid: worker.process.pid, code, signal }, 'runner worker died: replacing it');
      const pause = Date.now() - slot.startedAt < CRASH_LOOP_MS ? CRASH_LOOP_MS : 0;
      setTimeout(() => {
        if (!stopping) fork(slot);
      }, pause);
    });
  };

  // Connections are handed over unread; the worker that gets one serves it until it closes.
  const pickWorker = (): Worker | undefined => {
    for (let i = 0; i < slots.length; i++) {
      const slot = slots[(next + i) % slots.length]!;
      if (slot.worker && slot.peerPath && slot.worker.isConnected()) {
        next = (next + i + 1) % slots.length;
        return slot.worker;
      }
    }
    return undefined;
  };
  const netServer = net.createServer({ pauseOnConnect: true }, (socket) => {
    const worker = pickWorker();
    if (worker === undefined) {
      // Bounded: past this many, APISIX sees a failed exchange (503) rather than a long wait.
      if (waiting.length < 1024) waiting.push(socket);
      else socket.destroy();
      return;
    }
    send(worker, { t: 'conn' }, socket);
  });
  cluster.setupPrimary({ silent: false });
  for (let i = 0; i < opts.workers; i++) {
    const slot: Slot = { index: i, worker: undefined, startedAt: 0, peerPath: undefined };
    slots.push(slot);
    fork(slot);
  }
  // Bind once a worker serves: a connection before that would only wait.
  await Promise.race([ready, new Promise((resolve) => setTimeout(resolve, 10_000).unref())]);
  const inode = await bindSocket(netServer, path);
  log.info({ address: opts.address, workers: opts.workers, pid: process.pid }, 'mcp runner primary listening');

  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    const startedAt = Date.now();
    log.info({ signal }, 'draining all runner workers');
    // Keep accepting while workers drain: response phases of carried calls still arrive.
    for (const s of slots) if (s.worker) send(s.worker, { t: 'drain', maxMs: DRAIN_MS });
    const finish = (): void => {
      netServer.close();
      void unlinkIfOurs(path, inode).finally(() => {
        for (const s of slots) if (s.worker && !s.worker.isDead()) s.worker.process.kill('SIGKILL');
        rmSync(peerDir, { recursive: true, force: true });
        registry.close();
        process.exit(0);
      });
    };
    const poll = setInterval(() => {
      const alive = slots.some((s) => s.worker !== undefined && !s.worker.isDead());
      if (!alive || Date.now() - startedAt >= STOP_BUDGET_MS - 60) {
        clearInterval(poll);
        finish();
      }
    }, 10);
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  onParentGone(() => stop('parent exited'));
  process.on('uncaughtException', (err) => log.error({ err: err.message, stack: err.stack }, 'uncaught exception'));
  process.on('unhandledRejection', (err) => log.error({ err: String(err) }, 'unhandled rejection'));
}
