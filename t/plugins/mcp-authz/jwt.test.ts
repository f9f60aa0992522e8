// JWT verification against a real JWKS HTTP server on 127.0.0.1 with generated keys.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { JwtVerifier, TokenError } from '../../../plugins/mcp-authz/jwks.js';
import { identityFromClaims, DEFAULT_CLAIMS, parseRoles } from '../../../plugins/mcp-authz/identity.js';

interface KeyPair { publicKey: CryptoKey; privateKey: CryptoKey; jwk: JWK }
let server: Server;
let jwksUrl: string;
let served: JWK[] = [];
let fetches = 0;
let rsa1: KeyPair;
let rsa2: KeyPair;
let ec: KeyPair;
let stranger: KeyPair;

async function pair(alg: string, kid: string): Promise<KeyPair> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid, alg };
  return { publicKey, privateKey, jwk };
}

before(async () => {
  [rsa1, rsa2, ec, stranger] = await Promise.all([pair('RS256', 'rsa-1'), pair('RS256', 'rsa-2'), pair('ES256', 'ec-1'), pair('RS256', 'rsa-x')]);
  served = [rsa1.jwk, ec.jwk];
  server = createServer((req, res) => {
    fetches++;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ keys: served }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  jwksUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;
});
after(() => new Promise<void>((r) => server.close(() => r())));

const ISS = 'https://idp.example.com';
const AUD = 'mcp-gateway';

function sign(key: KeyPair, claims: Record<string, unknown> = {}, opts: { alg?: string; kid?: string; exp?: string | number; iss?: string; aud?: string } = {}): Promise<string> {
  return new SignJWT({ sub: 'alice', azp: 'support-agent', roles: ['support'], ...claims })
    .setProtectedHeader({ alg: opts.alg ?? key.jwk.alg!, kid: opts.kid ?? key.jwk.kid! })
    .setIssuer(opts.iss ?? ISS)
    .setAudience(opts.aud ?? AUD)
    .setIssuedAt()
    .setExpirationTime(opts.exp ?? '5m')
    .sign(key.privateKey);
}

async function reason(v: JwtVerifier, token: string): Promise<string> {
  try {
    await v.verify(token);
  } catch (err) {
    assert.ok(err instanceof TokenError);
    return err.message;
  }
  assert.fail('token was accepted');
}

function remote(extra: Record<string, unknown> = {}): Promise<JwtVerifier> {
  return JwtVerifier.create({ jwks_uri: jwksUrl, issuer: ISS, audience: AUD, clock_tolerance_seconds: 5, jwks_cooldown_ms: 0, ...extra });
}

test('valid RS256 and ES256 tokens from the JWKS verify; claims map to identity', async () => {
  const v = await remote();
  const claims = await v.verify(await sign(rsa1, { tenant: 'acme', ctx: { env: 'production' }, agent: 'claude' }));
  assert.equal(claims.sub, 'alice');
  const id = identityFromClaims(claims as Record<string, unknown>, { ...DEFAULT_CLAIMS, environment: 'ctx.env' });
  assert.deepEqual(
    { user: id.user, app: id.app, agent: id.agent, tenant: id.tenant, environment: id.environment, roles: id.roles, source: id.source },
    { user: 'alice', app: 'support-agent', agent: 'claude', tenant: 'acme', environment: 'production', roles: ['support'], source: 'jwt' },
  );
  assert.equal((await v.verify(await sign(ec))).sub, 'alice');
  assert.deepEqual(parseRoles('a b,c'), ['a', 'b', 'c']);
});

test('expired, wrong issuer, wrong audience and missing required claims are refused', async () => {
  const v = await remote({ required_claims: ['tenant'] });
  assert.equal(await reason(v, await sign(rsa1, { tenant: 't' }, { exp: Math.floor(Date.now() / 1000) - 60 })), 'token expired');
  assert.match(await reason(v, await sign(rsa1, { tenant: 't' }, { iss: 'https://evil.example' })), /claim iss is invalid/);
  assert.match(await reason(v, await sign(rsa1, { tenant: 't' }, { aud: 'other' })), /claim aud is invalid/);
  assert.equal(await reason(v, await sign(rsa1)), 'token lacks required claim tenant');
  // Within the clock tolerance an just-expired token still passes.
  assert.equal((await v.verify(await sign(rsa1, { tenant: 't' }, { exp: Math.floor(Date.now() / 1000) - 2 }))).sub, 'alice');
});

test('alg none and algorithms outside the allowlist are refused', async () => {
  const v = await remote({ algorithms: ['RS256'] });
  const header = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
  const payload = Buffer.from(JSON.stringify({ sub: 'alice', iss: ISS, aud: AUD, exp: Math.floor(Date.now() / 1000) + 60 })).toString('base64url');
  assert.match(await reason(v, `${header}.${payload}.`), /not allowed|invalid/);
  assert.equal(await reason(v, await sign(ec)), 'token algorithm is not allowed');
});

test('HS/RS confusion: an HS256 token signed with the RSA public key is refused', async () => {
  const v = await remote();
  const pem = await exportSPKI(rsa1.publicKey);
  const forged = await new SignJWT({ sub: 'mallory' })
    .setProtectedHeader({ alg: 'HS256', kid: 'rsa-1' })
    .setIssuer(ISS)
    .setAudience(AUD)
    .setExpirationTime('5m')
    .sign(new TextEncoder().encode(pem));
  assert.equal(await reason(v, forged), 'token algorithm is not allowed');
  // And the conf cannot enable HS* next to public keys at all.
  await assert.rejects(remote({ algorithms: ['RS256', 'HS256'] }), /HS256 needs shared_secret/);
  await assert.rejects(JwtVerifier.create({ shared_secret: 'x'.repeat(40), algorithms: ['RS256'] }), /RS256 cannot be used with shared_secret/);
  await assert.rejects(JwtVerifier.create({ shared_secret: 'x'.repeat(40), jwks_uri: jwksUrl }), /only one of/);
});

test('unknown kid is refused; key rotation is picked up by refetching the JWKS', async () => {
  const v = await remote();
  assert.equal(await reason(v, await sign(stranger)), 'no key matches the token (unknown kid or alg)');
  served = [rsa2.jwk]; // the IdP rotates: rsa-1 retired, rsa-2 published
  const before = fetches;
  assert.equal((await v.verify(await sign(rsa2))).sub, 'alice');
  assert.ok(fetches > before, 'the JWKS was refetched for the new kid');
  served = [rsa1.jwk, ec.jwk];
});

test('static keys: PEM and JWK; private keys and oct keys are refused', async () => {
  const pem = await exportSPKI(rsa1.publicKey);
  const v = await JwtVerifier.create({ keys: [pem, JSON.stringify(ec.jwk)], issuer: ISS, audience: AUD });
  assert.equal((await v.verify(await sign(rsa1))).sub, 'alice');
  assert.equal((await v.verify(await sign(ec))).sub, 'alice');
  assert.match(await reason(v, await sign(rsa2, {}, { kid: 'rsa-1' })), /signature is invalid|no key/);
  process.env['AUTHZ_TEST_PEM'] = pem;
  const fromEnv = await JwtVerifier.create({ keys: ['$env://AUTHZ_TEST_PEM'], algorithms: ['RS256'] });
  assert.equal((await fromEnv.verify(await sign(rsa1))).sub, 'alice');
  const priv = { ...(await exportJWK(rsa1.privateKey)), kid: 'p' };
  await assert.rejects(JwtVerifier.create({ keys: [JSON.stringify(priv)] }), /\/identity\/jwt\/keys\/0: a private JWK/);
  await assert.rejects(JwtVerifier.create({ keys: ['{"kty":"oct","k":"c2VjcmV0"}'] }), /symmetric \(oct\) keys are not accepted/);
  await assert.rejects(JwtVerifier.create({ keys: ['$env://AUTHZ_TEST_MISSING'] }), /\/identity\/jwt\/keys\/0: \$env:\/\/AUTHZ_TEST_MISSING cannot be resolved \(not set\)/);
});

test('shared secret: HS256 only when configured; an RS token is refused', async () => {
  const secret = 'a-very-long-shared-secret-for-tests-0123456789';
  process.env['AUTHZ_TEST_HS_SECRET'] = secret;
  const v = await JwtVerifier.create({ shared_secret: '$env://AUTHZ_TEST_HS_SECRET', issuer: ISS });
  const hs = await new SignJWT({ sub: 'svc' }).setProtectedHeader({ alg: 'HS256' }).setIssuer(ISS).setExpirationTime('1m').sign(new TextEncoder().encode(secret));
  assert.equal((await v.verify(hs)).sub, 'svc');
  assert.equal(await reason(v, await sign(rsa1)), 'token algorithm is not allowed');
  process.env['AUTHZ_TEST_HS_SHORT'] = 'short';
  await assert.rejects(JwtVerifier.create({ shared_secret: '$env://AUTHZ_TEST_HS_SHORT' }), /shared_secret: must be at least 32 bytes/);
});

test('an unreachable JWKS is reported as unavailable (503), not as a bad token', async () => {
  const v = await JwtVerifier.create({ jwks_uri: 'http://127.0.0.1:1/jwks.json', jwks_timeout_ms: 500 });
  try {
    await v.verify(await sign(rsa1));
    assert.fail('accepted');
  } catch (err) {
    assert.ok(err instanceof TokenError);
    assert.equal(err.unavailable, true);
  }
});
