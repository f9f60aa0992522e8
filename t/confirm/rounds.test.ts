// A risky tool whose server asks its own questions (multi-round-trip, 2026-07-28) is approved
// once: the retry that echoes the server's requestState continues the approved call. That state
// is only proof for the call the user approved: raw requests through the emulator and the real
// runner (mcp-authz, mcp-audit, mcp-redact, the v2 SDK server) try it for another user, other
// arguments, a second time, and a state the gateway never saw in an approved answer.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startConfirmGateway, type UserName } from '../../testkit/confirm-gateway.js';
import { REQUEST_STATE } from '../../testkit/modern-servers.js';
import { MODERN_REVISION, PROTOCOL_VERSION_META_KEY } from '../../runner/mcp/revision.js';

const gw = await startConfirmGateway();
after(() => gw.close());

const APPROVAL_KEY = 'io.apisix.mcp/approval';
let nextId = 1;

interface Answer {
  status: number;
  result?: Record<string, unknown>;
  error?: { code: number; message: string };
}

/** tools/call crm.confirm_refund as a 2026-07-28 client that can show forms sends it. */
async function refund(user: UserName, customer: string, extra: Record<string, unknown> = {}): Promise<Answer> {
  const params = {
    name: 'crm.confirm_refund',
    arguments: { customer_id: customer },
    ...extra,
    _meta: {
      [PROTOCOL_VERSION_META_KEY]: MODERN_REVISION,
      'io.modelcontextprotocol/clientInfo': { name: 'raw-round-client', version: '1.0.0' },
      'io.modelcontextprotocol/clientCapabilities': { elicitation: { form: {} }, sampling: {} },
    },
  };
  const res = await fetch(gw.url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': MODERN_REVISION,
      'mcp-method': 'tools/call',
      'mcp-name': 'crm.confirm_refund',
      ...(await gw.authOf(user)),
    },
    body: JSON.stringify({ jsonrpc: '2.0', id: nextId++, method: 'tools/call', params }),
  });
  const text = await res.text();
  // SSE or JSON: the last data line holds the answer.
  const json = res.headers.get('content-type')?.includes('text/event-stream') ? text.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5)).at(-1)! : text;
  return { status: res.status, ...(JSON.parse(json) as Omit<Answer, 'status'>) };
}

/** The gateway asks for approval (its own form, its own state). */
function asksApproval(a: Answer): boolean {
  return a.result?.['resultType'] === 'input_required' && Object.hasOwn((a.result['inputRequests'] ?? {}) as object, APPROVAL_KEY);
}

/** The server asks its own questions (the call reached it). */
function serverAsks(a: Answer): boolean {
  return a.result?.['resultType'] === 'input_required' && a.result['requestState'] === REQUEST_STATE;
}

const serverAnswers = {
  confirm: { action: 'accept', content: { confirm: true } },
  summary: { model: 'test-model', role: 'assistant', content: { type: 'text', text: 'one refund' } },
};

/** Round 1 approved in the form: the server's question comes back with its state. */
async function approveFirstRound(user: UserName, customer: string): Promise<void> {
  const asked = await refund(user, customer);
  assert.ok(asksApproval(asked), JSON.stringify(asked));
  const approved = await refund(user, customer, {
    requestState: asked.result!['requestState'],
    inputResponses: { [APPROVAL_KEY]: { action: 'accept', content: { decision: 'approve' } } },
  });
  assert.ok(serverAsks(approved), JSON.stringify(approved));
}

function refundsSeen(customer: string): number {
  return gw.modern.seen.filter((s) => s.body.includes('crm.confirm_refund') && s.body.includes(customer)).length;
}

test('the retry with the state of an approved round runs without a second form, once', async () => {
  await approveFirstRound('alice', 'c-3001');
  const before = refundsSeen('c-3001');
  const done = await refund('alice', 'c-3001', { requestState: REQUEST_STATE, inputResponses: serverAnswers });
  assert.match(JSON.stringify(done.result?.['content']), /refund done; summary: one refund; state intact: true/);
  assert.equal(refundsSeen('c-3001'), before + 1);

  // The same state again: the approval covered one continuation, not a second run.
  const again = await refund('alice', 'c-3001', { requestState: REQUEST_STATE, inputResponses: serverAnswers });
  assert.ok(asksApproval(again), JSON.stringify(again));
  assert.equal(refundsSeen('c-3001'), before + 1, 'the replay never reached the server');
});

test('the state proves nothing for another user or other arguments, and those tries do not use it up', async () => {
  await approveFirstRound('alice', 'c-3101');
  const before = refundsSeen('c-31');
  const bob = await refund('bob', 'c-3101', { requestState: REQUEST_STATE, inputResponses: serverAnswers });
  assert.ok(asksApproval(bob), `another user is asked: ${JSON.stringify(bob)}`);
  const otherArgs = await refund('alice', 'c-3102', { requestState: REQUEST_STATE, inputResponses: serverAnswers });
  assert.ok(asksApproval(otherArgs), `other arguments are asked: ${JSON.stringify(otherArgs)}`);
  assert.equal(refundsSeen('c-31'), before, 'neither reached the server');
  // The approved user's own retry still continues.
  const done = await refund('alice', 'c-3101', { requestState: REQUEST_STATE, inputResponses: serverAnswers });
  assert.match(JSON.stringify(done.result?.['content']), /refund done/);
});

test('a server state the gateway never saw in an approved answer is asked for', async () => {
  const invented = await refund('carol', 'c-3201', { requestState: 'state-the-client-made-up', inputResponses: serverAnswers });
  assert.ok(asksApproval(invented), JSON.stringify(invented));
  assert.equal(refundsSeen('c-3201'), 0);
  const audited = await gw.waitForEvents((e) => e['user'] === 'alice' && (e['approval'] as { channel?: string } | undefined)?.channel === 'round', 2);
  assert.equal(audited.length, 2, 'each continued round is audited as approved through the round');
  for (const e of audited) assert.equal((e['approval'] as { outcome: string }).outcome, 'approved');
});
