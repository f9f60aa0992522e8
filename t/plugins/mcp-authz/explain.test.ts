import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { main } from '../../../plugins/mcp-authz/explain.js';

const POLICY = join(process.cwd(), 'conf/policies/support.yaml');
const SUPPORT = JSON.stringify({ app: 'support-agent', environment: 'production', user: 'alice', roles: ['support'] });

async function explain(request: unknown, identity = SUPPORT, extra: string[] = ['--server', 'crm-tools']): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(['--policy', POLICY, '--identity', identity, '--request', JSON.stringify(request), ...extra], (l) => out.push(l), (l) => err.push(l));
  return { code, out, err };
}

const call = (name: string, args: Record<string, unknown> = {}) => ({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name, arguments: args } });

test('exit 0 allow, 1 deny, 2 confirm, with the deciding rule printed', async () => {
  const allow = await explain(call('crm.lookup_customer', { customer_id: 'c-1' }));
  assert.equal(allow.code, 0);
  assert.equal(allow.out[0], 'ALLOW tools/call crm.lookup_customer');
  assert.match(allow.out[1]!, /rule: +support-agent\/allowed_tools\/crm\.lookup_customer/);

  const deny = await explain(call('db.run_query', { sql: 'delete from users' }));
  assert.equal(deny.code, 1);
  assert.match(deny.out.join('\n'), /arguments\/sql must match pattern/);

  const confirm = await explain(call('ticket.create_case'));
  assert.equal(confirm.code, 2);

  const batch = await explain([call('ticket.create_case'), { ...call('billing.update_payment_method'), id: 2 }], SUPPORT, ['--server', 'billing-tools', '--json']);
  assert.equal(batch.code, 1, 'deny outranks confirm');
  assert.deepEqual(batch.out.map((l) => JSON.parse(l).decision), ['confirm', 'deny']);
  assert.equal(JSON.parse(batch.out[1]!).rule, 'support-agent/denied_tools/billing.update_payment_method');
});

test('exit 3 on usage errors, bad JSON and invalid policies', async () => {
  assert.equal((await main([], () => {}, () => {})), 3);
  assert.equal((await explain(call('x'), '{nope')).code, 3);
  const errs: string[] = [];
  assert.equal(await main(['--policy', '/nonexistent.yaml', '--identity', '{}', '--request', '{}'], () => {}, (l) => errs.push(l)), 3);
  assert.match(errs[0]!, /nonexistent\.yaml: cannot read/);
});

test('runs as a command', async () => {
  const code = await new Promise<number>((resolve) => {
    const child = execFile(process.execPath, ['dist/plugins/mcp-authz/explain.js', '--policy', POLICY, '--server', 'crm-tools', '--identity', SUPPORT, '--request', JSON.stringify(call('account.delete_customer'))]);
    child.on('exit', (c) => resolve(c ?? -1));
  });
  assert.equal(code, 1);
});

test('every rule that matched is listed with its effect (text and --json)', async () => {
  const text = await explain(call('crm.lookup_customer', { customer_id: 'c-1' }));
  assert.equal(text.code, 0);
  assert.deepEqual(text.out.filter((l) => l.includes('matched:')).map((l) => l.trim().replace(/\s+/g, ' ')), [
    'matched: allow support-agent/allowed_tools/crm.lookup_customer: grants',
    'matched: allow routes/crm-support-only: grants',
  ]);
  // Without a user the route requirement denies, and both rules still show.
  const json = await explain(call('crm.lookup_customer', { customer_id: 'c-1' }), JSON.stringify({ app: 'support-agent', environment: 'production' }), ['--server', 'crm-tools', '--json']);
  assert.equal(json.code, 1);
  const line = JSON.parse(json.out[0]!);
  assert.equal(line.rule, 'routes/crm-support-only');
  assert.deepEqual(line.matched.map((m: { rule: string; effect: string }) => [m.rule, m.effect]), [
    ['routes/crm-support-only', 'deny'],
    ['support-agent/allowed_tools/crm.lookup_customer', 'allow'],
  ]);
  // An identity with no grant on the server: refused whatever the method.
  const none = await explain({ jsonrpc: '2.0', id: 1, method: 'initialize' }, JSON.stringify({ app: 'stranger' }), ['--server', 'crm-tools', '--json']);
  assert.equal(none.code, 1);
  assert.equal(JSON.parse(none.out[0]!).rule, 'no-grant');
});
