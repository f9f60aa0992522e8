// Two gateways, each with its own runner process (as two APISIX nodes would have), share one
// real Redis: a per-user limit counts the calls of both, so spreading calls over the nodes
// does not multiply the allowance.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startSampleMcpServer } from '../../examples/sample-mcp-server.js';
import { startEmulator, type RouteConf } from '../../emulator/index.js';
import { startRedis } from '../../testkit/redis.js';
import { REPO_ROOT, toolCall } from '../../e2e/harness.js';

const cleanups: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

test('a limit in Redis counts calls across two runner processes', async () => {
  // Redis first: without redis-server this fails at once with what to install, nothing started.
  const redis = await startRedis();
  cleanups.push(() => redis.stop());
  const server = await startSampleMcpServer({ json: true });
  cleanups.push(() => server.close());
  const conf = [
    { name: 'mcp-route', value: JSON.stringify({ server: 'sample-tools' }) },
    {
      name: 'mcp-ratelimit',
      value: JSON.stringify({
        identity: { headers: { user: 'x-user' } },
        store: { type: 'redis', url: redis.url },
        limits: [{ name: 'per-user', by: ['user'], requests: 10, per: 'minute' }],
      }),
    },
  ];
  const route: RouteConf = {
    id: 'shared',
    uri: '/mcp',
    plugins: { 'ext-plugin-pre-req': { conf, allow_degradation: false } },
    upstream: { type: 'roundrobin', nodes: { [`127.0.0.1:${server.port}`]: 1 } },
  };
  const nodes = await Promise.all(
    [0, 1].map(() =>
      startEmulator({ routes: [route], cmd: [process.execPath, join(REPO_ROOT, 'dist/runner/main.js')], envs: { MCP_RUNNER_LOG_LEVEL: 'silent' } }),
    ),
  );
  for (const n of nodes) cleanups.push(() => n.stop());
  await Promise.all(nodes.map((n) => n.waitForRunner(10_000)));
  assert.notEqual(nodes[0]!.runnerPid(), nodes[1]!.runnerPid(), 'two runner processes');

  const statuses: number[] = [];
  for (let i = 0; i < 14; i++) {
    const node = nodes[i % 2]!;
    const r = await toolCall(`${node.url}/mcp`, 'crm.search_accounts', { query: `q${i}` }, { 'x-user': 'carol' });
    // A limit answers HTTP 200 with JSON-RPC -32029: record the code, 0 for a served call.
    statuses.push(r.status === 200 && r.text.includes('"code":-32029') ? -32029 : r.status === 200 ? 0 : r.status);
  }
  assert.deepEqual(statuses.slice(0, 10), Array(10).fill(0), 'the first 10 calls pass, whichever node took them');
  assert.deepEqual(statuses.slice(10), [-32029, -32029, -32029, -32029], 'the 11th call and later are refused on both nodes');
  // Another user has a budget of their own on either node.
  assert.equal((await toolCall(`${nodes[1]!.url}/mcp`, 'crm.search_accounts', { query: 'x' }, { 'x-user': 'dave' })).status, 200);
});
