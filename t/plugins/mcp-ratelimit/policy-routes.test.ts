// mcp-ratelimit reading mcp-authz's policy file (authz_policy_file): route entries' `limits`
// become limits scoped by the entry's match, named after the entry, driven through the real
// host (chain + CallContext) with ExtraInfo answers from a table.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { DecisionRecord } from '../../../runner/host/plugin.js';
import type { StopAction } from '../../../runner/protocol/messages.js';
import { createRatelimitPlugin } from '../../../plugins/mcp-ratelimit/index.js';
import { MemoryStore } from '../../../plugins/mcp-ratelimit/store-memory.js';
import { policyDir, policyWithRoutes } from '../../../testkit/policy-file.js';
import { LATER, TableChannel, carryKeyOf, decisionProbe, hostWith, requestCall, responseChannel } from '../../../testkit/host-kit.js';

const dec = new TextDecoder();

/** Sets ctx.identity from x-user (as mcp-authz would) and keeps the decision records. */
const idp = decisionProbe('idp', {
  onRequest(ctx) {
    const user = ctx.request.header('x-user');
    if (user) ctx.identity = { user, roles: [], source: 'jwt' };
  },
});

let clockMs = Date.UTC(2026, 2, 10, 9, 0, 0);
const ratelimit = createRatelimitPlugin({ clock: () => clockMs, memoryStore: new MemoryStore({ clock: () => clockMs }) });
const host = hostWith(idp.plugin, ratelimit);
const ENV = { routeKey: 'r', chain: ['mcp-ratelimit'], state: host.state };

const dir = await policyDir('rl-authz-policy-');
after(async () => {
  await host.shutdown();
});

let routeSeq = 0;
function chain(conf: object, server: string) {
  return host.buildChain(
    [
      { name: 'mcp-route', value: JSON.stringify({ post_resp: true, server }) },
      { name: 'idp', value: '{}' },
      { name: 'mcp-ratelimit', value: JSON.stringify(conf) },
    ],
    `policy-route#${++routeSeq}`,
  );
}

const toolCall = (id: number, name: string) => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: {} } });

async function send(ch: ReturnType<typeof chain>, body: unknown, user = 'alice'): Promise<{ stop: StopAction | undefined; carryKey: string | undefined; decisions: DecisionRecord[] }> {
  const text = JSON.stringify(body);
  const call = requestCall(text, [{ name: 'x-user', value: user }], { srcIp: new Uint8Array([10, 0, 0, 9]) });
  const res = await host.onRequest(ch, call, new TableChannel({}, text), LATER());
  return { stop: res.action?.type === 'stop' ? res.action : undefined, carryKey: carryKeyOf(res), decisions: idp.last() };
}

async function respond(ch: ReturnType<typeof chain>, carryKey: string | undefined): Promise<void> {
  const channel = responseChannel(carryKey, '{"jsonrpc":"2.0","id":1,"result":{}}');
  await host.onResponse(ch, { id: 2, status: 200, headers: [{ name: 'Content-Type', value: 'application/json' }], confToken: 1 }, channel, LATER());
}

function errorOf(stop: StopAction): { id: unknown; error: { code: number; message: string } } {
  return JSON.parse(dec.decode(stop.body));
}

const POLICY = policyWithRoutes(`    - name: billing-status
      match:
        server: billing-tools
        tools: [billing.get_subscription_status]
      limits:
        requests_per_minute: 2
    - name: crm-writes
      match:
        server: crm-tools
        tools: [crm.update_*]
      limits:
        concurrent_calls: 1
    - match:
        server: crm-tools
        tools: [crm.export]
      limits:
        requests_per_minute: 1
`);

test("a route entry's requests_per_minute limits the matched tool on the matched server only, per user", async () => {
  const file = join(dir, 'policy.yaml');
  await writeFile(file, POLICY);
  const billing = chain({ authz_policy_file: file }, 'billing-tools');
  assert.equal((await send(billing, toolCall(1, 'billing.get_subscription_status'))).stop, undefined);
  assert.equal((await send(billing, toolCall(2, 'billing.get_subscription_status'))).stop, undefined);
  const third = await send(billing, toolCall(3, 'billing.get_subscription_status'));
  assert.equal(third.stop?.status, 200);
  assert.equal(errorOf(third.stop!).id, 3);
  assert.match(errorOf(third.stop!).error.message, /routes\/billing-status\/requests_per_minute/);
  const rec = third.decisions.find((d) => d.plugin === 'mcp-ratelimit');
  assert.deepEqual(rec && [rec.action, rec.rule, rec.detail?.['by'], rec.detail?.['limit'], rec.detail?.['window']], ['limit', 'routes/billing-status/requests_per_minute', ['user'], 2, 60]);

  // Not matched: another tool on the same server, the same tool on another server.
  for (let i = 0; i < 5; i++) assert.equal((await send(billing, toolCall(10 + i, 'billing.list_invoices'))).stop, undefined);
  const crm = chain({ authz_policy_file: file }, 'crm-tools');
  for (let i = 0; i < 5; i++) assert.equal((await send(crm, toolCall(20 + i, 'billing.get_subscription_status'))).stop, undefined);
  // Per user: bob has his own counter; a minute later alice may call again.
  assert.equal((await send(billing, toolCall(30, 'billing.get_subscription_status'), 'bob')).stop, undefined);
  clockMs += 30_000;
  assert.equal((await send(billing, toolCall(31, 'billing.get_subscription_status'))).stop, undefined);

  // The requirements document's unnamed entries are named like mcp-authz names them.
  assert.equal((await send(crm, toolCall(40, 'crm.export'))).stop, undefined);
  assert.match(errorOf((await send(crm, toolCall(41, 'crm.export'))).stop!).error.message, /routes\[2\]\/requests_per_minute/);
});

test("a route entry's concurrent_calls holds a slot until the answer went through", async () => {
  const file = join(dir, 'policy.yaml');
  await writeFile(file, POLICY);
  const crm = chain({ authz_policy_file: file }, 'crm-tools');
  const first = await send(crm, toolCall(1, 'crm.update_contact'));
  assert.equal(first.stop, undefined);
  const second = await send(crm, toolCall(2, 'crm.update_note'));
  assert.equal(second.stop?.status, 200);
  assert.equal(second.decisions.find((d) => d.plugin === 'mcp-ratelimit')?.rule, 'routes/crm-writes/concurrent_calls');
  assert.equal((await send(crm, toolCall(3, 'crm.lookup'))).stop, undefined, 'other tools do not take a slot');
  await respond(crm, first.carryKey);
  assert.equal((await send(crm, toolCall(4, 'crm.update_note'))).stop, undefined, 'the slot was given back');
});

test('the policy file is watched: a changed limit applies without a new conf; a bad version keeps the last good one', async () => {
  const file = join(dir, 'reload.yaml');
  await writeFile(file, POLICY);
  const billing = chain({ authz_policy_file: file }, 'billing-tools');
  const tool = 'billing.get_subscription_status';
  const tighter = POLICY.replace('requests_per_minute: 2', 'requests_per_minute: 1').replace('name: billing-status', 'name: billing-status-v2');
  await writeFile(`${file}.tmp`, tighter);
  await rename(`${file}.tmp`, file);
  const deadline = Date.now() + 4000;
  let refused: StopAction | undefined;
  for (let id = 1; !refused && Date.now() < deadline; id++) {
    refused = (await send(billing, toolCall(id, tool), `user-${id}`)).stop ?? (await send(billing, toolCall(id, tool), `user-${id}`)).stop;
    if (!refused) await new Promise((r) => setTimeout(r, 20));
  }
  assert.ok(refused, 'the new limit applied');
  assert.match(errorOf(refused).error.message, /routes\/billing-status-v2\/requests_per_minute/);

  await writeFile(`${file}.tmp`, tighter.replace('requests_per_minute: 1', 'requests_per_minute: lots'));
  await rename(`${file}.tmp`, file);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal((await send(billing, toolCall(90, tool), 'carol')).stop, undefined);
  assert.match(errorOf((await send(billing, toolCall(91, tool), 'carol')).stop!).error.message, /billing-status-v2/, 'last good version kept');
});

test('errors name the conf field, the file and the field inside it', async () => {
  const bad = join(dir, 'bad.yaml');
  await writeFile(bad, 'mcp_gateway:\n  routes:\n    - match: { server: s }\n      limits:\n        requests_per_minute: 0\n');
  await assert.rejects(async () => ratelimit.prepare!({ authz_policy_file: bad }, ENV), /^Error: authz_policy_file: bad\.yaml: \/mcp_gateway\/routes\/0\/limits\/requests_per_minute must be >= 1/);
  const typo = join(dir, 'typo.yaml');
  await writeFile(typo, 'mcp_gateway:\n  routes:\n    - match: { server: s }\n      limits:\n        request_per_minute: 5\n');
  await assert.rejects(async () => ratelimit.prepare!({ authz_policy_file: typo }, ENV), /authz_policy_file: typo\.yaml: \/mcp_gateway\/routes\/0\/limits must NOT have additional property 'request_per_minute'/);
  await assert.rejects(async () => ratelimit.prepare!({ authz_policy_file: join(dir, 'absent.yaml') }, ENV), /authz_policy_file: absent\.yaml: cannot read .*ENOENT/);
  // The authz file under the plugin's own policy_file: a hint instead of a bare schema error.
  const file = join(dir, 'hint.yaml');
  await writeFile(file, POLICY);
  await assert.rejects(async () => ratelimit.prepare!({ policy_file: file }, ENV), /name it in authz_policy_file instead/);
});

test('the shipped conf/policies/support.yaml yields the limits its comments promise', async () => {
  const p = await ratelimit.prepare!({ authz_policy_file: join(process.cwd(), 'conf/policies/support.yaml') }, ENV);
  assert.deepEqual(p.limits.rates.map((l) => [l.name, l.requests, l.windowSeconds, l.by]), [
    ['routes/crm-support-only/requests_per_minute', 120, 60, ['user']],
    ['routes/billing-status/requests_per_minute', 60, 60, ['user']],
  ]);
  assert.deepEqual(p.limits.concurrency.map((l) => [l.name, l.max]), [['routes/crm-support-only/concurrent_calls', 20]]);
  assert.equal(p.limits.needsCaller, true);
});
