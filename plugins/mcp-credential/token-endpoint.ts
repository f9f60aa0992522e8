// One request to an OAuth 2.0 token endpoint: the token exchange grant (RFC 8693) or the
// client credentials grant (RFC 6749 §4.4), with the gateway authenticating as a client by
// client_secret_basic, client_secret_post or private_key_jwt (RFC 7523 client assertion).
// Bounded in time: an endpoint that does not answer within the timeout is "unavailable".
// Nothing this module returns or throws contains a token or a client secret.

import { randomUUID } from 'node:crypto';
import { SignJWT, decodeJwt } from 'jose';
import { truncateForError } from '../../runner/mcp/errors.js';
import type { SecretHandle } from '../../runner/secrets/index.js';
import { loadSigningKey, type IdentityAlg } from './identity-token.js';

export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
const JWT_BEARER_ASSERTION = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** Longest IdP reason passed on to the client. */
const MAX_REASON_LENGTH = 160;
/** Largest token endpoint answer read (a token response is a few KiB). */
const MAX_ANSWER_BYTES = 64 * 1024;
/** Lifetime of a client assertion: short, it is used once. */
const ASSERTION_TTL_SECONDS = 60;

export type ClientAuthMethod = 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt';

export interface ClientAuth {
  clientId: string;
  method: ClientAuthMethod;
  /** client_secret_basic / client_secret_post. */
  secret: SecretHandle | undefined;
  /** private_key_jwt: the signing key (PEM or JWK) and its settings. */
  privateKey: SecretHandle | undefined;
  alg: IdentityAlg | undefined;
  kid: string | undefined;
  /** The assertion's `aud`: the token endpoint URL unless the conf names the issuer. */
  assertionAudience: string;
}

export interface TokenEndpoint {
  url: string;
  client: ClientAuth;
  timeoutMs: number;
}

export type TokenAnswer =
  | { ok: true; token: string; tokenType: string; expiresAtMs: number | undefined }
  /** refused: the endpoint said no (4xx with an OAuth error); unavailable: no usable answer. */
  | { ok: false; kind: 'refused' | 'unavailable'; message: string };

/**
 * POST the grant parameters with client authentication and read the token answer.
 * `secrets` lists values that must never appear in a returned message (the subject token).
 */
export async function requestToken(endpoint: TokenEndpoint, params: URLSearchParams, secrets: readonly string[], nowMs: number = Date.now()): Promise<TokenAnswer> {
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
  const auth = await clientAuthentication(endpoint.client, nowMs);
  if (!auth.ok) return auth;
  if (auth.header !== undefined) headers['authorization'] = auth.header;
  for (const [k, v] of auth.params) params.set(k, v);

  let res: Response;
  let text: string;
  try {
    const signal = AbortSignal.timeout(endpoint.timeoutMs);
    res = await fetch(endpoint.url, { method: 'POST', headers, body: params.toString(), signal, redirect: 'error' });
    text = await readLimited(res);
  } catch (err) {
    const name = (err as Error).name;
    const why = name === 'TimeoutError' || name === 'AbortError' ? `no answer within ${endpoint.timeoutMs} ms` : 'connection failed';
    return { ok: false, kind: 'unavailable', message: `token endpoint unavailable: ${why}` };
  }
  const all = [...secrets, ...(auth.secretValue !== undefined ? [auth.secretValue] : [])];
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (res.status >= 400 && res.status < 500 && isObject(body) && typeof body['error'] === 'string') {
    const description = typeof body['error_description'] === 'string' ? `: ${body['error_description']}` : '';
    return { ok: false, kind: 'refused', message: `token request refused: ${safeReason(body['error'] + description, all)}` };
  }
  if (res.status !== 200) return { ok: false, kind: 'unavailable', message: `token endpoint answered HTTP ${res.status}` };
  if (!isObject(body) || typeof body['access_token'] !== 'string' || body['access_token'] === '') {
    return { ok: false, kind: 'unavailable', message: 'token endpoint answer has no access_token' };
  }
  const tokenType = typeof body['token_type'] === 'string' ? body['token_type'] : '';
  // RFC 8693 lets a non-access token come back with token_type N_A; we only send bearer tokens.
  if (tokenType.toLowerCase() !== 'bearer' && tokenType.toLowerCase() !== 'n_a') {
    return { ok: false, kind: 'unavailable', message: `token endpoint issued an unsupported token_type ${safeReason(tokenType, all)}` };
  }
  const token = body['access_token'];
  return { ok: true, token, tokenType, expiresAtMs: expiryOf(body['expires_in'], token, nowMs) };
}

/** expires_in when given; else the JWT's exp when the token is one; else unknown (not cached). */
function expiryOf(expiresIn: unknown, token: string, nowMs: number): number | undefined {
  if (typeof expiresIn === 'number' && Number.isFinite(expiresIn) && expiresIn > 0) return nowMs + expiresIn * 1000;
  if (typeof expiresIn === 'string' && /^\d+$/.test(expiresIn)) return nowMs + Number(expiresIn) * 1000;
  try {
    const exp = decodeJwt(token).exp;
    return typeof exp === 'number' ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

/** The parsed client key per client, parsed again only when the secret rotates. */
const parsedKeys = new WeakMap<ClientAuth, ReturnType<typeof loadSigningKey>>();

type AuthParts = { ok: true; header: string | undefined; params: Array<[string, string]>; secretValue: string | undefined } | Extract<TokenAnswer, { ok: false }>;

async function clientAuthentication(c: ClientAuth, nowMs: number): Promise<AuthParts> {
  if (c.method === 'private_key_jwt') {
    const handle = c.privateKey!;
    const text = handle.value();
    if (text === undefined) return { ok: false, kind: 'unavailable', message: `client key ${handle.describe()} cannot be resolved (${handle.problem() ?? 'unknown'})` };
    let assertion: string;
    try {
      let key = parsedKeys.get(c);
      if (key === undefined || key.source !== text) {
        key = loadSigningKey(text, c.alg, c.kid);
        parsedKeys.set(c, key);
      }
      const nowSec = Math.floor(nowMs / 1000);
      assertion = await new SignJWT({})
        .setProtectedHeader(key.kid !== undefined ? { alg: key.alg, typ: 'JWT', kid: key.kid } : { alg: key.alg, typ: 'JWT' })
        .setIssuer(c.clientId)
        .setSubject(c.clientId)
        .setAudience(c.assertionAudience)
        .setIssuedAt(nowSec)
        .setExpirationTime(nowSec + ASSERTION_TTL_SECONDS)
        .setJti(randomUUID())
        .sign(key.key);
    } catch (err) {
      return { ok: false, kind: 'unavailable', message: `client key ${handle.describe()}: ${(err as Error).message}` };
    }
    const params: Array<[string, string]> = [
      ['client_id', c.clientId],
      ['client_assertion_type', JWT_BEARER_ASSERTION],
      ['client_assertion', assertion],
    ];
    return { ok: true, header: undefined, params, secretValue: assertion };
  }
  const handle = c.secret!;
  const secret = handle.value();
  if (secret === undefined) return { ok: false, kind: 'unavailable', message: `client secret ${handle.describe()} cannot be resolved (${handle.problem() ?? 'unknown'})` };
  if (c.method === 'client_secret_post') {
    return { ok: true, header: undefined, params: [['client_id', c.clientId], ['client_secret', secret]], secretValue: secret };
  }
  // RFC 6749 §2.3.1: both parts form-urlencoded before base64.
  const basic = Buffer.from(`${formEncode(c.clientId)}:${formEncode(secret)}`, 'utf8').toString('base64');
  return { ok: true, header: `Basic ${basic}`, params: [], secretValue: secret };
}

function formEncode(text: string): string {
  return new URLSearchParams({ v: text }).toString().slice(2);
}

async function readLimited(res: Response): Promise<string> {
  const declared = Number(res.headers.get('content-length') ?? '0');
  if (declared > MAX_ANSWER_BYTES) {
    await res.body?.cancel();
    return '';
  }
  const buf = await res.arrayBuffer();
  return buf.byteLength > MAX_ANSWER_BYTES ? '' : new TextDecoder().decode(buf);
}

/** Anything shaped like a token: a JWT, or a long run of base64/hex characters. */
const TOKEN_LIKE = /[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}(?:\.[A-Za-z0-9_-]*)?|[A-Za-z0-9+/_=-]{32,}/g;

/**
 * The IdP's reason, fit to show a client and write to the audit log: control characters
 * removed, our secrets and anything token-shaped replaced, cut to a short length.
 */
export function safeReason(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s.length >= 8) out = out.split(s).join('[REDACTED]');
  out = out.replace(TOKEN_LIKE, '[REDACTED]').replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, ' ');
  return truncateForError(out, MAX_REASON_LENGTH);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
