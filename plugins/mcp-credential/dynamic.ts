// Credentials that depend on the caller or come from a token endpoint: token exchange,
// client credentials and per-user secrets. Compiled once per conf; resolve() runs per call,
// after authorization, and answers either the header value or a refusal to send to the client.

import type { CallContext } from '../../runner/host/plugin.js';
import { JsonRpcErrorCode } from '../../runner/mcp/types.js';
import { secretFromConf, type SecretHandle } from '../../runner/secrets/index.js';
import { GrantTokenSource, subjectOf, type GrantSettings } from './grant-tokens.js';
import { loadSigningKey, type IdentityAlg } from './identity-token.js';
import { countFailure, type Grant } from './instruments.js';
import { compileTemplate, IDENTITY_FIELDS, PerUserSecrets, type IdentityField } from './per-user.js';
import { ACCESS_TOKEN_TYPE, type ClientAuth, type ClientAuthMethod } from './token-endpoint.js';

export interface ClientConf {
  id: string;
  auth_method?: ClientAuthMethod;
  secret?: string;
  private_key?: string;
  alg?: IdentityAlg;
  kid?: string;
  assertion_audience?: string;
}

export interface TokenGrantConf {
  token_endpoint: string;
  client: ClientConf;
  audience?: string;
  resource?: string;
  scopes?: string[];
  timeout_ms?: number;
  cache_size?: number;
  refresh_before_seconds?: number;
  allow_insecure_http?: boolean;
}

export type TokenExchangeSpec = { type: 'token_exchange'; subject_token_type?: 'access_token' | 'jwt'; requested_token_type?: string } & TokenGrantConf;
export type ClientCredentialsSpec = { type: 'client_credentials' } & TokenGrantConf;
export interface PerUserSpec {
  type: 'per_user';
  token?: string;
  tokens?: Record<string, string>;
  field?: IdentityField;
  header?: string;
  prefix?: string;
  fallback?: string;
  refresh_seconds?: number;
}
export type DynamicSpec = TokenExchangeSpec | ClientCredentialsSpec | PerUserSpec;

export type DynamicOutcome =
  /** `secret` is the credential without its prefix: a response header holding it is dropped. */
  | { ok: true; value: string; secret: string; detail: Readonly<Record<string, string>> }
  | { ok: false; status: number; code: number; message: string; rule: string };

export interface DynamicCredential {
  kind: DynamicSpec['type'];
  /** Lower-cased header the value goes into. */
  header: string;
  /** Secrets from the conf (loaded before the first call). */
  handles: readonly SecretHandle[];
  /** Throws when a key already available is unusable (so prepare can refuse it). */
  checkNow(): void;
  resolve(ctx: CallContext, server: string | undefined, unavailableStatus: number): Promise<DynamicOutcome>;
}

export const DEFAULT_TOKEN_TIMEOUT_MS = 2000;
const JWT_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:jwt';

export function compileDynamic(spec: DynamicSpec, field: string, allowLiteral: boolean): DynamicCredential {
  return spec.type === 'per_user' ? compilePerUser(spec, field, allowLiteral) : compileGrant(spec, field, allowLiteral);
}

function compileGrant(spec: TokenExchangeSpec | ClientCredentialsSpec, field: string, allowLiteral: boolean): DynamicCredential {
  const url = checkEndpoint(spec.token_endpoint, spec.allow_insecure_http === true, `${field}.token_endpoint`);
  if (spec.resource !== undefined && !URL.canParse(spec.resource)) throw new Error(`${field}.resource: must be an absolute URI (RFC 8707)`);
  const settings: GrantSettings = {
    grant: spec.type,
    endpoint: { url, client: compileClient(spec.client, url, `${field}.client`, allowLiteral), timeoutMs: spec.timeout_ms ?? DEFAULT_TOKEN_TIMEOUT_MS },
    audience: spec.audience,
    resource: spec.resource,
    scopes: spec.scopes ?? [],
    subjectTokenType: spec.type === 'token_exchange' && spec.subject_token_type === 'jwt' ? JWT_TOKEN_TYPE : ACCESS_TOKEN_TYPE,
    requestedTokenType: spec.type === 'token_exchange' ? spec.requested_token_type : undefined,
    refreshBeforeMs: (spec.refresh_before_seconds ?? 30) * 1000,
    cacheSize: spec.cache_size ?? 1000,
  };
  const source = new GrantTokenSource(settings);
  const grant: Grant = spec.type;
  const client = settings.endpoint.client;
  const clientSecret = client.secret ?? client.privateKey!;
  return {
    kind: spec.type,
    header: 'authorization',
    handles: [clientSecret],
    checkNow() {
      const text = client.privateKey?.value();
      if (text === undefined) return;
      try {
        loadSigningKey(text, client.alg, client.kid);
      } catch (err) {
        throw new Error(`${field}.client.private_key: ${(err as Error).message}`);
      }
    },
    async resolve(ctx, server, unavailableStatus) {
      let subject;
      let audience = settings.audience;
      if (grant === 'token_exchange') {
        subject = subjectOf(ctx.identity, ctx.request.header('authorization'));
        if (subject === undefined) {
          countFailure(grant, 'no-subject-token');
          return { ok: false, status: 401, code: JsonRpcErrorCode.Unauthorized, message: 'token exchange needs the caller\'s verified bearer token (mcp-authz identity.jwt)', rule: 'no-subject-token' };
        }
        audience ??= server;
      }
      const r = await source.token(subject, audience);
      if (r.ok) return { ok: true, value: `Bearer ${r.token}`, secret: r.token, detail: { cache: r.cache } };
      countFailure(grant, r.kind);
      if (r.kind === 'refused') return { ok: false, status: 403, code: JsonRpcErrorCode.Forbidden, message: r.message, rule: `${grant}-refused` };
      return { ok: false, status: unavailableStatus, code: JsonRpcErrorCode.GatewayUnavailable, message: `backend credential unavailable: ${r.message}`, rule: `${grant}-unavailable` };
    },
  };
}

/** https, or http to a loopback address (a sidecar IdP), or http when the conf allows it. */
function checkEndpoint(text: string, allowHttp: boolean, field: string): string {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw new Error(`${field}: not an absolute URL`);
  }
  if (u.username !== '' || u.password !== '') throw new Error(`${field}: credentials in the URL are not allowed; use client.secret`);
  const loopback = u.hostname === 'localhost' || u.hostname === '127.0.0.1' || u.hostname === '[::1]';
  if (u.protocol === 'https:' || (u.protocol === 'http:' && (loopback || allowHttp))) return u.toString();
  throw new Error(`${field}: must be https (http only to a loopback address, or with allow_insecure_http: true)`);
}

function compileClient(c: ClientConf, tokenUrl: string, field: string, allowLiteral: boolean): ClientAuth {
  const method: ClientAuthMethod = c.auth_method ?? (c.private_key !== undefined ? 'private_key_jwt' : 'client_secret_basic');
  const secretOf = (text: string | undefined, name: string): SecretHandle | undefined =>
    text === undefined ? undefined : secretFromConf(text, { field: `${field}.${name}`, allowLiteral });
  if (method === 'private_key_jwt' && c.private_key === undefined) throw new Error(`${field}.private_key: required for private_key_jwt`);
  if (method !== 'private_key_jwt' && c.secret === undefined) throw new Error(`${field}.secret: required for ${method}`);
  return {
    clientId: c.id,
    method,
    secret: method === 'private_key_jwt' ? undefined : secretOf(c.secret, 'secret'),
    privateKey: method === 'private_key_jwt' ? secretOf(c.private_key, 'private_key') : undefined,
    alg: c.alg,
    kid: c.kid,
    assertionAudience: c.assertion_audience ?? tokenUrl,
  };
}

function compilePerUser(spec: PerUserSpec, field: string, allowLiteral: boolean): DynamicCredential {
  if (spec.token === undefined && spec.tokens === undefined) throw new Error(`${field}: per_user needs token (a template) or tokens (a map), or both`);
  const template = spec.token !== undefined ? compileTemplate(spec.token, `${field}.token`) : undefined;
  let map: Map<string, SecretHandle> | undefined;
  if (spec.tokens !== undefined) {
    map = new Map();
    for (const [value, ref] of Object.entries(spec.tokens)) map.set(value, secretFromConf(ref, { field: `${field}.tokens.${value}`, allowLiteral }));
  }
  const fallback = spec.fallback !== undefined ? secretFromConf(spec.fallback, { field: `${field}.fallback`, allowLiteral }) : undefined;
  const fieldName = spec.field ?? 'user';
  if (!IDENTITY_FIELDS.includes(fieldName)) throw new Error(`${field}.field: one of ${IDENTITY_FIELDS.join(', ')}`);
  const secrets = new PerUserSecrets({ field: fieldName, template, map, fallback, refreshMs: (spec.refresh_seconds ?? 30) * 1000 });
  const header = (spec.header ?? 'authorization').toLowerCase();
  const prefix = spec.prefix ?? (header === 'authorization' ? 'Bearer ' : '');
  return {
    kind: 'per_user',
    header,
    handles: [...(map?.values() ?? []), ...(fallback !== undefined ? [fallback] : [])],
    checkNow() {},
    async resolve(ctx) {
      const r = await secrets.resolve(ctx.identity);
      if (r.ok) return { ok: true, value: prefix + r.value, secret: r.value, detail: { source: r.source } };
      countFailure('per_user', r.reason);
      return { ok: false, status: 403, code: JsonRpcErrorCode.Forbidden, message: `no backend credential: ${r.message}`, rule: `per-user-${r.reason}` };
    },
  };
}
