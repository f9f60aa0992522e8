// mcp-authz secrets go through runner/secrets: literal HMAC secrets are refused unless
// allow_literal_secrets is set, and a rotated $file:// secret or public key is used by the
// next call without a restart (verified-token cache included).

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { exportSPKI, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { JwtVerifier, TokenError } from '../../../plugins/mcp-authz/jwks.js';
import { ConfirmationTokens, confirmationKeyFrom, ReplayCache } from '../../../plugins/mcp-authz/confirm.js';
import { plugin } from '../../../plugins/mcp-authz/index.js';
import { closeSecretWatchers, resolveSecretRef, setSecretsLogger } from '../../../runner/secrets/index.js';
import type { Plugin } from '../../../runner/host/plugin.js';
import { RunnerState } from '../../../runner/host/state.js';
import { hostWith, LATER, requestCall, TableChannel } from '../../../testkit/host-kit.js';

setSecretsLogger({ warn: () => {}, error: () => {}, info: () => {} });
const dir = await mkdtemp(join(tmpdir(), 'authz-secrets-'));
after(async () => {
  closeSecretWatchers();
  await ENV.state.close();
  await rm(dir, { recursive: true, force: true });
});

const ISS = 'https://idp.test';
const SECRET_A = 'rotation-secret-A-0123456789abcdefghijklmnop';
const SECRET_B = 'rotation-secret-B-0123456789abcdefghijklmnop';
const POLICY = { version: 1, actors: [{ name: 'all', actor: {}, allowed_tools: ['*'] }] };
const ENV = { routeKey: 'r1', chain: ['mcp-authz'], state: new RunnerState() };

/** Replace a file the way config management and kubelet do: write aside, then rename over. */
async function replaceFile(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp-${Math.random().toString(36).slice(2)}`;
  await writeFile(tmp, text);
  await rename(tmp, path);
}

async function eventually(check: () => Promise<boolean>, ms = 4000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

function hsToken(secret: string, sub = 'alice'): Promise<string> {
  return new SignJWT({ sub }).setProtectedHeader({ alg: 'HS256' }).setIssuer(ISS).setExpirationTime('5m').sign(new TextEncoder().encode(secret));
}

function rsToken(key: CryptoKey, sub = 'alice'): Promise<string> {
  return new SignJWT({ sub }).setProtectedHeader({ alg: 'RS256' }).setIssuer(ISS).setExpirationTime('5m').sign(key);
}

async function outcome(v: JwtVerifier, token: string): Promise<string> {
  try {
    return `ok:${(await v.verify(token)).sub}`;
  } catch (err) {
    assert.ok(err instanceof TokenError);
    return `${err.unavailable ? 'unavailable' : 'invalid'}:${err.message}`;
  }
}

test('a literal shared secret is refused unless allowed; the error names the field, never the value', async () => {
  await assert.rejects(JwtVerifier.create({ shared_secret: SECRET_A, issuer: ISS }), (err: Error) => {
    assert.match(err.message, /^\/identity\/jwt\/shared_secret: a literal secret is not allowed/);
    assert.match(err.message, /allow_literal_secrets/);
    assert.ok(!err.message.includes(SECRET_A));
    return true;
  });
  const v = await JwtVerifier.create({ shared_secret: SECRET_A, issuer: ISS }, '/identity/jwt', { allowLiteralSecrets: true });
  assert.equal(await outcome(v, await hsToken(SECRET_A)), 'ok:alice');
  // Unknown schemes are references gone wrong, never literals.
  await assert.rejects(JwtVerifier.create({ shared_secret: '$vault://kv/jwt', issuer: ISS }, '/identity/jwt', { allowLiteralSecrets: true }), /shared_secret: unknown secret reference scheme/);
});

test('plugin conf: literal confirmation.secret and shared_secret need allow_literal_secrets (in the schema too)', async () => {
  const validate = new Ajv({ strict: false }).compile(plugin.confSchema);
  assert.equal(validate({ policy: POLICY, allow_literal_secrets: true }), true);
  assert.equal(validate({ policy: POLICY, allow_literal_secrets: 'yes' }), false);

  await assert.rejects(async () => plugin.prepare!({ policy: POLICY, confirmation: { secret: SECRET_A } }, ENV), /^Error: \/confirmation\/secret: a literal secret is not allowed/);
  await assert.rejects(async () => plugin.prepare!({ policy: POLICY, identity: { jwt: { shared_secret: SECRET_A, issuer: ISS, audience: ISS } } }, ENV), /\/identity\/jwt\/shared_secret: a literal secret/);
  const ok = await plugin.prepare!({ policy: POLICY, allow_literal_secrets: true, confirmation: { secret: SECRET_A }, identity: { jwt: { shared_secret: SECRET_B, issuer: ISS, audience: ISS } } }, ENV);
  assert.ok(ok.identity.verifier);
  // A reference that does not resolve fails the conf, naming field and reference.
  delete process.env['AUTHZ_SECRETS_TEST_UNSET'];
  await assert.rejects(async () => plugin.prepare!({ policy: POLICY, confirmation: { secret: '$env://AUTHZ_SECRETS_TEST_UNSET' } }, ENV), /\/confirmation\/secret: \$env:\/\/AUTHZ_SECRETS_TEST_UNSET cannot be resolved \(not set\)/);
  await assert.rejects(async () => plugin.prepare!({ policy: POLICY, confirmation: { secret: `$file://${join(dir, 'absent')}` } }, ENV), /\/confirmation\/secret: .*cannot be resolved \(ENOENT\)/);
  // Too short, by reference.
  process.env['AUTHZ_SECRETS_TEST_SHORT'] = 'short';
  await assert.rejects(async () => plugin.prepare!({ policy: POLICY, confirmation: { secret: '$env://AUTHZ_SECRETS_TEST_SHORT' } }, ENV), /\/confirmation\/secret: must be at least 32 bytes/);
});

test('a rotated shared-secret file is used by the next call; tokens verified with the old secret are refused', async () => {
  const path = join(dir, 'jwt-secret');
  await writeFile(path, `${SECRET_A}\n`);
  const v = await JwtVerifier.create({ shared_secret: `$file://${path}`, issuer: ISS });
  const oldToken = await hsToken(SECRET_A);
  assert.equal(await outcome(v, oldToken), 'ok:alice'); // now also in the verified cache
  const newToken = await hsToken(SECRET_B, 'bob');
  assert.equal(await outcome(v, newToken), 'invalid:token signature is invalid');

  await replaceFile(path, SECRET_B);
  await eventually(async () => (await outcome(v, newToken)) === 'ok:bob');
  assert.equal(await outcome(v, oldToken), 'invalid:token signature is invalid', 'the cached verification of the old token was dropped');

  // Gone: refuse as unavailable (503), not as a bad token; back: works again.
  await unlink(path);
  await eventually(async () => (await outcome(v, newToken)) === 'unavailable:verification key unavailable');
  await writeFile(path, SECRET_B);
  await eventually(async () => (await outcome(v, newToken)) === 'ok:bob');

  // A rotated value too short to be an HMAC key is refused rather than used.
  await replaceFile(path, 'short');
  await eventually(async () => (await outcome(v, newToken)) === 'unavailable:verification key unavailable');
});

test('a rotated public-key file is used by the next call; literal PEM keys need no reference', async () => {
  const k1 = await generateKeyPair('RS256', { extractable: true });
  const k2 = await generateKeyPair('RS256', { extractable: true });
  const path = join(dir, 'jwt-public.pem');
  await writeFile(path, await exportSPKI(k1.publicKey));
  const v = await JwtVerifier.create({ keys: [`$file://${path}`], issuer: ISS, algorithms: ['RS256'] });
  const t1 = await rsToken(k1.privateKey);
  const t2 = await rsToken(k2.privateKey, 'bob');
  assert.equal(await outcome(v, t1), 'ok:alice');
  assert.equal(await outcome(v, t2), 'invalid:token signature is invalid');
  await replaceFile(path, await exportSPKI(k2.publicKey));
  await eventually(async () => (await outcome(v, t2)) === 'ok:bob');
  assert.equal(await outcome(v, t1), 'invalid:token signature is invalid');
  // A file that no longer holds a usable key fails closed.
  await replaceFile(path, 'not a key');
  await eventually(async () => (await outcome(v, t2)) === 'unavailable:verification key unavailable');

  const literal = await JwtVerifier.create({ keys: [await exportSPKI(k1.publicKey)], issuer: ISS, algorithms: ['RS256'] });
  assert.equal(await outcome(literal, t1), 'ok:alice');
});

test('a rotated confirmation secret file signs new tokens and invalidates old ones', async () => {
  const path = join(dir, 'confirm-secret');
  await writeFile(path, SECRET_A);
  const key = await confirmationKeyFrom(`$file://${path}`, false);
  const tokens = new ConfirmationTokens(key, 300, new ReplayCache(100));
  const binding = { caller: 'jwt::alice', server: 'crm', tool: 'ticket.create', args: { title: 'x' } };
  const before = tokens.issue(binding).token;
  await replaceFile(path, SECRET_B);
  const watched = resolveSecretRef(`$file://${path}`); // the same watched file the key reads
  await eventually(async () => watched.value() === SECRET_B);
  assert.deepEqual(await tokens.verify(before, binding), { ok: false, reason: 'confirmation token signature is invalid' });
  assert.deepEqual(await tokens.verify(tokens.issue(binding).token, binding), { ok: true });

  await unlink(path);
  await eventually(async () => {
    const r = await tokens.verify(before, binding);
    return !r.ok && r.reason === 'confirmation secret unavailable';
  });
  assert.throws(() => tokens.issue(binding), /confirmation secret unavailable/);
  await assert.rejects(confirmationKeyFrom('x'.repeat(40), false), /\/confirmation\/secret: a literal secret is not allowed/);
});

test('through the host: a confirmation secret that disappears fails confirmations closed with 503, not a generic error', async () => {
  const path = join(dir, 'confirm-secret-host');
  await writeFile(path, SECRET_A);
  const policy = { version: 1, actors: [{ name: 'all', actor: {}, allowed_tools: [{ name: 'ticket.create', requires_user_confirmation: true }] }] };
  const host = hostWith(plugin as unknown as Plugin<never, unknown>);
  const chain = host.buildChain([{ name: 'mcp-authz', value: JSON.stringify({ policy, identity: { allow_anonymous: true }, confirmation: { secret: `$file://${path}` } }) }], 'route#confirm-key#ext-plugin-pre-req#1');
  const body = JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'ticket.create', arguments: { title: 'x' } } });
  const ask = await host.onRequest(chain, requestCall(body), new TableChannel({}, body), LATER());
  assert.equal(ask.action?.type, 'stop');
  assert.equal(ask.action.status, 200, 'a token is issued while the secret is readable');

  await unlink(path);
  const watched = resolveSecretRef(`$file://${path}`);
  await eventually(async () => watched.value() === undefined);
  const res = await host.onRequest(chain, requestCall(body), new TableChannel({}, body), LATER());
  assert.equal(res.action?.type, 'stop');
  assert.equal(res.action.status, 503);
  const err = JSON.parse(Buffer.from(res.action.body!).toString()) as { id: number; error: { code: number; message: string } };
  assert.deepEqual([err.id, err.error.code, err.error.message], [3, -32050, 'confirmation key unavailable']);
});
