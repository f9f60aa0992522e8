// Both SDK generations through one gateway (emulator, real runner, five plugins): v2 clients
// pinned to 2026-07-28 and auto-negotiating, v1 clients; v2 servers (stateless, serving both
// eras) and the sessionful v1 sample server. A multi-round-trip tool asks for an elicitation
// and a sampling completion on a route whose answers are read: the rounds complete, what the
// embedded requests quote is redacted, requestState comes back intact, and audit ties the
// rounds to one logical call.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Client as ClientV2, StreamableHTTPClientTransport as TransportV2 } from '@modelcontextprotocol/client';
import { Client as ClientV1 } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as TransportV1 } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { startGateway, APP_HEADER } from '../../testkit/modern-gateway.js';
import { assertValidEvent } from '../../testkit/audit.js';

const gw = await startGateway();
const clients: { close(): Promise<void> }[] = [];
after(async () => {
  for (const c of clients) await c.close().catch(() => undefined);
  await gw.close();
});

const SECRETS = /4111 1111 1111 1111|jane\.doe@example\.com/;

interface Seen {
  elicitations: string[];
  samplingPrompts: string[];
}

async function v2Client(url: string, mode: 'auto' | { pin: string }): Promise<{ client: ClientV2; seen: Seen }> {
  const seen: Seen = { elicitations: [], samplingPrompts: [] };
  const client = new ClientV2({ name: 'v2-test-client', version: '1.0.0' }, { capabilities: { elicitation: { form: {} }, sampling: {} }, versionNegotiation: { mode } });
  client.setRequestHandler('elicitation/create', async (request) => {
    seen.elicitations.push(request.params.message);
    return { action: 'accept', content: { confirm: true } };
  });
  client.setRequestHandler('sampling/createMessage', async (request) => {
    seen.samplingPrompts.push(JSON.stringify(request.params.messages));
    return { model: 'test-model', role: 'assistant', content: { type: 'text', text: 'refund of one charge' } };
  });
  await client.connect(new TransportV2(new URL(url), { requestInit: { headers: APP_HEADER } }));
  clients.push(client);
  return { client, seen };
}

async function v1Client(url: string): Promise<ClientV1> {
  const client = new ClientV1({ name: 'v1-test-client', version: '1.0.0' });
  await client.connect(new TransportV1(new URL(url), { requestInit: { headers: APP_HEADER } }));
  clients.push(client);
  return client;
}

function textOf(result: unknown): string {
  const content = (result as { content?: { type: string; text?: string }[] }).content ?? [];
  return content.map((c) => c.text ?? '').join('\n');
}

test('v2 client pinned to 2026-07-28: filtered list, allowed, redacted and denied calls; same answers as direct', async () => {
  const { client } = await v2Client(gw.url, { pin: '2026-07-28' });
  const tools = (await client.listTools()).tools.map((t) => t.name).sort();
  assert.deepEqual(tools, ['billing.get_subscription_status', 'crm.confirm_refund', 'crm.lookup_customer']);
  const billing = await client.callTool({ name: 'billing.get_subscription_status', arguments: { customer_id: 'c-9' } });
  const lookup = await client.callTool({ name: 'crm.lookup_customer', arguments: { customer_id: 'c-1001' } });
  assert.doesNotMatch(textOf(lookup), SECRETS);
  assert.match(textOf(lookup), /Customer c-1001: Jane Doe/);
  await assert.rejects(client.callTool({ name: 'account.delete_customer', arguments: { customer_id: 'c-1' } }), /not allowed|denied|-32003|403/i);
  assert.ok(!gw.full.rpcSeen().includes('tools/call account.delete_customer') && !gw.fast.rpcSeen().includes('tools/call account.delete_customer'));
  // No initialize and no session on the modern path: every request carried the envelope.
  const modern = gw.full.seen.concat(gw.fast.seen).filter((s) => s.headers['mcp-protocol-version'] === '2026-07-28');
  assert.ok(modern.length >= 3);
  assert.ok(modern.every((s) => s.headers['mcp-session-id'] === undefined && !s.body.includes('"initialize"')));

  const direct = await v2Client(gw.fast.url, { pin: '2026-07-28' });
  const directBilling = await direct.client.callTool({ name: 'billing.get_subscription_status', arguments: { customer_id: 'c-9' } });
  assert.deepEqual(billing, directBilling);
});

test('MRTR through a route whose answers are read: elicitation and sampling complete, redacted, audited as one call', async () => {
  const { client, seen } = await v2Client(gw.url, { pin: '2026-07-28' });
  const result = await client.callTool({ name: 'crm.confirm_refund', arguments: { customer_id: 'c-1001' } });
  assert.match(textOf(result), /^refund done; summary: refund of one charge; state intact: true$/);
  // The embedded requests reached the client, with what they quoted redacted like a result.
  assert.equal(seen.elicitations.length, 1);
  assert.equal(seen.samplingPrompts.length, 1);
  assert.doesNotMatch(seen.elicitations[0]!, SECRETS);
  assert.match(seen.elicitations[0]!, /Refund the last charge of c-1001 to card/);
  assert.doesNotMatch(seen.samplingPrompts[0]!, SECRETS);
  // Both rounds reached the server through the full route (judged, limited and read each time).
  const rounds = gw.full.seen.filter((s) => s.body.includes('crm.confirm_refund'));
  assert.equal(rounds.length, 2);
  assert.match(rounds[1]!.body, /"inputResponses"/);

  let events: Record<string, unknown>[] = [];
  for (let i = 0; i < 50; i++) {
    events = (await gw.auditEvents()).filter((e) => e['tool'] === 'crm.confirm_refund');
    if (events.length >= 2) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(events.length, 2, JSON.stringify(events));
  const [first, second] = events as [Record<string, unknown>, Record<string, unknown>];
  assert.equal(first['protocol_version'], '2026-07-28');
  assert.deepEqual(first['mrtr'], { retry: false, round: 1, logical_call: first['call_id'], input_required: true });
  assert.deepEqual(second['mrtr'], { retry: true, round: 2, logical_call: first['call_id'] });
  assert.equal(second['result'], 'ok');
  for (const e of events) {
    assertValidEvent(e);
    assert.ok((e['decisions'] as { plugin: string }[]).some((d) => d.plugin === 'mcp-authz'), 'each round is authorized');
  }
  // Each round counted against the limit (two per hour): a new logical call is refused.
  await assert.rejects(client.callTool({ name: 'crm.confirm_refund', arguments: { customer_id: 'c-1001' } }), /rate limit|429|-32029/i);
});

test('v2 client negotiating (server/discover probe) reaches the v2 server in the 2026-07-28 era', async () => {
  const before = gw.full.seen.length + gw.fast.seen.length;
  const { client } = await v2Client(gw.url, 'auto');
  const tools = (await client.listTools()).tools.map((t) => t.name);
  assert.ok(!tools.includes('account.delete_customer'));
  const res = await client.callTool({ name: 'billing.get_subscription_status', arguments: { customer_id: 'c-5' } });
  assert.match(textOf(res), /Subscription of c-5: active/);
  const sent = [...gw.full.seen, ...gw.fast.seen];
  assert.ok(sent.length > before);
  assert.ok(sent.some((s) => s.body.includes('"server/discover"')), 'the probe went through');
});

test('v1 client against the v2 server (its stateless 2025 fallback) through the gateway', async () => {
  const client = await v1Client(gw.url);
  const tools = (await client.listTools()).tools.map((t) => t.name).sort();
  assert.deepEqual(tools, ['billing.get_subscription_status', 'crm.confirm_refund', 'crm.lookup_customer']);
  const lookup = await client.callTool({ name: 'crm.lookup_customer', arguments: { customer_id: 'c-1001' } });
  assert.doesNotMatch(textOf(lookup), SECRETS);
  await assert.rejects(client.callTool({ name: 'account.delete_customer', arguments: { customer_id: 'c-1' } }));
});

test('v1 and v2 (auto) clients against the sessionful v1 server: sessions through the gateway', async () => {
  const v1 = await v1Client(gw.legacyUrl);
  const v1Tools = (await v1.listTools()).tools.map((t) => t.name);
  assert.ok(v1Tools.includes('crm.lookup_customer') && !v1Tools.includes('account.delete_customer'));
  const echoed = await v1.callTool({ name: 'billing.get_subscription_status', arguments: { customer_id: 'c-6' } });
  assert.match(textOf(echoed), /c-6/);
  assert.ok(gw.legacy.seen.some((s) => s.headers['mcp-session-id'] !== undefined), 'the session id went through');

  const { client: v2 } = await v2Client(gw.legacyUrl, 'auto');
  const v2Tools = (await v2.listTools()).tools.map((t) => t.name);
  assert.deepEqual(v2Tools.sort(), v1Tools.sort());
  const lookup = await v2.callTool({ name: 'crm.lookup_customer', arguments: { customer_id: 'c-1001' } });
  assert.doesNotMatch(textOf(lookup), SECRETS);
});
