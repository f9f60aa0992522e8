// The parts of mcp-credential's per-user modes on their own: the mcp-authz allow check, the
// per-user secret templates (path safety), the IdP reason redaction, the token reuse window,
// and conf checks of the token endpoint modes.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CallContext, DecisionRecord, Identity } from '../../../runner/host/plugin.js';
import type { McpMessage } from '../../../runner/mcp/types.js';
import { closeSecretWatchers } from '../../../runner/secrets/index.js';
import { missingAllow } from '../../../plugins/mcp-credential/authz-gate.js';
import { compileTemplate, PerUserSecrets } from '../../../plugins/mcp-credential/per-user.js';
import { safeReason } from '../../../plugins/mcp-credential/token-endpoint.js';
import { reuseUntil, subjectOf } from '../../../plugins/mcp-credential/grant-tokens.js';
import { plugin as credential } from '../../../plugins/mcp-credential/index.js';
import { RunnerState } from '../../../runner/host/state.js';

const dir = await mkdtemp(join(tmpdir(), 'cred-parts-'));
/** The runner state direct prepare calls get (a host would hand its own). */
const state = new RunnerState();
after(async () => {
  closeSecretWatchers();
  await state.close();
  await rm(dir, { recursive: true, force: true });
});

function message(index: number): McpMessage {
  return { type: 'request', kind: 'tools/call', id: index, method: 'tools/call', params: {}, raw: {} };
}

function ctxWith(decisions: DecisionRecord[], messages: number, identity?: Identity): CallContext {
  const body = { ok: true as const, batch: messages > 1, messages: Array.from({ length: messages }, (_, i) => message(i)) };
  return { decisions, identity, mcp: () => Promise.resolve(body) } as unknown as CallContext;
}

const allow = (i: number, action = 'allow'): DecisionRecord => ({ plugin: 'mcp-authz', action, rule: 'r', messageIndex: i });
const user: Identity = { user: 'alice', roles: [], source: 'jwt' };

test('the allow check: every message needs an allow by mcp-authz; a refusal anywhere withholds', async () => {
  assert.equal(await missingAllow(ctxWith([allow(0)], 1)), undefined);
  assert.equal(await missingAllow(ctxWith([allow(0), allow(1)], 2)), undefined);
  assert.match((await missingAllow(ctxWith([allow(0)], 2))) ?? '', /did not allow message 1/);
  assert.match((await missingAllow(ctxWith([], 1))) ?? '', /did not decide this call/);
  assert.match((await missingAllow(ctxWith([allow(0), { plugin: 'mcp-authz', action: 'error', rule: 'x' }], 1))) ?? '', /recorded error/);
  // Another plugin's allow does not count.
  assert.ok((await missingAllow(ctxWith([{ plugin: 'mcp-redact', action: 'allow', messageIndex: 0 }], 1))) !== undefined);
  // Shadow mode decides nothing: its would-be refusals pass.
  assert.equal(await missingAllow(ctxWith([allow(0, 'shadow-deny')], 1)), undefined);
  // A body without messages (the session GET/DELETE) needs the identity mcp-authz set.
  assert.equal(await missingAllow(ctxWith([], 0, user)), undefined);
  assert.match((await missingAllow(ctxWith([], 0))) ?? '', /no identity/);
});

test('per-user templates: checked at prepare; identity values that could traverse are refused', async () => {
  assert.throws(() => compileTemplate('$file:///run/secrets/{nobody}', 'token'), /unknown placeholder \{nobody\}/);
  assert.throws(() => compileTemplate('$file:///run/secrets/crm', 'token'), /needs a placeholder/);
  assert.throws(() => compileTemplate('$file://{user}', 'token'), /after a fixed directory/);
  assert.throws(() => compileTemplate('$vault://crm/{user}', 'token'), /unknown secret reference scheme/);

  const crm = join(dir, 'crm');
  await mkdir(crm);
  await writeFile(join(crm, 'alice'), 'alice-secret\n');
  await writeFile(join(dir, 'outside'), 'outside-secret');
  const secrets = new PerUserSecrets({ field: 'user', template: compileTemplate(`$file://${crm}/{user}`, 'token'), map: undefined, fallback: undefined, refreshMs: 30_000 });
  assert.deepEqual(await secrets.resolve(user), { ok: true, value: 'alice-secret', source: 'user' });
  for (const bad of ['../outside', '..', '.hidden', 'a/b', 'a\\b', 'a\u0000b', '', 'x'.repeat(200)]) {
    const r = await secrets.resolve({ user: bad, roles: [], source: 'jwt' });
    assert.equal(r.ok, false, bad);
    if (!r.ok) assert.equal(r.reason, 'unsafe-identity', bad);
  }
  const missing = await secrets.resolve({ user: 'bob', roles: [], source: 'jwt' });
  assert.deepEqual(missing.ok ? missing : missing.reason, 'missing');
  assert.equal((await secrets.resolve(undefined)).ok, false);
  // A file that appears later is found once the short negative cache has passed.
  await writeFile(join(crm, 'bob'), 'bob-secret');
  assert.equal((await secrets.resolve({ user: 'bob', roles: [], source: 'jwt' }, Date.now() + 1500)).ok, true);

  // $env:// templates: only names made of letters, digits and _.
  process.env['CRM_TOKEN_alice'] = 'alice-env-secret';
  const env = new PerUserSecrets({ field: 'user', template: compileTemplate('$env://CRM_TOKEN_{user}', 'token'), map: undefined, fallback: undefined, refreshMs: 1000 });
  assert.deepEqual(await env.resolve(user), { ok: true, value: 'alice-env-secret', source: 'user' });
  assert.equal((await env.resolve({ user: 'a.b', roles: [], source: 'jwt' })).ok, false);
});

test('per-user conf: a map by identity field; the fallback only when the conf names one', async () => {
  process.env['CRM_MAP_ALICE'] = 'map-alice';
  process.env['CRM_SHARED'] = 'shared-secret';
  const prep = async (conf: Record<string, unknown>) => credential.prepare!({ credential: conf } as never, { routeKey: 'r', chain: ['mcp-authz', 'mcp-credential'], state });
  const mapped = await prep({ type: 'per_user', tokens: { alice: '$env://CRM_MAP_ALICE' } });
  assert.equal(mapped.routeEntry?.dynamic?.kind, 'per_user');
  assert.equal(mapped.routeEntry?.dynamic?.header, 'authorization');
  await assert.rejects(prep({ type: 'per_user' }), /needs token \(a template\) or tokens/);
  await assert.rejects(prep({ type: 'per_user', tokens: { alice: 'literal-value' } }), /tokens\.alice: a literal secret is not allowed/);

  const fallback = new PerUserSecrets({ field: 'user', template: undefined, map: new Map(), fallback: { literal: false, value: () => 'shared-secret', describe: () => '$env://CRM_SHARED', problem: () => undefined, ready: () => Promise.resolve() }, refreshMs: 1000 });
  assert.deepEqual(await fallback.resolve(user), { ok: true, value: 'shared-secret', source: 'fallback' });
  // No identity at all is not "a user without a credential": no fallback for it.
  assert.equal((await fallback.resolve(undefined)).ok, false);
});

test('token endpoint modes: conf checks at prepare', async () => {
  process.env['CRED_PARTS_SECRET'] = 'client-secret-parts';
  const prep = async (conf: Record<string, unknown>) => credential.prepare!({ credential: conf } as never, { routeKey: 'r', chain: ['mcp-authz', 'mcp-credential'], state });
  const base = { type: 'token_exchange', token_endpoint: 'https://idp.example/token', client: { id: 'gw', secret: '$env://CRED_PARTS_SECRET' } };
  assert.equal((await prep(base)).routeEntry?.dynamic?.kind, 'token_exchange');
  await prep({ ...base, token_endpoint: 'http://127.0.0.1:9/token' });
  await assert.rejects(prep({ ...base, token_endpoint: 'http://idp.internal/token' }), /must be https/);
  await prep({ ...base, token_endpoint: 'http://idp.internal/token', allow_insecure_http: true });
  await assert.rejects(prep({ ...base, token_endpoint: 'https://gw:pw@idp.example/token' }), /credentials in the URL/);
  await assert.rejects(prep({ ...base, client: { id: 'gw' } }), /client\.secret: required for client_secret_basic/);
  await assert.rejects(prep({ ...base, client: { id: 'gw', auth_method: 'private_key_jwt', secret: '$env://CRED_PARTS_SECRET' } }), /client\.private_key: required/);
  process.env['CRED_PARTS_BADKEY'] = 'not-a-key-material';
  await assert.rejects(prep({ ...base, client: { id: 'gw', private_key: '$env://CRED_PARTS_BADKEY' } }), (err: Error) => /client\.private_key: signing key is not a private key/.test(err.message) && !err.message.includes('not-a-key-material'));
  await assert.rejects(prep({ ...base, client: { id: 'gw', secret: 'literal-secret' } }), /client\.secret: a literal secret is not allowed/);
});

test('the IdP reason is cleaned: no token echo, no control characters, bounded', () => {
  const jwt = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ';
  const out = safeReason(`invalid_grant: token ${jwt} expired\r\nInjected: line opaque-secret-value-1234`, ['opaque-secret-value-1234']);
  assert.equal(out, 'invalid_grant: token [REDACTED] expired Injected: line [REDACTED]');
  assert.ok(safeReason('x'.repeat(5000), []).length <= 161);
  assert.match(safeReason(`reason ${'A'.repeat(40)}`, []), /^reason \[REDACTED\]$/);
});

test('token reuse window: before expiry by the margin (at most half the lifetime), never past the subject', () => {
  const now = 1_000_000;
  assert.equal(reuseUntil(now + 300_000, undefined, 30_000, now), now + 270_000);
  assert.equal(reuseUntil(now + 2_000, undefined, 30_000, now), now + 1_000);
  assert.equal(reuseUntil(now + 300_000, now + 60_000, 30_000, now), now + 60_000);
  assert.equal(reuseUntil(undefined, undefined, 30_000, now), undefined, 'unknown lifetime: not cached');
  assert.equal(reuseUntil(now - 1, undefined, 30_000, now), undefined);
  assert.equal(reuseUntil(now + 300_000, now - 1, 30_000, now), undefined);
});

test('the subject of an exchange is the verified bearer token only', () => {
  const id: Identity = { user: 'alice', roles: ['a'], source: 'jwt', subject: 'alice', claims: { iss: 'idp', exp: 2000, scope: 'x' } };
  const s = subjectOf(id, 'Bearer tok.en.value');
  assert.equal(s?.token, 'tok.en.value');
  assert.equal(s?.expiresAtMs, 2_000_000);
  assert.equal(subjectOf({ ...id, source: 'header' }, 'Bearer tok'), undefined, 'a header identity has no token to exchange');
  assert.equal(subjectOf(id, 'Basic abc'), undefined);
  assert.equal(subjectOf(undefined, 'Bearer tok'), undefined);
  // A change of roles changes the fingerprint (the cached token is dropped).
  assert.notEqual(subjectOf({ ...id, roles: ['b'] }, 'Bearer tok')?.fingerprint, s?.fingerprint);
  assert.equal(subjectOf({ ...id, roles: ['b'] }, 'Bearer tok')?.key, s?.key);
});
