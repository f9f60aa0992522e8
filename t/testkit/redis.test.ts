// Finding redis-server: REDIS_SERVER_BIN as given, else the first executable on PATH; without
// one, startRedis fails at once saying what to install (no wait, nothing started).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { findRedisServer, startRedis } from '../../testkit/redis.js';
import { tempDir } from '../../testkit/temp.js';

test('redis-server is looked up on PATH, first executable wins; REDIS_SERVER_BIN overrides', () => {
  const empty = tempDir('redis-path-empty-');
  const notExec = tempDir('redis-path-noexec-');
  const good = tempDir('redis-path-good-');
  writeFileSync(join(notExec, 'redis-server'), '');
  writeFileSync(join(good, 'redis-server'), '#!/bin/sh\n');
  chmodSync(join(good, 'redis-server'), 0o755);
  assert.equal(findRedisServer({ PATH: [empty, notExec].join(':') }), undefined);
  assert.equal(findRedisServer({ PATH: [empty, notExec, good].join(':') }), join(good, 'redis-server'));
  assert.equal(findRedisServer({ PATH: good, REDIS_SERVER_BIN: '/opt/redis/bin/redis-server' }), '/opt/redis/bin/redis-server');
});

test('without redis-server, startRedis fails at once with what to install', async () => {
  const started = Date.now();
  await assert.rejects(startRedis({ bin: '/nonexistent/redis-server' }), /REDIS_SERVER_BIN=\/nonexistent\/redis-server is not an executable.*apt-get install redis-server/);
  assert.ok(Date.now() - started < 1000);
});
