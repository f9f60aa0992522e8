// What the client can show its user, which decides how a risky call is confirmed:
// - 2026-07-28: every request declares its capabilities in
//   params._meta["io.modelcontextprotocol/clientCapabilities"];
// - 2025-11-25: the session's `initialize` declared them once. The gateway remembers them per
//   session id (learned from the initialize answer's Mcp-Session-Id header), bounded and
//   expiring, per runner process.

import type { RunnerState } from '../../runner/host/state.js';
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

/** Session id -> what its initialize declared. */
export class SessionCapabilities {
  private readonly map = new Map<string, { caps: ElicitationSupport; expires: number }>();

  constructor(private readonly max = 50_000, private readonly ttlMs = 24 * 3600_000, private readonly now: () => number = Date.now) {}

  remember(sessionId: string, caps: ElicitationSupport): void {
    this.map.delete(sessionId);
    if (this.map.size >= this.max) {
      const oldest = this.map.keys().next();
      if (!oldest.done) this.map.delete(oldest.value);
    }
    this.map.set(sessionId, { caps, expires: this.now() + this.ttlMs });
  }

  of(sessionId: string | undefined): ElicitationSupport {
    if (sessionId === undefined) return NO_ELICITATION;
    const e = this.map.get(sessionId);
    if (e === undefined) return NO_ELICITATION;
    if (e.expires <= this.now()) {
      this.map.delete(sessionId);
      return NO_ELICITATION;
    }
    return e.caps;
  }

  forget(sessionId: string): void {
    this.map.delete(sessionId);
  }

  get size(): number {
    return this.map.size;
  }
}

export function sessionCapabilitiesOf(state: RunnerState): SessionCapabilities {
  return state.own('mcp-authz/session-capabilities', () => new SessionCapabilities());
}
