// The user's own backend credentials end to end: the real runner behind the APISIX emulator,
// the sample MCP server as upstream, and a real OAuth token server on loopback. Token exchange
// (client_secret_basic and private_key_jwt), client credentials, per-user secret files, the
// failure modes, and a final check that no token reached any log or audit line.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { decodeJwt, jwtVerify } from 'jose';
import { CLIENT_SECRET, SERVER, callEcho, startUserStack, type UserStack } from '../../../testkit/credential-user-stack.js';

let s: UserStack;
/** Every token and secret value the tests saw: none may appear in a log or audit line. */
const secrets = new Set<string>([CLIENT_SECRET]);

before(async () => {
  s = await startUserStack();
});
after(async () => {
  await s?.stop();
});

/** The Authorization header the upstream got for the latest request. */
function upstreamAuthorization(): string | undefined {
  const last = s.upstream.seen.at(-1);
  const v = last?.headers['authorization'];
  return typeof v === 'string' ? v : undefined;
}

async function token(sub: string, expiresInSeconds?: number, roles?: string[]): Promise<string> {
  const t = await s.mint(sub, { ...(expiresInSeconds !== undefined ? { expiresInSeconds } : {}), ...(roles !== undefined ? { roles } : {}) });
  secrets.add(t);
  return t;
}

/** The exchanged token the upstream got (recorded for the log check), verified with the IdP's key. */
async function exchangedToken(): Promise<{ token: string; claims: Record<string, unknown> }> {
  const h = upstreamAuthorization();
  assert.ok(h !== undefined && h.startsWith('Bearer '), `upstream got ${h === undefined ? 'no' : 'another'} Authorization header`);
  const t = h.slice(7);
  secrets.add(t);
  const { payload } = await jwtVerify(t, s.idp.publicKey, { issuer: s.idp.issuer });
  return { token: t, claims: payload as Record<string, unknown> };
}

const exchangesFor = (sub: string): number => s.idp.requests.filter((r) => r.subject === sub && r.outcome === 'issued').length;

async function credentialEvents(): Promise<Array<Record<string, unknown>>> {
  // The audit file is written asynchronously after the answer: wait a little for the event.
  for (let i = 0; i < 40; i++) {
    const events = (await s.audit()).filter((e) => e['credential'] !== undefined);
    if (events.length > 0) return events;
    await new Promise((r) => setTimeout(r, 25));
  }
  return [];
}

test('token exchange: the upstream sees a per-user token for its own audience; two users, two tokens; cached', async () => {
  const alice = await token('alice');
  const bob = await token('bob');

  const a1 = await callEcho(s.url('/mcp/exchange'), alice);
  assert.equal(a1.status, 200, JSON.stringify(a1.message));
  const first = await exchangedToken();
  assert.notEqual(first.token, alice, 'the caller token never goes upstream');
  assert.equal(first.claims['sub'], 'alice');
  assert.equal(first.claims['aud'], SERVER, 'audience defaults to the route server');
  assert.equal(first.claims['scope'], 'crm.read');
  assert.deepEqual(first.claims['act'], { sub: 'mcp-gateway' });
  assert.equal(s.idp.requests.at(-1)?.authMethod, 'client_secret_basic');

  await callEcho(s.url('/mcp/exchange'), bob);
  const bobs = await exchangedToken();
  assert.equal(bobs.claims['sub'], 'bob');
  assert.notEqual(bobs.token, first.token);

  const a2 = await callEcho(s.url('/mcp/exchange'), alice);
  assert.equal(a2.status, 200);
  assert.equal((await exchangedToken()).token, first.token, 'alice reuses her cached token');
  assert.equal(exchangesFor('alice'), 1);

  // A new subject token for the same person with the same identity still hits the cache.
  await callEcho(s.url('/mcp/exchange'), await token('alice'));
  assert.equal(exchangesFor('alice'), 1);
  // Her identity changes (other roles): the cached token is dropped and exchanged again.
  await callEcho(s.url('/mcp/exchange'), await token('alice', undefined, ['support', 'billing']));
  assert.equal(exchangesFor('alice'), 2);
  assert.deepEqual((await exchangedToken()).claims['roles'], ['support', 'billing']);

  const events = await credentialEvents();
  const kinds = events.map((e) => (e['credential'] as { detail?: Record<string, unknown> }).detail);
  assert.ok(kinds.some((d) => d?.['injected'] === 'token_exchange' && d['cache'] === 'miss'), JSON.stringify(kinds));
  assert.ok(kinds.some((d) => d?.['injected'] === 'token_exchange' && d['cache'] === 'hit'), JSON.stringify(kinds));
});

test('cached until shortly before expiry, then exchanged again (2 s tokens)', async () => {
  s.idp.tokenTtlSeconds = 2;
  try {
    const carol = await token('carol');
    await callEcho(s.url('/mcp/short'), carol);
    const first = (await exchangedToken()).token;
    await callEcho(s.url('/mcp/short'), carol);
    assert.equal((await exchangedToken()).token, first, 'reused while fresh');
    assert.equal(exchangesFor('carol'), 1);
    // refresh_before 30 s is more than the lifetime: reuse ends at half of it (1 s).
    await new Promise((r) => setTimeout(r, 1100));
    await callEcho(s.url('/mcp/short'), carol);
    assert.notEqual((await exchangedToken()).token, first, 'a fresh token after the reuse window');
    assert.equal(exchangesFor('carol'), 2);
  } finally {
    s.idp.tokenTtlSeconds = 300;
  }
});

test('never reused past the subject token expiry', async () => {
  const short = await token('erin', 2);
  await callEcho(s.url('/mcp/exchange'), short);
  const first = (await exchangedToken()).token;
  assert.equal(decodeJwt(first).sub, 'erin');
  await new Promise((r) => setTimeout(r, 2100));
  // The cached token (valid 300 s) is not used for an expired subject token: mcp-authz refuses
  // it (401) or, within its clock tolerance, the IdP refuses the new exchange (403).
  const seenBefore = s.upstream.seen.length;
  const expired = await callEcho(s.url('/mcp/exchange'), short);
  assert.ok(expired.status === 401 || (expired.status === 200 && expired.message?.error?.code === -32003), `status ${expired.status}`);
  assert.equal(s.upstream.seen.length, seenBefore, 'nothing went upstream');
  await callEcho(s.url('/mcp/exchange'), await token('erin'));
  assert.notEqual((await exchangedToken()).token, first);
  assert.equal(exchangesFor('erin'), 2);
});

test('concurrent misses for one user share a single exchange', async () => {
  const dave = await token('dave');
  // A slow IdP makes sure the six calls overlap while the exchange is in flight.
  s.idp.delayMs = 300;
  try {
    const answers = await Promise.all(Array.from({ length: 6 }, () => callEcho(s.url('/mcp/exchange'), dave)));
    assert.deepEqual(answers.map((a) => a.status), [200, 200, 200, 200, 200, 200]);
  } finally {
    s.idp.delayMs = 0;
  }
  assert.equal(exchangesFor('dave'), 1);
});

test('the token cache is bounded: with cache_size 1, a second user evicts the first', async () => {
  const [hana, ivan] = [await token('hana'), await token('ivan')];
  await callEcho(s.url('/mcp/tiny'), hana);
  await callEcho(s.url('/mcp/tiny'), hana);
  assert.equal(exchangesFor('hana'), 1, 'cached while alone');
  await callEcho(s.url('/mcp/tiny'), ivan);
  await callEcho(s.url('/mcp/tiny'), hana);
  assert.equal(exchangesFor('hana'), 2, 'evicted by ivan, exchanged again');
});

test('private_key_jwt client authentication (RFC 7523 assertion from a $file:// JWK)', async () => {
  const r = await callEcho(s.url('/mcp/pkjwt'), await token('frank'));
  assert.equal(r.status, 200, JSON.stringify(r.message));
  const t = await exchangedToken();
  assert.deepEqual(t.claims['act'], { sub: 'mcp-gateway-jwt' });
  const req = s.idp.requests.filter((q) => q.subject === 'frank').at(-1);
  assert.equal(req?.authMethod, 'private_key_jwt');
});

test('client credentials: the gateway\'s own token, the same for every user, cached', async () => {
  const before = s.idp.requests.filter((r) => r.grant === 'client_credentials').length;
  await callEcho(s.url('/mcp/cc'), await token('alice'));
  const a = await exchangedToken();
  assert.equal(a.claims['sub'], 'mcp-gateway');
  assert.equal(a.claims['aud'], 'billing-tools');
  await callEcho(s.url('/mcp/cc'), await token('bob'));
  assert.equal((await exchangedToken()).token, a.token);
  const requests = s.idp.requests.filter((r) => r.grant === 'client_credentials');
  assert.equal(requests.length - before, 1);
  assert.equal(requests.at(-1)?.authMethod, 'client_secret_post');
});

test('an exchange the IdP refuses is a 403 with its reason, the echoed token redacted', async () => {
  s.idp.refuseSubjects.add('mallory');
  const mallory = await token('mallory');
  const seenBefore = s.upstream.seen.length;
  const r = await callEcho(s.url('/mcp/exchange'), mallory);
  assert.equal(r.status, 200);
  assert.equal(r.message?.error?.code, -32003);
  assert.match(r.message?.error?.message ?? '', /invalid_grant: user mallory may not use this service/);
  assert.ok(!(r.message?.error?.message ?? '').includes(mallory), 'the subject token is not echoed');
  assert.match(r.message?.error?.message ?? '', /\[REDACTED\]/);
  assert.equal(s.upstream.seen.length, seenBefore, 'nothing went upstream');
});

test('IdP slow or down: the call fails closed within the bound (503), nothing upstream', async () => {
  const seenBefore = s.upstream.seen.length;
  s.idp.delayMs = 3000;
  try {
    const slow = await callEcho(s.url('/mcp/slow'), await token('grace'));
    assert.equal(slow.status, 503);
    assert.equal(slow.message?.error?.code, -32050);
    assert.match(slow.message?.error?.message ?? '', /no answer within 400 ms/);
    assert.ok(slow.elapsedMs < 2000, `answered in ${slow.elapsedMs.toFixed(0)} ms`);
  } finally {
    s.idp.delayMs = 0;
  }
  await s.downIdp.stop();
  const down = await callEcho(s.url('/mcp/down'), await token('grace'));
  assert.equal(down.status, 503);
  assert.match(down.message?.error?.message ?? '', /token endpoint unavailable/);
  assert.equal(s.upstream.seen.length, seenBefore);
});

test('per-user secret files: each user their own; a missing file or an unsafe name is a 403', async () => {
  const aliceSecret = `crm-alice-${Date.now()}`;
  secrets.add(aliceSecret);
  await writeFile(join(s.secretsDir, 'alice'), `${aliceSecret}\n`);
  const ok = await callEcho(s.url('/mcp/peruser'), await token('alice'));
  assert.equal(ok.status, 200, JSON.stringify(ok.message));
  assert.equal(upstreamAuthorization(), `Bearer ${aliceSecret}`);

  const seenBefore = s.upstream.seen.length;
  const missing = await callEcho(s.url('/mcp/peruser'), await token('bob'));
  assert.equal(missing.status, 200);
  assert.equal(missing.message?.error?.code, -32003);
  assert.match(missing.message?.error?.message ?? '', /no backend credential/);

  // A subject that would climb out of the directory is refused, not followed.
  await writeFile(join(s.dir, 'escape'), 'outside-secret');
  const escape = await callEcho(s.url('/mcp/peruser'), await token('../escape'));
  assert.equal(escape.status, 200);
  assert.match(escape.message?.error?.message ?? '', /cannot name a secret/);
  assert.equal(s.upstream.seen.length, seenBefore);

  // The shared secret is used only on the route whose conf names it as the fallback.
  const fallback = await callEcho(s.url('/mcp/fallback'), await token('bob'));
  assert.equal(fallback.status, 200);
  assert.match(upstreamAuthorization() ?? '', /^Bearer shared-/);
  secrets.add(upstreamAuthorization()!.slice(7));
});

test('metrics count exchanges, cache hits and failures', async () => {
  const text = await (await fetch(s.metricsUrl)).text();
  const value = (series: string): number => Number(text.split('\n').find((l) => l.startsWith(`${series} `))?.slice(series.length + 1) ?? 'NaN');
  assert.ok(value('mcp_gateway_credential_token_requests_total{grant="token_exchange",outcome="issued"}') >= 6, text);
  assert.ok(value('mcp_gateway_credential_token_requests_total{grant="token_exchange",outcome="refused"}') >= 1);
  assert.ok(value('mcp_gateway_credential_token_requests_total{grant="token_exchange",outcome="unavailable"}') >= 2);
  assert.ok(value('mcp_gateway_credential_token_cache_total{grant="token_exchange",result="hit"}') >= 3);
  assert.ok(value('mcp_gateway_credential_token_cache_total{grant="token_exchange",result="shared"}') >= 1);
  assert.ok(value('mcp_gateway_credential_failures_total{kind="per_user",reason="missing"}') >= 1);
  assert.ok(value('mcp_gateway_credential_failures_total{kind="per_user",reason="unsafe-identity"}') >= 1);
});

test('no token or secret appears in any runner log line or audit line', async () => {
  const text = await s.allLogText();
  assert.ok(text.length > 0);
  assert.ok((await s.audit()).length > 10, 'the audit file has the calls');
  for (const v of secrets) assert.ok(!text.includes(v), `a secret value (${v.slice(0, 6)}…) appears in the logs`);
});
