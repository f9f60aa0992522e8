// Property tests (fast-check) for the MCP message layer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { JsonRpcErrorCode, parseRequestBody, parseSse, parseStrictJson, serializeRequestBody, serializeSse } from '../../runner/mcp/index.js';
import type { SseEvent } from '../../runner/mcp/index.js';

const encoder = new TextEncoder();
const RUNS = { numRuns: 300 };

/** JSON text of `value` with every string/key char optionally written as a \u escape. */
function stringifyEscaped(value: unknown, escapeAll: boolean, indent: number): string {
  if (!escapeAll) return JSON.stringify(value, null, indent);
  const str = (s: string): string => `"${Array.from({ length: s.length }, (_, i) => `\\u${s.charCodeAt(i).toString(16).padStart(4, '0')}`).join('')}"`;
  const walk = (v: unknown): string => {
    if (Array.isArray(v)) return `[${v.map(walk).join(',')}]`;
    if (typeof v === 'string') return str(v);
    if (v !== null && typeof v === 'object') return `{${Object.entries(v).map(([k, x]) => `${str(k)}:${walk(x)}`).join(',')}}`;
    return JSON.stringify(v);
  };
  return walk(value);
}

test('property: for JSON without duplicate keys, the strict reader agrees with JSON.parse', () => {
  fc.assert(
    fc.property(fc.jsonValue({ maxDepth: 6, stringUnit: 'binary' }), fc.boolean(), fc.integer({ min: 0, max: 3 }), (value, escapeAll, indent) => {
      const text = stringifyEscaped(value, escapeAll, indent);
      const result = parseStrictJson(encoder.encode(text));
      assert.ok(result.ok, result.ok ? '' : `${result.message}: ${text}`);
      assert.deepEqual(result.value, JSON.parse(text));
    }),
    RUNS,
  );
});

test('property: a repeated key is refused however it is escaped and wherever it sits', () => {
  fc.assert(
    fc.property(
      fc.dictionary(fc.string({ unit: 'binary', maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { minKeys: 1, maxKeys: 6 }),
      fc.nat(),
      fc.boolean(),
      fc.integer({ min: 0, max: 4 }),
      (object, pick, escape, depth) => {
        const keys = Object.keys(object);
        const key = keys[pick % keys.length]!;
        const members = Object.entries(object).map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`);
        const repeated = `${stringifyEscaped(key, escape, 0)}:0`;
        let text = `{${[...members, repeated].join(',')}}`;
        for (let d = 0; d < depth; d++) text = d % 2 === 0 ? `{"wrap":${text}}` : `[1,${text}]`;
        const result = parseStrictJson(encoder.encode(text));
        assert.equal(result.ok, false, text);
        if (!result.ok) assert.match(result.message, /duplicate key/);
      },
    ),
    RUNS,
  );
});

test('property: a string is accepted exactly when it has no lone surrogate', () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 12 }), (units) => {
      const s = String.fromCharCode(...units);
      const wellFormed = !/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(s);
      // JSON.stringify escapes lone surrogates, so the bytes are valid UTF-8 either way.
      const result = parseStrictJson(encoder.encode(JSON.stringify({ s })));
      assert.equal(result.ok, wellFormed);
    }),
    RUNS,
  );
});

const KNOWN_CODES = new Set<number>([JsonRpcErrorCode.ParseError, JsonRpcErrorCode.InvalidRequest, JsonRpcErrorCode.InvalidParams]);

function checkNeverThrows(bytes: Uint8Array): void {
  const body = parseRequestBody(bytes);
  if (!body.ok) {
    assert.ok(KNOWN_CODES.has(body.code));
    assert.equal(typeof body.message, 'string');
    return;
  }
  assert.ok(body.messages.length > 0);
  for (const m of body.messages) {
    if (m.type === 'request') assert.ok(typeof m.id === 'string' || Number.isSafeInteger(m.id));
    if (m.kind === 'tools/call') assert.ok(typeof m.toolName === 'string' && m.toolName !== '' && m.arguments !== undefined);
  }
  serializeRequestBody(body);
}

test('property: random bytes never throw out of parseRequestBody', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => checkNeverThrows(bytes)), { numRuns: 500 });
});

test('property: random JSON-RPC-like bodies never throw and respect the invariants', () => {
  const anyJson = fc.jsonValue({ maxDepth: 3 });
  const element = fc.record(
    {
      jsonrpc: fc.oneof(fc.constant('2.0'), anyJson),
      id: fc.oneof(fc.integer(), fc.string(), fc.constant(null), anyJson),
      method: fc.oneof(fc.constantFrom('tools/call', 'tools/list', 'resources/read', 'prompts/get', 'ping', 'notifications/x'), anyJson),
      params: fc.oneof(fc.record({ name: fc.oneof(fc.string(), anyJson), arguments: anyJson, uri: fc.oneof(fc.string(), anyJson) }, { requiredKeys: [] }), anyJson),
      result: anyJson,
      error: fc.oneof(fc.record({ code: fc.integer(), message: fc.string() }), anyJson),
    },
    { requiredKeys: [] },
  );
  fc.assert(
    fc.property(fc.oneof(element, fc.array(element, { maxLength: 4 })), fc.nat(40), (value, cut) => {
      const text = JSON.stringify(value);
      checkNeverThrows(encoder.encode(text));
      checkNeverThrows(encoder.encode(text.slice(0, Math.max(0, text.length - cut))));
    }),
    { numRuns: 500 },
  );
});

const lineText = fc.string({ unit: 'binary', maxLength: 12 }).map((s) => s.replace(/[\r\n]/g, ''));

test('property: SSE serialise then parse gives back the same events', () => {
  const event = fc.record(
    {
      comments: fc.array(lineText, { maxLength: 2 }),
      event: lineText,
      id: lineText.map((s) => s.replace(/\0/g, '')),
      retry: fc.nat().map(String),
      data: fc.array(lineText, { minLength: 1, maxLength: 3 }).map((lines) => lines.join('\n')),
    },
    { requiredKeys: ['data'] },
  );
  fc.assert(
    fc.property(fc.array(event, { maxLength: 5 }), (generated) => {
      const events: SseEvent[] = generated.map((e) => ({ ...e, json: undefined }));
      const parsed = parseSse(serializeSse(events));
      assert.equal(parsed.length, events.length);
      parsed.forEach((p, i) => {
        const e = events[i]!;
        assert.equal(p.data, e.data);
        assert.equal(p.event, e.event);
        assert.equal(p.id, e.id);
        assert.equal(p.retry, e.retry);
        assert.deepEqual(p.comments ?? [], e.comments ?? []);
      });
    }),
    RUNS,
  );
});

test('property: parsing then serialising any SSE text is byte-identical', () => {
  const line = fc.oneof(
    lineText.map((s) => `data: ${s}`),
    lineText.map((s) => `data:${s}`),
    fc.jsonValue({ maxDepth: 2 }).map((v) => `data: ${JSON.stringify(v)}`),
    lineText.map((s) => `:${s}`),
    lineText.map((s) => `id: ${s}`),
    lineText.map((s) => `event:${s}`),
    fc.constantFrom('retry: 10', 'retry: x', '', 'data', 'id', '\ufeff'),
  );
  const eol = fc.constantFrom('\n', '\r\n', '\r');
  const stream = fc.array(fc.tuple(line, eol), { maxLength: 12 }).chain((lines) =>
    fc.boolean().map((dropLastEol) => {
      const text = lines.map(([l, e]) => l + e).join('');
      return dropLastEol && lines.length > 0 ? text.slice(0, -lines[lines.length - 1]![1].length) : text;
    }),
  );
  fc.assert(
    fc.property(fc.oneof(stream, fc.string({ unit: 'binary', maxLength: 60 })), (text) => {
      assert.equal(serializeSse(parseSse(text)), text);
    }),
    { numRuns: 500 },
  );
});
