// The version-aware parts of the MCP layer, without sockets: revision claims, removed methods,
// routing-header agreement, MRTR round bookkeeping and cache-scope narrowing.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseRequestBody } from '../../runner/mcp/parse.js';
import { isModernRevision, MODERN_REVISION, PROTOCOL_VERSION_META_KEY } from '../../runner/mcp/revision.js';
import { decodeHeaderValue, messageMismatch, routingHeadersOf } from '../../runner/host/header-agreement.js';
import { inputRequiredAnswers, isRetry, roundOf, RoundBook } from '../../runner/mcp/mrtr.js';
import { narrowCacheScopes } from '../../runner/mcp/cache.js';
import { parseResponseBody } from '../../runner/mcp/response.js';
import type { McpMessage } from '../../runner/mcp/types.js';

const enc = new TextEncoder();
const meta = { [PROTOCOL_VERSION_META_KEY]: MODERN_REVISION };

function one(body: unknown): McpMessage {
  const parsed = parseRequestBody(enc.encode(JSON.stringify(body)));
  assert.ok(parsed.ok, JSON.stringify(parsed));
  return parsed.messages[0]!;
}

test('revisions: date strings from 2026-07-28 on are modern; anything else is not', () => {
  assert.ok(isModernRevision('2026-07-28'));
  assert.ok(isModernRevision('2027-01-01'));
  assert.ok(!isModernRevision('2025-11-25'));
  assert.ok(!isModernRevision('zzzz'));
  assert.ok(!isModernRevision(undefined));
});

test('the body claim is read; a removed method is not validated in 2026-07-28 but still is in 2025', () => {
  const modern = one({ jsonrpc: '2.0', id: 1, method: 'resources/subscribe', params: { _meta: meta } });
  assert.equal(modern.kind, 'other');
  assert.equal(modern.revision, MODERN_REVISION);
  const legacy = parseRequestBody(enc.encode(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'resources/subscribe', params: {} })));
  assert.ok(!legacy.ok);
  assert.equal(legacy.code, -32602);
  const listen = one({ jsonrpc: '2.0', id: 2, method: 'subscriptions/listen', params: { _meta: meta, notifications: {} } });
  assert.equal(listen.kind, 'subscriptions/listen');
  const malformed = one({ jsonrpc: '2.0', id: 3, method: 'ping', params: { _meta: { [PROTOCOL_VERSION_META_KEY]: 7 } } });
  assert.equal(malformed.revision, null);
  assert.equal(one({ jsonrpc: '2.0', id: 4, method: 'ping' }).revision, undefined);
});

function headers(entries: Record<string, string | string[]>): ReturnType<typeof routingHeadersOf> {
  const list = Object.entries(entries).flatMap(([name, v]) => (Array.isArray(v) ? v : [v]).map((value) => ({ name, value })));
  return routingHeadersOf(list);
}

test('routing headers: agreement, each kind of disagreement, the Base64 sentinel and repeats', () => {
  const call = one({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'crm.lookup', arguments: { region: 'eu', n: 3, nested: { flag: true } }, _meta: meta } });
  const ok = headers({ 'mcp-protocol-version': MODERN_REVISION, 'mcp-method': 'tools/call', 'mcp-name': 'crm.lookup', 'mcp-param-region': 'eu', 'mcp-param-n': '3', 'mcp-param-flag': 'true' });
  assert.equal(messageMismatch(ok!, call), undefined);
  assert.equal(messageMismatch(headers({ 'mcp-name': '=?base64?Y3JtLmxvb2t1cA==?=' })!, call), undefined);
  assert.equal(messageMismatch(headers({ 'mcp-name': 'crm.other' })!, call)?.header, 'mcp-name');
  assert.equal(messageMismatch(headers({ 'mcp-name': '=?base64?not base64?=' })!, call)?.header, 'mcp-name');
  assert.equal(messageMismatch(headers({ 'mcp-method': 'tools/list' })!, call)?.header, 'mcp-method');
  assert.equal(messageMismatch(headers({ 'mcp-protocol-version': '2025-11-25', 'mcp-method': 'tools/call' })!, call)?.header, 'mcp-protocol-version');
  // A 2025 session's version header alone is nothing to route on: not even looked at.
  assert.equal(headers({ 'mcp-protocol-version': '2025-11-25', 'mcp-session-id': 's' }), undefined);
  assert.equal(headers({ 'mcp-protocol-version': '2026-07-28' })?.version, '2026-07-28');
  assert.equal(messageMismatch(headers({ 'mcp-param-region': 'us' })!, call)?.header, 'mcp-param-region');
  assert.equal(messageMismatch(headers({ 'mcp-method': ['tools/call', 'tools/call'] })!, call)?.header, 'mcp-method');
  const list = one({ jsonrpc: '2.0', id: 2, method: 'tools/list', params: { _meta: meta } });
  assert.equal(messageMismatch(headers({ 'Mcp-Name': 'x' })!, list)?.header, 'mcp-name', 'a method without a name');
  assert.equal(messageMismatch(headers({ 'mcp-param-x': 'x' })!, list)?.header, 'mcp-param-x');
  assert.equal(headers({ accept: 'application/json', 'x-app': 'a' }), undefined);
  assert.equal(decodeHeaderValue('=?base64?w6k=?='), 'é');
});

test('MRTR: retries are recognised, answers asking for input found, rounds chained by requestState', async () => {
  assert.ok(isRetry(one({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 't', inputResponses: {}, requestState: 's' } })));
  assert.ok(!isRetry(one({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 't' } })));
  const body = parseResponseBody('application/json', enc.encode(JSON.stringify({ jsonrpc: '2.0', id: 5, result: { resultType: 'input_required', inputRequests: {}, requestState: 'abc' } })));
  const answers = inputRequiredAnswers(body!);
  assert.deepEqual(answers.map((a) => [a.id, a.requestState]), [[5, 'abc']]);
  const book = new RoundBook(2, 1000);
  book.remember('abc', { logicalCall: 'call-1', round: 1 }, 0);
  assert.deepEqual(book.next('abc', 10), { logicalCall: 'call-1', round: 2 });
  const retry = one({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 't', inputResponses: {}, requestState: 'unseen' } });
  assert.deepEqual(roundOf(retry, book), { retry: true }, 'a state whose answer was not read: a retry without a round');
  assert.equal(book.next('abc', 5000), undefined, 'expired');
  book.remember('a', { logicalCall: 'x', round: 1 }, 0);
  book.remember('b', { logicalCall: 'y', round: 1 }, 0);
  book.remember('c', { logicalCall: 'z', round: 1 }, 0);
  assert.equal(book.size, 2, 'bounded');
});

test('cache scope: per-actor answers become private; 2025 answers without caching fields are left alone', () => {
  const body = parseResponseBody('application/json', enc.encode(JSON.stringify({ jsonrpc: '2.0', id: 1, result: { tools: [], ttlMs: 5, cacheScope: 'public' } })))!;
  assert.equal(narrowCacheScopes(body, () => true, () => false), 1);
  assert.match(body.events[0]!.data, /"cacheScope":"private"/);
  const legacy = parseResponseBody('application/json', enc.encode(JSON.stringify({ jsonrpc: '2.0', id: 1, result: { tools: [] } })))!;
  assert.equal(narrowCacheScopes(legacy, () => true, () => false), 0);
  assert.equal(narrowCacheScopes(legacy, () => true, () => true), 1, 'a 2026 answer missing the field gets it');
  const other = parseResponseBody('application/json', enc.encode(JSON.stringify({ jsonrpc: '2.0', id: 2, result: { tools: [], cacheScope: 'public' } })))!;
  assert.equal(narrowCacheScopes(other, (id) => id === 1, () => true), 0, 'not a per-actor answer');
});
