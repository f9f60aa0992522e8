// What the client can show its user, which decides how a risky call is confirmed:
// - 2026-07-28: every request declares its capabilities in
//   params._meta["io.modelcontextprotocol/clientCapabilities"];
// - 2025-11-25: the session's `initialize` declared them once. The gateway remembers them per
//   session id (learned from the initialize answer's Mcp-Session-Id header), bounded and
//   expiring, in the runner's shared state (every runner process knows every session).

import type { RunnerState } from '../../runner/host/state.js';
import { LocalSharedState, type SharedState } from '../../runner/cluster/shared-state.js';
import type { JsonObject, JsonValue, McpMessage } from '../../runner/mcp/types.js';

import { CLIENT_CAPABILITIES_META_KEY, SESSION_HEADER } from '../../runner/mcp/revision.js';

export { SESSION_HEADER };

export interface ElicitationSupport {
  readonly form: boolean;
  readonly url: boolean;
}

export const NO_ELICITATION: ElicitationSupport = Object.freeze({ form: false, url: false });

function isObject(v: JsonValue | undefined): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Elicitation modes of a capabilities object. An empty `elicitation: {}` means form only
 * (how 2025-06-18 clients declared it); `url` needs its own key.
 */
export function elicitationOf(capabilities: JsonValue | undefined): ElicitationSupport {
  if (!isObject(capabilities)) return NO_ELICITATION;
  const e = capabilities['elicitation'];
  if (!isObject(e)) return NO_ELICITATION;
  const url = isObject(e['url']);
  const form = isObject(e['form']) || !url;
  return { form, url };
}

/** A 2026-07-28 request's own declaration; undefined for a request that makes none. */
export function declaredInRequest(m: McpMessage): ElicitationSupport | undefined {
  const meta = m.params['_meta'];
  if (!isObject(meta) || !Object.hasOwn(meta, CLIENT_CAPABILITIES_META_KEY)) return undefined;
  return elicitationOf(meta[CLIENT_CAPABILITIES_META_KEY]);
}

/** The capabilities an initialize request declares. */
export function declaredInInitialize(m: McpMessage): ElicitationSupport {
  return elicitationOf(m.params['capabilities']);
}

const SESSIONS_NS = 'mcp-authz/session-capabilities';

/**
 * Session id -> what its initialize declared, in the runner's shared state: the initialize may
 * be answered through one runner process and the risky call reach another. Bounded (the oldest
 * session is forgotten first: it then falls back to confirmation tokens) and expiring.
 */
export class SessionCapabilities {
  private readonly shared: SharedState;

  constructor(private readonly max = 50_000, private readonly ttlMs = 24 * 3600_000, private readonly now: () => number = Date.now, shared?: SharedState) {
    this.shared = shared ?? new LocalSharedState(now);
  }

  async remember(sessionId: string, caps: ElicitationSupport): Promise<void> {
    await this.shared.put(SESSIONS_NS, sessionId, { form: caps.form, url: caps.url }, this.now() + this.ttlMs, this.max, true);
  }

  async of(sessionId: string | undefined): Promise<ElicitationSupport> {
    if (sessionId === undefined) return NO_ELICITATION;
    const v = await this.shared.get(SESSIONS_NS, sessionId);
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return NO_ELICITATION;
    return { form: v['form'] === true, url: v['url'] === true };
  }
}

export function sessionCapabilitiesOf(state: RunnerState): SessionCapabilities {
  return state.own('mcp-authz/session-capabilities', () => new SessionCapabilities(50_000, 24 * 3600_000, Date.now, state.shared));
}
