// What the primary and the workers of a multi-process runner say to each other over Node's
// IPC channel (JSON, plus a socket handle for 'conn'). Calls never cross it: only connections
// being handed over, conf tokens, peer addresses, lifecycle, and the cluster's shared state
// (shared-state.ts: claims and values the primary holds, replicated maps it relays).

import type { TextEntry } from '../protocol/messages.js';
import type { JsonValue } from '../mcp/types.js';
import type { SharedOp, SharedResult } from './shared-state.js';

export type ToWorker =
  /** An APISIX connection, accepted by the primary (the handle travels with the message). */
  | { t: 'conn' }
  /** Every live worker's private socket, for relaying response phases (id → path). */
  | { t: 'peers'; peers: Array<[number, string]> }
  | { t: 'prepared'; n: number; token: number }
  | { t: 'found'; n: number; key?: string; conf?: TextEntry[] }
  /** SIGTERM reached the primary: refuse request phases, finish response phases, exit. */
  | { t: 'drain'; maxMs: number }
  | { t: 'shared'; n: number; result: SharedResult }
  /** Another worker changed a replicated map (no value: deleted). */
  | { t: 'rep'; name: string; key: string; value?: JsonValue }
  /** Every replicated map as the primary holds it (sent to a worker once it is ready). */
  | { t: 'rep-all'; maps: Array<[string, Array<[string, JsonValue]>]> };

export type ToPrimary =
  /** Serving; relayed exchanges reach this worker at peerPath. */
  | { t: 'ready'; peerPath: string }
  | { t: 'prepare'; n: number; key: string; conf: TextEntry[] }
  | { t: 'lookup'; n: number; token: number }
  /** A worker keeps using this token: the registry must keep it as long. */
  | { t: 'touch'; token: number }
  | { t: 'shared'; n: number; op: SharedOp }
  | { t: 'rep'; name: string; key: string; value?: JsonValue };

/** Environment the primary sets on each worker. */
export const ENV_ROLE = 'MCP_RUNNER_CLUSTER_ROLE';
export const ENV_PEER_DIR = 'MCP_RUNNER_PEER_DIR';
export const ENV_SLOT = 'MCP_RUNNER_WORKER_SLOT';
/** How many worker processes the primary runs (each worker learns it at fork). */
export const ENV_WORKER_COUNT = 'MCP_RUNNER_WORKER_COUNT';

/** Carry keys of worker `id` start with this: the response phase finds its owner from it. */
export function carryKeyPrefix(workerId: number): string {
  return `p${workerId}-`;
}

/** The worker id a carry key names, or undefined (a single-process key, or not ours). */
export function ownerOfCarryKey(value: Uint8Array | undefined): number | undefined {
  if (value === undefined || value.length < 3 || value[0] !== 0x70 /* p */) return undefined;
  let id = 0;
  for (let i = 1; i < value.length && i < 12; i++) {
    const c = value[i]!;
    if (c === 0x2d /* - */) return i > 1 ? id : undefined;
    if (c < 0x30 || c > 0x39) return undefined;
    id = id * 10 + (c - 0x30);
  }
  return undefined;
}
