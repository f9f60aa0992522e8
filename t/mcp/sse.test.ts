import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eventUnchanged, parseSse, serializeSse } from '../../runner/mcp/index.js';
import type { SseEvent } from '../../runner/mcp/index.js';

const fields = (events: SseEvent[]): Array<Record<string, unknown>> =>
  events.map((e) => ({ data: e.data, id: e.id, event: e.event, retry: e.retry, comments: e.comments }));

test('a typical MCP stream: event, id, JSON data', () => {
  const text = 'event: message\nid: 42\ndata: {"jsonrpc":"2.0","id":1,"result":{"tools":[]}}\n\n';
  const [event, ...rest] = parseSse(text);
  assert.equal(rest.length, 0);
  assert.equal(event!.event, 'message');
  assert.equal(event!.id, '42');
  assert.deepEqual(event!.json, { jsonrpc: '2.0', id: 1, result: { tools: [] } });
  assert.equal(serializeSse([event!]), text);
});

test('LF, CRLF and CR line endings all end lines', () => {
  for (const eol of ['\n', '\r\n', '\r']) {
    const text = `data: a${eol}data: b${eol}${eol}data: {"x":1}${eol}${eol}`;
    const events = parseSse(text);
    assert.deepEqual(events.map((e) => e.data), ['a\nb', '{"x":1}'], JSON.stringify(eol));
    assert.deepEqual(events[1]!.json, { x: 1 });
    assert.equal(serializeSse(events), text);
  }
  const mixed = 'data: a\r\ndata: b\rdata: c\n\r\n';
  const events = parseSse(mixed);
  assert.deepEqual(events.map((e) => e.data), ['a\nb\nc']);
  assert.equal(serializeSse(events), mixed);
});

test('field syntax: optional single space, bare field, colons in values, unknown fields', () => {
  const events = parseSse('data:no-space\ndata:  two-spaces\ndata\ndata: a:b: c\nfoo: bar\nid:7\n\n');
  assert.equal(events.length, 1);
  assert.equal(events[0]!.data, 'no-space\n two-spaces\n\na:b: c');
  assert.equal(events[0]!.id, '7');
});

test('id with NUL and non-numeric retry are ignored; last value of a field wins', () => {
  const [event] = parseSse('id: 1\nid: a\0b\nretry: 10x\nretry: 3000\nevent: a\nevent: b\ndata: x\n\n');
  assert.equal(event!.id, '1');
  assert.equal(event!.retry, '3000');
  assert.equal(event!.event, 'b');
});

test('comments are kept, also in comment-only blocks', () => {
  const text = ': keep-alive\n\n:x\n: y\ndata: {}\n\n';
  const events = parseSse(text);
  assert.deepEqual(fields(events), [
    { data: '', id: undefined, event: undefined, retry: undefined, comments: [' keep-alive'] },
    { data: '{}', id: undefined, event: undefined, retry: undefined, comments: ['x', ' y'] },
  ]);
  assert.equal(events[0]!.json, undefined);
  assert.equal(events[0]!.jsonError, undefined);
  assert.equal(serializeSse(events), text);
});

test('a priming event (id, empty data) is kept', () => {
  const text = 'id: 0\ndata: \n\n';
  const events = parseSse(text);
  assert.equal(events.length, 1);
  assert.equal(events[0]!.id, '0');
  assert.equal(events[0]!.data, '');
  assert.equal(serializeSse(events), text);
});

test('a last event without a blank line is returned and written back without one', () => {
  const text = 'data: {"a":1}\n\ndata: {"b":2}\n';
  const events = parseSse(text);
  assert.equal(events.length, 2);
  assert.deepEqual(events[1]!.json, { b: 2 });
  assert.equal(serializeSse(events), text);
  (events[1]!.json as { b: number }).b = 3;
  assert.equal(serializeSse(events), 'data: {"a":1}\n\ndata: {"b":3}\n');
  const noEol = parseSse('data: tail');
  assert.equal(noEol[0]!.data, 'tail');
  assert.equal(serializeSse(noEol), 'data: tail');
});

test('non-JSON and ambiguous JSON data keep the text and say why json is missing', () => {
  const events = parseSse('data: hello\n\ndata: {"a":1,"a":2}\n\ndata: {"x":\ndata: 1}\n\n');
  assert.equal(events[0]!.json, undefined);
  assert.ok(events[0]!.jsonError);
  assert.equal(events[1]!.json, undefined);
  assert.match(events[1]!.jsonError!, /duplicate key "a"/);
  assert.deepEqual(events[2]!.json, { x: 1 }, 'multi-line data is joined before parsing');
});

test('extra blank lines and a leading BOM survive the round trip', () => {
  for (const text of ['\n\ndata: 1\n\n\n', '\ufeffdata: 1\n\n', '', '\n', '\r\n\r\n', ':\n']) {
    const events = parseSse(text);
    assert.equal(serializeSse(events), text, JSON.stringify(text));
  }
  assert.equal(parseSse('\ufeffdata: 1\n\n')[0]!.data, '1');
});

test('editing one event rewrites only that one', () => {
  const text = ': c\r\nid: 1\r\ndata: {"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"secret"}]}}\r\n\r\ndata:{ "pretty" : true }\r\n\r\n';
  const events = parseSse(text);
  assert.ok(events.every(eventUnchanged));
  const result = (events[0]!.json as { result: { content: Array<{ text: string }> } }).result;
  result.content[0]!.text = '[REDACTED]';
  assert.equal(eventUnchanged(events[0]!), false);
  assert.equal(eventUnchanged(events[1]!), true, 'pretty JSON that was not edited is unchanged');
  assert.equal(
    serializeSse(events),
    ': c\nid: 1\ndata: {"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"[REDACTED]"}]}}\n\ndata:{ "pretty" : true }\r\n\r\n',
  );
});

test('edits to data, fields and comments are written; dropping json writes data', () => {
  const events = parseSse('data: a\nid: 1\n\ndata: {"k":1}\n\n: only\n\n');
  events[0]!.data = 'line1\nline2';
  events[0]!.event = 'message';
  events[1]!.json = undefined;
  events[2]!.comments = ['changed'];
  assert.equal(serializeSse(events), 'event: message\nid: 1\ndata: line1\ndata: line2\n\ndata: {"k":1}\n\n:changed\n\n');
});

test('new events are written in the canonical form', () => {
  const made: SseEvent = { event: 'message', id: '9', retry: '100', comments: [' hi'], data: '', json: { jsonrpc: '2.0', id: 1, result: {} } };
  assert.equal(serializeSse([made]), ': hi\nevent: message\nid: 9\nretry: 100\ndata: {"jsonrpc":"2.0","id":1,"result":{}}\n\n');
  assert.equal(eventUnchanged(made), false);
  assert.equal(serializeSse([{ data: 'x', json: undefined }]), 'data: x\n\n');
});

test('unchanged events with numbers JSON cannot keep exactly stay byte-identical', () => {
  const text = 'data: {"n":12345678901234567890,"f":1.0,"e":1E2}\n\n';
  const events = parseSse(text);
  assert.ok(eventUnchanged(events[0]!));
  assert.equal(serializeSse(events), text);
});
