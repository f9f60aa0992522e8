// mcp-authz: who is calling (verified JWT, APISIX consumer or trusted headers), may they make
// this MCP call (policy: deny wins, default deny), does it need the user's confirmation, and
// which tools may they even see (tools/list filtering, tool pinning). Permissions live in a
// reviewable policy file enforced at the gateway, outside the agent's prompt.
//
// Route layout: run in ext-plugin-pre-req (or post-req to use APISIX's consumer_name) for
// the request phase, and in ext-plugin-post-resp for list filtering and pinning.

import type { CallContext, Identity, Outcome, Plugin, PrepareEnv, StopOutcome } from '../../runner/host/plugin.js';
import type { JsonObject, JsonValue, McpMessage } from '../../runner/mcp/types.js';
import { JsonRpcErrorCode } from '../../runner/mcp/types.js';
import { loadSchema } from '../../runner/host/schema-file.js';
import { compilePolicy, closePolicySources, DEFAULT_RELOAD_INTERVAL_MS, formatAjvErrors, policySourceFor, PolicyError, type CompiledPolicy, type PolicyDoc, type PolicySource, type UseKind, validatePolicyDocument } from './policy.js';
import { decideMessage, holdsGrantHere, subjectFor, isVisible, seesEverything, type Decision, type Subject } from './decide.js';
import { hintsOf, sharedToolHints } from './tool-hints.js';
import { establishIdentity, prepareIdentity, type IdentityConf, type IdentityResolver } from './identity.js';
import { ConfirmationKeyUnavailable, ConfirmationTokens, CONFIRMATION_META_KEY, confirmationKeyFrom, sharedReplayCache } from './confirm.js';
import { filterListResponse, listAnswerProblem, listRequests, type ListKind } from './filter.js';
import { sharedPinStore, toolDefinitionHash, type PinConf, type PinStore } from './pinning.js';
import { isMetadataRequest, metadataDocument, metadataUrl, wwwAuthenticate, type ProtectedResourceConf } from './prm.js';

export const PLUGIN_NAME = 'mcp-authz';

export interface AuthzConf {
  mode?: 'enforce' | 'shadow';
  server?: string;
  policy_file?: string;
  policy?: Record<string, unknown>;
  reload_interval_ms?: number;
  identity?: IdentityConf;
  protected_resource?: ProtectedResourceConf;
  confirmation?: { secret?: string; ttl_seconds?: number; header?: string; status?: 403 | 428; replay_cache_size?: number };
  filter_lists?: boolean;
  pinning?: PinConf;
  /** Accept literal secrets (shared_secret, confirmation.secret) instead of references. */
  allow_literal_secrets?: boolean;
}

export interface PreparedAuthz {
  readonly shadow: boolean;
  readonly server: string | undefined;
  /**
   * Pin namespace when no server name is known. Route keys differ between phases (pre-req vs
   * post-resp), so unnamed servers share one namespace: set `server` when pinning.
   */
  readonly routePinKey: string;
  readonly filterLists: boolean;
  readonly pinMode: 'off' | 'pinned' | 'trust_on_first_use';
  readonly pinBlock: boolean;
  readonly pins: PinStore;
  readonly identity: IdentityResolver;
  readonly protectedResource: ProtectedResourceConf;
  readonly confirm: ConfirmationTokens;
  readonly confirmHeader: string;
  readonly confirmStatus: number;
  readonly source: PolicySource | undefined;
  readonly inline: { doc: PolicyDoc; label: string; rulePrefix: string } | undefined;
  /** Compiled policy for the current source version (recompiled lazily after a reload). */
  compiled: { version: number; policy: CompiledPolicy } | undefined;
}

/** What the request phase leaves for the response phase. */
interface Carried {
  policy: CompiledPolicy;
  subject: Subject;
  lists: Map<string, ListKind>;
}

async function prepare(conf: AuthzConf, _env: PrepareEnv): Promise<PreparedAuthz> {
  if (conf.policy_file === undefined && conf.policy === undefined) throw new Error('/policy_file or /policy is required (default deny needs a policy to allow anything)');
  let inline: PreparedAuthz['inline'];
  if (conf.policy !== undefined) {
    validatePolicyDocument(conf.policy, 'conf.policy');
    inline = { doc: conf.policy, label: 'conf.policy', rulePrefix: 'inline.' };
  }
  const source = conf.policy_file !== undefined ? policySourceFor(conf.policy_file, conf.reload_interval_ms ?? DEFAULT_RELOAD_INTERVAL_MS) : undefined;
  let compiled: PreparedAuthz['compiled'];
  if (source) await source.ready;
  else compiled = { version: 0, policy: compilePolicy([inline!]) };

  const c = conf.confirmation ?? {};
  const allowLiteralSecrets = conf.allow_literal_secrets === true;
  const key = await confirmationKeyFrom(c.secret, allowLiteralSecrets);
  const pinning = conf.pinning ?? {};
  const prepared: PreparedAuthz = {
    shadow: conf.mode === 'shadow',
    server: conf.server,
    routePinKey: '(unnamed server)',
    filterLists: conf.filter_lists !== false,
    pinMode: pinning.mode ?? 'off',
    pinBlock: (pinning.on_mismatch ?? 'block') === 'block',
    pins: sharedPinStore(pinning.max_entries ?? 10_000),
    identity: await prepareIdentity(conf.identity, { allowLiteralSecrets }),
    protectedResource: conf.protected_resource ?? {},
    confirm: new ConfirmationTokens(key, c.ttl_seconds ?? 300, sharedReplayCache(c.replay_cache_size ?? 100_000)),
    confirmHeader: (c.header ?? 'mcp-confirmation').toLowerCase(),
    confirmStatus: c.status ?? 428,
    source,
    inline,
    compiled,
  };
  currentPolicy(prepared); // compile now so the first call does not pay for it
  return prepared;
}

/** The compiled policy, or why there is none (first load failed). */
export function currentPolicy(p: PreparedAuthz): CompiledPolicy | string {
  if (!p.source) return p.compiled!.policy;
  const snap = p.source.current;
  if (snap.doc === undefined) return snap.error ?? 'policy not loaded';
  if (p.compiled?.version !== snap.version) {
    try {
      const docs = [{ doc: snap.doc, label: snap.label }];
      if (p.inline) docs.push(p.inline);
      p.compiled = { version: snap.version, policy: compilePolicy(docs) };
    } catch (err) {
      if (!p.compiled) return (err as Error).message;
      // Keep the previous compiled policy: same rule as for the file itself.
    }
  }
  return p.compiled!.policy;
}

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
async function onRequest(ctx: CallContext, p: PreparedAuthz): Promise<Outcome> {
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
  const subject = subjectFor(policy, identity, server, sharedToolHints());
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
  const detail: Record<string, JsonValue> = { kind: d.kind, target: d.target };
  if (d.access !== undefined) detail['access'] = d.access;
  if (d.risk !== undefined) detail['risk'] = d.risk;
  return detail;
}

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
      reason: r.decision.reason,
      messageIndex: r.index,
      detail: detailOf(r.decision),
    });
  }
  const first = refusals.find((r) => r.decision.effect === 'deny') ?? refusals[0]!;
  if (denied) {
    const data: JsonObject = { rule: first.decision.rule, reason: first.decision.reason };
    if (batch) data['messageIndex'] = first.index;
    return {
      action: 'stop',
      status: 403,
      rpcError: { code: JsonRpcErrorCode.Forbidden, message: batch ? `batch refused: element ${first.index}: ${first.decision.reason}` : first.decision.reason, data },
    };
  }
  const confirmations: JsonObject[] = refusals.map((r) => ({
    messageIndex: r.index,
    tool: r.decision.target,
    rule: r.decision.rule,
    reason: r.decision.reason,
    token: r.token!.token,
    expires_at: r.token!.expiresAt,
  }));
  const data: JsonObject = {
    rule: first.decision.rule,
    reason: first.decision.reason,
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
    rpcError: { code: JsonRpcErrorCode.ConfirmationRequired, message: `user confirmation required: ${first.decision.reason}`, data },
  };
}

async function onResponse(ctx: CallContext, p: PreparedAuthz): Promise<Outcome> {
  const carried = ctx.carry.get(PLUGIN_NAME) as Carried | undefined;
  if (!carried || !ctx.response || ctx.response.status >= 300 || carried.lists.size === 0) return;
  const body = await ctx.mcpResponse();
  const unreadable = await listAnswerProblem(ctx, body);
  if (unreadable !== undefined) {
    ctx.record({ plugin: PLUGIN_NAME, action: p.shadow ? 'shadow-deny' : 'deny', rule: 'list-unreadable', reason: `list answer withheld: ${unreadable}` });
    if (p.shadow) return;
    return { action: 'stop', status: 502, rpcError: { code: JsonRpcErrorCode.InternalError, message: `upstream answer withheld: the gateway could not read the list to filter it (${unreadable})`, data: { rule: 'list-unreadable' } } };
  }
  if (!body) return;
  const { policy, subject } = carried;
  const pinServer = subject.server ?? p.routePinKey;
  let shadowHidden = 0;
  const stats = filterListResponse(body, carried.lists, (listKind, kind, name, item) => {
    let pinChanged = false;
    if (listKind === 'tools' && p.pinMode !== 'off') {
      const hash = toolDefinitionHash(item);
      const check = p.pins.check(policy.pins, p.pinMode, pinServer, name, hash);
      if (check.status === 'mismatch') {
        ctx.record({
          plugin: PLUGIN_NAME,
          action: 'pin-mismatch',
          rule: `pinning/${name}`,
          reason: `definition of tool '${name}' differs from the ${check.source === 'policy' ? 'pinned' : 'first seen'} one`,
          detail: { tool: name, server: pinServer, expected: check.expected, actual: check.actual, blocked: p.pinBlock && !p.shadow },
        });
        if (p.pinBlock && !p.shadow) {
          p.pins.block(pinServer, name, hash);
          return false;
        }
        pinChanged = true;
      } else if (check.status === 'ok') {
        p.pins.unblock(pinServer, name);
      }
    }
    // Read access is judged by the annotations of the definition in use (as pinned).
    let hints = listKind === 'tools' ? hintsOf(item) : undefined;
    if (listKind === 'tools') subject.toolHints?.remember(subject.server, name, hints, pinChanged);
    if (pinChanged) hints = subject.toolHints?.get(subject.server, name);
    if (!p.filterLists || isVisible(policy, subject, kind, name, hints)) return true;
    if (p.shadow) {
      shadowHidden++;
      return true;
    }
    return false;
  });
  let removed = 0;
  for (const [kind, s] of stats) {
    if (s.removed > 0) {
      removed += s.removed;
      ctx.record({ plugin: PLUGIN_NAME, action: 'filter', rule: 'list-filter', reason: `${s.removed} ${kind} hidden`, detail: { list: kind, removed: s.removed, kept: s.kept } });
    }
  }
  if (shadowHidden > 0) ctx.record({ plugin: PLUGIN_NAME, action: 'shadow-filter', rule: 'list-filter', reason: `${shadowHidden} items would be hidden`, detail: { wouldRemove: shadowHidden } });
  if (removed > 0) ctx.responseMutations.markBodyModified();
  return undefined;
}

/** Fast routes (no post-resp): refuse list calls we would have to filter. */
const USE_KIND: Readonly<Record<ListKind, UseKind>> = { tools: 'tool', resources: 'resource', resourceTemplates: 'resource', prompts: 'prompt' };

async function needsResponsePhase(ctx: CallContext, p: PreparedAuthz): Promise<boolean> {
  if (!(p.filterLists && !p.shadow) && p.pinMode === 'off') return false;
  // After onRequest (the runtime guard) the carried lists are exactly what will be read; without
  // it (the layout command's synthetic calls) any list call counts.
  const carried = ctx.carry.get(PLUGIN_NAME) as Carried | undefined;
  if (carried !== undefined) return carried.lists.size > 0;
  const body = await ctx.mcp();
  return body.ok && listRequests(body.messages) !== undefined;
}

function needsResponseBody(ctx: CallContext): boolean {
  const carried = ctx.carry.get(PLUGIN_NAME) as Carried | undefined;
  return carried !== undefined && carried.lists.size > 0;
}

export const plugin: Plugin<AuthzConf, PreparedAuthz> = {
  name: PLUGIN_NAME,
  confSchema: loadSchema('mcp-authz.conf.schema.json'),
  prepare,
  onRequest,
  onResponse,
  needsResponseBody,
  needsResponsePhase,
  async shutdown() {
    closePolicySources();
  },
};

export { PolicyError, formatAjvErrors };
