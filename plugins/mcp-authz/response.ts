// mcp-authz's response phase: list filtering (items the actor may not use are removed) and
// tool pinning (a changed definition is flagged or blocked), and which calls need it.

import type { CallContext, Outcome } from '../../runner/host/plugin.js';
import { JsonRpcErrorCode, type JsonObject, type McpResponseBody } from '../../runner/mcp/types.js';
import { SharedStateUnavailable } from '../../runner/cluster/shared-state.js';
import { isVisible } from './decide.js';
import { filterListResponse, idKey, listAnswerProblem, listRequests, type ListKind } from './filter.js';
import { narrowCacheScopes } from '../../runner/mcp/cache.js';
import { toolDefinitionHash } from './pinning.js';
import { hintsOf } from './tool-hints.js';
import { PLUGIN_NAME, type Carried, type PreparedAuthz } from './prepare.js';
import { SESSION_HEADER } from './client-caps.js';
import { rememberApprovedRound, type ApprovedRound } from './rounds.js';

/** The definition hash of every tool in the list answers (walked without changing them). */
function toolHashes(body: McpResponseBody, lists: ReadonlyMap<string, ListKind>): Map<JsonObject, string> {
  const out = new Map<JsonObject, string>();
  filterListResponse(body, lists, (listKind, _kind, _name, item) => {
    if (listKind === 'tools') out.set(item, toolDefinitionHash(item));
    return true;
  });
  return out;
}

export async function onResponse(ctx: CallContext, p: PreparedAuthz): Promise<Outcome> {
  const carried = ctx.carry.get(PLUGIN_NAME) as Carried | undefined;
  if (!carried || !ctx.response) return;
  if (carried.initialize !== undefined && ctx.response.status < 300) {
    const session = ctx.response.header(SESSION_HEADER);
    // Lost, it only costs a convenience (the client gets confirmation tokens): never the answer.
    if (session !== undefined && session.length <= 256) await p.sessions.remember(session, carried.initialize).catch(() => undefined);
  }
  if (carried.approvedRound !== undefined) await continueApprovedRound(ctx, p, carried.approvedRound);
  // A list in an error-status answer is still a list the client can read: filter it all the same.
  if (carried.lists.size === 0) return;
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
  let hashes: Map<JsonObject, string> | undefined;
  if (p.pinMode === 'trust_on_first_use') {
    hashes = toolHashes(body, carried.lists);
    try {
      await p.pins.learn(policy.pins, pinServer, [...hashes].map(([item, hash]) => [item['name'] as string, hash] as const));
    } catch (err) {
      // Pins cannot be compared: the list is withheld, never passed unchecked.
      const reason = err instanceof SharedStateUnavailable ? err.message : `pins unavailable: ${(err as Error).message}`;
      ctx.record({ plugin: PLUGIN_NAME, action: p.shadow ? 'shadow-deny' : 'deny', rule: 'pins-unavailable', reason });
      if (!p.shadow) return { action: 'stop', status: 503, rpcError: { code: JsonRpcErrorCode.GatewayUnavailable, message: `upstream answer withheld: tool pins could not be checked (${reason})`, data: { rule: 'pins-unavailable' } } };
    }
  }
  let shadowHidden = 0;
  const stats = filterListResponse(body, carried.lists, (listKind, kind, name, item) => {
    let pinChanged = false;
    if (listKind === 'tools' && p.pinMode !== 'off') {
      const hash = hashes?.get(item) ?? toolDefinitionHash(item);
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
  // A list shaped for this actor must not be served to others from a shared cache.
  const narrowed = p.filterLists && !p.shadow && carried.lists.size > 0 ? narrowCacheScopes(body, (id) => carried.lists.has(idKey(id)), () => carried.modern) : 0;
  if (removed > 0 || narrowed > 0) ctx.responseMutations.markBodyModified();
  return undefined;
}


/**
 * The answer to an approved call asked for input: its retry continues what the user approved.
 * Remembering is a convenience (the retry is otherwise asked again), so an unreadable answer
 * or an unavailable shared state costs only that, never the answer.
 */
async function continueApprovedRound(ctx: CallContext, p: PreparedAuthz, round: ApprovedRound): Promise<void> {
  try {
    const body = await ctx.mcpResponse();
    if (body !== undefined) await rememberApprovedRound(p.shared, body, round, p.confirm.ttlSeconds);
  } catch {
    // the retry asks the user again
  }
}

/** Fast routes (no post-resp): refuse list calls we would have to filter. */
export async function needsResponsePhase(ctx: CallContext, p: PreparedAuthz): Promise<boolean> {
  // URL-mode confirmation learns a session's capabilities from its initialize answer.
  const learnsSessions = p.approvalPath !== undefined;
  if (!(p.filterLists && !p.shadow) && p.pinMode === 'off' && !learnsSessions) return false;
  // After onRequest (the runtime guard) the carried lists are exactly what will be read; without
  // it (the layout command's synthetic calls) any list call counts.
  const carried = ctx.carry.get(PLUGIN_NAME) as Carried | undefined;
  // A session learned on a fast route is only a lost convenience (its client gets tokens), never
  // a skipped check: the runtime guard does not refuse initialize, the layout routes it fully.
  if (carried !== undefined) return carried.lists.size > 0;
  const body = await ctx.mcp();
  if (!body.ok) return false;
  if (learnsSessions && body.messages.some((m) => m.kind === 'initialize')) return true;
  return ((p.filterLists && !p.shadow) || p.pinMode !== 'off') && listRequests(body.messages) !== undefined;
}

export function needsResponseBody(ctx: CallContext): boolean {
  const carried = ctx.carry.get(PLUGIN_NAME) as Carried | undefined;
  return carried !== undefined && (carried.lists.size > 0 || carried.approvedRound !== undefined);
}
