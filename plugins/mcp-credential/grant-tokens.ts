// Backend tokens obtained from a token endpoint, for one credential entry: by token exchange
// (the caller's verified token becomes a token for the upstream) or by client credentials
// (the gateway's own token). Tokens are cached per (subject, audience, scopes) in a bounded
// LRU until shortly before they expire, and never past the subject token's own expiry. An
// entry whose subject's identity (user, app, agent, tenant, environment, roles, scope) no
// longer matches is dropped and exchanged again. Concurrent misses for the same key share
// one request (single flight).

import type { Identity } from '../../runner/host/plugin.js';
import { countTokenLookup, countTokenRequest, type Grant } from './instruments.js';
import { Lru } from './lru.js';
import { ACCESS_TOKEN_TYPE, TOKEN_EXCHANGE_GRANT, requestToken, type TokenAnswer, type TokenEndpoint } from './token-endpoint.js';

export interface GrantSettings {
  grant: Grant;
  endpoint: TokenEndpoint;
  /** Fixed audience; for token exchange the selected server name is used when unset. */
  audience: string | undefined;
  /** RFC 8707 resource indicator (an absolute URI), when the IdP wants one. */
  resource: string | undefined;
  scopes: readonly string[];
  subjectTokenType: string;
  requestedTokenType: string | undefined;
  /** Stop reusing a token this long before it expires (at most half its lifetime). */
  refreshBeforeMs: number;
  cacheSize: number;
}

/** The caller's side of a token exchange. `token` is only ever sent to the token endpoint. */
export interface Subject {
  token: string;
  /** Issuer and subject: who the cached token is for. */
  key: string;
  /** What the token says about the caller; a change drops the cached token. */
  fingerprint: string;
  /** The subject token's exp (ms), when it has one. */
  expiresAtMs: number | undefined;
}

export type GrantResult = { ok: true; token: string; cache: 'hit' | 'miss' | 'shared' } | Extract<TokenAnswer, { ok: false }>;

interface CachedToken {
  token: string;
  reuseUntil: number;
  fingerprint: string;
}

export class GrantTokenSource {
  private readonly cache: Lru<CachedToken>;
  private readonly inflight = new Map<string, Promise<TokenAnswer>>();

  constructor(readonly settings: GrantSettings) {
    this.cache = new Lru(settings.cacheSize);
  }

  /** A token for this subject (token exchange) or for the gateway (subject undefined). */
  async token(subject: Subject | undefined, audience: string | undefined, nowMs: number = Date.now()): Promise<GrantResult> {
    const s = this.settings;
    const key = JSON.stringify([subject?.key ?? null, audience ?? null, s.resource ?? null, s.scopes]);
    const fingerprint = subject?.fingerprint ?? '';
    const hit = this.cache.get(key);
    if (hit !== undefined) {
      if (hit.fingerprint === fingerprint && hit.reuseUntil > nowMs) {
        countTokenLookup(s.grant, 'hit');
        return { ok: true, token: hit.token, cache: 'hit' };
      }
      this.cache.delete(key);
    }
    const flightKey = `${key}\u0000${fingerprint}`;
    const shared = this.inflight.get(flightKey);
    if (shared !== undefined) {
      countTokenLookup(s.grant, 'shared');
      const answer = await shared;
      return answer.ok ? { ok: true, token: answer.token, cache: 'shared' } : answer;
    }
    countTokenLookup(s.grant, 'miss');
    const request = this.fetchAndStore(key, fingerprint, subject, audience, nowMs);
    this.inflight.set(flightKey, request);
    try {
      const answer = await request;
      return answer.ok ? { ok: true, token: answer.token, cache: 'miss' } : answer;
    } finally {
      this.inflight.delete(flightKey);
    }
  }

  private async fetchAndStore(key: string, fingerprint: string, subject: Subject | undefined, audience: string | undefined, nowMs: number): Promise<TokenAnswer> {
    const s = this.settings;
    const params = new URLSearchParams();
    if (s.grant === 'token_exchange') {
      params.set('grant_type', TOKEN_EXCHANGE_GRANT);
      params.set('subject_token', subject?.token ?? '');
      params.set('subject_token_type', s.subjectTokenType);
      params.set('requested_token_type', s.requestedTokenType ?? ACCESS_TOKEN_TYPE);
    } else {
      params.set('grant_type', 'client_credentials');
    }
    if (audience !== undefined) params.set('audience', audience);
    if (s.resource !== undefined) params.set('resource', s.resource);
    if (s.scopes.length > 0) params.set('scope', s.scopes.join(' '));

    const answer = await requestToken(s.endpoint, params, subject !== undefined ? [subject.token] : [], nowMs);
    countTokenRequest(s.grant, answer.ok ? 'issued' : answer.kind);
    if (!answer.ok) return answer;
    const until = reuseUntil(answer.expiresAtMs, subject?.expiresAtMs, s.refreshBeforeMs, Date.now());
    if (until !== undefined) this.cache.set(key, { token: answer.token, reuseUntil: until, fingerprint });
    return answer;
  }

  get cachedTokens(): number {
    return this.cache.size;
  }
}

/**
 * Until when a fresh token may be reused: its expiry minus the refresh margin (at most half
 * its remaining lifetime, so short-lived tokens are still reused), and never past the subject
 * token's expiry. Undefined when the token's lifetime is unknown: then it is not cached.
 */
export function reuseUntil(tokenExpiresAtMs: number | undefined, subjectExpiresAtMs: number | undefined, refreshBeforeMs: number, nowMs: number): number | undefined {
  if (tokenExpiresAtMs === undefined) return undefined;
  const lifetime = tokenExpiresAtMs - nowMs;
  if (lifetime <= 0) return undefined;
  let until = tokenExpiresAtMs - Math.min(refreshBeforeMs, lifetime / 2);
  if (subjectExpiresAtMs !== undefined) until = Math.min(until, subjectExpiresAtMs);
  return until > nowMs ? until : undefined;
}

const BEARER = /^\s*bearer\s+(\S+)\s*$/i;

/**
 * The subject of a token exchange: the bearer token mcp-authz verified for this call. Only an
 * identity from a verified JWT qualifies (mcp-authz reads the same Authorization header, and
 * a token that fails verification ends the call there). Undefined when there is none.
 */
export function subjectOf(identity: Identity | undefined, authorization: string | undefined): Subject | undefined {
  if (identity === undefined || identity.source !== 'jwt' || authorization === undefined) return undefined;
  const m = BEARER.exec(authorization);
  if (!m) return undefined;
  const claims = identity.claims ?? {};
  const exp = claims['exp'];
  const scope = claims['scope'] ?? claims['scp'] ?? null;
  return {
    token: m[1]!,
    key: JSON.stringify([claims['iss'] ?? null, identity.subject ?? identity.user ?? null]),
    fingerprint: JSON.stringify([identity.user ?? null, identity.app ?? null, identity.agent ?? null, identity.tenant ?? null, identity.environment ?? null, identity.roles, scope]),
    expiresAtMs: typeof exp === 'number' ? exp * 1000 : undefined,
  };
}
