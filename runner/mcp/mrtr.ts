// Multi-round-trip requests (2026-07-28). A server that needs input (an elicitation, a
// sampling completion, the client's roots) answers tools/call, prompts/get or resources/read
// with `{"resultType":"input_required","inputRequests":{…},"requestState":"…"}`; the client
// retries the same call, on a new request id, with `inputResponses` and the opaque
// `requestState` echoed byte for byte. Every round is a full call for the gateway: judged,
// limited and audited again. What this module adds is the thread between the rounds: the
// state the server handed out in round n identifies round n+1 as the same logical call.
//
// The gateway never edits `requestState` (it is the server's, often signed) and only sees it
// when some plugin reads the answer; rounds whose answers nobody read are audited as retries
// without a round number.

import { createHash } from 'node:crypto';
import type { JsonObject, JsonValue, McpMessage, McpResponseBody } from './types.js';

export const INPUT_REQUIRED = 'input_required';

/** The methods a server may answer with input_required. */
export const MRTR_METHODS: ReadonlySet<string> = new Set(['tools/call', 'prompts/get', 'resources/read']);

function isObject(v: JsonValue | undefined): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Is this result an input_required answer (not a final one)? */
export function isInputRequired(result: JsonValue | undefined): result is JsonObject {
  return isObject(result) && result['resultType'] === INPUT_REQUIRED;
}

/** A retried round: the request carries inputResponses or a requestState. */
export function isRetry(m: McpMessage): boolean {
  return MRTR_METHODS.has(m.method ?? '') && (Object.hasOwn(m.params, 'inputResponses') || Object.hasOwn(m.params, 'requestState'));
}

/** The requestState a retry echoes, when it is a string. */
export function requestStateOf(m: McpMessage): string | undefined {
  const s = m.params['requestState'];
  return typeof s === 'string' ? s : undefined;
}

/** The input_required answers of a response body, by request id. */
export function inputRequiredAnswers(body: McpResponseBody): { id: JsonValue; requestState: string | undefined; result: JsonObject }[] {
  const out: { id: JsonValue; requestState: string | undefined; result: JsonObject }[] = [];
  const visit = (msg: JsonValue): void => {
    if (!isObject(msg) || !Object.hasOwn(msg, 'id')) return;
    const result = msg['result'];
    if (!isInputRequired(result)) return;
    const state = result['requestState'];
    out.push({ id: msg['id'] ?? null, requestState: typeof state === 'string' ? state : undefined, result });
  };
  for (const ev of body.events) {
    const json = ev.json;
    if (Array.isArray(json)) for (const m of json) visit(m);
    else if (json !== undefined) visit(json);
  }
  return out;
}

/** A short, stable digest of a requestState (states can be large; never logged raw). */
export function stateDigest(state: string): string {
  return createHash('sha256').update(state).digest('hex').slice(0, 32);
}

export interface Round {
  /** call_id of the round that started the logical call. */
  readonly logicalCall: string;
  /** 1 for the first round. */
  readonly round: number;
}

/**
 * Which round a requestState leads to: remembered when an input_required answer is read,
 * looked up when the retry arrives. Bounded and expiring (a client that never retries leaves
 * nothing behind for long); one per runner (RunnerState), shared by its routes.
 */
export class RoundBook {
  private readonly map = new Map<string, { round: Round; expires: number }>();

  constructor(private readonly max = 50_000, private readonly ttlMs = 15 * 60_000) {}

  /** Round `round` answered with this state: the retry that echoes it is round + 1. */
  remember(state: string, round: Round, now = Date.now()): void {
    const key = stateDigest(state);
    this.map.delete(key);
    if (this.map.size >= this.max) {
      const oldest = this.map.keys().next();
      if (!oldest.done) this.map.delete(oldest.value);
    }
    this.map.set(key, { round, expires: now + this.ttlMs });
  }

  /** The round a retry echoing this state is, or undefined when its answer was not seen. */
  next(state: string, now = Date.now()): Round | undefined {
    const e = this.map.get(stateDigest(state));
    if (e === undefined || e.expires < now) return undefined;
    return { logicalCall: e.round.logicalCall, round: e.round.round + 1 };
  }

  get size(): number {
    return this.map.size;
  }
}

/** The MRTR facts of one request for audit (book: the runner's): undefined for a plain first round. */
export function roundOf(m: McpMessage, book: RoundBook | undefined): { retry: true; logicalCall?: string; round?: number } | undefined {
  if (!isRetry(m)) return undefined;
  const state = requestStateOf(m);
  const known = state === undefined || book === undefined ? undefined : book.next(state);
  return known ? { retry: true, logicalCall: known.logicalCall, round: known.round } : { retry: true };
}
