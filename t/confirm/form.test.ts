// A stock v2 SDK client (2026-07-28) confirms a risky call through the gateway with nothing but
// the SDK's standard elicitation handler: the emulator, the real runner, mcp-authz and
// mcp-audit (file sink), a v2 SDK server with a multi-round-trip tool that carries its own
// requestState. Approve: the tool runs once, the server never sees the gateway's material
// and gets its own state back unchanged. Decline and cancel: a denial with data, audited.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Client, ProtocolError, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { startConfirmGateway, type UserName } from '../../testkit/confirm-gateway.js';
import { REQUEST_STATE } from '../../testkit/modern-servers.js';

const gw = await startConfirmGateway();
const clients: Client[] = [];
after(async () => {
  for (const c of clients) await c.close().catch(() => undefined);
  await gw.close();
});

type Answer = 'approve' | 'decline' | 'cancel';
interface Asked {
  message: string;
  fields: string[];
}

/**
 * A client whose user answers every form the same way: approve fills it in (a choice offering
 * "approve" takes it, a yes/no box says yes), decline and cancel are the SDK's own actions.
 */
async function clientOf(user: UserName, answer: Answer): Promise<{ client: Client; asked: Asked[] }> {
  const asked: Asked[] = [];
  const client = new Client({ name: 'stock-v2-client', version: '1.0.0' }, { capabilities: { elicitation: { form: {} }, sampling: {} }, versionNegotiation: { mode: { pin: '2026-07-28' } } });
  client.setRequestHandler('elicitation/create', async (request) => {
    const params = request.params as { message: string; requestedSchema?: { properties?: Record<string, { type?: string; enum?: string[]; oneOf?: { const: string }[] }> } };
    const properties = params.requestedSchema?.properties ?? {};
    asked.push({ message: params.message, fields: Object.keys(properties) });
    if (answer !== 'approve') return { action: answer };
    const content: Record<string, string | boolean> = {};
    for (const [name, schema] of Object.entries(properties)) {
      const choices = schema.enum ?? schema.oneOf?.map((o) => o.const) ?? [];
      if (choices.includes('approve')) content[name] = 'approve';
      else if (schema.type === 'boolean') content[name] = true;
    }
    return { action: 'accept', content };
  });
  client.setRequestHandler('sampling/createMessage', async () => ({ model: 'test-model', role: 'assistant', content: { type: 'text', text: 'one refund' } }));
  await client.connect(new StreamableHTTPClientTransport(new URL(gw.url), { requestInit: { headers: await gw.authOf(user) } }));
  clients.push(client);
  return { client, asked };
}

function textOf(result: unknown): string {
  return ((result as { content?: { text?: string }[] }).content ?? []).map((c) => c.text ?? '').join('\n');
}

function refundRounds(): { params: Record<string, unknown> }[] {
  return gw.modern.seen.filter((s) => s.body.includes('crm.confirm_refund')).map((s) => JSON.parse(s.body) as { params: Record<string, unknown> });
}

test('approve: the risky tool runs once, the server sees no gateway material and gets its own state back', async () => {
  const { client, asked } = await clientOf('alice', 'approve');
  const result = await client.callTool({ name: 'crm.confirm_refund', arguments: { customer_id: 'c-1001' } });
  assert.equal(textOf(result), 'refund done; summary: one refund; state intact: true');

  // The gateway asked once, before the first round; the server asked once in between, and the
  // retry carrying the server's state continues what the user approved (no second form).
  const gatewayForms = asked.filter((a) => a.fields.includes('decision'));
  assert.equal(gatewayForms.length, 1, JSON.stringify(asked));
  assert.match(gatewayForms[0]!.message, /crm\.confirm_refund/);
  assert.match(gatewayForms[0]!.message, /c-1001/);
  assert.equal(asked.filter((a) => a.fields.includes('confirm')).length, 1);

  const rounds = refundRounds();
  assert.equal(rounds.length, 2, 'two rounds reached the server: its question, then its answer');
  for (const r of rounds) {
    const text = JSON.stringify(r);
    assert.doesNotMatch(text, /mcpg1\.|io\.apisix\.mcp\/approval/, 'no gateway state or answer upstream');
  }
  assert.equal(rounds[0]!.params['requestState'], undefined);
  assert.equal(rounds[0]!.params['inputResponses'], undefined);
  assert.equal(rounds[1]!.params['requestState'], REQUEST_STATE, 'the server got its own state back unchanged');
  assert.deepEqual(Object.keys(rounds[1]!.params['inputResponses'] as object).sort(), ['confirm', 'summary']);

  const approved = await gw.waitForEvents((e) => e['tool'] === 'crm.confirm_refund' && (e['approval'] as { outcome?: string } | undefined)?.outcome === 'approved', 2);
  assert.equal(approved.length, 2, JSON.stringify(approved));
  assert.deepEqual(approved.map((e) => (e['approval'] as { channel: string }).channel), ['form', 'round'], 'approved in the form, then continued');
  for (const e of approved) {
    assert.equal(e['user'], 'alice');
    assert.match(String((e['approval'] as { decided_at: string }).decided_at), /^\d{4}-\d\d-\d\dT/);
  }
  const requested = await gw.waitForEvents((e) => e['tool'] === 'crm.confirm_refund' && (e['approval'] as { outcome?: string } | undefined)?.outcome === 'requested', 1);
  assert.equal(requested.length, 1);
});

for (const answer of ['decline', 'cancel'] as const) {
  test(`${answer}: a denial with data reaches the client as a protocol error; the server never sees the call`, async () => {
    const before = refundRounds().length;
    const { client } = await clientOf('bob', answer);
    const error = await client.callTool({ name: 'crm.confirm_refund', arguments: { customer_id: `c-${answer}` } }).then(
      () => assert.fail('the call ran'),
      (err: unknown) => err,
    );
    assert.ok(error instanceof ProtocolError, String(error));
    assert.equal(error.code, -32003);
    const data = error.data as Record<string, unknown>;
    assert.equal(data['plugin'], 'mcp-authz');
    assert.equal(data['refusal'], 'denied');
    assert.equal(typeof data['rule'], 'string');
    assert.match(String(data['reason']), answer === 'cancel' ? /cancelled/ : /declined/);
    assert.match(String(data['next']), /do not retry/);
    assert.equal(refundRounds().length, before, 'nothing reached the server');

    const refused = await gw.waitForEvents((e) => e['user'] === 'bob' && (e['approval'] as { outcome?: string } | undefined)?.outcome === 'refused' && e['tool'] === 'crm.confirm_refund', answer === 'decline' ? 1 : 2);
    const last = refused.at(-1)!;
    assert.equal((last['approval'] as { channel: string }).channel, 'form');
    assert.equal(last['result'], 'denied');
  });
}
