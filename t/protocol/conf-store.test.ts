import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfStore, confExpireSecondsFromEnv } from '../../runner/protocol/conf-store.js';
import type { TextEntry } from '../../runner/protocol/messages.js';

const conf: TextEntry[] = [{ name: 'mcp-authz', value: '{}' }];

function clockStore(opts: ConstructorParameters<typeof ConfStore<string>>[0] = {}) {
  const clock = { t: 1_000_000 };
  const store = new ConfStore<string>({ now: () => clock.t, sweepIntervalMs: 3_600_000, ...opts });
  return { clock, store };
}

test('tokens carry the generation in the high 12 bits and are never 0', () => {
  const { store } = clockStore({ generation: 0xabc });
  const t = store.prepare('k', conf, () => 'chain');
  assert.equal(t >>> 20, 0xabc);
  assert.equal(store.get(t), 'chain');
  store.close();
  // Generation 0 with the counter about to wrap: 0 is skipped.
  const { store: wrap } = clockStore({ generation: 0, counterStart: 0xffffe });
  assert.equal(wrap.prepare('a', conf, () => 'a'), 0xfffff);
  assert.equal(wrap.prepare('b', conf, () => 'b'), 1);
  wrap.close();
});

test('two store instances (two runner processes) issue different tokens', () => {
  const a = new ConfStore<string>();
  const b = new ConfStore<string>();
  const ta = a.prepare('route#1#ext-plugin-pre-req#1', conf, () => 'x');
  const tb = b.prepare('route#1#ext-plugin-pre-req#1', conf, () => 'x');
  assert.notEqual(ta, tb);
  assert.equal(b.get(ta), undefined, "a previous process's token is unknown here");
  a.close();
  b.close();
});

test('default TTL is 1.2 × APISIX_CONF_EXPIRE_TIME; env parsing defaults to 3600', () => {
  assert.equal(new ConfStore({ confExpireSeconds: 3600 }).ttlMs, 4_320_000);
  assert.equal(confExpireSecondsFromEnv(undefined), 3600);
  assert.equal(confExpireSecondsFromEnv(''), 3600);
  assert.equal(confExpireSecondsFromEnv('60'), 60);
  assert.throws(() => confExpireSecondsFromEnv('soon'), /APISIX_CONF_EXPIRE_TIME/);
});

test('expiry slides: every use refreshes the token', () => {
  const { clock, store } = clockStore({ ttlMs: 1000 });
  const t = store.prepare('k', conf, () => 'chain');
  for (let i = 0; i < 10; i++) {
    clock.t += 900;
    assert.equal(store.get(t), 'chain', `use ${i} within the TTL keeps it alive`);
  }
  clock.t += 1000;
  assert.equal(store.get(t), undefined, 'unused for a full TTL: gone');
  assert.equal(store.size, 0);
  store.close();
});

test('idempotent by key while alive; a dead token is never handed out again', () => {
  const { clock, store } = clockStore({ ttlMs: 1000 });
  let builds = 0;
  const build = (): string => `chain${++builds}`;
  const t1 = store.prepare('route#1', conf, build);
  clock.t += 500;
  assert.equal(store.prepare('route#1', conf, build), t1);
  assert.equal(builds, 1);
  clock.t += 900; // PrepareConf refreshed it at +500
  assert.equal(store.get(t1), 'chain1');
  clock.t += 1001;
  const t2 = store.prepare('route#1', conf, build);
  assert.notEqual(t2, t1, 'the expired token is not reused for the key');
  assert.equal(store.get(t1), undefined);
  assert.equal(store.get(t2), 'chain2');
  // Same key with a different conf (should not happen with APISIX keys) gets its own chain.
  const t3 = store.prepare('route#1', [{ name: 'mcp-audit', value: '{}' }], build);
  assert.notEqual(t3, t2);
  assert.equal(store.get(t3), 'chain3');
  store.close();
});

test('sweep removes expired entries; the cap evicts least recently used', () => {
  const { clock, store } = clockStore({ ttlMs: 10_000, maxEntries: 3 });
  const a = store.prepare('a', conf, () => 'a');
  const b = store.prepare('b', conf, () => 'b');
  const c = store.prepare('c', conf, () => 'c');
  clock.t += 5000; // > ttl/8: a use moves the entry to the recent end
  assert.equal(store.get(a), 'a');
  const d = store.prepare('d', conf, () => 'd');
  assert.equal(store.size, 3);
  assert.equal(store.get(b), undefined, 'b was least recently used');
  assert.equal(store.get(a), 'a');
  assert.equal(store.get(c), 'c');
  assert.equal(store.get(d), 'd');
  clock.t += 10_001;
  assert.equal(store.sweep(), 3);
  assert.equal(store.size, 0);
  store.close();
});

test('a build that throws stores nothing', () => {
  const { store } = clockStore();
  assert.throws(() => store.prepare('k', conf, () => {
    throw new Error('boom');
  }), /boom/);
  assert.equal(store.size, 0);
  store.close();
});
