// mcp-authz's request phase: RFC 9728 metadata, identity, the policy decision per message,
// confirmation tokens (issued on refusal, verified and stripped on retry), and what the
// response phase must read (lists to filter or pin).

import type { CallContext, Identity, Outcome, StopOutcome } from '../../runner/host/plugin.js';
import type { JsonObject, JsonValue, McpMessage } from '../../runner/mcp/types.js';
import { JsonRpcErrorCode } from '../../runner/mcp/types.js';
import { redactEcho } from '../../runner/redact/index.js';
import type { CompiledPolicy, UseKind } from '../../runner/policy/index.js';
import { decideMessage, holdsGrantHere, subjectFor, seesEverything, type Decision, type Subject } from './decide.js';
import type { ToolHintStore } from './tool-hints.js';
import { establishIdentity } from './identity.js';
import { ConfirmationKeyUnavailable, CONFIRMATION_META_KEY } from './confirm.js';
import { SharedStateUnavailable } from '../../runner/cluster/shared-state.js';
import { listRequests, type ListKind } from './filter.js';
import { decideSubscriptions } from './subscriptions.js';
import { isModernRevision } from '../../runner/mcp/revision.js';
import { isMetadataRequest, metadataDocument, metadataUrl, wwwAuthenticate } from './prm.js';
import { currentPolicy, PLUGIN_NAME, type Carried, type PreparedAuthz } from './prepare.js';
import { isApprovalRequest, serveApprovalPage } from './approval-page.js';
import { callerKey } from './caller.js';
import { bindingOf, channelFor, formElicitation, takeFormAnswer, urlElicitation } from './confirm-flow.js';
import { approvalDigest, takeApprovedRound, type ApprovedRound } from './rounds.js';
import { declaredInInitialize } from './client-caps.js';

/** The MCP server of this call: the plugin conf's, else the route's. */
function serverOf(ctx: CallContext, p: PreparedAuthz): string | undefined {
  return p.server ?? ctx.route.server;
}

/**
 * The subject per identity for the current policy and server. Identities from a verified token
 * are shared by every call with that token (identity.ts), so the actor matching runs once per
 * token and policy version. A pure memo (keyed weakly): safe to share between runners.
 */
const subjects = new WeakMap<Identity, { policy: CompiledPolicy; server: string | undefined; hints: ToolHintStore; subject: Subject }>();

function subjectOf(policy: CompiledPolicy, identity: Identity, server: string | undefined, hints: ToolHintStore): Subject {
  const known = subjects.get(identity);
  if (known !== undefined && known.policy === policy && known.server === server && known.hints === hints) return known.subject;
  const subject = subjectFor(policy, identity, server, hints);
  subjects.set(identity, { policy, server, hints, subject });
  return subject;
}

function confirmationFromMeta(msg: McpMessage): { token: string | undefined; present: boolean } {
  const meta = msg.params['_meta'];
  if (meta === null || typeof meta !== 'object' || Array.isArray(meta) || !(CONFIRMATION_META_KEY in meta)) return { token: undefined, present: false };
  const v = meta[CONFIRMATION_META_KEY];
  return { token: typeof v === 'string' ? v : undefined, present: true };
}

/** Remove our token from params._meta so the MCP server never sees gateway internals. */
function stripConfirmationMeta(msg: McpMessage): void {
  const params = msg.raw['params'];
  if (params === null || typeof params !== 'object' || Array.isArray(params)) return;
  const meta = params['_meta'];
  if (meta === null || typeof meta !== 'object' || Array.isArray(meta)) return;
  delete meta[CONFIRMATION_META_KEY];
  if (Object.keys(meta).length === 0) delete params['_meta'];
}

interface Refusal {
  index: number;
  decision: Decision & { channel?: string };
  token?: { token: string; expiresAt: number } | undefined;
}

/**
 * A configured confirmation secret that cannot be read (file gone, env unset) fails the call
 * closed with a clear 503 and a decision record, like an unreadable JWT key does.
 */
export async function onRequest(ctx: CallContext, p: PreparedAuthz): Promise<Outcome> {
  try {
    return await decideRequest(ctx, p);
  } catch (err) {
    if (err instanceof SharedStateUnavailable) {
      // Single use and approvals cannot be checked without it: refuse, never let a call through twice.
      ctx.record({ plugin: PLUGIN_NAME, action: 'error', rule: 'shared-state-unavailable', reason: err.message });
      return { action: 'stop', status: 503, headers: { 'retry-after': '1' }, rpcError: { code: JsonRpcErrorCode.GatewayUnavailable, message: err.message } };
    }
    if (!(err instanceof ConfirmationKeyUnavailable)) throw err;
    ctx.record({ plugin: PLUGIN_NAME, action: 'error', rule: 'confirmation-key-unavailable', reason: 'confirmation secret cannot be read' });
    return {
      action: 'stop',
      status: 503,
      headers: { 'retry-after': '5' },
      rpcError: { code: JsonRpcErrorCode.GatewayUnavailable, message: 'confirmation key unavailable' },
    };
  }
}

async function decideRequest(ctx: CallContext, p: PreparedAuthz): Promise<Outcome> {
  if (isMetadataRequest(ctx.request)) {
    return {
      action: 'stop',
      status: 200,
      headers: { 'content-type': 'application/json', 'cache-control': 'public, max-age=300' },
      body: JSON.stringify(metadataDocument(p.protectedResource, ctx.request)),
    };
  }

  if (isApprovalRequest(ctx.request, p)) return serveApprovalPage(ctx, p, currentPolicy(p));

  const who = await establishIdentity(ctx.request, p.identity);
  if (!who.ok) {
    if (p.shadow) {
      ctx.record({ plugin: PLUGIN_NAME, action: 'shadow-deny', rule: 'identity', reason: who.reason });
      return;
    }
    ctx.record({ plugin: PLUGIN_NAME, action: 'deny', rule: 'identity', reason: who.reason });
    if (who.status === 503) {
      return { action: 'stop', status: 503, rpcError: { code: JsonRpcErrorCode.GatewayUnavailable, message: 'identity provider unavailable' } };
    }
    return {
      action: 'stop',
      status: 401,
      headers: { 'www-authenticate': wwwAuthenticate(metadataUrl(p.protectedResource, ctx.request), who.tokenPresented, who.reason) },
      rpcError: { code: JsonRpcErrorCode.Unauthorized, message: who.tokenPresented ? `invalid token: ${who.reason}` : 'authentication required' },
    };
  }
  const identity = who.identity;
  ctx.identity = identity;

  const policy = currentPolicy(p);
  if (typeof policy === 'string') {
    ctx.record({ plugin: PLUGIN_NAME, action: p.shadow ? 'shadow-deny' : 'error', rule: 'policy-unavailable', reason: policy });
    if (p.shadow) return;
    return { action: 'stop', status: 503, rpcError: { code: JsonRpcErrorCode.InternalError, message: 'authorization policy unavailable' } };
  }

  const body = await ctx.mcp();
  if (!body.ok) return { action: 'stop', status: 400, rpcError: { code: body.code, message: body.message }, ids: [body.id] };
  const server = serverOf(ctx, p);
  const pinServer = server ?? p.routePinKey;
  const subject = subjectOf(policy, identity, server, p.toolHints);
  // No grant on this server: nothing at all, not even initialize or ping.
  if (!holdsGrantHere(policy, subject)) {
    const reason = `no grant on server '${server ?? '(unnamed)'}' for this identity`;
    ctx.record({ plugin: PLUGIN_NAME, action: p.shadow ? 'shadow-deny' : 'deny', rule: 'no-grant', reason });
    if (!p.shadow) return { action: 'stop', status: 403, rpcError: { code: JsonRpcErrorCode.Forbidden, message: reason, data: { rule: 'no-grant', reason } } };
  }
  // A call without messages (GET stream, DELETE session) is allowed by the grant itself.
  if (body.messages.length === 0) ctx.record({ plugin: PLUGIN_NAME, action: 'allow', rule: 'server-grant', reason: 'the identity holds a grant on this server' });
  const refusals: Refusal[] = [];
  let denied = false;
  const headerToken = ctx.request.header(p.confirmHeader);
  let headerTokenUsed = false;
  let bodyModified = false;
  let initialize: Carried['initialize'];
  // A 2026-07-28 risky call approved now: its answer may ask for input, and the retry that
  // continues it must not ask the user again (see rounds.ts).
  let approvedRound: ApprovedRound | undefined;

  // A plain loop: confirmation and approval checks ask the runner's shared state (await).
  for (const [index, msg] of body.messages.entries()) {
    let d: Decision & { channel?: string } = decideMessage(policy, subject, msg);
    if (d.effect !== 'deny' && msg.kind === 'subscriptions/listen') d = decideSubscriptions(policy, subject, msg) ?? d;
    if (d.effect !== 'deny' && d.kind === 'tool' && p.pinMode !== 'off' && p.pins.isBlocked(pinServer, d.target)) {
      d = { ...d, effect: 'deny', rule: `pinning/${d.target}`, reason: `tool '${d.target}' changed since it was pinned` };
    }
    const meta = confirmationFromMeta(msg);
    if (meta.present) {
      stripConfirmationMeta(msg);
      bodyModified = true;
    }
    // The gateway's own form state leaves the request whatever the decision now is.
    const pending = d.kind === 'tool' ? takeFormAnswer(p, bindingOf(identity, server ?? '', d.target, msg), msg) : undefined;
    const form = pending === undefined ? { kind: 'none' as const } : pending instanceof Promise ? await pending : pending;
    if (form.kind !== 'none') bodyModified = true;
    if (d.effect === 'confirm') {
      const token = meta.token ?? (headerTokenUsed ? undefined : headerToken);
      const binding = bindingOf(identity, server ?? '', d.target, msg);
      const continues = msg.id !== undefined && isModernRevision(msg.revision ?? undefined);
      const digest = continues ? approvalDigest(binding) : '';
      const round: ApprovedRound | undefined = continues ? { id: msg.id ?? null, binding: digest } : undefined;
      if (form.kind === 'approved') {
        ctx.record({ plugin: PLUGIN_NAME, action: 'allow', rule: d.rule, reason: 'approved by the user in the client', messageIndex: index, detail: { kind: d.kind, target: d.target, confirmed: true, channel: 'form', approver: callerKey(identity) } });
        approvedRound = round;
        continue;
      }
      if (form.kind === 'none' && continues && (await takeApprovedRound(p.shared, msg, digest))) {
        ctx.record({ plugin: PLUGIN_NAME, action: 'allow', rule: d.rule, reason: 'approved by the user for an earlier round of this call', messageIndex: index, detail: { kind: d.kind, target: d.target, confirmed: true, channel: 'round' } });
        approvedRound = round;
        continue;
      }
      if (form.kind === 'refused') {
        d = { ...d, effect: 'deny', reason: `${form.reason}: ${d.target} was not run`, channel: 'form' };
      } else if (form.kind === 'invalid') {
        d = { ...d, reason: `${form.reason}; confirmation required again` };
      } else if (token !== undefined) {
        if (token === headerToken) headerTokenUsed = true;
        const v = await p.confirm.verify(token, binding);
        if (v.ok) {
          ctx.record({ plugin: PLUGIN_NAME, action: 'allow', rule: d.rule, reason: 'confirmed by the user', messageIndex: index, detail: { kind: d.kind, target: d.target, confirmed: true, channel: 'token' } });
          approvedRound = round;
          continue;
        }
        d = { ...d, reason: `${v.reason}; confirmation required again` };
      } else if (p.approvalPath !== undefined) {
        const settled = await p.approvals.settle(binding);
        if (settled?.outcome === 'approved') {
          ctx.record({ plugin: PLUGIN_NAME, action: 'allow', rule: d.rule, reason: 'approved on the approval page', messageIndex: index, detail: { kind: d.kind, target: d.target, confirmed: true, channel: 'url', approval_id: settled.approval.id, approver: settled.approval.decidedBy ?? '' } });
          approvedRound = round;
          continue;
        }
        if (settled?.outcome === 'denied') {
          d = { ...d, effect: 'deny', reason: `refused by ${settled.approval.decidedBy ?? 'the approver'} on the approval page: ${d.target} was not run`, channel: 'url' };
        }
      }
    }
    if (msg.kind === 'initialize') initialize = declaredInInitialize(msg);
    if (d.effect === 'allow') {
      ctx.record({ plugin: PLUGIN_NAME, action: 'allow', rule: d.rule, reason: d.reason, messageIndex: index, detail: detailOf(d) });
      continue;
    }
    if (d.effect === 'deny') denied = true;
    refusals.push({ index, decision: d });
  }
  if (bodyModified) ctx.requestMutations.markBodyModified();
  if (headerToken !== undefined) ctx.requestMutations.deleteHeader(p.confirmHeader);

  if (refusals.length > 0) {
    if (p.shadow) {
      for (const r of refusals) {
        ctx.record({ plugin: PLUGIN_NAME, action: r.decision.effect === 'deny' ? 'shadow-deny' : 'shadow-confirm', rule: r.decision.rule, reason: r.decision.reason, messageIndex: r.index, detail: detailOf(r.decision) });
      }
    } else {
      return await refuse(ctx, p, identity, server ?? '', body.batch, body.messages, refusals, denied);
    }
  }

  if (p.filterLists || p.pinMode !== 'off' || (initialize !== undefined && p.approvalPath !== undefined) || approvedRound !== undefined) {
    const lists = listRequests(body.messages);
    if (lists && p.pinMode === 'off') {
      // A list the actor sees whole is not read: nothing to filter, and SSE keeps streaming.
      for (const [id, kind] of lists) if (seesEverything(policy, subject, USE_KIND[kind])) lists.delete(id);
    }
    const modern = body.messages.some((m) => isModernRevision(m.revision ?? undefined));
    ctx.carry.set(PLUGIN_NAME, { policy, subject, lists: lists ?? new Map(), modern, initialize, approvedRound } satisfies Carried);
  }
  return undefined;
}

function detailOf(d: Decision & { channel?: string }): Record<string, JsonValue> {
  const detail: Record<string, JsonValue> = { kind: d.kind, target: redactEcho(d.target) };
  if (d.channel !== undefined) detail['channel'] = d.channel;
  if (d.access !== undefined) detail['access'] = d.access;
  if (d.risk !== undefined) detail['risk'] = d.risk;
  return detail;
}

/** A decision's reason as echoed to the client and the audit: request values in it redacted, cut short. */
const reasonOf = (d: Decision): string => redactEcho(d.reason, 256);

/** One refusal for the whole body: any deny refuses the batch; confirmations get tokens. */
async function refuse(ctx: CallContext, p: PreparedAuthz, identity: Identity, server: string, batch: boolean, messages: readonly McpMessage[], refusals: Refusal[], denied: boolean): Promise<StopOutcome> {
  // One risky call from a client that can show its user a form or a page: ask there.
  const only = refusals[0]!;
  if (!denied && !batch && refusals.length === 1 && only.decision.kind === 'tool') {
    const msg = messages[only.index]!;
    const channel = await channelFor(ctx, p, msg);
    if (channel === 'form') return formElicitation(ctx, p, identity, server, msg, only.decision);
    if (channel === 'url') {
      const answer = await urlElicitation(ctx, p, identity, server, msg, only.decision);
      if (answer !== undefined) return answer;
    }
  }
  for (const r of refusals) {
    if (!denied && r.decision.effect === 'confirm') {
      const msg = messages[r.index]!;
      r.token = p.confirm.issue({ caller: callerKey(identity), server, tool: r.decision.target, args: msg.arguments ?? {} });
    }
    ctx.record({
      plugin: PLUGIN_NAME,
      action: r.decision.effect === 'deny' ? 'deny' : 'confirm',
      rule: r.decision.rule,
      reason: reasonOf(r.decision),
      messageIndex: r.index,
      detail: detailOf(r.token !== undefined ? { ...r.decision, channel: 'token' } : r.decision),
    });
  }
  const first = refusals.find((r) => r.decision.effect === 'deny') ?? refusals[0]!;
  if (denied) {
    const data: JsonObject = { rule: first.decision.rule, reason: reasonOf(first.decision) };
    if (batch) data['messageIndex'] = first.index;
    return {
      action: 'stop',
      status: 403,
      rpcError: { code: JsonRpcErrorCode.Forbidden, message: batch ? `batch refused: element ${first.index}: ${reasonOf(first.decision)}` : reasonOf(first.decision), data },
    };
  }
  const confirmations: JsonObject[] = refusals.map((r) => ({
    messageIndex: r.index,
    tool: redactEcho(r.decision.target),
    rule: r.decision.rule,
    reason: reasonOf(r.decision),
    token: r.token!.token,
    expires_at: r.token!.expiresAt,
  }));
  const data: JsonObject = {
    rule: first.decision.rule,
    reason: reasonOf(first.decision),
    header: p.confirmHeader,
    meta_key: CONFIRMATION_META_KEY,
  };
  if (batch) data['confirmations'] = confirmations;
  else {
    data['token'] = first.token!.token;
    data['expires_at'] = first.token!.expiresAt;
  }
  return {
    action: 'stop',
    status: 428,
    rpcError: { code: JsonRpcErrorCode.ConfirmationRequired, message: `user confirmation required: ${reasonOf(first.decision)}`, data },
  };
}

/** The use kind of the items of each list. */
export const USE_KIND: Readonly<Record<ListKind, UseKind>> = { tools: 'tool', resources: 'resource', resourceTemplates: 'resource', prompts: 'prompt' };
