// Who is calling. Sources, in order: a JWT bearer token (when identity.jwt is configured and
// the request carries one), APISIX's authenticated consumer (Var consumer_name, set only in
// ext-plugin-post-req/post-resp), headers from a trusted authenticator. A bearer token that
// fails verification ends the call (401 invalid_token): it never falls through to a weaker
// source.

import type { HttpRequestView, Identity } from '../../runner/host/plugin.js';
import { claimAt, JwtVerifier, TokenError, type JwtConf, type VerifierOptions } from './jwks.js';
import { ACTOR_FIELDS } from '../../runner/policy/index.js';

export interface ClaimNames {
  user: string;
  app: string;
  agent: string;
  tenant: string;
  environment: string;
  roles: string;
}

export const DEFAULT_CLAIMS: ClaimNames = { user: 'sub', app: 'azp', agent: 'agent', tenant: 'tenant', environment: 'environment', roles: 'roles' };

export interface IdentityConf {
  jwt?: JwtConf;
  claims?: Partial<ClaimNames>;
  apisix_consumer?: { enabled?: boolean; field?: 'user' | 'app' | 'agent' };
  trusted_headers?: Partial<ClaimNames>;
  allow_anonymous?: boolean;
}

export interface IdentityResolver {
  readonly verifier: JwtVerifier | undefined;
  readonly claims: ClaimNames;
  readonly consumerField: 'user' | 'app' | 'agent' | undefined;
  readonly headers: Partial<ClaimNames> | undefined;
  readonly allowAnonymous: boolean;
  /**
   * A token without `exp` would never expire: refused unless the conf bounds token age
   * instead (`max_token_age_seconds`, checked against `iat`, which is then required).
   */
  readonly requireExp: boolean;
  /**
   * The answer per verified token: the verifier hands back the same frozen claims object for
   * as long as the token stays verified, so the identity built from them is built once and
   * shared (frozen) by every call with that token; per-identity caches downstream key on it.
   */
  readonly byClaims: WeakMap<object, IdentityResult>;
}

export type IdentityResult =
  | { ok: true; identity: Identity }
  /** status 401 (no or bad credentials) or 503 (key set unavailable). */
  | { ok: false; status: 401 | 503; tokenPresented: boolean; reason: string };

export async function prepareIdentity(conf: IdentityConf | undefined, opts: VerifierOptions = {}): Promise<IdentityResolver> {
  const c = conf ?? {};
  const headers = c.trusted_headers ? lowerValues(c.trusted_headers) : undefined;
  return {
    verifier: c.jwt ? await JwtVerifier.create(c.jwt, '/identity/jwt', opts) : undefined,
    claims: { ...DEFAULT_CLAIMS, ...c.claims },
    consumerField: c.apisix_consumer?.enabled ? (c.apisix_consumer.field ?? 'user') : undefined,
    headers: headers && Object.keys(headers).length > 0 ? headers : undefined,
    allowAnonymous: c.allow_anonymous === true,
    requireExp: c.jwt?.max_token_age_seconds === undefined,
    byClaims: new WeakMap(),
  };
}

function lowerValues(h: Partial<ClaimNames>): Partial<ClaimNames> {
  const out: Partial<ClaimNames> = {};
  for (const [k, v] of Object.entries(h) as Array<[keyof ClaimNames, string]>) out[k] = v.toLowerCase();
  return out;
}

const MAX_ROLES = 64;
const MAX_FIELD_LENGTH = 512;

function scalar(v: unknown): string | undefined {
  if (typeof v === 'string') return v.length > 0 && v.length <= MAX_FIELD_LENGTH ? v : undefined;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return undefined;
}

/** Roles from a claim or header: an array of strings, or a space/comma separated string. */
export function parseRoles(v: unknown): string[] {
  const list = Array.isArray(v) ? v : typeof v === 'string' ? v.split(/[\s,]+/) : [];
  const out: string[] = [];
  for (const r of list) {
    const s = scalar(r);
    if (s !== undefined && out.length < MAX_ROLES) out.push(s);
  }
  return out;
}

export function identityFromClaims(claims: Readonly<Record<string, unknown>>, names: ClaimNames): Identity {
  return {
    user: scalar(claimAt(claims, names.user)),
    app: scalar(claimAt(claims, names.app)),
    agent: scalar(claimAt(claims, names.agent)),
    tenant: scalar(claimAt(claims, names.tenant)),
    environment: scalar(claimAt(claims, names.environment)),
    roles: parseRoles(claimAt(claims, names.roles)),
    source: 'jwt',
    subject: scalar(claims['sub']),
    claims,
  };
}

function bearerToken(req: HttpRequestView): string | undefined {
  const h = req.header('authorization');
  if (h === undefined) return undefined;
  const m = /^\s*bearer\s+(\S+)\s*$/i.exec(h);
  return m ? m[1] : undefined;
}

export async function establishIdentity(req: HttpRequestView, r: IdentityResolver): Promise<IdentityResult> {
  if (r.verifier) {
    const token = bearerToken(req);
    if (token !== undefined) {
      try {
        const claims = await r.verifier.verify(token);
        if (r.requireExp && typeof claims.exp !== 'number') {
          return { ok: false, status: 401, tokenPresented: true, reason: 'token has no exp claim' };
        }
        let result = r.byClaims.get(claims);
        if (result === undefined) {
          const identity = identityFromClaims(claims as Record<string, unknown>, r.claims);
          Object.freeze(identity.roles);
          result = Object.freeze({ ok: true, identity: Object.freeze(identity) });
          r.byClaims.set(claims, result);
        }
        return result;
      } catch (err) {
        const te = err instanceof TokenError ? err : new TokenError('token is invalid');
        return { ok: false, status: te.unavailable ? 503 : 401, tokenPresented: true, reason: te.message };
      }
    }
  }
  if (r.consumerField) {
    const consumer = await req.variable('consumer_name');
    if (consumer !== undefined && consumer !== '') {
      const identity: Identity = { roles: [], source: 'apisix', subject: consumer };
      identity[r.consumerField] = consumer;
      if (r.headers) fillFromHeaders(identity, req, r.headers);
      return { ok: true, identity };
    }
  }
  if (r.headers) {
    const identity: Identity = { roles: [], source: 'header' };
    if (fillFromHeaders(identity, req, r.headers)) {
      identity.subject = identity.user ?? identity.app;
      return { ok: true, identity };
    }
  }
  if (r.allowAnonymous) return { ok: true, identity: { roles: [], source: 'anonymous' } };
  return { ok: false, status: 401, tokenPresented: false, reason: 'authentication required' };
}

/** Fill identity fields from trusted headers; true when at least one was present. */
function fillFromHeaders(identity: Identity, req: HttpRequestView, h: Partial<ClaimNames>): boolean {
  let any = false;
  for (const f of ACTOR_FIELDS) {
    const name = h[f];
    if (name === undefined || identity[f] !== undefined) continue;
    const v = scalar(req.header(name));
    if (v !== undefined) {
      identity[f] = v;
      any = true;
    }
  }
  if (h.roles !== undefined) {
    const roles = parseRoles(req.header(h.roles));
    if (roles.length > 0) {
      identity.roles = roles;
      any = true;
    }
  }
  return any;
}
