// A stock v1 SDK client (2025-11-25) that declares URL-mode elicitation confirms a risky call
// through the gateway's own approval page: error -32042 (the SDK's UrlElicitationRequiredError)
// with the page's URL; the test is the person at the browser (sign in with the form, CSRF
// token from the form, Approve); the client's retry passes once. Replays (other arguments,
// another user, a second retry), approvers (the requester, a same-tenant approver role, not a
// colleague nor another tenant's approver), a foreign Origin and a missing or wrong CSRF token
// are refused. Every decision and refusal is read back from the real audit file.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpError, UrlElicitationRequiredError } from '@modelcontextprotocol/sdk/types.js';
import { APPROVAL_PATH, startConfirmGateway, type UserName } from '../../testkit/confirm-gateway.js';
import { decide, openPage, postForm, signIn } from '../../testkit/approval-page.js';

const gw = await startConfirmGateway();
const clients: Client[] = [];
after(async () => {
  for (const c of clients) await c.close().catch(() => undefined);
  await gw.close();
});

async function urlClient(user: UserName): Promise<Client> {
  const client = new Client({ name: 'stock-v1-client', version: '1.0.0' }, { capabilities: { elicitation: { url: {} } } });
  await client.connect(new StreamableHTTPClientTransport(new URL(gw.legacyUrl), { requestInit: { headers: await gw.authOf(user) } }));
  clients.push(client);
  return client;
}

const TOOL = 'ticket.create_case';

/** How many calls of the tool with this subject reached the server. */
function ran(subject: string): number {
  return gw.legacy.seen.filter((s) => {
    const b = s.body as { method?: string; params?: { name?: string; arguments?: { subject?: string } } } | undefined;
    return b?.method === 'tools/call' && b.params?.name === TOOL && b.params.arguments?.subject === subject;
  }).length;
}

/** The call's -32042 answer: the one URL elicitation it carries. */
async function elicitationOf(client: Client, args: Record<string, string>): Promise<{ mode: string; elicitationId: string; url: string; message: string }> {
  const error = await client.callTool({ name: TOOL, arguments: args }).then(
    () => assert.fail('the call ran without approval'),
    (err: unknown) => err,
  );
  assert.ok(error instanceof UrlElicitationRequiredError, String(error));
  assert.equal(error.code, -32042);
  assert.equal(error.elicitations.length, 1);
  return error.elicitations[0] as { mode: string; elicitationId: string; url: string; message: string };
}

function approvalEvents(match: (a: Record<string, unknown>, e: Record<string, unknown>) => boolean, count = 1): Promise<Record<string, unknown>[]> {
  return gw.waitForEvents((e) => e['approval'] !== undefined && match(e['approval'] as Record<string, unknown>, e), count);
}

test('-32042 with the approval page; approved by the requester on the page, the retry passes once', async () => {
  const alice = await urlClient('alice');
  const args = { customer_id: 'c-1', subject: 'refund-once', body: 'card 4111 1111 1111 1111' };
  const e = await elicitationOf(alice, args);
  assert.equal(e.mode, 'url');
  assert.match(e.elicitationId, /^[A-Za-z0-9_-]{16,64}$/);
  assert.equal(e.url, `${gw.origin}${APPROVAL_PATH}/${e.elicitationId}`);
  assert.match(e.message, /ticket\.create_case/);
  assert.equal(ran('refund-once'), 0);

  const page = await openPage(e.url, await signIn(e.url, await gw.tokenOf('alice')));
  assert.equal(page.status, 200);
  assert.match(page.body, /ticket\.create_case/);
  assert.doesNotMatch(page.body, /4111 1111 1111 1111/, 'arguments are masked on the page');
  assert.equal(page.headers['cache-control'], 'no-store');
  const done = await postForm(e.url, { csrf: page.csrf!, decision: 'approve' }, { cookie: await signIn(e.url, await gw.tokenOf('alice')), origin: gw.origin });
  assert.equal(done.status, 200, done.body);
  assert.match(done.body, /Approved/);

  const result = await alice.callTool({ name: TOOL, arguments: { body: args.body, subject: args.subject, customer_id: 'c-1' } });
  assert.match(JSON.stringify(result), /Case TCK-\d+ opened: refund-once/);
  assert.equal(ran('refund-once'), 1);
  // Single use: a second retry needs a new approval.
  const again = await elicitationOf(alice, args);
  assert.notEqual(again.elicitationId, e.elicitationId);
  assert.equal(ran('refund-once'), 1);

  const [page_] = await approvalEvents((a, ev) => a['approval_id'] === e.elicitationId && ev['kind'] === 'approval');
  assert.equal(page_!['kind'], 'approval');
  assert.deepEqual({ ...(page_!['approval'] as object), decided_at: undefined }, { outcome: 'approved', channel: 'url', approver: 'alice (acme)', requester: 'alice (acme)', approval_id: e.elicitationId, tool: TOOL, decided_at: undefined });
  const [used] = await approvalEvents((a, ev) => a['approval_id'] === e.elicitationId && ev['kind'] !== 'approval' && a['outcome'] === 'approved');
  assert.equal(used!['user'], 'alice');
  assert.equal(used!['result'], 'ok');
});

test('replay: other arguments and another user find no approval; the approved call still passes once', async () => {
  const alice = await urlClient('alice');
  const bob = await urlClient('bob');
  const args = { customer_id: 'c-2', subject: 'replay' };
  const e = await elicitationOf(alice, args);
  assert.equal((await decide(e.url, await gw.tokenOf('alice'), 'approve')).status, 200);
  const other = await elicitationOf(alice, { ...args, customer_id: 'c-3' });
  assert.notEqual(other.elicitationId, e.elicitationId);
  const bobs = await elicitationOf(bob, args);
  assert.notEqual(bobs.elicitationId, e.elicitationId);
  assert.equal(ran('replay'), 0);
  await alice.callTool({ name: TOOL, arguments: args });
  assert.equal(ran('replay'), 1);
});

test('deny on the page: the retry is a denial with data, audited', async () => {
  const alice = await urlClient('alice');
  const args = { customer_id: 'c-4', subject: 'denied-on-page' };
  const e = await elicitationOf(alice, args);
  const done = await decide(e.url, await gw.tokenOf('alice'), 'deny');
  assert.match(done.body, /Denied/);
  const error = await alice.callTool({ name: TOOL, arguments: args }).then(() => assert.fail('ran'), (err: unknown) => err);
  assert.ok(error instanceof McpError && !(error instanceof UrlElicitationRequiredError), String(error));
  assert.equal(error.code, -32003);
  assert.equal((error.data as { plugin: string }).plugin, 'mcp-authz');
  assert.match((error.data as { reason: string }).reason, /refused by alice \(acme\) on the approval page/);
  assert.equal(ran('denied-on-page'), 0);
  const refused = await approvalEvents((a) => a['approval_id'] === e.elicitationId && a['outcome'] === 'refused');
  assert.equal((refused[0]!['approval'] as { approver: string }).approver, 'alice (acme)');
});

test('approvers: a colleague and another tenant\'s approver are refused, the tenant\'s approver decides', async () => {
  const alice = await urlClient('alice');
  const args = { customer_id: 'c-5', subject: 'approver-role' };
  const e = await elicitationOf(alice, args);
  for (const user of ['bob', 'mallory'] as const) {
    const page = await openPage(e.url, await signIn(e.url, await gw.tokenOf(user)));
    assert.equal(page.status, 403, `${user}: ${page.body}`);
    assert.match(page.body, /Not permitted/);
  }
  const notPermitted = await approvalEvents((a, x) => a['approval_id'] === e.elicitationId && a['outcome'] === 'not_permitted' && x['kind'] === 'approval', 2);
  assert.deepEqual(notPermitted.map((x) => (x['approval'] as { approver: string }).approver).sort(), ['bob (acme)', 'mallory (globex)']);
  assert.ok(notPermitted.every((x) => (x['decision'] as { rule: string }).rule === 'approval-not-permitted'));
  await assert.rejects(alice.callTool({ name: TOOL, arguments: args }), UrlElicitationRequiredError, 'still pending');
  const done = await decide(e.url, await gw.tokenOf('carol'), 'approve');
  assert.equal(done.status, 200, done.body);
  await alice.callTool({ name: TOOL, arguments: args });
  assert.equal(ran('approver-role'), 1);
  const [ev] = await approvalEvents((a, x) => a['approval_id'] === e.elicitationId && x['kind'] === 'approval' && a['outcome'] === 'approved');
  assert.equal((ev!['approval'] as { approver: string }).approver, 'carol (acme)');
  assert.equal((ev!['approval'] as { requester: string }).requester, 'alice (acme)');
});

test('a foreign Origin, a missing and a wrong CSRF token are refused; the approval stays pending', async () => {
  const alice = await urlClient('alice');
  const args = { customer_id: 'c-6', subject: 'csrf' };
  const e = await elicitationOf(alice, args);
  const cookie = await signIn(e.url, await gw.tokenOf('alice'));
  const page = await openPage(e.url, cookie);
  const foreign = await postForm(e.url, { csrf: page.csrf!, decision: 'approve' }, { cookie, origin: 'https://evil.example' });
  assert.equal(foreign.status, 403);
  const opaque = await postForm(e.url, { csrf: page.csrf!, decision: 'approve' }, { cookie, origin: 'null' });
  assert.equal(opaque.status, 403, 'an opaque origin is not this page');
  // The page's own forms keep their Origin (a no-referrer policy would make it "null").
  assert.equal(page.headers['referrer-policy'], 'same-origin');
  const missing = await postForm(e.url, { decision: 'approve' }, { cookie, origin: gw.origin });
  assert.equal(missing.status, 403);
  const wrong = await postForm(e.url, { csrf: page.csrf!.slice(0, -2) + 'xx', decision: 'approve' }, { cookie, origin: gw.origin });
  assert.equal(wrong.status, 403);
  const stillPending = await openPage(e.url, cookie);
  assert.match(stillPending.body, /Approve this tool call\?/);
  await assert.rejects(alice.callTool({ name: TOOL, arguments: args }), UrlElicitationRequiredError);
  assert.equal(ran('csrf'), 0);
  const refused = await approvalEvents((a, x) => a['approval_id'] === e.elicitationId && a['outcome'] === 'not_permitted' && x['kind'] === 'approval', 4);
  assert.deepEqual(refused.map((x) => (x['decision'] as { rule: string }).rule), ['approval-origin', 'approval-origin', 'approval-csrf', 'approval-csrf']);
});

test('after expiry the approval no longer passes the call', async () => {
  const short = await startConfirmGateway({ ttlSeconds: 10 });
  try {
    const client = new Client({ name: 'stock-v1-client', version: '1.0.0' }, { capabilities: { elicitation: { url: {} } } });
    await client.connect(new StreamableHTTPClientTransport(new URL(short.legacyUrl), { requestInit: { headers: await short.authOf('alice') } }));
    const args = { customer_id: 'c-7', subject: 'expiry' };
    const error = await client.callTool({ name: TOOL, arguments: args }).then(() => assert.fail('ran'), (err: unknown) => err);
    assert.ok(error instanceof UrlElicitationRequiredError);
    const e = error.elicitations[0] as { url: string; elicitationId: string };
    assert.equal((await decide(e.url, await short.tokenOf('alice'), 'approve')).status, 200);
    await new Promise((r) => setTimeout(r, 10_500));
    const late = await client.callTool({ name: TOOL, arguments: args }).then(() => assert.fail('ran after expiry'), (err: unknown) => err);
    assert.ok(late instanceof UrlElicitationRequiredError);
    assert.notEqual((late.elicitations[0] as { elicitationId: string }).elicitationId, e.elicitationId);
    assert.equal((await openPage(e.url)).status, 404, 'the expired page is gone');
    await client.close();
  } finally {
    await short.close();
  }
});
