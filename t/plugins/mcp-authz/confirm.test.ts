import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { ConfirmationTokens, ReplayCache } from '../../../plugins/mcp-authz/confirm.js';
import { LocalSharedState } from '../../../runner/cluster/shared-state.js';

const binding = { caller: 'jwt::alice', server: 'crm', tool: 'ticket.create_case', args: { title: 'Broken', priority: 2 } };

function tokens(now: () => number = Date.now, cache = new ReplayCache(1000)) {
  return new ConfirmationTokens(randomBytes(32), 300, cache, now);
}

test('a token approves exactly the call it was issued for, once', async () => {
  const t = tokens();
  const { token, expiresAt } = t.issue(binding);
  assert.ok(expiresAt > Date.now() / 1000 + 290);
  // Same arguments in another key order: same canonical hash.
  assert.deepEqual(await t.verify(token, { ...binding, args: { priority: 2, title: 'Broken' } }), { ok: true });
  assert.deepEqual(await t.verify(token, binding), { ok: false, reason: 'confirmation token was already used' });
});

test('wrong arguments, tool, server or caller are refused (and do not use the token up)', async () => {
  const t = tokens();
  const { token } = t.issue(binding);
  assert.deepEqual(await t.verify(token, { ...binding, args: { title: 'Broken', priority: 3 } }), { ok: false, reason: 'confirmation token was issued for other arguments' });
  assert.deepEqual(await t.verify(token, { ...binding, tool: 'account.delete' }), { ok: false, reason: 'confirmation token was issued for another tool' });
  assert.deepEqual(await t.verify(token, { ...binding, server: 'other' }), { ok: false, reason: 'confirmation token was issued for another tool' });
  assert.deepEqual(await t.verify(token, { ...binding, caller: 'jwt::mallory' }), { ok: false, reason: 'confirmation token was issued to another caller' });
  assert.deepEqual(await t.verify(token, binding), { ok: true });
});

test('expired, tampered, foreign-key and malformed tokens are refused', async () => {
  let now = Date.now();
  const t = tokens(() => now);
  const { token } = t.issue(binding);
  now += 301_000;
  assert.deepEqual(await t.verify(token, binding), { ok: false, reason: 'confirmation token expired' });

  const t2 = tokens();
  const fresh = t2.issue(binding).token;
  const [p, body, sig] = fresh.split('.');
  const forged = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(body!, 'base64url').toString()), args: 'x' })).toString('base64url');
  assert.equal(((await t2.verify(`${p}.${forged}.${sig}`, binding)) as { reason: string }).reason, 'confirmation token signature is invalid');
  assert.equal(((await tokens().verify(fresh, binding)) as { reason: string }).reason, 'confirmation token signature is invalid');
  assert.equal(((await t2.verify('garbage', binding)) as { reason: string }).reason, 'malformed confirmation token');
  assert.equal(((await t2.verify('mcpc1..', binding)) as { reason: string }).reason, 'confirmation token signature is invalid');
});

test('the replay cache is bounded and refuses rather than forgets live tokens', async () => {
  let now = 1_000_000;
  const cache = new ReplayCache(2, new LocalSharedState(() => now));
  assert.equal(await cache.consume('a', now + 1000), 'ok');
  assert.equal(await cache.consume('a', now + 1000), 'replayed');
  assert.equal(await cache.consume('b', now + 5000), 'ok');
  assert.equal(await cache.consume('c', now + 1000), 'full');
  now += 2000; // 'a' expired: its slot is reused
  assert.equal(await cache.consume('c', now + 1000), 'ok');
  assert.equal(await cache.consume('b', now + 1000), 'replayed', 'b is still live');
});
