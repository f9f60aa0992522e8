// A client that declares neither form (2026-07-28) nor URL-mode elicitation keeps the token
// flow, end to end with the stock v1 SDK client: the refusal is the SDK's protocol error with
// code -32010 and the token in its data (no text to scrape); the retry sends it back in
// params._meta and passes once; the server never sees it. Replays for another call, another
// user or a second time are refused. The requests and approvals are in the audit file.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpError, UrlElicitationRequiredError } from '@modelcontextprotocol/sdk/types.js';
import { decide } from '../../testkit/approval-page.js';
import { startConfirmGateway, type UserName } from '../../testkit/confirm-gateway.js';

const gw = await startConfirmGateway();
const clients: Client[] = [];
after(async () => {
  for (const c of clients) await c.close().catch(() => undefined);
  await gw.close();
});

const TOOL = 'ticket.create_case';

async function plainClient(user: UserName, capabilities: Record<string, unknown> = {}): Promise<Client> {
  const client = new Client({ name: 'stock-v1-client', version: '1.0.0' }, { capabilities });
  await client.connect(new StreamableHTTPClientTransport(new URL(gw.legacyUrl), { requestInit: { headers: await gw.authOf(user) } }));
  clients.push(client);
  return client;
}

/** The refusal of a call as the SDK raises it. */
async function refusal(call: Promise<unknown>): Promise<McpError> {
  const error = await call.then(() => assert.fail('the call ran'), (err: unknown) => err);
  assert.ok(error instanceof McpError, String(error));
  return error;
}

function calls(subject: string): Record<string, unknown>[] {
  return gw.legacy.seen
    .map((s) => s.body as { method?: string; params?: Record<string, unknown> & { name?: string; arguments?: { subject?: string } } } | undefined)
    .filter((b) => b?.method === 'tools/call' && b.params?.name === TOOL && b.params.arguments?.subject === subject)
    .map((b) => b!.params!);
}

test('-32010 with the token in data; the retry with it in params._meta passes once and the server never sees it', async () => {
  const alice = await plainClient('alice');
  const args = { customer_id: 'c-1', subject: 'token-flow' };
  const first = await refusal(alice.callTool({ name: TOOL, arguments: args }));
  assert.equal(first.code, -32010);
  const data = first.data as { token: string; expires_at: number; meta_key: string; header: string; plugin: string; next: string; rule: string };
  assert.match(data.token, /^mcpc1\.[\w-]+\.[\w-]+$/);
  assert.ok(data.expires_at > Date.now() / 1000);
  assert.equal(data.meta_key, 'io.apisix.mcp/confirmation');
  assert.equal(data.header, 'mcp-confirmation');
  assert.equal(data.plugin, 'mcp-authz');
  assert.equal(typeof data.next, 'string');
  assert.equal(calls('token-flow').length, 0);

  const result = await alice.callTool({ name: TOOL, arguments: args, _meta: { [data.meta_key]: data.token } });
  assert.match(JSON.stringify(result), /Case TCK-\d+ opened: token-flow/);
  const seen = calls('token-flow');
  assert.equal(seen.length, 1);
  assert.doesNotMatch(JSON.stringify(seen[0]), /mcpc1\.|io\.apisix\.mcp\/confirmation/, 'the token never reaches the server');

  const again = await refusal(alice.callTool({ name: TOOL, arguments: args, _meta: { [data.meta_key]: data.token } }));
  assert.equal(again.code, -32010);
  assert.match(String((again.data as { reason: string }).reason), /already used/);
  assert.equal(calls('token-flow').length, 1);

  const events = await gw.waitForEvents((e) => e['user'] === 'alice' && e['tool'] === TOOL && (e['approval'] as { channel?: string } | undefined)?.channel === 'token', 3);
  assert.deepEqual(events.map((e) => (e['approval'] as { outcome: string }).outcome), ['requested', 'approved', 'requested']);
});

test('a token replayed for other arguments or by another user is refused; a 2025 form-only client gets a token too', async () => {
  const alice = await plainClient('alice', { elicitation: {} });
  const bob = await plainClient('bob');
  const args = { customer_id: 'c-2', subject: 'token-replay' };
  const first = await refusal(alice.callTool({ name: TOOL, arguments: args }));
  assert.equal(first.code, -32010, 'form elicitation in a 2025 session is not the gateway\'s form channel');
  const token = (first.data as { token: string }).token;
  const meta = { 'io.apisix.mcp/confirmation': token };
  const other = await refusal(alice.callTool({ name: TOOL, arguments: { ...args, customer_id: 'c-3' }, _meta: meta }));
  assert.match(String((other.data as { reason: string }).reason), /other arguments/);
  const stolen = await refusal(bob.callTool({ name: TOOL, arguments: args, _meta: meta }));
  assert.match(String((stolen.data as { reason: string }).reason), /another caller/);
  assert.equal(calls('token-replay').length, 0);
  await alice.callTool({ name: TOOL, arguments: args, _meta: meta });
  assert.equal(calls('token-replay').length, 1, 'the failed replays did not use the token up');
});

test('several runner processes: a URL-mode client gets the approval page; the approval holds on every worker', async () => {
  const multi = await startConfirmGateway({ workers: 2 });
  const client = new Client({ name: 'stock-v1-client', version: '1.0.0' }, { capabilities: { elicitation: { url: {} } } });
  try {
    await client.connect(new StreamableHTTPClientTransport(new URL(multi.legacyUrl), { requestInit: { headers: await multi.authOf('alice') } }));
    const args = { customer_id: 'c-8', subject: 'two-workers' };
    const error = await client.callTool({ name: TOOL, arguments: args }).then(
      () => assert.fail('the call ran without approval'),
      (err: unknown) => err,
    );
    assert.ok(error instanceof UrlElicitationRequiredError, `the page, not a token: approvals are shared by the workers (${String(error)})`);
    const url = (error.elicitations[0] as { url: string }).url;
    // The page and the retry each go to whichever worker gets their connection.
    assert.equal((await decide(url, await multi.tokenOf('alice'), 'approve')).status, 200);
    const result = await client.callTool({ name: TOOL, arguments: args });
    assert.match(JSON.stringify(result), /Case TCK-\d+ opened: two-workers/);
    const again = await client.callTool({ name: TOOL, arguments: args }).then(
      () => assert.fail('the approval was used twice'),
      (err: unknown) => err,
    );
    assert.ok(again instanceof UrlElicitationRequiredError, 'used once across the workers: the next identical call asks again');
  } finally {
    await client.close().catch(() => undefined);
    await multi.close();
  }
});
