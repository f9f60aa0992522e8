// Counter keys: `<kind>|<limit name>|<value>|<value>...` from the dimensions a limit is `by`.
// Identity comes from ctx.identity (mcp-authz) or, when this plugin runs alone, from the
// configured headers, the APISIX consumer_name variable, or (explicitly allowed) UNVERIFIED JWT
// claims. Values are client-influenced, so long or odd ones are hashed to keep keys short and
// unambiguous.

import { createHash } from 'node:crypto';
import { decodeJwt } from 'jose';
import type { CallContext, Identity } from '../../runner/host/plugin.js';
import type { McpMessage } from '../../runner/mcp/types.js';
import type { Dimension, IdentityConf } from './conf.js';

/** Who is calling, as far as limits care. */
export interface Caller {
  user?: string | undefined;
  agent?: string | undefined;
  app?: string | undefined;
  tenant?: string | undefined;
  environment?: string | undefined;
}

export const IDENTITY_DIMENSIONS: ReadonlySet<Dimension> = new Set(['user', 'agent', 'app', 'tenant', 'environment']);

/** Facts of one call shared by every message of a batch. */
export interface CallFacts {
  readonly caller: Caller;
  readonly server: string;
  readonly route: string;
  readonly ip: string | undefined;
  /** Counter keys already built for this caller (shared identities only), see cachedLimitKey. */
  readonly keys?: CallerKeys | undefined;
}

/** Per limit (its compiled object), per tool ('' when the limit is not keyed by tool): the key. */
export type CallerKeys = Map<object, Map<string, string | undefined>>;

/** The limit shape cachedLimitKey needs. */
export interface KeyedBy {
  readonly prefix: string;
  readonly by: readonly Dimension[];
  readonly skipMissing: boolean;
  /** 'caller': keyed by identity dimensions only; 'caller-tool': and by tool; undefined: per call. */
  readonly keyedPer: 'caller' | 'caller-tool' | undefined;
}

/** How a limit's keys can be kept: per caller (and tool), or built per call (ip, route, ...). */
export function keyedPer(by: readonly Dimension[]): KeyedBy['keyedPer'] {
  let tool = false;
  for (const d of by) {
    if (d === 'tool') tool = true;
    else if (!IDENTITY_DIMENSIONS.has(d)) return undefined;
  }
  return tool ? 'caller-tool' : 'caller';
}

/** Tools remembered per caller and limit: a client naming endless tools only costs key builds. */
const MAX_TOOLS_PER_CALLER = 256;

/**
 * limitKey, built once per shared caller (a verified token's identity) and limit (and tool):
 * the same string every call, so the store's Map finds it without rehashing a new string.
 */
export function cachedLimitKey(l: KeyedBy, facts: CallFacts, m: McpMessage): string | undefined {
  const keys = facts.keys;
  if (keys === undefined || l.keyedPer === undefined) return limitKey(l.prefix, l.by, l.skipMissing, facts, m);
  let perTool = keys.get(l);
  if (perTool === undefined) keys.set(l, (perTool = new Map()));
  // An absent tool and an empty one key alike (both are the missing bucket).
  const tool = l.keyedPer === 'caller' ? '' : (targetOf(m) ?? '');
  const known = perTool.get(tool);
  if (known !== undefined || perTool.has(tool)) return known;
  const key = limitKey(l.prefix, l.by, l.skipMissing, facts, m);
  if (perTool.size < MAX_TOOLS_PER_CALLER) perTool.set(tool, key);
  return key;
}

/** Bucket name for calls whose dimension is unknown (missing: shared). */
/** The bucket of calls with no value for a dimension; '!' never starts a plain key part. */
export const MISSING_VALUE = '!';

const MAX_JWT_CHARS = 16_384;

/** The tool dimension: tool name, prompt name or resource URI. */
export function targetOf(m: McpMessage): string | undefined {
  return m.toolName ?? m.promptName ?? m.resourceUri;
}

export function dimensionValue(dim: Dimension, facts: CallFacts, m: McpMessage): string | undefined {
  switch (dim) {
    case 'user':
    case 'agent':
    case 'app':
    case 'tenant':
    case 'environment':
      return facts.caller[dim];
    case 'tool':
      return targetOf(m);
    case 'server':
      return facts.server;
    case 'method':
      return m.method;
    case 'ip':
      return facts.ip;
    case 'route':
      return facts.route;
  }
}

// Kept verbatim only when it cannot be mistaken for a hash ('#…') or the missing bucket ('!'):
// two different callers must never share a counter.
const SAFE_VALUE = /^[^|#!\u0000-\u001f\u007f][^|\u0000-\u001f\u007f]{0,63}$/;

/** A value as it appears in a key: kept when short and plain, else a stable hash. */
export function keyPart(value: string): string {
  if (SAFE_VALUE.test(value)) return value;
  return `#${createHash('sha256').update(value).digest('base64url').slice(0, 22)}`;
}

/**
 * The key of one limit for one message; undefined when a dimension is unknown and the limit
 * skips such calls.
 */
export function limitKey(
  prefix: string,
  by: readonly Dimension[],
  skipMissing: boolean,
  facts: CallFacts,
  m: McpMessage,
): string | undefined {
  let key = prefix;
  for (const dim of by) {
    const v = dimensionValue(dim, facts, m);
    if (v === undefined || v === '') {
      if (skipMissing) return undefined;
      key += `|${MISSING_VALUE}`;
    } else {
      key += `|${keyPart(v)}`;
    }
  }
  return key;
}

function fromIdentity(id: Identity): Caller {
  return {
    user: id.user ?? id.subject,
    agent: id.agent,
    app: id.app,
    tenant: id.tenant,
    environment: id.environment,
  };
}

/**
 * Callers and their keys per identity. An identity plugin shares one frozen identity among
 * every call with the same verified token, so these are built once per token. A pure memo
 * (keyed weakly; nothing in it depends on the runner): safe to share between runners.
 */
const byIdentity = new WeakMap<Identity, { caller: Caller; keys: CallerKeys }>();

/** The caller of an identity, and its key cache when the identity is shared (frozen). */
export function callerOf(id: Identity): { caller: Caller; keys: CallerKeys | undefined } {
  if (!Object.isFrozen(id)) return { caller: fromIdentity(id), keys: undefined };
  let known = byIdentity.get(id);
  if (known === undefined) byIdentity.set(id, (known = { caller: Object.freeze(fromIdentity(id)), keys: new Map() }));
  return known;
}

/** The caller: ctx.identity when an identity plugin set it, else this plugin's own extraction. */
export async function resolveCaller(ctx: CallContext, conf: IdentityConf | undefined): Promise<Caller> {
  if (ctx.identity) return callerOf(ctx.identity).caller;
  const caller: Caller = {};
  if (!conf) return caller;
  const h = conf.headers;
  if (h) {
    if (h.user) caller.user = ctx.request.header(h.user);
    if (h.agent) caller.agent = ctx.request.header(h.agent);
    if (h.app) caller.app = ctx.request.header(h.app);
    if (h.tenant) caller.tenant = ctx.request.header(h.tenant);
  }
  const jwt = conf.unverified_jwt;
  if (jwt && jwt.allow_unverified === true) {
    const claims = unverifiedClaims(ctx.request.header(jwt.header ?? 'authorization'));
    if (claims) {
      const pick = (claim: string | undefined): string | undefined => {
        if (!claim) return undefined;
        const v = claims[claim];
        return typeof v === 'string' || typeof v === 'number' ? String(v) : undefined;
      };
      caller.user ??= pick(jwt.claims.user);
      caller.agent ??= pick(jwt.claims.agent);
      caller.app ??= pick(jwt.claims.app);
      caller.tenant ??= pick(jwt.claims.tenant);
    }
  }
  if (conf.consumer_name && caller.user === undefined) {
    const consumer = await ctx.request.variable('consumer_name');
    if (consumer) caller.user = consumer;
  }
  return caller;
}

/** Claims of a bearer JWT, signature NOT checked (keying only). Undefined when not a JWT. */
export function unverifiedClaims(header: string | undefined): Record<string, unknown> | undefined {
  if (!header || header.length > MAX_JWT_CHARS) return undefined;
  const token = /^bearer\s+/i.test(header) ? header.replace(/^bearer\s+/i, '') : header;
  try {
    return decodeJwt(token.trim());
  } catch {
    return undefined;
  }
}
