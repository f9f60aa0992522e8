// The allow record other plugins rely on (mcp-credential attaches a backend credential only to
// what mcp-authz allowed): through the real host, every call that passes carries one
// `{ plugin: 'mcp-authz', action: 'allow' }` per message (and one for a call without messages),
// and a call refused for lack of any grant on the server carries none.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { DecisionRecord, Plugin } from '../../../runner/host/plugin.js';
import { plugin as authz } from '../../../plugins/mcp-authz/index.js';
import { LATER, TableChannel, decisionProbe, hostWith, requestCall } from '../../../testkit/host-kit.js';

const probe = decisionProbe('probe');
const host = hostWith(authz as unknown as Plugin<never, unknown>, probe.plugin as unknown as Plugin<never, unknown>);
const POLICY = { version: 1, actors: [{ name: 'support', actor: { app: 'support-agent' }, servers: ['crm'], allowed_tools: ['crm.*'] }] };
const chain = host.buildChain(
  [
    { name: 'probe', value: '{}' },
    { name: 'mcp-authz', value: JSON.stringify({ server: 'crm', identity: { trusted_headers: { app: 'x-app', user: 'x-user' } }, policy: POLICY }) },
  ],
  'route#records#ext-plugin-pre-req#1',
);

async function run(body: unknown, app: string, method: 'POST' | 'GET' = 'POST'): Promise<{ stopped: boolean; records: DecisionRecord[] }> {
  const text = body === undefined ? undefined : JSON.stringify(body);
  const res = await host.onRequest(chain, requestCall(text, [{ name: 'x-app', value: app }, { name: 'x-user', value: 'alice' }], { method }), new TableChannel({}, text), LATER());
  return { stopped: res.action?.type === 'stop', records: probe.last().filter((r) => r.plugin === 'mcp-authz') };
}

const rpc = (id: number, method: string, params?: Record<string, unknown>) => ({ jsonrpc: '2.0', id, method, ...(params ? { params } : {}) });

test('every allowed call carries an allow record from mcp-authz, one per message', async () => {
  const single = await run(rpc(1, 'tools/call', { name: 'crm.lookup', arguments: {} }), 'support-agent');
  assert.equal(single.stopped, false);
  assert.deepEqual(single.records.map((r) => [r.action, r.rule, r.messageIndex]), [['allow', 'support/allowed_tools/crm.*', 0]]);

  const batch = await run([rpc(1, 'initialize', { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'c', version: '1' } }), { jsonrpc: '2.0', method: 'notifications/initialized' }, rpc(2, 'ping')], 'support-agent');
  assert.equal(batch.stopped, false);
  assert.deepEqual(batch.records.map((r) => [r.action, r.messageIndex]), [['allow', 0], ['allow', 1], ['allow', 2]]);

  const stream = await run(undefined, 'support-agent', 'GET');
  assert.equal(stream.stopped, false);
  assert.deepEqual(stream.records.map((r) => [r.action, r.rule]), [['allow', 'server-grant']]);
});

test('an actor with no grant on the server is refused, with a deny record and no allow', async () => {
  for (const body of [rpc(1, 'initialize', {}), rpc(2, 'ping'), undefined]) {
    const r = await run(body, 'other-app', body === undefined ? 'GET' : 'POST');
    assert.equal(r.stopped, true);
    assert.deepEqual(r.records.map((x) => [x.action, x.rule]), [['deny', 'no-grant']]);
  }
});
