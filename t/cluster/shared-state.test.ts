// The shared state's tables without processes: single-use claims, bounds that refuse (or evict
// when asked), expiry, first-writer-wins values, secrets, and replicated maps that publish only
// their own changes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LocalSharedState, ReplicatedMaster, ReplicatedMaps } from '../../runner/cluster/shared-state.js';

test('claims: first claimant wins until expiry; a full table refuses rather than forgets', async () => {
  let now = 1_000;
  const s = new LocalSharedState(() => now);
  assert.equal(await s.claimOnce('n', 'a', now + 100, 2), 'ok');
  assert.equal(await s.claimOnce('n', 'a', now + 100, 2), 'taken');
  assert.equal(await s.claimOnce('other', 'a', now + 100, 2), 'ok', 'namespaces are apart');
  assert.equal(await s.claimOnce('n', 'b', now + 500, 2), 'ok');
  assert.equal(await s.claimOnce('n', 'c', now + 100, 2), 'full');
  now += 200; // 'a' expired: its room is reused
  assert.equal(await s.claimOnce('n', 'c', now + 100, 2), 'ok');
  assert.equal(await s.claimOnce('n', 'b', now + 100, 2), 'taken');
});

test('values: put/get/take with expiry, evict-oldest on request, putIfAbsent keeps the first', async () => {
  let now = 1_000;
  const s = new LocalSharedState(() => now);
  assert.equal(await s.put('v', 'x', { n: 1 }, now + 100, 2), true);
  assert.deepEqual(await s.get('v', 'x'), { n: 1 });
  assert.equal(await s.put('v', 'y', 2, 0, 2), true);
  assert.equal(await s.put('v', 'z', 3, 0, 2), false, 'full: refused');
  assert.equal(await s.put('v', 'z', 3, 0, 2, true), true, 'full: the oldest evicted when asked');
  assert.equal(await s.get('v', 'x'), undefined);
  assert.equal(await s.take('v', 'y'), 2);
  assert.equal(await s.get('v', 'y'), undefined, 'taken once');
  assert.equal(await s.putIfAbsent('p', 'k', 'first', 0, 5), 'first');
  assert.equal(await s.putIfAbsent('p', 'k', 'second', 0, 5), 'first');
  await s.put('v', 'e', 1, now + 10, 5);
  now += 20;
  assert.equal(await s.get('v', 'e'), undefined, 'expired');
  await s.clear('p');
  assert.equal(await s.putIfAbsent('p', 'k', 'second', 0, 5), 'second', 'cleared');
  assert.ok((await s.secret('k')).equals(await s.secret('k')));
  assert.equal((await s.secret('k')).length, 32);
  assert.ok(!(await s.secret('k')).equals(await s.secret('other')));
});

test('replicated maps publish local changes only; the master copy is what a new worker gets', () => {
  const published: Array<[string, string, unknown]> = [];
  const maps = new ReplicatedMaps((name, key, value) => published.push([name, key, value]));
  const m = maps.of<string>('blocks');
  m.set('a', 'h1');
  m.applyRemote('b', 'h2');
  m.delete('a');
  m.delete('missing');
  assert.deepEqual(published, [['blocks', 'a', 'h1'], ['blocks', 'a', undefined]]);
  assert.equal(m.get('b'), 'h2');
  assert.equal(maps.of('blocks'), m, 'one map per name');
  const master = new ReplicatedMaster(2);
  master.apply('blocks', 'a', 'h1');
  master.apply('blocks', 'b', 'h2');
  master.apply('blocks', 'c', 'h3');
  master.apply('blocks', 'b', undefined);
  assert.deepEqual(master.snapshot(), [['blocks', [['c', 'h3']]]], 'bounded, deletions kept');
});
