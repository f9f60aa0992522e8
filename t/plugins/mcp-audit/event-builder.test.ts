// The event builder's pure parts: canonical JSON, argument metadata, result classification,
// and how decision records become event fields (types and counts, never values).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { argumentMetadata, buildEvents, canonicalJson, finish, requestResult, responseResult, type CallFacts, type EventOptions } from '../../../plugins/mcp-audit/event.js';
import { parseRequestBody } from '../../../runner/mcp/parse.js';
import type { DecisionRecord, PhaseResult } from '../../../runner/host/plugin.js';
import { assertValidEvent } from '../../../testkit/audit.js';

const opts: EventOptions = { includeListCalls: false, includeAllMethods: false, logArgumentValues: false, maxArgumentValueBytes: 4096 };
const facts: CallFacts = { routeKey: 'r', server: 's', callId: 'c'.repeat(32), correlationId: 'c'.repeat(32), startedEpochMs: Date.UTC(2026, 0, 1) };
const stop = (status: number, stoppedBy?: string): PhaseResult => ({ phase: 'request', outcome: 'stop', status, stoppedBy, durationMs: 1 });

test('canonical JSON sorts keys at every level, so equal arguments hash equally whatever their order', () => {
  assert.equal(canonicalJson({ b: 1, a: { d: [1, { z: null, y: 'é' }], c: true } }), '{"a":{"c":true,"d":[1,{"y":"é","z":null}]},"b":1}');
  const x = argumentMetadata({ a: 1, b: 'two' }, opts);
  const y = argumentMetadata({ b: 'two', a: 1 }, opts);
  assert.equal(x.sha256, y.sha256);
  assert.notEqual(x.sha256, argumentMetadata({ a: 1, b: 'three' }, opts).sha256);
  assert.equal(x.size_bytes, Buffer.byteLength('{"a":1,"b":"two"}'));
  assert.deepEqual(argumentMetadata({ n: 1.5, o: {}, z: null }, opts).keys.map((k) => k.type), ['number', 'object', 'null']);
  const many = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`k${i}`, i]));
  const m = argumentMetadata(many, opts);
  assert.equal(m.key_count, 100);
  assert.equal(m.keys.length, 64);
});

test('results: records decide denied/limited; a failed limiter store is an error, not a limit', () => {
  const deny: DecisionRecord = { plugin: 'mcp-authz', action: 'deny', rule: 'r1' };
  const limit: DecisionRecord = { plugin: 'mcp-ratelimit', action: 'limit', rule: 'l1', detail: { kind: 'breaker' } };
  const storeDown: DecisionRecord = { plugin: 'mcp-ratelimit', action: 'error', rule: 'store' };
  assert.equal(requestResult(stop(403, 'mcp-authz'), [deny]), 'denied');
  assert.equal(requestResult(stop(401, 'mcp-authz'), []), 'denied');
  assert.equal(requestResult(stop(503, 'mcp-ratelimit'), [limit]), 'limited');
  assert.equal(requestResult(stop(503, 'mcp-ratelimit'), [storeDown]), 'error');
  assert.equal(requestResult(stop(200, 'mcp-authz'), [{ plugin: 'mcp-authz', action: 'allow' }]), 'denied');
  assert.equal(requestResult(stop(200, 'other'), []), 'stopped');
  assert.equal(requestResult({ phase: 'request', outcome: 'error', durationMs: 1 }, []), 'error');
  assert.equal(requestResult({ phase: 'request', outcome: 'rewrite', durationMs: 1 }, [deny]), 'forwarded');
  assert.equal(responseResult({ phase: 'response', outcome: 'pass', status: 200, durationMs: 1 }), 'ok');
  assert.equal(responseResult({ phase: 'response', outcome: 'pass', status: 404, durationMs: 1 }), 'error');
  assert.equal(responseResult({ phase: 'response', outcome: 'rewrite', status: 200, rpcErrorCode: -32603, durationMs: 1 }), 'error');
});

test('decision records become decision, limit, redactions and credential fields, per batch element, without values', () => {
  const body = parseRequestBody(
    new TextEncoder().encode(
      JSON.stringify([
        { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'a', arguments: { x: 1 } } },
        { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'b', arguments: {} } },
      ]),
    ),
  );
  const records: DecisionRecord[] = [
    { plugin: 'mcp-authz', action: 'allow', rule: 'rule-a', messageIndex: 0 },
    { plugin: 'mcp-authz', action: 'deny', rule: 'rule-b', reason: 'no', messageIndex: 1 },
    { plugin: 'mcp-redact', action: 'redact', detail: { where: 'arguments', counts: { email: 2, payment_card: 1 }, values: ['leak@example.com'] } },
    { plugin: 'mcp-credential', action: 'credential', detail: { injected: 'bearer', stripped: ['authorization', 'cookie'], nested: { token: { deep: 'x' } } } },
    { plugin: 'mcp-ratelimit', action: 'limit', rule: 'per-user', detail: { kind: 'rate', limit: 10, window: 60, by: ['user'] } },
  ];
  const events = buildEvents(facts, body, undefined, records, 'denied', opts);
  finish(events, 'denied', stop(403, 'mcp-authz'), 3.21, 'request', { roles: ['r'], source: 'header', app: 'app1', claims: { secret: 'claim' } }, []);
  assert.equal(events.length, 2);
  for (const e of events) assertValidEvent(e);
  const [a, b] = events as [(typeof events)[0], (typeof events)[0]];
  assert.equal(a.decision?.rule, 'rule-a');
  assert.equal(b.decision?.rule, 'rule-b');
  assert.equal(b.decision?.reason, 'no');
  assert.deepEqual(a.redactions, [{ where: 'arguments', counts: { email: 2, payment_card: 1 } }]);
  assert.deepEqual(a.credential, { action: 'credential', detail: { injected: 'bearer', stripped: ['authorization', 'cookie'], nested: {} } });
  assert.equal(a.limit?.rule, 'per-user');
  assert.equal(a.app, 'app1');
  const text = JSON.stringify(events);
  assert.ok(!text.includes('leak@example.com'));
  assert.ok(!text.includes('claim'));
  assert.equal(a.timestamp, '2026-01-01T00:00:00.000Z');
});
