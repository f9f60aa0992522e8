// Audit events through the real host and the real authz, ratelimit and redact plugins:
// allowed, denied, limited and failing calls, the response-phase carry and its lease,
// argument metadata, and that no secret ever reaches the audit file.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { StopAction, TextEntry } from '../../../runner/protocol/messages.js';
import { pendingCount } from '../../../plugins/mcp-audit/index.js';
import { canonicalJson } from '../../../plugins/mcp-audit/event.js';
import type { JsonValue } from '../../../runner/mcp/types.js';
import {
  IDENTITY_HEADERS,
  LATER,
  POLICY,
  TableChannel,
  carryKeyOf,
  assertValidEvent,
  identityHeaders,
  readEvents,
  realHost,
  shutdownHosts,
  reqCall,
  respCall,
  responseChannel,
  tempDir,
  toolsCall,
} from '../../../testkit/audit.js';

const dir = tempDir();
let n = 0;
after(() => shutdownHosts());

function auditConf(extra: Record<string, unknown> = {}): { path: string; entry: TextEntry } {
  const path = join(dir, `events-${++n}.log`);
  return { path, entry: { name: 'mcp-audit', value: JSON.stringify({ server: 'crm-tools', sink: { type: 'file', path }, ...extra }) } };
}
const authzEntry: TextEntry = {
  name: 'mcp-authz',
  value: JSON.stringify({ server: 'crm-tools', identity: { trusted_headers: IDENTITY_HEADERS }, policy: POLICY, filter_lists: false }),
};
const redactEntry: TextEntry = { name: 'mcp-redact', value: JSON.stringify({ results: false }) };

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const TRACEPARENT = `00-${TRACE_ID}-00f067aa0ba902b7-01`;

test('an allowed tools/call yields one event: identity, rule, argument metadata after redaction, correlation from traceparent', async () => {
  const { path, entry } = auditConf();
  const h = realHost();
  const chain = h.buildChain([entry, authzEntry, redactEntry], 'route#1#ext-plugin-pre-req#1');
  const body = toolsCall('crm.lookup', { customer: 'c-17', email: 'alice@example.com', limit: 5, exact: true, tags: ['a'] }, 42);
  const res = await h.onRequest(chain, reqCall(body, [...identityHeaders(), { name: 'traceparent', value: TRACEPARENT }]), new TableChannel({}, body), LATER());
  assert.notEqual(res.action?.type, 'stop');
  const [ev, ...rest] = await readEvents(path, 1);
  assert.equal(rest.length, 0);
  assert.ok(ev);
  assertValidEvent(ev);
  assert.equal(ev.correlation_id, TRACE_ID);
  assert.equal(ev.result, 'forwarded');
  assert.equal(ev.completion, 'request');
  assert.equal(ev.server, 'crm-tools');
  assert.equal(ev.method, 'tools/call');
  assert.equal(ev.tool, 'crm.lookup');
  assert.equal(ev.jsonrpc_id, 42);
  assert.deepEqual([ev.user, ev.app, ev.tenant, ev.agent, ev.environment], ['alice', 'support-agent', 'acme', 'planner', 'production']);
  assert.equal(ev.decision?.action, 'allow');
  assert.equal(ev.decision?.plugin, 'mcp-authz');
  assert.ok(ev.decision?.rule, 'the deciding rule is named');
  assert.deepEqual(ev.arguments?.keys, [
    { name: 'customer', type: 'string' },
    { name: 'email', type: 'string' },
    { name: 'limit', type: 'integer' },
    { name: 'exact', type: 'boolean' },
    { name: 'tags', type: 'array' },
  ]);
  assert.equal(ev.arguments?.values, undefined, 'no raw values by default');
  // The hash is over the arguments as forwarded: the redacted ones, sent upstream in the rewrite.
  const rewrite = res.action?.type === 'rewrite' ? res.action : undefined;
  assert.ok(rewrite?.body, 'redaction rewrote the body');
  const forwarded = JSON.parse(Buffer.from(rewrite.body).toString()) as { params: { arguments: JsonValue } };
  const canonical = canonicalJson(forwarded.params.arguments);
  assert.equal(ev.arguments?.sha256, createHash('sha256').update(canonical).digest('hex'));
  assert.equal(ev.arguments?.size_bytes, Buffer.byteLength(canonical));
  assert.deepEqual(ev.redactions, [{ where: 'arguments', counts: { email: 1 } }]);
  assert.ok(!(await readFile(path, 'utf8')).includes('alice@example.com'));
  assert.ok(ev.latency_ms >= 0);
});

test('a denied call is audited with the rule, HTTP 403 and the JSON-RPC code, even though the chain stopped', async () => {
  const { path, entry } = auditConf();
  const h = realHost();
  const chain = h.buildChain([entry, authzEntry], 'route#2#ext-plugin-pre-req#1');
  const body = toolsCall('billing.update_payment_method', { card: '4111111111111111' }, 7);
  const res = await h.onRequest(chain, reqCall(body, identityHeaders()), new TableChannel({}, body), LATER());
  assert.equal((res.action as StopAction).status, 200);
  const [ev] = await readEvents(path, 1);
  assert.ok(ev);
  assertValidEvent(ev);
  assert.equal(ev.result, 'denied');
  assert.equal(ev.http_status, 200);
  assert.equal(ev.jsonrpc_error_code, -32003);
  assert.equal(ev.stopped_by, 'mcp-authz');
  assert.equal(ev.decision?.action, 'deny');
  assert.ok(ev.decision?.rule);
  assert.equal(ev.tool, 'billing.update_payment_method');
  assert.ok(!(await readFile(path, 'utf8')).includes('4111111111111111'));
});

test('a call over a limit is audited as limited with the limit name; a list call is audited only when refused', async () => {
  const { path, entry } = auditConf();
  const h = realHost();
  const limit = { name: 'mcp-ratelimit', value: JSON.stringify({ limits: [{ name: 'one-per-minute', requests: 1, per: 'minute', burst: 1 }] }) };
  const chain = h.buildChain([entry, authzEntry, limit], 'route#3#ext-plugin-pre-req#1');
  const list = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' });
  const first = await h.onRequest(chain, reqCall(list, identityHeaders()), new TableChannel({}, list), LATER());
  assert.notEqual(first.action?.type, 'stop');
  const call = toolsCall('crm.lookup', { q: 'x' }, 2);
  await h.onRequest(chain, reqCall(call, identityHeaders()), new TableChannel({}, call), LATER());
  const third = await h.onRequest(chain, reqCall(call, identityHeaders()), new TableChannel({}, call), LATER());
  assert.equal((third.action as StopAction).status, 200);
  const events = await readEvents(path, 2);
  assert.equal(events.length, 2, 'the allowed tools/list is not audited by default');
  for (const e of events) assertValidEvent(e);
  const [ok, limited] = events as [(typeof events)[0], (typeof events)[0]];
  assert.equal(ok.result, 'forwarded');
  assert.equal(limited.result, 'limited');
  assert.equal(limited.http_status, 200);
  assert.equal(limited.jsonrpc_error_code, -32029);
  assert.equal(limited.limit?.rule, 'one-per-minute');
  assert.equal(limited.decision?.action, 'allow', 'authz allowed it before the limit refused it');
});

test('list calls are audited when include_list_calls is on; batches give one event per element', async () => {
  const { path, entry } = auditConf({ include_list_calls: true });
  const h = realHost();
  const chain = h.buildChain([entry, authzEntry], 'route#4#ext-plugin-pre-req#1');
  const batch = JSON.stringify([
    { jsonrpc: '2.0', id: 1, method: 'tools/list' },
    { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'crm.search', arguments: { q: 'acme' } } },
    { jsonrpc: '2.0', method: 'notifications/initialized' },
  ]);
  await h.onRequest(chain, reqCall(batch, identityHeaders()), new TableChannel({}, batch), LATER());
  const events = await readEvents(path, 2);
  assert.equal(events.length, 2);
  for (const e of events) assertValidEvent(e);
  assert.deepEqual(events.map((e) => [e.method, e.batch_index, e.batch_size]), [['tools/list', 0, 3], ['tools/call', 1, 3]]);
});

test('with post_resp the one event comes after the response phase with the upstream status', async () => {
  const { path, entry } = auditConf();
  const h = realHost();
  const route = { name: 'mcp-route', value: JSON.stringify({ post_resp: true, server: 'crm-tools' }) };
  const pre = h.buildChain([route, entry, authzEntry], 'route#5#ext-plugin-pre-req#1');
  const post = h.buildChain([route, entry, authzEntry], 'route#5#ext-plugin-post-resp#1');
  const body = toolsCall('crm.lookup', { q: 'x' }, 9);
  const res = await h.onRequest(pre, reqCall(body, identityHeaders()), new TableChannel({}, body), LATER());
  assert.equal(res.action?.type, 'rewrite');
  const carryKey = carryKeyOf(res);
  assert.ok(carryKey);
  assert.equal(pendingCount(h.state), 1, 'request facts wait for the response phase');
  await new Promise((r) => setTimeout(r, 50));
  assert.equal((await readEvents(path, 0, 0)).length, 0, 'nothing written before the response phase');
  await h.onResponse(post, respCall(502), responseChannel(carryKey), LATER());
  const events = await readEvents(path, 1);
  assert.equal(events.length, 1);
  const [ev] = events;
  assert.ok(ev);
  assertValidEvent(ev);
  assert.equal(ev.completion, 'response');
  assert.equal(ev.result, 'error');
  assert.equal(ev.http_status, 502);
  assert.equal(ev.decision?.action, 'allow');
  assert.equal(ev.user, 'alice');
  assert.equal(pendingCount(h.state), 0);
});

test('with post_resp a list call is reported only when its answer fails, and then with its method', async () => {
  const { path, entry } = auditConf();
  const h = realHost();
  const route = { name: 'mcp-route', value: JSON.stringify({ post_resp: true, server: 'crm-tools' }) };
  const pre = h.buildChain([route, entry, authzEntry], 'route#6#ext-plugin-pre-req#1');
  const post = h.buildChain([route, entry, authzEntry], 'route#6#ext-plugin-post-resp#1');
  const list = JSON.stringify({ jsonrpc: '2.0', id: 4, method: 'tools/list' });
  for (const status of [200, 503]) {
    const res = await h.onRequest(pre, reqCall(list, identityHeaders()), new TableChannel({}, list), LATER());
    assert.equal(res.action?.type, 'rewrite');
    const carryKey = carryKeyOf(res);
    await h.onResponse(post, respCall(status), responseChannel(carryKey!), LATER());
  }
  const events = await readEvents(path, 1);
  assert.equal(events.length, 1, 'the successful list call wrote nothing');
  assert.equal(events[0]!.method, 'tools/list');
  assert.equal(events[0]!.kind, 'tools/list');
  assert.equal(events[0]!.http_status, 503);
});

test('when the response phase never comes, the lease emits the request facts (no event lost)', async () => {
  const { path, entry } = auditConf({ response_lease_seconds: 0.05 });
  const h = realHost();
  const route = { name: 'mcp-route', value: JSON.stringify({ post_resp: true }) };
  const pre = h.buildChain([route, entry, authzEntry], 'route#6#ext-plugin-pre-req#1');
  const body = toolsCall('crm.lookup', { q: 'y' }, 10);
  await h.onRequest(pre, reqCall(body, identityHeaders()), new TableChannel({}, body), LATER());
  const [ev] = await readEvents(path, 1, 2500);
  assert.ok(ev, 'event written after the lease');
  assertValidEvent(ev);
  assert.equal(ev.result, 'no_response');
  assert.equal(ev.completion, 'lease_expired');
  assert.equal(ev.tool, 'crm.lookup');
});

test('log_argument_values writes values only after redaction; oversized values are omitted', async () => {
  const { path, entry } = auditConf({ log_argument_values: true, max_argument_value_bytes: 200 });
  const h = realHost();
  const chain = h.buildChain([entry, authzEntry, redactEntry], 'route#7#ext-plugin-pre-req#1');
  const small = toolsCall('crm.lookup', { customer: 'c-1', email: 'bob@example.org' }, 1);
  const big = toolsCall('crm.search', { q: 'z'.repeat(500) }, 2);
  await h.onRequest(chain, reqCall(small, identityHeaders()), new TableChannel({}, small), LATER());
  await h.onRequest(chain, reqCall(big, identityHeaders()), new TableChannel({}, big), LATER());
  const [a, b] = await readEvents(path, 2);
  assert.ok(a && b);
  assertValidEvent(a);
  assertValidEvent(b);
  assert.equal(a.arguments?.values?.['customer'], 'c-1');
  assert.notEqual(a.arguments?.values?.['email'], 'bob@example.org');
  assert.match(String(a.arguments?.values?.['email']), /REDACTED|\[email/);
  assert.equal(b.arguments?.values, undefined);
  assert.equal(b.arguments?.values_omitted, 'too_large');
});

test('bad bodies refused by the host are audited too', async () => {
  const { path, entry } = auditConf();
  const h = realHost();
  const chain = h.buildChain([entry, authzEntry], 'route#8#ext-plugin-pre-req#1');
  const body = '{"jsonrpc":"2.0","id":1,"method":';
  const res = await h.onRequest(chain, reqCall(body, identityHeaders()), new TableChannel({}, body), LATER());
  assert.equal(res.action?.type, 'stop');
  const [ev] = await readEvents(path, 1);
  assert.ok(ev);
  assertValidEvent(ev);
  assert.notEqual(ev.result, 'forwarded');
  assert.equal(ev.jsonrpc_error_code, -32700);
});

test('no secret reaches the audit file: bearer tokens, cookies, secret headers, JWT-like and redacted argument values', async () => {
  const { path, entry } = auditConf({ include_all_methods: true });
  const h = realHost();
  const chain = h.buildChain([entry, authzEntry, redactEntry], 'route#9#ext-plugin-pre-req#1');
  const planted = {
    bearer: 'Bearer sk-live-PLANTEDTOKEN0123456789',
    cookie: 'session=PLANTEDCOOKIEVALUE42',
    apiKey: 'PLANTEDSECRETHEADERVALUE',
    card: '4111 1111 1111 1111',
    ssnLike: 'PLANTEDARGVALUE-do-not-log',
  };
  const headers: TextEntry[] = [
    ...identityHeaders(),
    { name: 'authorization', value: planted.bearer },
    { name: 'cookie', value: planted.cookie },
    { name: 'x-api-key', value: planted.apiKey },
  ];
  for (const [i, body] of [
    toolsCall('crm.lookup', { card: planted.card, note: planted.ssnLike }, 1),
    toolsCall('billing.update_payment_method', { card: planted.card }, 2),
    JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'initialize', params: { clientInfo: { name: planted.ssnLike } } }),
  ].entries()) {
    await h.onRequest(chain, reqCall(body, headers, i), new TableChannel({}, body), LATER());
  }
  await readEvents(path, 3);
  const text = await readFile(path, 'utf8');
  for (const [name, secret] of Object.entries(planted)) {
    assert.ok(!text.includes(secret), `${name} leaked into the audit file`);
  }
  assert.ok(!text.includes('PLANTED'), 'no fragment of a planted secret');
  for (const line of text.trim().split('\n')) assertValidEvent(JSON.parse(line));
});
