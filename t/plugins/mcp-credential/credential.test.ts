// mcp-credential through the real host (runner/host/chain.ts + context.ts): conf lists as
// APISIX sends them, answers as the protocol layer would encode them. A stand-in plugin
// registered as 'mcp-authz' plays the identity/allow step (the real one is tested on its own).

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, createPublicKey, type KeyObject } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jwtVerify, decodeProtectedHeader } from 'jose';
import { Host, CALL_HEADER } from '../../../runner/host/chain.js';
import { PluginRegistry } from '../../../runner/host/registry.js';
import type { CallContext, DecisionRecord, Plugin } from '../../../runner/host/plugin.js';
import type { HTTPReqCallReq, HTTPReqCallResp, HTTPRespCallResp, RewriteAction, TextEntry } from '../../../runner/protocol/messages.js';
import { JsonRpcErrorCode } from '../../../runner/mcp/types.js';
import { plugin as credential } from '../../../plugins/mcp-credential/index.js';
import { closeSecretWatchers, setSecretsLogger } from '../../../runner/secrets/index.js';
import { TableChannel, requestCall as mcpPost } from '../../../testkit/host-kit.js';

const logLines: string[] = [];
setSecretsLogger({
  warn: (o, m) => void logLines.push(JSON.stringify({ ...o, m })),
  error: (o, m) => void logLines.push(JSON.stringify({ ...o, m })),
  info: (o, m) => void logLines.push(JSON.stringify({ ...o, m })),
});

const BACKEND_TOKEN = 'backend-bearer-7f3a9c2e1d';
const API_KEY = 'api-key-5b8e0f4c6a';
const PASSWORD = 'basic-pass-2d9e7a1b3c';
process.env['CRED_TEST_TOKEN'] = BACKEND_TOKEN;
process.env['CRED_TEST_API_KEY'] = API_KEY;
process.env['CRED_TEST_PASSWORD'] = PASSWORD;
delete process.env['CRED_TEST_MISSING'];
const ALL_SECRETS = [BACKEND_TOKEN, API_KEY, PASSWORD, 'dana-own-secret-4411'];

const dir = await mkdtemp(join(tmpdir(), 'cred-test-'));
after(async () => {
  closeSecretWatchers();
  await rm(dir, { recursive: true, force: true });
});

const decisions: DecisionRecord[][] = [];

/**
 * Stand-in for the allow step: `x-test-deny` stops the call (403); `x-test-user` sets an identity;
 * otherwise it records an allow for the body's one message, like mcp-authz (`x-test-no-allow`
 * leaves the record without it). Also collects every call's decision record for the secret scan.
 */
const gate: Plugin<Record<string, never>, Record<string, never>> = {
  name: 'mcp-authz',
  confSchema: { type: 'object' },
  onRequest(ctx: CallContext) {
    decisions.push(ctx.decisions);
    if (ctx.request.header('x-test-deny') !== undefined) {
      ctx.record({ plugin: 'mcp-authz', action: 'deny', rule: 'test' });
      return { action: 'stop', status: 403, rpcError: { code: JsonRpcErrorCode.Forbidden, message: 'denied by test gate' } };
    }
    if (ctx.request.header('x-test-no-allow') === undefined) ctx.record({ plugin: 'mcp-authz', action: 'allow', rule: 'test', messageIndex: 0 });
    const user = ctx.request.header('x-test-user');
    if (user !== undefined) {
      ctx.identity = { user, app: 'support-agent', agent: 'planner', tenant: 'acme', environment: 'production', roles: ['support', 'finance-ops'], source: 'jwt' };
    }
    return undefined;
  },
};
const ratelimit: Plugin<Record<string, never>, Record<string, never>> = { name: 'mcp-ratelimit', confSchema: { type: 'object' } };

const registry = new PluginRegistry();
registry.register(gate);
registry.register(ratelimit);
registry.register(credential);
const host = new Host({ registry });
after(() => host.shutdown());

let nextId = 1;
const BODY = new TextEncoder().encode(JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'crm.lookup', arguments: {} } }));

/** Answers ExtraInfo like APISIX would: request body and nginx variables. */
const channel = (vars: Record<string, string> = {}): TableChannel => new TableChannel(vars, BODY);

type Conf = Record<string, unknown>;

/** A chain as APISIX sends it: [name, JSON conf] pairs; default credential after the gate. */
function chainOf(entries: Array<[string, Conf]>) {
  return host.buildChain(
    entries.map(([name, conf]) => ({ name, value: JSON.stringify(conf) })),
    `route-${nextId++}`,
  );
}

function requestCall(headers: Record<string, string>): HTTPReqCallReq {
  const list: TextEntry[] = Object.entries(headers).map(([name, value]) => ({ name, value }));
  return mcpPost(BODY, list, { id: nextId++, srcIp: new Uint8Array([10, 0, 0, 1]) });
}

async function runRequest(entries: Array<[string, Conf]>, headers: Record<string, string>): Promise<HTTPReqCallResp> {
  const chain = chainOf(entries);
  return host.onRequest(chain, requestCall(headers), channel(), Date.now() + 5000);
}

function rewriteHeaders(resp: HTTPReqCallResp): Map<string, string | undefined> {
  const action = resp.action as RewriteAction | undefined;
  assert.equal(action?.type, 'rewrite', `expected a rewrite, got ${JSON.stringify(resp.action)}`);
  return new Map(action!.headers.map((h) => [h.name, h.value]));
}

function stopOf(resp: HTTPReqCallResp): { status: number; body: { error: { code: number; message: string }; id: unknown } } {
  const action = resp.action as { type: string; status: number; body?: Uint8Array } | undefined;
  assert.equal(action?.type, 'stop', `expected a stop, got ${JSON.stringify(resp.action)}`);
  return { status: action!.status, body: JSON.parse(new TextDecoder().decode(action!.body)) };
}

function lastCredentialDecision(): DecisionRecord | undefined {
  const rec = decisions.at(-1) ?? [];
  return rec.filter((d) => d.plugin === 'mcp-credential').at(-1);
}

const bearer = { type: 'bearer', token: '$env://CRED_TEST_TOKEN' };

test('strips client credentials and injects the bearer token after the allow step', async () => {
  const resp = await runRequest(
    [['mcp-authz', {}], ['mcp-ratelimit', {}], ['mcp-credential', { credential: bearer, strip_request_headers: ['X-Api-Key'] }]],
    { authorization: 'Bearer client-token', cookie: 'sid=client', 'x-api-key': 'client-key', 'x-other': 'kept' },
  );
  const h = rewriteHeaders(resp);
  assert.equal(h.get('authorization'), `Bearer ${BACKEND_TOKEN}`);
  assert.ok(h.has('cookie') && h.get('cookie') === undefined, 'cookie deleted');
  assert.ok(h.has('x-api-key') && h.get('x-api-key') === undefined, 'configured extra header deleted');
  assert.ok(h.has('proxy-authorization') && h.get('proxy-authorization') === undefined);
  assert.equal(h.has('x-other'), false);
  const d = lastCredentialDecision();
  assert.equal(d?.action, 'credential');
  assert.deepEqual(d?.detail, { injected: 'bearer', stripped: ['authorization', 'cookie', 'x-api-key'], header: 'authorization' });
});

test('a denied call gets no credential: the chain stops before mcp-credential', async () => {
  const resp = await runRequest([['mcp-authz', {}], ['mcp-credential', { credential: bearer }]], { 'x-test-deny': '1', authorization: 'Bearer client' });
  const stop = stopOf(resp);
  assert.equal(stop.status, 200);
  assert.equal(lastCredentialDecision(), undefined);
  assert.ok(!JSON.stringify(resp, (_k, v: unknown) => (v instanceof Uint8Array ? new TextDecoder().decode(v) : v)).includes(BACKEND_TOKEN));
});

test('api_key in a configured header, with prefix; basic auth user:password', async () => {
  const apiKey = rewriteHeaders(
    await runRequest([['mcp-authz', {}], ['mcp-credential', { credential: { type: 'api_key', header: 'X-Backend-Key', value: '$env://CRED_TEST_API_KEY', prefix: 'Key ' } }]], {
      'x-backend-key': 'forged-by-client',
    }),
  );
  assert.equal(apiKey.get('x-backend-key'), `Key ${API_KEY}`);
  assert.ok(apiKey.has('authorization') && apiKey.get('authorization') === undefined);
  assert.deepEqual(lastCredentialDecision()?.detail, { injected: 'api_key', stripped: ['x-backend-key'], header: 'x-backend-key' });

  const basic = rewriteHeaders(
    await runRequest([['mcp-authz', {}], ['mcp-credential', { credential: { type: 'basic', username: 'svc-crm', password: '$env://CRED_TEST_PASSWORD' } }]], {}),
  );
  assert.equal(basic.get('authorization'), `Basic ${Buffer.from(`svc-crm:${PASSWORD}`).toString('base64')}`);
});

test('per-server credentials selected by the route server (mcp-route) or the conf server', async () => {
  const conf = {
    servers: {
      'crm-tools': { credential: bearer },
      'billing-tools': { credential: { type: 'api_key', header: 'x-api-key', value: '$env://CRED_TEST_API_KEY' } },
    },
  };
  const viaRoute = rewriteHeaders(await runRequest([['mcp-route', { server: 'billing-tools' }], ['mcp-authz', {}], ['mcp-credential', conf]], {}));
  assert.equal(viaRoute.get('x-api-key'), API_KEY);
  assert.equal(lastCredentialDecision()?.rule, 'billing-tools');

  const viaConf = rewriteHeaders(await runRequest([['mcp-authz', {}], ['mcp-credential', { ...conf, server: 'crm-tools' }]], {}));
  assert.equal(viaConf.get('authorization'), `Bearer ${BACKEND_TOKEN}`);

  // A server with no entry and no route-level credential fails closed.
  const unknown = stopOf(await runRequest([['mcp-route', { server: 'hr-tools' }], ['mcp-authz', {}], ['mcp-credential', conf]], {}));
  assert.equal(unknown.status, 503);
  assert.equal(unknown.body.error.code, JsonRpcErrorCode.GatewayUnavailable);
  assert.match(unknown.body.error.message, /no credential configured for server hr-tools/);
});

test('a missing secret fails closed with 503 naming the reference; nothing is injected', async () => {
  const resp = await runRequest([['mcp-authz', {}], ['mcp-credential', { credential: { type: 'bearer', token: '$env://CRED_TEST_MISSING' } }]], { authorization: 'Bearer client' });
  const stop = stopOf(resp);
  assert.equal(stop.status, 503);
  assert.equal(stop.body.id, 7);
  assert.equal(stop.body.error.code, JsonRpcErrorCode.GatewayUnavailable);
  assert.match(stop.body.error.message, /secret reference \$env:\/\/CRED_TEST_MISSING cannot be resolved \(not set\)/);
  assert.equal((await runRequest([['mcp-authz', {}], ['mcp-credential', { credential: { type: 'bearer', token: '$env://CRED_TEST_MISSING' }, unavailable_status: 500 }]], {})).action?.type, 'stop');
  const d = decisions.at(-1)?.find((x) => x.plugin === 'mcp-credential');
  assert.equal(d?.action, 'error');
  assert.equal(d?.rule, 'secret-unavailable');
});

test('a $file:// credential rotates without restart', async () => {
  const path = join(dir, 'crm-token');
  await writeFile(path, 'file-token-one-1234\n');
  const entries: Array<[string, Conf]> = [['mcp-authz', {}], ['mcp-credential', { credential: { type: 'bearer', token: `$file://${path}` } }]];
  const first = rewriteHeaders(await runRequest(entries, {}));
  assert.equal(first.get('authorization'), 'Bearer file-token-one-1234');
  await writeFile(path, 'file-token-two-5678\n');
  const end = Date.now() + 3000;
  let value: string | undefined;
  while (Date.now() < end) {
    value = rewriteHeaders(await runRequest(entries, {})).get('authorization');
    if (value === 'Bearer file-token-two-5678') break;
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.equal(value, 'Bearer file-token-two-5678');
});

test('a call whose decision record holds no allow by mcp-authz gets no credential (403)', async () => {
  const resp = await runRequest([['mcp-authz', {}], ['mcp-credential', { credential: bearer }]], { 'x-test-no-allow': '1', authorization: 'Bearer client' });
  const stop = stopOf(resp);
  assert.equal(stop.status, 200);
  assert.equal(stop.body.error.code, JsonRpcErrorCode.Forbidden);
  assert.match(stop.body.error.message, /backend credential withheld: mcp-authz did not decide this call/);
  assert.equal(lastCredentialDecision()?.rule, 'no-authz-allow');
});

test('conf checks at prepare: literal secrets, chain order, nothing configured', async () => {
  const prep = async (conf: Conf, chain: string[]) => credential.prepare!(conf as never, { routeKey: 'r', chain, state: host.state });
  await assert.rejects(prep({ credential: { type: 'bearer', token: 'literal-token-abc123' } }, ['mcp-authz', 'mcp-credential']), (err: Error) => {
    assert.match(err.message, /^credential\.token: a literal secret is not allowed/);
    assert.ok(!err.message.includes('literal-token-abc123'));
    return true;
  });
  const allowed = await prep({ credential: { type: 'bearer', token: 'literal-token-abc123' }, allow_literal_secrets: true }, ['mcp-authz', 'mcp-credential']);
  assert.ok(allowed.routeEntry?.injection);

  await assert.rejects(prep({ credential: bearer }, ['mcp-credential', 'mcp-authz']), /mcp-credential comes before mcp-authz/);
  await prep({ credential: bearer, allow_before_authz: true }, ['mcp-credential', 'mcp-authz']);
  await prep({ credential: bearer }, ['mcp-authz', 'mcp-ratelimit', 'mcp-credential']);
  // No mcp-authz at all: refused unless the conf says so, and then no allow is looked for.
  await assert.rejects(prep({ credential: bearer }, ['mcp-audit', 'mcp-credential']), /no mcp-authz in this chain \(mcp-audit, mcp-credential\)/);
  assert.equal((await prep({ credential: bearer, allow_without_authz: true }, ['mcp-credential'])).requireAuthzAllow, false);
  assert.equal((await prep({ credential: bearer, allow_before_authz: true }, ['mcp-credential', 'mcp-authz'])).requireAuthzAllow, false);
  assert.equal((await prep({ credential: bearer }, ['mcp-authz', 'mcp-credential'])).requireAuthzAllow, true);
  await assert.rejects(prep({}, ['mcp-authz', 'mcp-credential']), /credential: required/);
  await assert.rejects(prep({ servers: { a: { credential: bearer } }, server: 'b' }, ['mcp-authz', 'mcp-credential']), /server: no entry "b"/);
  await assert.rejects(
    prep({ credential: { type: 'api_key', header: 'x-mcp-identity', value: '$env://CRED_TEST_API_KEY' }, identity_token: { signing_key: '$env://CRED_TEST_API_KEY', issuer: 'gw', audience: 'b' } }, ['mcp-authz', 'mcp-credential']),
    /identity_token\.header: "x-mcp-identity" is already used/,
  );

  // Through the host: the misordered route fails closed at call time.
  const resp = await runRequest([['mcp-credential', { credential: bearer }], ['mcp-authz', {}]], {});
  const stop = stopOf(resp);
  assert.equal(stop.status, 500);
  // Schema: a wrong credential type is refused by the registry's validator with the field named.
  const bad = stopOf(await runRequest([['mcp-authz', {}], ['mcp-credential', { credential: { type: 'bearer' } }]], {}));
  assert.equal(bad.status, 500);
  assert.equal(registry.get('mcp-credential')!.validate({ credential: bearer, unknown_field: 1 }), false);
});

function keyPair(kind: 'rsa' | 'ec' | 'ed25519'): { privatePem: string; publicKey: KeyObject } {
  const pair =
    kind === 'rsa'
      ? generateKeyPairSync('rsa', { modulusLength: 2048 })
      : kind === 'ec'
        ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
        : generateKeyPairSync('ed25519');
  return { privatePem: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), publicKey: pair.publicKey };
}

test('identity JWT: signed with the gateway key, verifiable, carrying the identity, cached per identity', async () => {
  for (const [kind, alg] of [['rsa', 'RS256'], ['ec', 'ES256'], ['ed25519', 'EdDSA']] as const) {
    const { privatePem, publicKey } = keyPair(kind);
    const keyPath = join(dir, `signing-${kind}.pem`);
    await writeFile(keyPath, privatePem);
    const entries: Array<[string, Conf]> = [
      ['mcp-route', { server: 'crm-tools' }],
      ['mcp-authz', {}],
      ['mcp-credential', { credential: bearer, identity_token: { signing_key: `$file://${keyPath}`, issuer: 'https://gateway.example', ttl_seconds: 120, kid: `k-${kind}` } }],
    ];
    const h = rewriteHeaders(await runRequest(entries, { 'x-test-user': 'alice', 'x-mcp-identity': 'forged' }));
    assert.equal(h.get('authorization'), `Bearer ${BACKEND_TOKEN}`);
    const token = h.get('x-mcp-identity');
    assert.ok(token && token !== 'forged');
    const { payload, protectedHeader } = await jwtVerify(token, publicKey, { issuer: 'https://gateway.example', audience: 'crm-tools', algorithms: [alg] });
    assert.equal(protectedHeader.kid, `k-${kind}`);
    assert.equal(payload.sub, 'alice');
    assert.equal(payload['app'], 'support-agent');
    assert.equal(payload['agent'], 'planner');
    assert.equal(payload['tenant'], 'acme');
    assert.equal(payload['environment'], 'production');
    assert.deepEqual(payload['roles'], ['support', 'finance-ops']);
    assert.equal(typeof payload.jti, 'string');
    assert.ok(payload.exp! - payload.iat! === 120);
    assert.equal(lastCredentialDecision()?.detail?.['identity_token'], 'minted');

    // Same identity: the cached token; another identity: a new one.
    const again = rewriteHeaders(await runRequest(entries, { 'x-test-user': 'alice' }));
    assert.equal(again.get('x-mcp-identity'), token);
    assert.equal(lastCredentialDecision()?.detail?.['identity_token'], 'cached');
    const bob = rewriteHeaders(await runRequest(entries, { 'x-test-user': 'bob' }));
    const bobClaims = await jwtVerify(bob.get('x-mcp-identity')!, publicKey, { audience: 'crm-tools' });
    assert.equal(bobClaims.payload.sub, 'bob');
  }
});

test('identity JWT into Authorization when there is no backend credential; JWK keys; missing identity', async () => {
  const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = { ...pair.privateKey.export({ format: 'jwk' }), kid: 'jwk-kid-1' };
  process.env['CRED_TEST_JWK'] = JSON.stringify(jwk);
  const conf = { credential: { type: 'none' }, identity_token: { signing_key: '$env://CRED_TEST_JWK', issuer: 'gw', audience: 'backend-a' } };
  const h = rewriteHeaders(await runRequest([['mcp-authz', {}], ['mcp-credential', conf]], { 'x-test-user': 'carol', authorization: 'Bearer client' }));
  const auth = h.get('authorization') ?? '';
  assert.ok(auth.startsWith('Bearer '));
  const verified = await jwtVerify(auth.slice(7), createPublicKey(pair.privateKey), { audience: 'backend-a', issuer: 'gw' });
  assert.equal(verified.payload.sub, 'carol');
  assert.equal(decodeProtectedHeader(auth.slice(7)).kid, 'jwk-kid-1');

  // No identity established: denied by default (401), or sent without a token when 'skip'.
  const denied = stopOf(await runRequest([['mcp-authz', {}], ['mcp-credential', conf]], {}));
  assert.equal(denied.status, 401);
  assert.equal(denied.body.error.code, JsonRpcErrorCode.Unauthorized);
  const skipped = rewriteHeaders(
    await runRequest([['mcp-authz', {}], ['mcp-credential', { ...conf, identity_token: { ...conf.identity_token, on_missing_identity: 'skip' } }]], { authorization: 'Bearer client' }),
  );
  assert.ok(skipped.has('authorization') && skipped.get('authorization') === undefined, 'client credential still stripped');

  // A signing key that is not a usable private key is refused at prepare (the value never shown).
  process.env['CRED_TEST_BADKEY'] = 'not-a-key-secret-material';
  const prepare = async (conf: Conf) => credential.prepare!(conf as never, { routeKey: 'r', chain: ['mcp-authz', 'mcp-credential'], state: host.state });
  await assert.rejects(
    prepare({ credential: { type: 'none' }, identity_token: { signing_key: '$env://CRED_TEST_BADKEY', issuer: 'gw', audience: 'x' } }),
    (err: Error) => /identity_token\.signing_key: signing key is not a private key/.test(err.message) && !err.message.includes('not-a-key-secret-material'),
  );
  // A key of the wrong family for the configured alg is refused too.
  await assert.rejects(
    prepare({ credential: { type: 'none' }, identity_token: { signing_key: '$env://CRED_TEST_JWK', issuer: 'gw', audience: 'x', alg: 'RS256' } }),
    /fits ES256, not the configured alg RS256/,
  );
});

test('RS256 minting is cached: per-call cost of a cached token vs a fresh signature', async (t) => {
  const { privatePem } = keyPair('rsa');
  process.env['CRED_TEST_RSA'] = privatePem;
  const base: Conf = { credential: bearer, identity_token: { signing_key: '$env://CRED_TEST_RSA', issuer: 'gw', audience: 'b' } };
  const cachedChain = chainOf([['mcp-authz', {}], ['mcp-credential', base]]);
  const uncachedChain = chainOf([['mcp-authz', {}], ['mcp-credential', { ...base, identity_token: { ...(base['identity_token'] as Conf), cache_size: 0 } }]]);
  const n = 200;
  const time = async (chain: ReturnType<typeof chainOf>): Promise<number> => {
    await host.onRequest(chain, requestCall({ 'x-test-user': 'dave' }), channel(), Date.now() + 5000);
    const start = performance.now();
    for (let i = 0; i < n; i++) await host.onRequest(chain, requestCall({ 'x-test-user': 'dave' }), channel(), Date.now() + 5000);
    return (performance.now() - start) / n;
  };
  const cached = await time(cachedChain);
  const uncached = await time(uncachedChain);
  t.diagnostic(`request phase with identity JWT: cached ${(cached * 1000).toFixed(0)} µs/call, signing RS256 every call ${(uncached * 1000).toFixed(0)} µs/call`);
  assert.ok(cached < uncached, 'the cache must make calls cheaper than signing each time');
});

test('response phase drops echoed credentials and configured headers; fast routes refuse when required', async () => {
  const entries: Array<[string, Conf]> = [
    ['mcp-route', { post_resp: true }],
    ['mcp-authz', {}],
    ['mcp-credential', { credential: bearer, strip_response_headers: ['set-cookie'] }],
  ];
  const chain = chainOf(entries);
  const req = await host.onRequest(chain, requestCall({}), channel(), Date.now() + 5000);
  const carryKey = rewriteHeaders(req).get(CALL_HEADER);
  assert.ok(carryKey);
  const upstream: TextEntry[] = [
    { name: 'Content-Type', value: 'application/json' },
    { name: 'Mcp-Session-Id', value: 'abc' },
    { name: 'Authorization', value: `Bearer ${BACKEND_TOKEN}` },
    { name: 'Set-Cookie', value: 'backend=1' },
    { name: 'X-Debug-Echo', value: `token was ${BACKEND_TOKEN}` },
  ];
  const resp: HTTPRespCallResp = await host.onResponse(chain, { id: 99, status: 200, headers: upstream, confToken: 2 }, channel({ http_x_mcp_gateway_call: carryKey }), Date.now() + 5000);
  const names = resp.headers.map((h) => h.name.toLowerCase());
  assert.deepEqual(names.sort(), ['content-type', 'mcp-session-id']);
  assert.ok(!JSON.stringify(resp.headers).includes(BACKEND_TOKEN));
  const d = (decisions.at(-1) ?? []).filter((x) => x.plugin === 'mcp-credential').at(-1);
  assert.deepEqual(d?.detail, { response_stripped: ['authorization', 'set-cookie', 'x-debug-echo'] });

  // Without post-resp, a conf that relies on response stripping refuses the call.
  const fast = stopOf(await runRequest([['mcp-authz', {}], ['mcp-credential', { credential: bearer, strip_response_headers: ['set-cookie'] }]], {}));
  assert.equal(fast.status, 200);
});

test('per-user credential: attached for the user, dropped from an upstream header that echoes it', async () => {
  process.env['CRED_TEST_USER_dana'] = 'dana-own-secret-4411';
  const entries: Array<[string, Conf]> = [
    ['mcp-route', { post_resp: true }],
    ['mcp-authz', {}],
    ['mcp-credential', { credential: { type: 'per_user', token: '$env://CRED_TEST_USER_{user}', header: 'x-crm-key', prefix: '' } }],
  ];
  const chain = chainOf(entries);
  const req = rewriteHeaders(await host.onRequest(chain, requestCall({ 'x-test-user': 'dana', 'x-crm-key': 'forged' }), channel(), Date.now() + 5000));
  assert.equal(req.get('x-crm-key'), 'dana-own-secret-4411');
  assert.deepEqual(lastCredentialDecision()?.detail, { injected: 'per_user', stripped: ['x-crm-key'], header: 'x-crm-key', source: 'user' });
  const upstream: TextEntry[] = [
    { name: 'Content-Type', value: 'application/json' },
    { name: 'X-Debug-Echo', value: 'key was dana-own-secret-4411' },
  ];
  const resp = await host.onResponse(chain, { id: 98, status: 200, headers: upstream, confToken: 2 }, channel({ http_x_mcp_gateway_call: req.get(CALL_HEADER)! }), Date.now() + 5000);
  assert.deepEqual(resp.headers.map((h) => h.name.toLowerCase()), ['content-type']);
  // Another user without a variable: 403, the forged header still removed (nothing sent).
  const other = stopOf(await runRequest(entries, { 'x-test-user': 'erik' }));
  assert.equal(other.status, 200);
  assert.match(other.body.error.message, /no backend credential for this caller/);
  delete process.env['CRED_TEST_USER_dana'];
});

test('no secret value appears in any decision record or error message', () => {
  const text = JSON.stringify(decisions);
  for (const s of ALL_SECRETS) assert.ok(!text.includes(s), `decision records leak ${s.slice(0, 6)}…`);
  const logs = logLines.join('\n');
  for (const s of [...ALL_SECRETS, 'file-token-one-1234', 'file-token-two-5678']) assert.ok(!logs.includes(s));
  assert.ok(decisions.length > 10, 'the scan covered the calls above');
});
