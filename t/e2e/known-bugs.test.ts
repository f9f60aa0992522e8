// Bugs the e2e suite found, kept as regression tests (each failed before its fix).

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSampleMcpServer } from '../../examples/sample-mcp-server.js';
import { startEmulator } from '../../emulator/index.js';
import { startRedis } from '../../testkit/redis.js';
import { REPO_ROOT, toolCall } from '../../e2e/harness.js';

const cleanups: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

test(
  'mcp-ratelimit: the first call on a Redis-store route after the runner starts is served, not refused with 503',
  // Fixed: prepare now waits (bounded) for the first Redis connection (whenRedisReady).
  async () => {
    const dir = await mkdtemp(join(tmpdir(), 'e2e-bug-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const [redis, server] = await Promise.all([startRedis(), startSampleMcpServer({ json: true })]);
    cleanups.push(() => redis.stop(), () => server.close());
    const conf = [
      { name: 'mcp-route', value: JSON.stringify({ server: 'sample-tools' }) },
      {
        name: 'mcp-ratelimit',
        value: JSON.stringify({ identity: { headers: { user: 'x-user' } }, store: { type: 'redis', url: redis.url }, limits: [{ name: 'per-user', by: ['user'], requests: 100, per: 'minute' }] }),
      },
    ];
    const emulator = await startEmulator({
      routes: [{ id: 'r', uri: '/mcp', plugins: { 'ext-plugin-pre-req': { conf, allow_degradation: false } }, upstream: { type: 'roundrobin', nodes: { [`127.0.0.1:${server.port}`]: 1 } } }],
      cmd: [process.execPath, join(REPO_ROOT, 'dist/runner/main.js')],
      envs: { MCP_RUNNER_LOG_LEVEL: 'silent' },
    });
    cleanups.push(() => emulator.stop());
    await emulator.waitForRunner(10_000);
    const first = await toolCall(`${emulator.url}/mcp`, 'crm.lookup_customer', { customer_id: 'c-1' }, { 'x-user': 'u1' });
    assert.equal(first.status, 200, first.text);
  },
);
