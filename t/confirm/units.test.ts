// The confirmation pieces without sockets: the approval book's binding, single use and expiry,
// session capabilities, and the route's answer mapping.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ApprovalBook } from '../../plugins/mcp-authz/approvals.js';
import { elicitationOf, SessionCapabilities } from '../../plugins/mcp-authz/client-caps.js';
import { DEFAULT_ANSWERS, mapRefusal, parseAnswerSettings, toolResultBody } from '../../runner/host/answer-map.js';
import { parseRequestBody } from '../../runner/mcp/parse.js';

const binding = { caller: 'jwt::alice', server: 'crm', tool: 'ticket.create_case', args: { title: 'Broken', priority: 2 } };
const opening = { binding, requester: 'alice', requesterTenant: undefined, shownArguments: {}, rule: 'r', reason: 'risky', ttlSeconds: 60 };

test('an approval passes the exact call once; other arguments, another user or expiry find nothing', async () => {
  let now = 1_000_000;
  const book = new ApprovalBook(10, () => now);
  const a = (await book.open(opening))!;
  assert.equal((await book.open(opening))!.id, a.id, 'a retry before the decision gets the same page');
  assert.equal((await book.settle(binding))?.outcome, 'pending');
  assert.ok(await book.decide(a.id, true, 'alice'));
  assert.equal(await book.decide(a.id, false, 'alice'), undefined, 'decided once');
  assert.equal(await book.settle({ ...binding, args: { title: 'Broken', priority: 3 } }), undefined);
  assert.equal(await book.settle({ ...binding, caller: 'jwt::mallory' }), undefined);
  assert.equal((await book.settle({ ...binding, args: { priority: 2, title: 'Broken' } }))?.outcome, 'approved');
  assert.equal(await book.settle(binding), undefined, 'used up');
  const b = (await book.open(opening))!;
  await book.decide(b.id, true, 'alice');
  now += 61_000;
  assert.equal(await book.settle(binding), undefined, 'expired');
  assert.equal(await book.get(b.id), undefined);
});

test('a refusal is reported once; a full book refuses new approvals', async () => {
  const book = new ApprovalBook(1);
  const a = (await book.open(opening))!;
  assert.equal(await book.open({ ...opening, binding: { ...binding, tool: 'other' } }), undefined);
  await book.decide(a.id, false, 'bob');
  assert.deepEqual((await book.settle(binding))?.outcome, 'denied');
  assert.equal(await book.settle(binding), undefined);
});

test('session capabilities: url needs its own key, the book is bounded', async () => {
  assert.deepEqual(elicitationOf({ elicitation: {} }), { form: true, url: false });
  assert.deepEqual(elicitationOf({ elicitation: { url: {} } }), { form: false, url: true });
  assert.deepEqual(elicitationOf({}), { form: false, url: false });
  const s = new SessionCapabilities(2);
  await s.remember('a', { form: true, url: true });
  await s.remember('b', { form: true, url: false });
  await s.remember('c', { form: false, url: true });
  assert.equal((await s.of('a')).url, false, 'oldest forgotten');
  assert.equal((await s.of('c')).url, true);
  assert.equal((await s.of('b')).form, true);
});

test('answer mapping: statuses per route, data names plugin and next step, 401 untouched, tool results on request', () => {
  const deny = { action: 'stop' as const, status: 403, rpcError: { code: -32003, message: 'no', data: { rule: 'r' } } };
  const mapped = mapRefusal(deny, DEFAULT_ANSWERS, 'mcp-authz');
  assert.equal(mapped.status, 200);
  assert.deepEqual(mapped.rpcError!.data, { rule: 'r', plugin: 'mcp-authz', next: 'do not retry: the gateway policy does not allow this call; tell the user or choose another tool', refusal: 'denied' });
  const native = parseAnswerSettings({ denied: 403, limited: 429, confirm: 428 });
  assert.ok(typeof native !== 'string');
  assert.equal(mapRefusal(deny, native, 'x').status, 403);
  const limit = { action: 'stop' as const, status: 429, headers: { 'Retry-After': '7' }, rpcError: { code: -32029, message: 'Rate limit exceeded: l' } };
  assert.equal(mapRefusal(limit, native, 'x').status, 429);
  assert.equal((mapRefusal(limit, DEFAULT_ANSWERS, 'x').rpcError!.data as { next: string }).next, 'retry after 7 seconds');
  const auth = { action: 'stop' as const, status: 403, headers: { 'www-authenticate': 'Bearer error="insufficient_scope"' }, rpcError: { code: -32003, message: 'scope' } };
  assert.equal(mapRefusal(auth, DEFAULT_ANSWERS, 'x').status, 403);
  assert.match(String(parseAnswerSettings({ denied: 404 })), /denied must be one of 200, 403/);
  const asResult = parseAnswerSettings({ tool_call_refusals: 'result' });
  assert.ok(typeof asResult !== 'string');
  const call = parseRequestBody(new TextEncoder().encode('{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"t","arguments":{}}}'));
  const body = JSON.parse(new TextDecoder().decode(toolResultBody(mapRefusal(deny, asResult, 'mcp-authz'), asResult, call)));
  assert.equal(body.id, 9);
  assert.equal(body.result.isError, true);
  assert.match(body.result.content[0].text, /^Refused by mcp-authz \(rule r\): no\./);
  assert.equal(toolResultBody(mapRefusal(deny, DEFAULT_ANSWERS, 'x'), DEFAULT_ANSWERS, call), undefined);
});

test('the arguments a reviewer sees pass the shared redaction engine; the call keeps its own', async () => {
  const { shownArguments } = await import('../../plugins/mcp-authz/shown.js');
  const args = { customer: 'c-1', card: '4111 1111 1111 1111', password: 'hunter2' };
  const shown = JSON.stringify(shownArguments(args));
  assert.ok(!shown.includes('4111 1111 1111 1111') && !shown.includes('hunter2') && shown.includes('c-1'), shown);
  assert.equal(args.password, 'hunter2', 'the original is not edited');
});
