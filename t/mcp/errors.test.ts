import { test } from 'node:test';
import assert from 'node:assert/strict';
import { JsonRpcErrorCode, jsonRpcError, jsonRpcErrorBody, parseRequestBody, requestIdsOf, truncateForError } from '../../runner/mcp/index.js';

const decode = (b: Uint8Array): unknown => JSON.parse(new TextDecoder().decode(b));

test('jsonRpcError includes data only when given', () => {
  assert.deepEqual(jsonRpcError(-32003, 'Forbidden'), { code: -32003, message: 'Forbidden' });
  assert.deepEqual(jsonRpcError(-32003, 'Forbidden', { rule: 'r' }), { code: -32003, message: 'Forbidden', data: { rule: 'r' } });
  assert.ok(!('data' in jsonRpcError(1, 'x')));
});

test('single message: one object with the id, or null', () => {
  const error = jsonRpcError(JsonRpcErrorCode.Forbidden, 'Forbidden');
  assert.deepEqual(decode(jsonRpcErrorBody([7], false, error)), { jsonrpc: '2.0', id: 7, error: { code: -32003, message: 'Forbidden' } });
  assert.deepEqual(decode(jsonRpcErrorBody(['a'], false, error)), { jsonrpc: '2.0', id: 'a', error: { code: -32003, message: 'Forbidden' } });
  assert.deepEqual(decode(jsonRpcErrorBody([], false, error)), { jsonrpc: '2.0', id: null, error: { code: -32003, message: 'Forbidden' } });
  assert.deepEqual(decode(jsonRpcErrorBody([null], false, jsonRpcError(-32700, 'Parse error', 'x'))), {
    jsonrpc: '2.0',
    id: null,
    error: { code: -32700, message: 'Parse error', data: 'x' },
  });
});

test('batch: one error per request id; no ids at all gives one error with id null', () => {
  const error = jsonRpcError(JsonRpcErrorCode.RateLimited, 'Rate limited');
  assert.deepEqual(decode(jsonRpcErrorBody([1, 'b'], true, error)), [
    { jsonrpc: '2.0', id: 1, error: { code: -32029, message: 'Rate limited' } },
    { jsonrpc: '2.0', id: 'b', error: { code: -32029, message: 'Rate limited' } },
  ]);
  assert.deepEqual(decode(jsonRpcErrorBody([], true, error)), { jsonrpc: '2.0', id: null, error: { code: -32029, message: 'Rate limited' } });
});

test('error bodies for parsed requests use the request ids only', () => {
  const body = parseRequestBody(
    new TextEncoder().encode('[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","method":"notifications/x"},{"jsonrpc":"2.0","id":"z","method":"tools/list"}]'),
  );
  assert.deepEqual(requestIdsOf(body), [1, 'z']);
  const failed = parseRequestBody(new TextEncoder().encode('{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{}}'));
  assert.deepEqual(requestIdsOf(failed), [3]);
});

test('truncateForError bounds text and never splits a surrogate pair', () => {
  assert.equal(truncateForError('short'), 'short');
  const long = truncateForError('x'.repeat(1000));
  assert.equal(long.length, 129);
  const cut = truncateForError('a' + '😀'.repeat(100), 4);
  assert.equal(cut, 'a😀…');
  assert.doesNotMatch(cut, /[\ud800-\udbff](?![\udc00-\udfff])/);
});
