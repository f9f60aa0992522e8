// How a risky call is confirmed, chosen by what the client declared:
// - form: a 2026-07-28 client that declares form elicitation gets `input_required` with an
//   approve/deny form; the gateway's signed state rides in `requestState` (wrapping the
//   server's own state, if the call carried one) and is removed again on the retry;
// - url: a client with URL-mode elicitation gets error -32042 pointing at the gateway's
//   approval page; its retry of the same call passes once after approval;
// - token: every other client gets the confirmation token (-32010), as before.

import type { CallContext, Identity, StopOutcome } from '../../runner/host/plugin.js';
import type { JsonObject, JsonValue, McpMessage } from '../../runner/mcp/types.js';
import { approvalUrl } from './approval-page.js';
import { callerKey, displayName } from './caller.js';
import { declaredInRequest, SESSION_HEADER, type ElicitationSupport } from './client-caps.js';
import { isModernRevision } from '../../runner/mcp/revision.js';
import { STATE_PREFIX, type ConfirmBinding, type WrappedRound } from './confirm.js';
import type { Decision } from './decide.js';
import { PLUGIN_NAME, type PreparedAuthz } from './prepare.js';
import { shownArguments } from './shown.js';

/** JSON-RPC error of MCP 2025-11-25: the call needs the user to complete a URL-mode elicitation first. */
export const URL_ELICITATION_REQUIRED = -32042;
/** The gateway's key in `inputRequests` / `inputResponses` (a server's keys are its own). */
export const APPROVAL_INPUT_KEY = 'io.apisix.mcp/approval';

export type Channel = 'form' | 'url' | 'token';

function isObject(v: JsonValue | undefined): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isModern(m: McpMessage): boolean {
  return isModernRevision(m.revision ?? undefined);
}

/** The channel for one risky call: what the request (2026) or its session (2025) declared. */
export async function channelFor(ctx: CallContext, p: PreparedAuthz, m: McpMessage): Promise<Channel> {
  const modern = isModern(m);
  const caps: ElicitationSupport = (modern ? declaredInRequest(m) : undefined) ?? (await p.sessions.of(ctx.request.header(SESSION_HEADER)));
  if (modern && caps.form && p.formChannel) return 'form';
  if (caps.url && p.urlChannel && p.approvalPath !== undefined && !modern) return 'url';
  return 'token';
}

export function bindingOf(identity: Identity, server: string, tool: string, m: McpMessage): ConfirmBinding {
  return { caller: callerKey(identity), server, tool, args: m.arguments ?? {} };
}

function baseData(d: Decision): JsonObject {
  return { rule: d.rule, plugin: PLUGIN_NAME, reason: d.reason };
}

/** -32042 with one URL elicitation: the approval page of this exact call. */
export async function urlElicitation(ctx: CallContext, p: PreparedAuthz, identity: Identity, server: string, m: McpMessage, d: Decision): Promise<StopOutcome | undefined> {
  const binding = bindingOf(identity, server, d.target, m);
  const a = await p.approvals.open({
    binding,
    requester: displayName(identity),
    requesterTenant: identity.tenant,
    shownArguments: shownArguments(m.arguments ?? {}),
    rule: d.rule,
    reason: d.reason,
    ttlSeconds: p.confirm.ttlSeconds,
  });
  if (a === undefined) return undefined; // book full: the token flow still works
  const url = approvalUrl(ctx.request, p, a.id);
  const message = `Approval needed to run ${d.target}: open the link, approve or deny, then retry the call.`;
  ctx.record({ plugin: PLUGIN_NAME, action: 'confirm', rule: d.rule, reason: d.reason, detail: { kind: d.kind, target: d.target, channel: 'url', approval_id: a.id } });
  return {
    action: 'stop',
    status: 200,
    rpcError: {
      code: URL_ELICITATION_REQUIRED,
      message,
      data: { ...baseData(d), elicitations: [{ mode: 'url', elicitationId: a.id, url, message }], next: 'open the url, decide, then retry the same call', expires_at: Math.floor(a.expiresAt / 1000) },
    },
  };
}

/** The approve/deny form a 2026-07-28 client shows its user. */
function approvalForm(d: Decision, m: McpMessage): JsonObject {
  const args = JSON.stringify(shownArguments(m.arguments ?? {}), null, 2);
  return {
    method: 'elicitation/create',
    params: {
      mode: 'form',
      message: `An AI agent asks to run the tool "${d.target}" with these arguments (sensitive values masked):\n${args}\n\nWhy approval is needed: ${d.reason} (rule ${d.rule}).\nApprove to let exactly this call run once.`,
      requestedSchema: {
        type: 'object',
        properties: {
          // A titled single-select enum (MCP 2025-11-25 elicitation schema; enumNames is its legacy form).
          decision: { type: 'string', title: `Run ${d.target}?`, oneOf: [{ const: 'approve', title: 'Approve' }, { const: 'deny', title: 'Deny' }], default: 'deny' },
        },
        required: ['decision'],
      },
    },
  };
}

/**
 * `input_required` with the form. Our state wraps the server's round, if the call carried one:
 * its requestState and the client's answers to its input requests (a stateless server needs
 * both together on the retry, and the client only answers our form then).
 */
export function formElicitation(ctx: CallContext, p: PreparedAuthz, identity: Identity, server: string, m: McpMessage, d: Decision): StopOutcome {
  const state = m.params['requestState'];
  const responses = m.params['inputResponses'];
  const round: WrappedRound = {
    state: typeof state === 'string' && !state.startsWith(STATE_PREFIX + '.') ? state : undefined,
    responses: isObject(responses) ? responses : undefined,
  };
  const { token } = p.confirm.issue(bindingOf(identity, server, d.target, m), STATE_PREFIX, round);
  ctx.record({ plugin: PLUGIN_NAME, action: 'confirm', rule: d.rule, reason: d.reason, detail: { kind: d.kind, target: d.target, channel: 'form' } });
  const result = { resultType: 'input_required', inputRequests: { [APPROVAL_INPUT_KEY]: approvalForm(d, m) }, requestState: token };
  return { action: 'stop', status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ jsonrpc: '2.0', id: m.id ?? null, result }) };
}

export type FormAnswer =
  | { kind: 'none' }
  | { kind: 'approved' }
  | { kind: 'refused'; reason: string }
  | { kind: 'invalid'; reason: string };

/**
 * A retry that carries the gateway's requestState: check it against this exact call, read the
 * user's answer, and take the gateway's material out of the request (the server's own state,
 * if ours wrapped one, goes back in its place). Answered at once (no promise) for the usual
 * call that carries no gateway state.
 */
export function takeFormAnswer(p: PreparedAuthz, binding: ConfirmBinding, m: McpMessage): FormAnswer | Promise<FormAnswer> {
  const params = m.raw['params'];
  if (!isObject(params)) return NO_FORM_ANSWER;
  const state = params['requestState'];
  if (typeof state !== 'string' || !state.startsWith(STATE_PREFIX + '.')) return NO_FORM_ANSWER;
  return readFormAnswer(p, binding, params, state);
}

const NO_FORM_ANSWER: FormAnswer = Object.freeze({ kind: 'none' });

async function readFormAnswer(p: PreparedAuthz, binding: ConfirmBinding, params: JsonObject, state: string): Promise<FormAnswer> {
  const responses = params['inputResponses'];
  const answer = isObject(responses) ? responses[APPROVAL_INPUT_KEY] : undefined;
  if (isObject(responses)) {
    delete responses[APPROVAL_INPUT_KEY];
    if (Object.keys(responses).length === 0) delete params['inputResponses'];
  }
  const v = await p.confirm.verify(state, binding, STATE_PREFIX);
  delete params['requestState'];
  if (v.ok && v.inner !== undefined) params['requestState'] = v.inner;
  if (v.ok && v.responses !== undefined) {
    const rest = params['inputResponses'];
    params['inputResponses'] = { ...(v.responses as JsonObject), ...(isObject(rest) ? rest : {}) };
  }
  if (!v.ok) return { kind: 'invalid', reason: v.reason.replace('confirmation token', 'approval state') };
  if (!isObject(answer)) return { kind: 'refused', reason: 'the approval form was not answered' };
  const action = answer['action'];
  const content = answer['content'];
  if (action === 'accept' && isObject(content) && content['decision'] === 'approve') return { kind: 'approved' };
  if (action === 'accept') return { kind: 'refused', reason: 'the user denied the call' };
  return { kind: 'refused', reason: action === 'cancel' ? 'the user cancelled the approval' : 'the user declined the approval' };
}
