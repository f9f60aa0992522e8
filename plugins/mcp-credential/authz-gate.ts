// A backend credential goes only to calls mcp-authz allowed. The chain order already
// guarantees it (the host stops at the first Stop); this check reads the decision record as
// well, so a call mcp-authz did not decide (a shadow-mode identity failure, a message it
// skipped, a plugin bug) never leaves with the gateway's or the user's credential.

import type { CallContext, DecisionRecord } from '../../runner/host/plugin.js';

export const AUTHZ_PLUGIN = 'mcp-authz';

/** Record actions of mcp-authz that let a message through (shadow mode decides nothing). */
const PASSING = new Set(['allow', 'shadow-deny', 'shadow-confirm']);
/** Record actions of mcp-authz that refused the call or part of it. */
const REFUSING = new Set(['deny', 'confirm', 'error']);

/**
 * Why this call has no allow from mcp-authz, or undefined when every message of the body
 * has one. A body without messages (the session's GET and DELETE) needs the identity that
 * mcp-authz established and no refusal.
 */
export async function missingAllow(ctx: CallContext): Promise<string | undefined> {
  const allowed = new Set<number>();
  let sawAuthz = false;
  for (const d of ctx.decisions as readonly DecisionRecord[]) {
    if (d.plugin !== AUTHZ_PLUGIN) continue;
    sawAuthz = true;
    if (REFUSING.has(d.action)) return `mcp-authz recorded ${d.action} for this call`;
    if (PASSING.has(d.action) && d.messageIndex !== undefined) allowed.add(d.messageIndex);
  }
  const body = await ctx.mcp();
  if (!body.ok) return 'the request body could not be read';
  const count = body.messages.length;
  if (count === 0) {
    return ctx.identity !== undefined ? undefined : 'mcp-authz established no identity for this call';
  }
  for (let i = 0; i < count; i++) {
    if (!allowed.has(i)) return sawAuthz ? `mcp-authz did not allow message ${i}` : 'mcp-authz did not decide this call';
  }
  return undefined;
}
