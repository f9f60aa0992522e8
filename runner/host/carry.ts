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

/** The runner settings of the carry store (environment variables; docs/configuration.md lists them). */
export const CARRY_SETTINGS = [
  {
    env: 'MCP_RUNNER_CARRY_TTL_SECONDS',
    field: 'ttlMs',
    scale: 1000,
    default: DEFAULT_CARRY_TTL_MS / 1000,
    min: 1,
    description:
      "How long a call's request-phase state waits for its response phase. Keep it above the longest upstream read timeout of a post-resp route (the shipped routes use 300 s): an answer that arrives later is withheld (502).",
  },
  {
    env: 'MCP_RUNNER_CARRY_MAX_CALLS',
    field: 'maxEntries',
    scale: 1,
    default: DEFAULT_MAX_CARRIED,
    min: 1,
    description: 'Most calls waiting for their response phase at once. When reached, new calls on post-resp routes are refused with 503 (Retry-After: 1); calls already waiting are never dropped.',
  },
  {
    env: 'MCP_RUNNER_CARRY_MAX_BYTES',
    field: 'maxBytes',
    scale: 1,
    default: DEFAULT_MAX_CARRIED_BYTES,
    min: 1024,
    description: 'Most estimated bytes those calls may hold (request headers, and the body counted three times for its parsed form). When reached, new calls on post-resp routes are refused with 503 the same way.',
  },
] as const;

/** Carry limits from the runner's environment (CARRY_SETTINGS), else the defaults. */
export function carryLimitsFromEnv(env: NodeJS.ProcessEnv = process.env): CarryLimits {
  const limits: CarryLimits = { ttlMs: DEFAULT_CARRY_TTL_MS, maxEntries: DEFAULT_MAX_CARRIED, maxBytes: DEFAULT_MAX_CARRIED_BYTES };
  for (const s of CARRY_SETTINGS) {
    const raw = env[s.env];
    if (raw === undefined || raw.trim() === '') continue;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < s.min) throw new Error(`${s.env}=${raw} must be an integer >= ${s.min}`);
    limits[s.field] = n * s.scale;
  }
  return limits;
}
