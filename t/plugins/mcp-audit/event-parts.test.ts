// mcp-audit's event construction shortcuts give what the plain code gives: shared event parts
// hold the values the plain construction built per event, in the same key order; timestamps
// are toISOString's.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { buildEvents, finish, type AuditEvent, type CallFacts, type EventOptions } from '../../../plugins/mcp-audit/event.js';
import { isoTimestamp } from '../../../plugins/mcp-audit/event-parts.js';
import { echoed } from '../../../plugins/mcp-audit/echo.js';
import { parseRequestBody } from '../../../runner/mcp/parse.js';
import type { DecisionRecord, Identity } from '../../../runner/host/plugin.js';

const anyString = fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.constantFrom('"', '\\', '\u0000', '\ud800', '😀', 'é', '', 'toJSON'));
const leaf = fc.oneof(anyString, fc.double(), fc.integer(), fc.constantFrom(-0, NaN, Infinity, 1e21, 5e-324, undefined), fc.boolean(), fc.constant(null));

test('isoTimestamp equals toISOString for any time, fractional and at second edges', () => {
  const times = fc.oneof(
    fc.double({ min: -1e13, max: 3e14, noNaN: true }),
    fc.tuple(fc.integer({ min: 0, max: 2 ** 47 }), fc.constantFrom(0, 999, 999.9, 0.5)).map(([s, ms]) => s * 1000 + ms),
    fc.constantFrom(0, 0.9, 999.999, 1000, 253402300799999, 253402300800000, 8.64e15),
  );
  const outcome = (f: () => string): string => {
    try {
      return f();
    } catch (err) {
      return `throws ${(err as Error).name}`;
    }
  };
  fc.assert(
    fc.property(times, (t) => {
      for (const x of [t, t + 1, t - 1]) assert.equal(outcome(() => isoTimestamp(x)), outcome(() => new Date(x).toISOString()));
    }),
    { numRuns: 5000 },
  );
  assert.throws(() => isoTimestamp(NaN), RangeError);
  assert.throws(() => isoTimestamp(8.64e15 + 1), RangeError);
});

// ---- events against the plain construction -------------------------------------------

const APPROVAL = new Set(['approve', 'refuse']);
const DECISION = new Set(['allow', 'deny', 'confirm', 'shadow', 'shadow-deny', 'shadow-allow', 'shadow-confirm']);

/** What applyDecisions built per event before its parts were shared (decisions and decision). */
function plainDecisionFields(records: readonly DecisionRecord[]): { decisions: object[]; decision?: object } {
  const out: { decisions: object[]; decision?: object } = { decisions: [] };
  for (const d of records) {
    const entry: { plugin: string; action: string; rule?: string } = { plugin: d.plugin, action: d.action };
    if (d.rule !== undefined) entry.rule = d.rule;
    out.decisions.push(entry);
    if (APPROVAL.has(d.action) || DECISION.has(d.action)) {
      const decision: { plugin: string; action: string; rule?: string; reason?: string } = { plugin: d.plugin, action: d.action };
      if (d.rule !== undefined) decision.rule = d.rule;
      if (d.reason !== undefined) decision.reason = APPROVAL.has(d.action) ? d.reason : echoed(d.reason, 256);
      out.decision = decision;
    }
  }
  return out;
}

function plainType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

const opts: EventOptions = { includeListCalls: false, includeAllMethods: false, logArgumentValues: false, maxArgumentValueBytes: 4096 };
const facts: CallFacts = { routeKey: 'r', server: 's', callId: 'c'.repeat(32), correlationId: 'c'.repeat(32), startedEpochMs: 1.78e12 + 0.25 };
const identity: Identity = Object.freeze({ user: 'u1', app: 'a', tenant: 't', roles: Object.freeze(['x']) as string[], source: 'jwt' as const });

const smallName = fc.constantFrom('a', 'b', 'customer_id', 'fields', 'note', 'toJSON', '__proto__', '10', '9', 'é');
const record: fc.Arbitrary<DecisionRecord> = fc.record(
  {
    plugin: fc.constantFrom('mcp-authz', 'mcp-ratelimit', 'mcp-credential', 'mcp-redact', 'other'),
    action: fc.constantFrom('allow', 'deny', 'shadow-deny', 'confirm', 'limit', 'credential', 'redact', 'error', 'filter'),
    rule: fc.oneof(fc.constant(undefined), fc.constantFrom('r1', 'support-agent/allowed_tools/crm.lookup_customer', 'route'), fc.string()),
    reason: fc.oneof(fc.constant(undefined), fc.constantFrom('allowed by r1', 'mail jane.doe@example.com', 'x'.repeat(300)), fc.string()),
    messageIndex: fc.constantFrom(undefined, 0),
  },
  { requiredKeys: ['plugin', 'action'] },
);

test('events with shared parts equal the plain construction on random calls and records', () => {
  const args = fc.dictionary(smallName, fc.oneof(leaf.filter((x) => x !== undefined), fc.array(fc.integer(), { maxLength: 2 }), fc.constant({})), { maxKeys: 8 });
  fc.assert(
    fc.property(args, fc.array(record, { maxLength: 6 }), fc.constantFrom('forwarded', 'denied'), (a, records, provisional) => {
      const body = parseRequestBody(new TextEncoder().encode(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'crm.lookup_customer', arguments: a } })));
      const parsed = body.ok ? body.messages[0]?.arguments : undefined;
      for (let round = 0; round < 2; round++) {
        const events = buildEvents(facts, body, identity, records, provisional as 'forwarded', opts);
        finish(events, provisional as 'forwarded', undefined, 1.5, 'request', identity, []);
        for (const ev of events) {
          const plain = plainDecisionFields(records);
          assert.equal(JSON.stringify(ev.decisions), JSON.stringify(plain.decisions));
          assert.equal(JSON.stringify(ev.decision), JSON.stringify(plain.decision));
          const plainKeys = parsed && Object.keys(parsed).slice(0, 64).map((name) => ({ name, type: plainType(parsed[name]) }));
          assert.equal(JSON.stringify(ev.arguments?.keys), JSON.stringify(plainKeys));
          assert.equal(ev.timestamp, new Date(facts.startedEpochMs).toISOString());
          for (const part of [...ev.decisions, ev.decision, ev.arguments?.keys]) if (part !== undefined) assert.ok(Object.isFrozen(part));
        }
      }
    }),
    { numRuns: 1500 },
  );
});

test('a late event copy takes new records without touching the shared parts', () => {
  const body = parseRequestBody(new TextEncoder().encode('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","arguments":{"a":1}}}'));
  const records: DecisionRecord[] = [{ plugin: 'mcp-authz', action: 'allow', rule: 'r1', reason: 'ok' }];
  const [ev] = buildEvents(facts, body, identity, records, 'forwarded', opts) as [AuditEvent];
  const copy = { ...ev, decisions: [...ev.decisions] };
  finish([copy], 'ok', undefined, 2, 'late_response', identity, [{ plugin: 'mcp-authz', action: 'deny', rule: 'r2', reason: 'later' }]);
  assert.equal(ev.decisions.length, 1);
  assert.equal(ev.decision?.rule, 'r1');
  assert.equal(copy.decision?.rule, 'r2');
  // Shapes and entries past their memo bounds keep answering right.
  for (let i = 0; i < 5000; i++) {
    const [e] = buildEvents(facts, parseRequestBody(new TextEncoder().encode(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","arguments":{"k${i}":${i},"z":[]}}}`)), identity, [{ plugin: 'p', action: 'allow', rule: `r${i}`, reason: `why ${i}` }], 'forwarded', opts) as [AuditEvent];
    assert.deepEqual(e.arguments?.keys, [{ name: `k${i}`, type: 'integer' }, { name: 'z', type: 'array' }]);
    assert.deepEqual(e.decision, { plugin: 'p', action: 'allow', rule: `r${i}`, reason: `why ${i}` });
  }
});
