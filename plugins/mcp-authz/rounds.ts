// Approved once, for every round of the call. A risky tool whose server asks its own questions
// (multi-round-trip requests, 2026-07-28) answers the approved call with `input_required` and
// its own `requestState`; the client answers and retries the same call with that state. The
// user approved exactly this call already, so the retry must not ask again.
//
// The proof is the server's state itself: when the answer to an approved round passes through,
// its requestState is remembered (as a digest) bound to that approval's caller, server, tool and
// arguments, for the confirmation's lifetime, in the runner's shared state. A retry that echoes
// it for the same binding passes once (the state is taken). A state nobody approved, another
// caller's, other arguments, a second use, a lost or full book: asked again, never passed.

import type { SharedState } from '../../runner/cluster/shared-state.js';
import { inputRequiredAnswers, requestStateOf, stateDigest } from '../../runner/mcp/mrtr.js';
import type { JsonValue, McpMessage, McpResponseBody } from '../../runner/mcp/types.js';
import { canonicalHash } from '../../runner/util/canonical.js';
import { STATE_PREFIX, type ConfirmBinding } from './confirm.js';

const ROUNDS_NS = 'mcp-authz/approved-rounds';
/** Approved rounds waiting for their retry; past it new ones are not remembered (asked again). */
const MAX_ROUNDS = 50_000;

/** What an approved call leaves for its answer: which request it was and what was approved. */
export interface ApprovedRound {
  /** The JSON-RPC id of the approved request (its answer carries the same). */
  readonly id: JsonValue;
  readonly binding: string;
}

/** One digest of everything the approval covered. */
export function approvalDigest(b: ConfirmBinding): string {
  return canonicalHash({ caller: b.caller, server: b.server, tool: b.tool, args: b.args ?? {} });
}

/** The server's own requestState a retry echoes (the gateway's own form state is not one). */
export function serverStateOf(m: McpMessage): string | undefined {
  const s = requestStateOf(m);
  return s !== undefined && s !== '' && !s.startsWith(STATE_PREFIX + '.') ? s : undefined;
}

/** The answer to an approved round asked for input: remember its state for the retry. */
export async function rememberApprovedRound(shared: SharedState, body: McpResponseBody, round: ApprovedRound, ttlSeconds: number): Promise<number> {
  let remembered = 0;
  for (const answer of inputRequiredAnswers(body)) {
    if (answer.requestState === undefined || answer.requestState === '' || answer.id !== round.id) continue;
    if (await shared.put(ROUNDS_NS, stateDigest(answer.requestState), round.binding, Date.now() + ttlSeconds * 1000, MAX_ROUNDS)) remembered++;
  }
  return remembered;
}

/** Does this retry continue a round the user approved for exactly this binding? Single use. */
export async function takeApprovedRound(shared: SharedState, m: McpMessage, binding: string): Promise<boolean> {
  const state = serverStateOf(m);
  if (state === undefined) return false;
  const key = stateDigest(state);
  const held = await shared.get(ROUNDS_NS, key);
  // Another binding's state is left alone: a caller cannot use up someone else's round.
  if (held !== binding) return false;
  return (await shared.take(ROUNDS_NS, key)) === binding;
}
