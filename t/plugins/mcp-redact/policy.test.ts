// mcp-redact reading mcp-authz's policy file (policy_file): a route entry's
// data_policy.redact turns detectors on for the calls its match covers, arguments and results,
// in addition to the conf's own scope. Through the real host and MCP body code.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { DecisionRecord } from '../../../runner/host/plugin.js';
import type { HTTPReqCallReq, HTTPReqCallResp, RewriteAction } from '../../../runner/protocol/messages.js';
import { plugin as redact } from '../../../plugins/mcp-redact/index.js';
import { policyDir, policyWithRoutes } from '../../../testkit/policy-file.js';
import { TableChannel, carryKeyOf, decisionProbe, hostWith, requestCall as mcpPost, responseChannel } from '../../../testkit/host-kit.js';

const CARD = '4111 1111 1111 1111';
const EMAIL = 'jane.doe@example.com';
const SSN = '123-45-6789';
const enc = new TextEncoder();
const dec = new TextDecoder();

const audit = decisionProbe('mcp-audit', { responsePhase: true });
const host = hostWith(redact, audit.plugin);

const dir = await policyDir('redact-policy-');
const policyFile = join(dir, 'policy.yaml');
await writeFile(
  policyFile,
  policyWithRoutes(`    - name: billing-status
      match:
        server: billing-tools
        tools: [billing.get_subscription_status]
      data_policy:
        redact: [payment_card]
`),
);
after(async () => {
  await host.shutdown();
});

let nextId = 1;

function chainOf(conf: Record<string, unknown>, server: string, postResp = true) {
  return host.buildChain(
    [
      { name: 'mcp-route', value: JSON.stringify({ post_resp: postResp, server }) },
      { name: 'mcp-audit', value: '{}' },
      { name: 'mcp-redact', value: JSON.stringify(conf) },
    ],
    `redact-policy-${nextId++}`,
  );
}

function requestCall(body: Uint8Array): HTTPReqCallReq {
  return mcpPost(body, [], { id: nextId++, srcIp: new Uint8Array([10, 0, 0, 1]) });
}

const leaky = JSON.stringify({ jsonrpc: '2.0', id: 7, result: { content: [{ type: 'text', text: `card ${CARD}, mail ${EMAIL}, ssn ${SSN}` }] } });

/** One call through both phases; returns what went upstream, what the client got, and audit. */
async function roundTrip(conf: Record<string, unknown>, server: string, tool: string, args: Record<string, unknown> = {}): Promise<{ sentArgs: unknown; text: string; decisions: DecisionRecord[]; bodyRead: boolean }> {
  const body = enc.encode(JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: tool, arguments: args } }));
  const chain = chainOf(conf, server);
  const req = await host.onRequest(chain, requestCall(body), new TableChannel({}, body), Date.now() + 5000);
  const rewrite = req.action as RewriteAction | undefined;
  assert.equal(rewrite?.type, 'rewrite');
  const sentArgs = rewrite!.body ? (JSON.parse(dec.decode(rewrite!.body)) as { params: { arguments: unknown } }).params.arguments : args;
  const ch = responseChannel(carryKeyOf(req), leaky);
  const resp = await host.onResponse(chain, { id: nextId++, status: 200, headers: [{ name: 'Content-Type', value: 'application/json' }], confToken: 1 }, ch, Date.now() + 5000);
  const out = resp.body ? dec.decode(resp.body) : leaky;
  const text = (JSON.parse(out) as { result: { content: Array<{ text: string }> } }).result.content[0]!.text;
  return { sentArgs, text, decisions: audit.last(), bodyRead: ch.asked.some((q) => q.type === 'respBody') };
}

test('data_policy.redact: [payment_card] masks cards in that tool\'s result and arguments, not emails', async () => {
  const conf = { tools: ['crm.*'], policy_file: policyFile }; // the conf alone would not cover billing
  const r = await roundTrip(conf, 'billing-tools', 'billing.get_subscription_status', { note: `pay with ${CARD} or ask ${EMAIL}` });
  assert.equal(r.text, `card ****1111, mail ${EMAIL}, ssn ${SSN}`);
  assert.deepEqual(r.sentArgs, { note: `pay with ****1111 or ask ${EMAIL}` });
  assert.deepEqual(r.decisions.filter((d) => d.plugin === 'mcp-redact').map((d) => d.detail), [
    { where: 'arguments', counts: { payment_card: 1 } },
    { where: 'result', counts: { payment_card: 1 } },
  ]);
});

test('the entry scopes it: another tool or another server is left alone (its answer is not even read)', async () => {
  const conf = { tools: ['crm.*'], policy_file: policyFile };
  const otherTool = await roundTrip(conf, 'billing-tools', 'billing.list_invoices');
  assert.equal(otherTool.text, `card ${CARD}, mail ${EMAIL}, ssn ${SSN}`);
  assert.equal(otherTool.bodyRead, false);
  const otherServer = await roundTrip(conf, 'crm-tools', 'billing.get_subscription_status');
  assert.equal(otherServer.text, `card ${CARD}, mail ${EMAIL}, ssn ${SSN}`);
  // And the conf's own scope still works as before.
  const crm = await roundTrip(conf, 'crm-tools', 'crm.lookup');
  assert.equal(crm.text, 'card ****1111, mail [REDACTED:email], ssn [REDACTED:tax_id]');
});

test('in addition to the conf: detectors the conf enables for the tool apply too', async () => {
  const conf = { tools: ['billing.*'], detectors: ['email'], policy_file: policyFile };
  const matched = await roundTrip(conf, 'billing-tools', 'billing.get_subscription_status');
  assert.equal(matched.text, `card ****1111, mail [REDACTED:email], ssn ${SSN}`);
  const confOnly = await roundTrip(conf, 'billing-tools', 'billing.list_invoices');
  assert.equal(confOnly.text, `card ${CARD}, mail [REDACTED:email], ssn ${SSN}`);
});

test('a fast route refuses a call the policy wants redacted rather than pass it unscanned', async () => {
  const body = enc.encode(JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'billing.get_subscription_status', arguments: {} } }));
  const res: HTTPReqCallResp = await host.onRequest(chainOf({ tools: ['crm.*'], policy_file: policyFile }, 'billing-tools', false), requestCall(body), new TableChannel({}, body), Date.now() + 5000);
  assert.equal(res.action?.type, 'stop');
});

test('errors name the conf field, the file and the field inside it', async () => {
  const bad = join(dir, 'bad.yaml');
  await writeFile(bad, 'mcp_gateway:\n  routes:\n    - match: { tools: [x] }\n      data_policy:\n        redact: [credit_card]\n');
  await assert.rejects(
    async () => redact.prepare!({ policy_file: bad }, { routeKey: 'r', chain: ['mcp-redact'], state: host.state }),
    /^Error: policy_file: bad\.yaml: \/mcp_gateway\/routes\/0\/data_policy\/redact\/0 must be equal to one of the allowed values \(payment_card, tax_id, iban, email, phone, secret\)/,
  );
  await assert.rejects(async () => redact.prepare!({ policy_file: join(dir, 'absent.yaml') }, { routeKey: 'r', chain: [], state: host.state }), /^Error: policy_file: absent\.yaml: cannot read .*ENOENT/);
});
