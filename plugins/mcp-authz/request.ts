// mcp-authz's request phase: RFC 9728 metadata, identity, the policy decision per message,
// confirmation tokens (issued on refusal, verified and stripped on retry), and what the
// response phase must read (lists to filter or pin).

import type { CallContext, Identity, Outcome, StopOutcome } from '../../runner/host/plugin.js';
import type { JsonObject, JsonValue, McpMessage } from '../../runner/mcp/types.js';
import { JsonRpcErrorCode } from '../../runner/mcp/types.js';
import { redactEcho } from '../../runner/redact/index.js';
import type { UseKind } from '../../runner/policy/index.js';
import { decideMessage, subjectFor, seesEverything, type Decision } from './decide.js';
import { establishIdentity } from './identity.js';
import { ConfirmationKeyUnavailable, CONFIRMATION_META_KEY } from './confirm.js';
import { listRequests, type ListKind } from './filter.js';
import { isMetadataRequest, metadataDocument, metadataUrl, wwwAuthenticate } from './prm.js';
import { currentPolicy, PLUGIN_NAME, type Carried, type PreparedAuthz } from './prepare.js';

/** The MCP server of this call: the plugin conf's, else the route's. */
function serverOf(ctx: CallContext, p: PreparedAuthz): string | undefined {
  return p.server ?? ctx.route.server;
}

/** The caller a confirmation token is bound to. */
function callerKey(id: Identity): string {
  return `${id.source}:${id.tenant ?? ''}:${id.user ?? id.subject ?? id.app ?? 'anonymous'}`;
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
  decision: Decision;
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
  const subject = subjectFor(policy, identity, server);
  const refusals: Refusal[] = [];
  let denied = false;
  const headerToken = ctx.request.header(p.confirmHeader);
  let headerTokenUsed = false;
  let bodyModified = false;

  body.messages.forEach((msg, index) => {
    let d = decideMessage(policy, subject, msg);
    if (d.effect !== 'deny' && d.kind === 'tool' && p.pinMode !== 'off' && p.pins.isBlocked(pinServer, d.target)) {
      d = { ...d, effect: 'deny', rule: `pinning/${d.target}`, reason: `tool '${d.target}' changed since it was pinned` };
    }
    const meta = confirmationFromMeta(msg);
    if (meta.present) {
      stripConfirmationMeta(msg);
      bodyModified = true;
    }
    if (d.effect === 'confirm') {
      const token = meta.token ?? (headerTokenUsed ? undefined : headerToken);
      if (token !== undefined) {
        if (token === headerToken) headerTokenUsed = true;
        const binding = { caller: callerKey(identity), server: server ?? '', tool: d.target, args: msg.arguments ?? {} };
        const v = p.confirm.verify(token, binding);
        if (v.ok) {
          ctx.record({ plugin: PLUGIN_NAME, action: 'allow', rule: d.rule, reason: 'confirmed by the user', messageIndex: index, detail: { kind: d.kind, target: d.target, confirmed: true } });
          return;
        }
        d = { ...d, reason: `${v.reason}; confirmation required again` };
      }
    }
    if (d.effect === 'allow') {
      ctx.record({ plugin: PLUGIN_NAME, action: 'allow', rule: d.rule, reason: d.reason, messageIndex: index, detail: detailOf(d) });
      return;
    }
    if (d.effect === 'deny') denied = true;
    refusals.push({ index, decision: d });
  });
  if (bodyModified) ctx.requestMutations.markBodyModified();
  if (headerToken !== undefined) ctx.requestMutations.deleteHeader(p.confirmHeader);

  if (refusals.length > 0) {
    if (p.shadow) {
      for (const r of refusals) {
        ctx.record({ plugin: PLUGIN_NAME, action: r.decision.effect === 'deny' ? 'shadow-deny' : 'shadow-confirm', rule: r.decision.rule, reason: r.decision.reason, messageIndex: r.index, detail: detailOf(r.decision) });
      }
    } else {
      return refuse(ctx, p, identity, server ?? '', body.batch, body.messages, refusals, denied);
    }
  }

  if (p.filterLists || p.pinMode !== 'off') {
    const lists = listRequests(body.messages);
    if (lists && p.pinMode === 'off') {
      // A list the actor sees whole is not read: nothing to filter, and SSE keeps streaming.
      for (const [id, kind] of lists) if (seesEverything(policy, subject, USE_KIND[kind])) lists.delete(id);
    }
    ctx.carry.set(PLUGIN_NAME, { policy, subject, lists: lists ?? new Map() } satisfies Carried);
  }
  return undefined;
}

function detailOf(d: Decision): Record<string, JsonValue> {
  const detail: Record<string, JsonValue> = { kind: d.kind, target: redactEcho(d.target) };
  if (d.access !== undefined) detail['access'] = d.access;
  if (d.risk !== undefined) detail['risk'] = d.risk;
  return detail;
}

/** A decision's reason as echoed to the client and the audit: request values in it redacted, cut short. */
const reasonOf = (d: Decision): string => redactEcho(d.reason, 256);

/** One refusal for the whole body: any deny refuses the batch; confirmations get tokens. */
function refuse(ctx: CallContext, p: PreparedAuthz, identity: Identity, server: string, batch: boolean, messages: readonly McpMessage[], refusals: Refusal[], denied: boolean): StopOutcome {
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
      detail: detailOf(r.decision),
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
    status: p.confirmStatus,
    rpcError: { code: JsonRpcErrorCode.ConfirmationRequired, message: `user confirmation required: ${reasonOf(first.decision)}`, data },
  };
}

/** The use kind of the items of each list. */
export const USE_KIND: Readonly<Record<ListKind, UseKind>> = { tools: 'tool', resources: 'resource', resourceTemplates: 'resource', prompts: 'prompt' };
