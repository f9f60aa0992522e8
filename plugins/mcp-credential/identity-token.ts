// Short-lived identity JWTs for the backend: who is behind the gateway's shared credential.
// Signing (RS256 especially) costs far more than a map lookup, so a token is minted once per
// distinct identity + audience and reused until it nears expiry (bounded LRU).

import { createPrivateKey, randomUUID, type KeyObject } from 'node:crypto';
import { SignJWT } from 'jose';
import type { Identity } from '../../runner/host/plugin.js';
import type { SecretHandle } from '../../runner/secrets/index.js';
import { Lru } from './lru.js';

export type IdentityAlg = 'RS256' | 'ES256' | 'EdDSA';

export interface IdentityTokenSettings {
  signingKey: SecretHandle;
  /** Fixed by the conf, or undefined to derive from the key. */
  alg: IdentityAlg | undefined;
  kid: string | undefined;
  issuer: string;
  /** Fixed by the conf; otherwise the server name is passed to mint(). */
  audience: string | undefined;
  ttlSeconds: number;
  header: string;
  /** Bearer prefix when the token goes into Authorization. */
  bearer: boolean;
  cacheSize: number;
  onMissingIdentity: 'deny' | 'skip';
}

interface LoadedKey {
  /** The secret text the key was parsed from (to notice rotation). */
  source: string;
  key: KeyObject;
  alg: IdentityAlg;
  kid: string | undefined;
}

interface CachedToken {
  token: string;
  /** Reuse until this time (ms since epoch): well before exp so backends never see it expire. */
  reuseUntil: number;
}

/** Parse a PEM or JWK private key and check it fits the algorithm. Throws without the key text. */
export function loadSigningKey(text: string, wantedAlg: IdentityAlg | undefined, wantedKid: string | undefined): LoadedKey {
  let key: KeyObject;
  let jwkKid: string | undefined;
  const trimmed = text.trim();
  try {
    if (trimmed.startsWith('{')) {
      const jwk = JSON.parse(trimmed) as Record<string, unknown>;
      if (typeof jwk.kid === 'string') jwkKid = jwk.kid;
      key = createPrivateKey({ key: jwk as import('node:crypto').JsonWebKey, format: 'jwk' });
    } else {
      key = createPrivateKey({ key: trimmed, format: 'pem' });
    }
  } catch {
    throw new Error('signing key is not a private key in PEM or JWK form');
  }
  const alg = algForKey(key);
  if (!alg) throw new Error(`signing key type ${key.asymmetricKeyType ?? 'unknown'} is not supported (RSA, EC P-256 or Ed25519)`);
  if (wantedAlg && wantedAlg !== alg) throw new Error(`signing key fits ${alg}, not the configured alg ${wantedAlg}`);
  if (alg === 'RS256' && (key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) {
    throw new Error('RSA signing key must have at least 2048 bits');
  }
  return { source: text, key, alg, kid: wantedKid ?? jwkKid };
}

function algForKey(key: KeyObject): IdentityAlg | undefined {
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return 'RS256';
    case 'ec':
      return key.asymmetricKeyDetails?.namedCurve === 'prime256v1' ? 'ES256' : undefined;
    case 'ed25519':
      return 'EdDSA';
    default:
      return undefined;
  }
}

export type MintResult =
  | { ok: true; token: string; cached: boolean }
  | { ok: false; reason: 'key-unavailable' | 'key-invalid'; message: string };

/** Mints and caches identity tokens for one prepared conf. */
export class IdentityMinter {
  private loaded: LoadedKey | undefined;
  private loadError: { source: string; message: string } | undefined;
  private readonly cache: Lru<CachedToken>;

  constructor(readonly settings: IdentityTokenSettings) {
    this.cache = new Lru(settings.cacheSize);
  }

  /** Parse the key now when it is already available, so a bad key shows at prepare. */
  checkKeyNow(): void {
    const text = this.settings.signingKey.value();
    if (text !== undefined) this.loaded = loadSigningKey(text, this.settings.alg, this.settings.kid);
  }

  async mint(identity: Identity, audience: string, nowMs: number = Date.now()): Promise<MintResult> {
    const key = this.currentKey();
    if (!('key' in key)) return key;
    const cacheKey = identityCacheKey(identity, audience);
    const hit = this.cache.get(cacheKey);
    if (hit && hit.reuseUntil > nowMs) return { ok: true, token: hit.token, cached: true };

    const s = this.settings;
    const nowSec = Math.floor(nowMs / 1000);
    const claims: Record<string, unknown> = { roles: identity.roles };
    if (identity.app !== undefined) claims.app = identity.app;
    if (identity.agent !== undefined) claims.agent = identity.agent;
    if (identity.tenant !== undefined) claims.tenant = identity.tenant;
    if (identity.environment !== undefined) claims.environment = identity.environment;
    claims.identity_source = identity.source;
    const jwt = new SignJWT(claims)
      .setProtectedHeader(key.kid ? { alg: key.alg, typ: 'JWT', kid: key.kid } : { alg: key.alg, typ: 'JWT' })
      .setIssuer(s.issuer)
      .setAudience(audience)
      .setIssuedAt(nowSec)
      .setNotBefore(nowSec - 5)
      .setExpirationTime(nowSec + s.ttlSeconds)
      .setJti(randomUUID());
    const subject = identity.user ?? identity.subject;
    if (subject !== undefined) jwt.setSubject(subject);
    const token = await jwt.sign(key.key);
    // Reuse for half the lifetime: the backend always gets at least ttl/2 of validity.
    this.cache.set(cacheKey, { token, reuseUntil: nowMs + (s.ttlSeconds * 1000) / 2 });
    return { ok: true, token, cached: false };
  }

  /** The parsed key for the secret's current value; re-parsed when the secret rotates. */
  private currentKey(): LoadedKey | Extract<MintResult, { ok: false }> {
    const handle = this.settings.signingKey;
    const text = handle.value();
    if (text === undefined) {
      return { ok: false, reason: 'key-unavailable', message: `signing key ${handle.describe()} is unavailable (${handle.problem() ?? 'unknown'})` };
    }
    if (this.loaded && this.loaded.source === text) return this.loaded;
    if (this.loadError && this.loadError.source === text) return { ok: false, reason: 'key-invalid', message: this.loadError.message };
    try {
      this.loaded = loadSigningKey(text, this.settings.alg, this.settings.kid);
      this.loadError = undefined;
      this.cache.clear(); // tokens signed with the old key should not outlive a rotation
      return this.loaded;
    } catch (err) {
      const message = `signing key ${handle.describe()}: ${(err as Error).message}`;
      this.loadError = { source: text, message };
      return { ok: false, reason: 'key-invalid', message };
    }
  }

  get cachedTokens(): number {
    return this.cache.size;
  }
}

/** Everything that goes into the token, joined unambiguously (JSON of a fixed-order array). */
function identityCacheKey(id: Identity, audience: string): string {
  return JSON.stringify([audience, id.user ?? id.subject ?? null, id.app ?? null, id.agent ?? null, id.tenant ?? null, id.environment ?? null, id.source, id.roles]);
}
