// JWT verification keys and the verifier. Three key sources, never mixed: a remote JWKS
// (cached, refetched on an unknown kid after a cooldown, which is how key rotation works),
// static public keys (PEM or JWK), or an HMAC shared secret. The algorithm allowlist is
// enforced by jose, and jose also refuses a key whose type does not fit the token's alg, so an
// RS256 public key can never be used as an HS256 secret. 'none' is never accepted.

import { createPublicKey, type JsonWebKey as NodeJwk } from 'node:crypto';
import { createLocalJWKSet, createRemoteJWKSet, jwtVerify, errors as joseErrors, type JWK, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { isSecretRef } from '../../runner/secrets/index.js';
import { log } from './log.js';
import { publicKeyMaterial, secretMaterial, type KeyMaterial } from './refs.js';

export interface JwtConf {
  jwks_uri?: string;
  keys?: string[];
  shared_secret?: string;
  issuer?: string | string[];
  audience?: string | string[];
  algorithms?: string[];
  clock_tolerance_seconds?: number;
  max_token_age_seconds?: number;
  required_claims?: string[];
  jwks_cooldown_ms?: number;
  jwks_cache_max_age_ms?: number;
  jwks_timeout_ms?: number;
}

export const DEFAULT_ASYMMETRIC_ALGS = ['RS256', 'ES256', 'EdDSA'];
const HMAC_ALGS = new Set(['HS256', 'HS384', 'HS512']);

/** A token that did not verify. `unavailable` means the key set could not be fetched (503). */
export class TokenError extends Error {
  constructor(
    message: string,
    readonly unavailable = false,
  ) {
    super(message);
  }
}

const MAX_REMOTE_SETS = 32;

/** One cached remote JWKS per (url, options) for a runner: confs come and go, the key cache stays warm. */
export class RemoteJwksSets {
  private readonly sets = new Map<string, JWTVerifyGetKey>();

  get(uri: URL, cooldownMs: number, maxAgeMs: number, timeoutMs: number): JWTVerifyGetKey {
    const key = `${uri.href} ${cooldownMs} ${maxAgeMs} ${timeoutMs}`;
    let set = this.sets.get(key);
    if (!set) {
      if (this.sets.size >= MAX_REMOTE_SETS) this.sets.delete(this.sets.keys().next().value!);
      set = createRemoteJWKSet(uri, { cooldownDuration: cooldownMs, cacheMaxAge: maxAgeMs, timeoutDuration: timeoutMs });
      this.sets.set(key, set);
    }
    return set;
  }
}

/** Parse one static key (PEM or JWK/JWKS JSON) into public JWKs. */
export function parseStaticKey(text: string, field: string): JWK[] {
  const trimmed = text.trim();
  if (trimmed.startsWith('{')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(trimmed);
    } catch {
      throw new Error(`${field}: not valid JWK JSON`);
    }
    const list = Array.isArray((parsed as { keys?: unknown }).keys) ? ((parsed as { keys: unknown[] }).keys) : [parsed];
    return list.map((k, i) => toPublicJwk(k as JWK, `${field}${list.length > 1 ? `/keys/${i}` : ''}`));
  }
  if (trimmed.startsWith('-----BEGIN')) {
    if (/PRIVATE KEY-----/.test(trimmed)) throw new Error(`${field}: a private key was given; configure the public key`);
    try {
      return [createPublicKey(trimmed).export({ format: 'jwk' }) as JWK];
    } catch (err) {
      throw new Error(`${field}: not a usable PEM public key (${(err as Error).message})`);
    }
  }
  throw new Error(`${field}: expected a PEM public key or a JWK (JSON)`);
}

function toPublicJwk(k: JWK, field: string): JWK {
  if (k === null || typeof k !== 'object' || typeof k.kty !== 'string') throw new Error(`${field}: JWK without kty`);
  if (k.kty === 'oct') throw new Error(`${field}: symmetric (oct) keys are not accepted here; use shared_secret`);
  if ('d' in k) throw new Error(`${field}: a private JWK was given; configure the public key`);
  let pub: JWK;
  try {
    pub = createPublicKey({ key: k as NodeJwk, format: 'jwk' }).export({ format: 'jwk' }) as JWK;
  } catch (err) {
    throw new Error(`${field}: not a usable JWK (${(err as Error).message})`);
  }
  if (k.kid !== undefined) pub.kid = k.kid;
  if (k.alg !== undefined) pub.alg = k.alg;
  if (k.use !== undefined) pub.use = k.use;
  return pub;
}

/**
 * Static keys: selected by kid like a JWKS; a configured key without kid (a bare PEM) also
 * serves tokens whose kid matches no key, since the operator trusted it explicitly.
 */
function staticKeySet(keys: JWK[]): JWTVerifyGetKey {
  const byKid = createLocalJWKSet({ keys });
  const kidless = keys.filter((k) => k.kid === undefined);
  const fallback = kidless.length > 0 ? createLocalJWKSet({ keys: kidless }) : undefined;
  return async (header, token) => {
    try {
      return await byKid(header, token);
    } catch (err) {
      if (!fallback || header.kid === undefined || !(err instanceof joseErrors.JWKSNoMatchingKey)) throw err;
      return fallback({ ...header, kid: undefined }, token);
    }
  };
}

/** How long a verified token's result is reused (bounded further by its exp and max age). */
const VERIFIED_TTL_MS = 60_000;
const VERIFIED_MAX = 10_000;

type VerifyKey = JWTVerifyGetKey | Uint8Array;

/**
 * Key text that can change at run time (a $file:// or $env:// reference): the verifier
 * compares the current values with the ones it built its key from, per call, and rebuilds
 * when one differs. Comparing strings is cheap; the file handles read only memory.
 */
interface KeyWatch {
  readonly materials: readonly KeyMaterial[];
  readonly seen: Array<string | undefined>;
  readonly build: (texts: readonly string[]) => VerifyKey;
  readonly field: string;
}

export interface VerifierOptions {
  /** Accept a literal shared_secret (allow_literal_secrets in the authz conf). */
  allowLiteralSecrets?: boolean;
  /** The runner's remote key sets (absent: this verifier keeps its own). */
  jwksSets?: RemoteJwksSets;
}

export class JwtVerifier {
  /**
   * Verified tokens by their exact text: signature checks dominate the per-call cost, and an
   * agent sends the same token for many calls. Keyed by the whole token (never a prefix or a
   * truncated hash), successes only, and never past the token's own exp or max age.
   */
  private readonly verified = new Map<string, { payload: JWTPayload; until: number }>();
  /** Undefined while a rotated key cannot be read or parsed (calls then answer 503). */
  private key: VerifyKey | undefined;

  private constructor(
    key: VerifyKey,
    private readonly conf: JwtConf,
    readonly algorithms: readonly string[],
    private readonly watch: KeyWatch | undefined = undefined,
  ) {
    this.key = key;
  }

  /** Build once at prepare; errors name the conf field. */
  static async create(conf: JwtConf, field = '/identity/jwt', opts: VerifierOptions = {}): Promise<JwtVerifier> {
    const sources = [conf.jwks_uri !== undefined, conf.keys !== undefined && conf.keys.length > 0, conf.shared_secret !== undefined].filter(Boolean).length;
    if (sources === 0) throw new Error(`${field}: one of jwks_uri, keys or shared_secret is required`);
    if (sources > 1) throw new Error(`${field}: use only one of jwks_uri, keys or shared_secret`);
    if (conf.shared_secret !== undefined) {
      const algorithms = conf.algorithms ?? ['HS256'];
      const bad = algorithms.find((a) => !HMAC_ALGS.has(a));
      if (bad) throw new Error(`${field}/algorithms: ${bad} cannot be used with shared_secret (HS256, HS384, HS512 only)`);
      const f = `${field}/shared_secret`;
      const handle = await secretMaterial(conf.shared_secret, f, opts.allowLiteralSecrets === true);
      const build = (texts: readonly string[]): VerifyKey => {
        const secret = texts[0]!;
        if (Buffer.byteLength(secret) < 32) throw new Error(`${f}: must be at least 32 bytes`);
        return new TextEncoder().encode(secret);
      };
      return JwtVerifier.watched([handle], build, f, conf, algorithms, !handle.literal);
    }
    const algorithms = conf.algorithms ?? DEFAULT_ASYMMETRIC_ALGS;
    const hs = algorithms.find((a) => HMAC_ALGS.has(a));
    if (hs) throw new Error(`${field}/algorithms: ${hs} needs shared_secret (and then only HS* algorithms)`);
    if (conf.jwks_uri !== undefined) {
      let url: URL;
      try {
        url = new URL(conf.jwks_uri);
      } catch {
        throw new Error(`${field}/jwks_uri: not a URL`);
      }
      if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error(`${field}/jwks_uri: must be http(s)`);
      const sets = opts.jwksSets ?? new RemoteJwksSets();
      return new JwtVerifier(sets.get(url, conf.jwks_cooldown_ms ?? 30_000, conf.jwks_cache_max_age_ms ?? 600_000, conf.jwks_timeout_ms ?? 5000), conf, algorithms);
    }
    const refs = conf.keys ?? [];
    const materials = await Promise.all(refs.map((text, i) => publicKeyMaterial(text, `${field}/keys/${i}`)));
    const build = (texts: readonly string[]): VerifyKey => staticKeySet(texts.flatMap((t, i) => parseStaticKey(t, `${field}/keys/${i}`)));
    return JwtVerifier.watched(materials, build, `${field}/keys`, conf, algorithms, refs.some(isSecretRef));
  }

  /** Build the key from the current values; watch them when some can change. */
  private static watched(materials: readonly KeyMaterial[], build: KeyWatch['build'], field: string, conf: JwtConf, algorithms: readonly string[], changeable: boolean): JwtVerifier {
    const seen = materials.map((m) => m.value());
    const key = build(seen.map((v) => v!)); // present: secretMaterial/publicKeyMaterial checked them
    return new JwtVerifier(key, conf, algorithms, changeable ? { materials, seen, build, field } : undefined);
  }

  /** Per call: rebuild the key when a referenced value changed (rotation without restart). */
  private currentKey(): VerifyKey | undefined {
    const w = this.watch;
    if (w === undefined) return this.key;
    let changed = false;
    for (let i = 0; i < w.materials.length; i++) {
      const v = w.materials[i]!.value();
      if (v !== w.seen[i]) {
        w.seen[i] = v;
        changed = true;
      }
    }
    if (!changed) return this.key;
    // Tokens verified with the old key must be checked again with the new one.
    this.verified.clear();
    const missing = w.seen.findIndex((v) => v === undefined);
    if (missing >= 0) {
      const m = w.materials[missing]!;
      this.key = undefined;
      log.error({ field: w.field, ref: m.describe(), problem: m.problem() }, 'JWT verification key cannot be resolved; tokens are refused (503)');
      return undefined;
    }
    try {
      this.key = w.build(w.seen.map((v) => v!));
      log.info({ field: w.field }, 'JWT verification key changed; new key loaded');
    } catch (err) {
      this.key = undefined;
      log.error({ field: w.field, error: (err as Error).message }, 'new JWT verification key is unusable; tokens are refused (503)');
    }
    return this.key;
  }

  /** Verify signature, alg, iss, aud, exp/nbf (with skew) and required claims. */
  async verify(token: string): Promise<JWTPayload> {
    const key = this.currentKey();
    if (key === undefined) throw new TokenError('verification key unavailable', true);
    const now = Date.now();
    const hit = this.verified.get(token);
    if (hit) {
      if (hit.until > now) return hit.payload;
      this.verified.delete(token);
    }
    const payload = await this.verifyUncached(token, key);
    let until = now + VERIFIED_TTL_MS;
    if (typeof payload.exp === 'number') until = Math.min(until, payload.exp * 1000);
    const maxAge = this.conf.max_token_age_seconds;
    if (maxAge !== undefined && typeof payload.iat === 'number') until = Math.min(until, (payload.iat + Number(maxAge)) * 1000);
    if (until > now) {
      if (this.verified.size >= VERIFIED_MAX) {
        const oldest = this.verified.keys().next();
        if (!oldest.done) this.verified.delete(oldest.value);
      }
      this.verified.set(token, { payload: Object.freeze(payload), until });
    }
    return payload;
  }

  private async verifyUncached(token: string, key: VerifyKey): Promise<JWTPayload> {
    let payload: JWTPayload;
    try {
      const opts = {
        algorithms: [...this.algorithms],
        issuer: this.conf.issuer,
        audience: this.conf.audience,
        clockTolerance: this.conf.clock_tolerance_seconds ?? 30,
        maxTokenAge: this.conf.max_token_age_seconds,
      };
      const res = key instanceof Uint8Array ? await jwtVerify(token, key, opts) : await jwtVerify(token, key, opts);
      payload = res.payload;
    } catch (err) {
      throw describeJoseError(err);
    }
    for (const claim of this.conf.required_claims ?? []) {
      if (claimAt(payload, claim) === undefined) throw new TokenError(`token lacks required claim ${claim}`);
    }
    return payload;
  }
}

function describeJoseError(err: unknown): TokenError {
  if (err instanceof joseErrors.JWTExpired) return new TokenError('token expired');
  if (err instanceof joseErrors.JWTClaimValidationFailed) return new TokenError(`claim ${err.claim} is invalid (${err.reason})`);
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return new TokenError('token algorithm is not allowed');
  if (err instanceof joseErrors.JWKSNoMatchingKey) return new TokenError('no key matches the token (unknown kid or alg)');
  if (err instanceof joseErrors.JWKSMultipleMatchingKeys) return new TokenError('several keys match the token; set kid');
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return new TokenError('token signature is invalid');
  if (err instanceof joseErrors.JWKSTimeout) return new TokenError('key set fetch timed out', true);
  if (err instanceof joseErrors.JWKSInvalid) return new TokenError('key set is invalid', true);
  // ERR_JOSE_GENERIC is what jose throws for a non-200 JWKS answer.
  if (err instanceof joseErrors.JOSEError) return new TokenError(err.code === 'ERR_JOSE_GENERIC' ? 'key set is unavailable' : `token is invalid (${err.code})`, err.code === 'ERR_JOSE_GENERIC');
  if (err instanceof TypeError && /key/i.test(err.message)) return new TokenError('token key does not fit its algorithm');
  // fetch failures of the remote key set and anything unexpected: not the client's fault.
  return new TokenError('key set is unavailable', true);
}

/** A claim by dot path (a.b.c); undefined when absent. */
export function claimAt(claims: Readonly<Record<string, unknown>>, path: string): unknown {
  if (Object.prototype.hasOwnProperty.call(claims, path)) return claims[path];
  let cur: unknown = claims;
  for (const part of path.split('.')) {
    if (cur === null || typeof cur !== 'object' || !Object.prototype.hasOwnProperty.call(cur, part)) return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}
