// The small parts of the multi-process runner: the workers setting, carry-key owners, and
// conf tokens adopted from the primary's numbering.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { workersFromEnv } from '../../runner/cluster/settings.js';
import { carryKeyPrefix, ownerOfCarryKey } from '../../runner/cluster/messages.js';
import { ConfStore } from '../../runner/protocol/conf-store.js';

test('MCP_RUNNER_WORKERS: half the cores by default, at least 1; bad values fall back and say why', () => {
  assert.deepEqual(workersFromEnv(undefined, 2), { workers: 1 });
  assert.deepEqual(workersFromEnv('', 8), { workers: 4 });
  assert.deepEqual(workersFromEnv(undefined, 1), { workers: 1 });
  assert.deepEqual(workersFromEnv('3', 2), { workers: 3 });
  for (const bad of ['0', '-1', '2.5', 'many', '65']) {
    const r = workersFromEnv(bad, 8);
    assert.equal(r.workers, 4, bad);
    assert.match(r.error ?? '', /MCP_RUNNER_WORKERS must be an integer/);
  }
});

test('a carry key names its owner; anything else names none', () => {
  const key = (s: string): Uint8Array => Buffer.from(s);
  assert.equal(ownerOfCarryKey(key(`${carryKeyPrefix(7)}0123456789abcdef`)), 7);
  assert.equal(ownerOfCarryKey(key(`${carryKeyPrefix(12345)}x`)), 12345);
  for (const other of ['0123456789abcdef', 'p-123', 'px-1', 'p12', 'q1-ab', '']) assert.equal(ownerOfCarryKey(key(other)), undefined, other);
  assert.equal(ownerOfCarryKey(undefined), undefined);
});

test('ConfStore.adopt keeps the primary’s token; describe gives its key and conf; refresh reports use', () => {
  let now = 1000;
  const refreshed: number[] = [];
  const store = new ConfStore<string>({ ttlMs: 800, now: () => now, onRefresh: (t) => refreshed.push(t) });
  const conf = [{ name: 'p', value: '{}' }];
  let builds = 0;
  const chain = store.adopt(0x123456, 'k1', conf, () => `chain${++builds}`);
  assert.equal(chain, 'chain1');
  assert.equal(store.get(0x123456), 'chain1');
  // Adopting again (another connection resolved the same token) reuses the chain.
  assert.equal(store.adopt(0x123456, 'k1', conf, () => `chain${++builds}`), 'chain1');
  assert.deepEqual(store.describe(0x123456), { key: 'k1', conf });
  // The key moves to a new token: the old one goes.
  store.adopt(0x123457, 'k1', [{ name: 'p', value: '{"x":1}' }], () => `chain${++builds}`);
  assert.equal(store.get(0x123456), undefined);
  // Use after ttl/8 pushes the expiry back and tells the primary.
  now += 200;
  assert.ok(store.refresh(0x123457));
  assert.deepEqual(refreshed, [0x123457]);
  now += 900;
  assert.equal(store.describe(0x123457), undefined, 'expired');
  store.close();
});
