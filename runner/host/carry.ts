// The carry store: request-phase state (identity, decisions, the parsed body) waiting for the
// response phase of the same HTTP call. The request phase puts it under a random key that it
// sends upstream in CALL_HEADER; the response phase reads that header back (an APISIX
// variable) and takes the state.
//
// Losing a carry would run the response phase without identity, which skips list filtering
// and leaves the audit event anonymous, so the store is sized to never drop a live call:
// - an entry lives longer than the slowest answer APISIX waits for (the shipped routes'
//   upstream read timeout is 300 s; the default lifetime is 330 s);
// - when the store holds its most entries or bytes, new post-resp calls are refused (503)
//   instead of evicting calls still waiting for their answer;
// - a response phase that finds no carry for a call bearing CALL_HEADER withholds the answer.

import type { HTTPReqCallReq } from '../protocol/messages.js';
import type { CarriedCall } from './context.js';

/** Header the host adds upstream to tie the response phase to the request phase of one call. */
export const CALL_HEADER = 'x-mcp-gateway-call';
/** The same header as an APISIX variable (read in the response phase). */
export const CALL_VAR = 'http_x_mcp_gateway_call';

/** The shipped upstream read timeout (conf/apisix.yaml) plus a margin for the phases themselves. */
export const DEFAULT_CARRY_TTL_MS = 330_000;
export const DEFAULT_MAX_CARRIED = 100_000;
/** Estimated bytes the carried calls may hold together (bodies dominate: up to 8 MiB each). */
export const DEFAULT_MAX_CARRIED_BYTES = 256 * 1024 * 1024;

/** Fixed cost of one entry (maps, decision record, key) beyond the sizes it is charged for. */
const ENTRY_OVERHEAD_BYTES = 1024;
/** The carried body is held raw and as the parsed message tree: count it three times. */
const BODY_WEIGHT = 3;

export interface CarriedRequest extends CarriedCall {
  request: HTTPReqCallReq;
  body: Uint8Array | undefined;
}

export interface CarryLimits {
  /** How long a carry waits for its response phase (ms). */
  ttlMs: number;
  /** Most carries held at once. */
  maxEntries: number;
  /** Most estimated bytes held at once. */
  maxBytes: number;
}

interface Held {
  call: CarriedRequest;
  expires: number;
  bytes: number;
}

/** Bounded, expiring store; never evicts a live entry to make room. */
export class CarryStore {
  private readonly map = new Map<string, Held>();
  private heldBytes = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(readonly limits: CarryLimits) {
    this.timer = setInterval(() => this.sweep(), Math.min(limits.ttlMs, 10_000));
    this.timer.unref();
  }

  /** Holds the call; false (nothing held) when the store is full. */
  put(key: string, call: CarriedRequest): boolean {
    const bytes = estimateBytes(call);
    if (this.map.size >= this.limits.maxEntries || this.heldBytes + bytes > this.limits.maxBytes) {
      // Expired entries still count until the next sweep: make room from them first.
      this.sweep();
      if (this.map.size >= this.limits.maxEntries || this.heldBytes + bytes > this.limits.maxBytes) return false;
    }
    this.map.set(key, { call, expires: Date.now() + this.limits.ttlMs, bytes });
    this.heldBytes += bytes;
    return true;
  }

  /** The carried call, removed from the store; undefined when unknown or expired. */
  take(key: string): CarriedRequest | undefined {
    const held = this.map.get(key);
    if (!held) return undefined;
    this.remove(key, held);
    return held.expires >= Date.now() ? held.call : undefined;
  }

  get size(): number {
    return this.map.size;
  }

  /** Estimated bytes held (for the gauge and tests). */
  get bytes(): number {
    return this.heldBytes;
  }

  private remove(key: string, held: Held): void {
    this.map.delete(key);
    this.heldBytes -= held.bytes;
  }

  private sweep(): void {
    const now = Date.now();
    for (const [k, held] of this.map) if (held.expires < now) this.remove(k, held);
  }

  close(): void {
    clearInterval(this.timer);
    this.map.clear();
    this.heldBytes = 0;
  }
}

function estimateBytes(call: CarriedRequest): number {
  let bytes = ENTRY_OVERHEAD_BYTES + call.request.path.length;
  for (const h of call.request.headers) bytes += h.name.length + (h.value?.length ?? 0);
  for (const a of call.request.args) bytes += a.name.length + (a.value?.length ?? 0);
  if (call.body) bytes += BODY_WEIGHT * call.body.length;
  return bytes;
}

/** Carry limits from the runner's environment (MCP_RUNNER_CARRY_*), else the defaults. */
export function carryLimitsFromEnv(env: NodeJS.ProcessEnv = process.env): CarryLimits {
  const num = (name: string, dflt: number, min: number): number => {
    const raw = env[name];
    if (raw === undefined || raw.trim() === '') return dflt;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min) throw new Error(`${name}=${raw} must be an integer >= ${min}`);
    return n;
  };
  return {
    ttlMs: num('MCP_RUNNER_CARRY_TTL_SECONDS', DEFAULT_CARRY_TTL_MS / 1000, 1) * 1000,
    maxEntries: num('MCP_RUNNER_CARRY_MAX_CALLS', DEFAULT_MAX_CARRIED, 1),
    maxBytes: num('MCP_RUNNER_CARRY_MAX_BYTES', DEFAULT_MAX_CARRIED_BYTES, 1024),
  };
}
