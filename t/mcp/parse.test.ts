import { test } from 'node:test';
import assert from 'node:assert/strict';
import { JsonRpcErrorCode, parseRequestBody, requestIdsOf, serializeRequestBody } from '../../runner/mcp/index.js';
import type { McpMessage, McpRequestBody } from '../../runner/mcp/index.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const parse = (value: unknown): McpRequestBody => parseRequestBody(encoder.encode(typeof value === 'string' ? value : JSON.stringify(value)));

function single(value: unknown): McpMessage {
  const body = parse(value);
  assert.ok(body.ok, `expected success: ${body.ok ? '' : body.message}`);
  assert.equal(body.batch, false);
  assert.equal(body.messages.length, 1);
  return body.messages[0]!;
}

function refused(value: unknown): { code: number; message: string; id: unknown } {
  const body = parse(value);
  assert.ok(!body.ok, `expected refusal of ${JSON.stringify(value)}`);
  return body;
}

const req = (method: string, params?: unknown, id: unknown = 1): Record<string, unknown> =>
  params === undefined ? { jsonrpc: '2.0', id, method } : { jsonrpc: '2.0', id, method, params };

test('every known method gets its kind; others are "other"', () => {
  const kinds = ['initialize', 'ping', 'tools/list', 'resources/list', 'resources/templates/list', 'prompts/list', 'completion/complete', 'logging/setLevel'];
  for (const method of kinds) {
    const m = single(req(method, {}));
    assert.equal(m.kind, method);
    assert.equal(m.type, 'request');
    assert.equal(m.method, method);
    assert.equal(m.id, 1);
  }
  assert.equal(single(req('tools/call', { name: 't' })).kind, 'tools/call');
  assert.equal(single(req('resources/read', { uri: 'file:///a' })).kind, 'resources/read');
  assert.equal(single(req('resources/subscribe', { uri: 'file:///a' })).kind, 'resources/subscribe');
  assert.equal(single(req('resources/unsubscribe', { uri: 'file:///a' })).kind, 'resources/unsubscribe');
  assert.equal(single(req('prompts/get', { name: 'p' })).kind, 'prompts/get');
  for (const method of ['tools/call ', 'Tools/call', 'sampling/createMessage', '', 'toString', '__proto__']) {
    assert.equal(single(req(method)).kind, 'other', method);
  }
});

test('notifications and responses are classified', () => {
  const n = single({ jsonrpc: '2.0', method: 'notifications/initialized' });
  assert.equal(n.type, 'notification');
  assert.equal(n.kind, 'notification');
  assert.equal(n.id, undefined);
  // A notification with a known request method is still a notification (no id: no answer).
  assert.equal(single({ jsonrpc: '2.0', method: 'tools/call', params: { name: 'x' } }).kind, 'notification');
  const r = single({ jsonrpc: '2.0', id: 'a', result: { ok: true } });
  assert.equal(r.type, 'response');
  assert.equal(r.kind, 'response');
  assert.equal(r.id, 'a');
  const e = single({ jsonrpc: '2.0', id: 7, error: { code: -32000, message: 'no' } });
  assert.equal(e.type, 'response');
  assert.equal(single({ jsonrpc: '2.0', id: null, error: { code: -32700, message: 'bad' } }).id, null);
});

test('tools/call extracts the tool name and arguments', () => {
  const m = single(req('tools/call', { name: 'search', arguments: { q: 'x', n: 2 } }));
  assert.equal(m.toolName, 'search');
  assert.deepEqual(m.arguments, { q: 'x', n: 2 });
  assert.equal(m.arguments, (m.raw.params as { arguments: unknown }).arguments, 'arguments are the raw object');
  assert.equal(m.params, m.raw.params);
});

test('tools/call without arguments gets {} attached to the body', () => {
  const m = single(req('tools/call', { name: 'now' }));
  assert.deepEqual(m.arguments, {});
  m.arguments!.injected = 'token';
  const body = parse(req('tools/call', { name: 'now' }));
  assert.ok(body.ok);
  body.messages[0]!.arguments!.injected = 'token';
  assert.deepEqual(JSON.parse(decoder.decode(serializeRequestBody(body))).params.arguments, { injected: 'token' });
});

test('tools/call with a bad name or arguments is InvalidParams with the id', () => {
  for (const params of [{}, { name: '' }, { name: 5 }, { name: null }, { name: ['x'] }, { name: 'x', arguments: [] }, { name: 'x', arguments: 'a' }, { name: 'x', arguments: null }]) {
    const r = refused(req('tools/call', params, 'id-9'));
    assert.equal(r.code, JsonRpcErrorCode.InvalidParams, JSON.stringify(params));
    assert.equal(r.id, 'id-9');
  }
  assert.equal(refused(req('tools/call')).code, JsonRpcErrorCode.InvalidParams);
});

test('resources and prompts extract uri and name, refusing bad ones', () => {
  assert.equal(single(req('resources/read', { uri: 'https://x/y' })).resourceUri, 'https://x/y');
  assert.equal(single(req('resources/subscribe', { uri: '' })).resourceUri, '');
  assert.equal(single(req('prompts/get', { name: 'greet', arguments: { a: 'b' } })).promptName, 'greet');
  assert.equal(refused(req('resources/read', {})).code, JsonRpcErrorCode.InvalidParams);
  assert.equal(refused(req('resources/read', { uri: 1 })).code, JsonRpcErrorCode.InvalidParams);
  assert.equal(refused(req('prompts/get', { name: '' })).code, JsonRpcErrorCode.InvalidParams);
  assert.equal(refused(req('prompts/get')).code, JsonRpcErrorCode.InvalidParams);
});

test('params must be an object when present', () => {
  for (const params of [[], [1, 2], 'x', 1, null, true]) {
    const r = refused(req('tools/list', params, 4));
    assert.equal(r.code, JsonRpcErrorCode.InvalidParams, JSON.stringify(params));
    assert.equal(r.id, 4);
  }
  assert.equal(refused({ jsonrpc: '2.0', method: 'notifications/x', params: [] }).code, JsonRpcErrorCode.InvalidParams);
  const m = single(req('tools/list'));
  assert.deepEqual(m.params, {});
  assert.throws(() => {
    (m.params as Record<string, unknown>).x = 1; // not part of the body: must not be silently lost
  }, TypeError);
});

test('id types: string or safe integer; null, fractions, objects refused', () => {
  assert.equal(single(req('ping', undefined, 'abc')).id, 'abc');
  assert.equal(single(req('ping', undefined, '')).id, '');
  assert.equal(single(req('ping', undefined, 0)).id, 0);
  assert.equal(single(req('ping', undefined, -5)).id, -5);
  for (const id of [null, 1.5, true, {}, [], 2 ** 60]) {
    const r = refused(req('ping', undefined, id));
    assert.equal(r.code, JsonRpcErrorCode.InvalidRequest, JSON.stringify(id));
    assert.equal(r.id, null);
  }
  assert.equal(refused('{"jsonrpc":"2.0","id":1e400,"method":"ping"}').code, JsonRpcErrorCode.InvalidRequest);
});

test('jsonrpc must be exactly "2.0"', () => {
  for (const version of ['2', '2.0 ', 2, 2.0, null, '1.0']) {
    const r = refused({ jsonrpc: version, id: 3, method: 'ping' });
    assert.equal(r.code, JsonRpcErrorCode.InvalidRequest);
    assert.equal(r.id, 3);
  }
  assert.equal(refused({ id: 3, method: 'ping' }).code, JsonRpcErrorCode.InvalidRequest);
});

test('malformed messages are InvalidRequest', () => {
  const cases: unknown[] = [
    { jsonrpc: '2.0' },
    { jsonrpc: '2.0', method: 5, id: 1 },
    { jsonrpc: '2.0', method: null, id: 1 },
    { jsonrpc: '2.0', id: 1 },
    { jsonrpc: '2.0', id: 1, result: {}, error: { code: 1, message: 'x' } },
    { jsonrpc: '2.0', result: {} },
    { jsonrpc: '2.0', id: 1, method: 'ping', result: {} },
    { jsonrpc: '2.0', id: 1, error: 'bad' },
    { jsonrpc: '2.0', id: 1, error: { code: 'x', message: 'y' } },
    { jsonrpc: '2.0', id: 1, error: { code: 1 } },
    { jsonrpc: '2.0', id: null, result: {} },
    'null', '1', '"x"', 'true',
  ];
  for (const value of cases) assert.equal(refused(value).code, JsonRpcErrorCode.InvalidRequest, JSON.stringify(value));
});

test('bad JSON is ParseError with id null', () => {
  for (const text of ['', '{', '{"jsonrpc":"2.0","id":1,"method":"ping","method":"tools/call"}', '\ufeff{}']) {
    const r = refused(text);
    assert.equal(r.code, JsonRpcErrorCode.ParseError, text);
    assert.equal(r.id, null);
  }
  const r = refused('{"jsonrpc":"2.0","id":1,"method":"tools/list","\\u006dethod":"tools/call"}');
  assert.match(r.message, /duplicate key "method"/);
});

test('batches: every element classified, in order', () => {
  const body = parse([
    req('tools/call', { name: 'a' }, 1),
    { jsonrpc: '2.0', method: 'notifications/progress', params: { progress: 1 } },
    req('tools/list', undefined, 'two'),
    { jsonrpc: '2.0', id: 99, result: {} },
  ]);
  assert.ok(body.ok);
  assert.equal(body.batch, true);
  assert.deepEqual(body.messages.map((m) => m.kind), ['tools/call', 'notification', 'tools/list', 'response']);
  assert.deepEqual(requestIdsOf(body), [1, 'two']);
  const one = parse([req('ping')]);
  assert.ok(one.ok && one.batch && one.messages.length === 1);
});

test('an empty batch or an invalid element refuses the whole batch', () => {
  const empty = refused('[]');
  assert.equal(empty.code, JsonRpcErrorCode.InvalidRequest);
  assert.match(empty.message, /empty batch/);
  const bad = refused([req('ping', undefined, 1), { jsonrpc: '2.0', id: 2 }, req('ping', undefined, 3)]);
  assert.equal(bad.code, JsonRpcErrorCode.InvalidRequest);
  assert.match(bad.message, /batch element 1/);
  assert.equal(bad.id, null);
  const badParams = refused([req('ping'), req('tools/call', { name: '' }, 2)]);
  assert.equal(badParams.code, JsonRpcErrorCode.InvalidParams);
  assert.match(badParams.message, /batch element 1/);
  assert.equal(refused([1]).code, JsonRpcErrorCode.InvalidRequest);
  assert.match(refused([req('ping', undefined, 1), req('tools/list', undefined, 1)]).message, /request id "1" is used twice/);
  const distinct = parse([req('ping', undefined, 1), req('ping', undefined, '1'), { jsonrpc: '2.0', id: 1, result: {} }]);
  assert.ok(distinct.ok, '1 and "1" differ; a response may reuse a request id');
  assert.equal(refused([[req('ping')]]).code, JsonRpcErrorCode.InvalidRequest);
});

test('serializeRequestBody writes the edited raw messages back', () => {
  const body = parse([req('tools/call', { name: 'a', arguments: { secret: 's', keep: 1 } }, 1), req('ping', undefined, 2)]);
  assert.ok(body.ok);
  delete body.messages[0]!.arguments!.secret;
  const out = JSON.parse(decoder.decode(serializeRequestBody(body)));
  assert.deepEqual(out, [req('tools/call', { name: 'a', arguments: { keep: 1 } }, 1), req('ping', undefined, 2)]);
  const one = parse(req('tools/call', { name: 'a', arguments: { x: 1 } }));
  assert.ok(one.ok);
  one.messages[0]!.arguments!.x = 2;
  assert.deepEqual(JSON.parse(decoder.decode(serializeRequestBody(one))), req('tools/call', { name: 'a', arguments: { x: 2 } }));
  assert.throws(() => serializeRequestBody(parse('{')));
});

test('__proto__ in a message neither classifies nor pollutes', () => {
  const m = single('{"__proto__":{"method":"tools/call"},"jsonrpc":"2.0","id":1,"method":"tools/list"}');
  assert.equal(m.kind, 'tools/list');
  const r = refused('{"jsonrpc":"2.0","id":1,"__proto__":{"method":"tools/call"}}');
  assert.equal(r.code, JsonRpcErrorCode.InvalidRequest);
  const t = single('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"__proto__":{"name":"evil"},"name":"ok","arguments":{"__proto__":{"x":1}}}}');
  assert.equal(t.toolName, 'ok');
  assert.ok(Object.hasOwn(t.arguments!, '__proto__'));
  assert.equal(({} as Record<string, unknown>).x, undefined);
  // Inherited members do not count as present.
  assert.equal(refused('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"arguments":{}}}').code, JsonRpcErrorCode.InvalidParams);
});

test('error messages do not echo unbounded client text', () => {
  const r = refused([{ jsonrpc: '2.0', id: 1, method: 'x' }, 'y'.repeat(100_000)]);
  assert.ok(r.message.length < 300, r.message);
});
