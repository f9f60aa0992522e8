import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  jsonRpcMessagesOf,
  markEventEdited,
  mediaTypeOf,
  parseResponseBody,
  responseFor,
  responsesOf,
  resultFor,
  serializeResponseBody,
  upstreamErrorCodeOf,
} from '../../runner/mcp/index.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const bytes = (text: string): Uint8Array => encoder.encode(text);

test('content types: json (with parameters), sse, anything else undefined', () => {
  assert.equal(mediaTypeOf(' Application/JSON ; charset=utf-8'), 'application/json');
  assert.equal(parseResponseBody('application/json; charset=utf-8', bytes('{}'))!.format, 'json');
  assert.equal(parseResponseBody('APPLICATION/JSON', bytes('{}'))!.format, 'json');
  assert.equal(parseResponseBody('text/event-stream', bytes('data: 1\n\n'))!.format, 'sse');
  assert.equal(parseResponseBody('text/event-stream;charset=utf-8', bytes(''))!.events.length, 0);
  for (const type of [undefined, '', 'text/plain', 'text/html', 'application/jsonx', 'application/problem+json']) {
    assert.equal(parseResponseBody(type, bytes('{}')), undefined, String(type));
  }
});

test('a JSON body is one event whose json is the body', () => {
  const text = '{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"a"},{"name":"b"}]}}';
  const body = parseResponseBody('application/json', bytes(text))!;
  assert.equal(body.events.length, 1);
  assert.deepEqual(body.events[0]!.json, JSON.parse(text));
  assert.equal(body.events[0]!.data, text);
  assert.deepEqual(resultFor(body, 1), { tools: [{ name: 'a' }, { name: 'b' }] });
  assert.equal(resultFor(body, '1'), undefined, 'ids compare strictly');
});

test('unchanged bodies come back as the very same bytes', () => {
  const pretty = bytes('{\n  "jsonrpc": "2.0",\n  "id": 1,\n  "result": {}\n}\n');
  assert.equal(serializeResponseBody(parseResponseBody('application/json', pretty)!), pretty);
  const broken = new Uint8Array([0x7b, 0xff, 0x7d]);
  const body = parseResponseBody('application/json', broken)!;
  assert.equal(body.events[0]!.json, undefined);
  assert.match(body.events[0]!.jsonError!, /UTF-8/);
  assert.equal(serializeResponseBody(body), broken);
  const sse = new Uint8Array([...bytes(': x\r\ndata: {"a":1}\r\n\r\ndata: '), 0xff, 0x0a, 0x0a]);
  assert.equal(serializeResponseBody(parseResponseBody('text/event-stream', sse)!), sse);
});

test('an edited JSON body is re-serialised', () => {
  const body = parseResponseBody('application/json', bytes('{ "jsonrpc": "2.0", "id": 1, "result": { "tools": [ {"name":"a"}, {"name":"b"} ] } }'))!;
  const result = resultFor(body, 1)!;
  result.tools = (result.tools as Array<{ name: string }>).filter((t) => t.name !== 'b');
  assert.equal(decoder.decode(serializeResponseBody(body)), '{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"a"}]}}');
});

test('an edited SSE body rewrites only the edited events', () => {
  const text = 'event: message\r\ndata: {"jsonrpc":"2.0","method":"notifications/progress","params":{}}\r\n\r\nevent: message\r\ndata: {"jsonrpc":"2.0","id":"r1","result":{"content":[{"type":"text","text":"secret"}]}}\r\n\r\n';
  const body = parseResponseBody('text/event-stream', bytes(text))!;
  const content = resultFor(body, 'r1')!.content as Array<{ text: string }>;
  content[0]!.text = 'xxx';
  assert.equal(
    decoder.decode(serializeResponseBody(body)),
    'event: message\r\ndata: {"jsonrpc":"2.0","method":"notifications/progress","params":{}}\r\n\r\nevent: message\ndata: {"jsonrpc":"2.0","id":"r1","result":{"content":[{"type":"text","text":"xxx"}]}}\n\n',
  );
});

test('removing or adding events is serialised', () => {
  const body = parseResponseBody('text/event-stream', bytes('data: {"a":1}\n\ndata: {"b":2}\n\n'))!;
  body.events.splice(0, 1);
  assert.equal(decoder.decode(serializeResponseBody(body)), 'data: {"b":2}\n\n');
  body.events.push({ data: '', json: { c: 3 } });
  assert.equal(decoder.decode(serializeResponseBody(body)), 'data: {"b":2}\n\ndata: {"c":3}\n\n');
  const json = parseResponseBody('application/json', bytes('{}'))!;
  json.events.push({ data: '{}', json: {} });
  assert.throws(() => serializeResponseBody(json), /exactly one/);
});

test('walking JSON-RPC messages in both formats, batches included', () => {
  const batch = parseResponseBody('application/json', bytes('[{"jsonrpc":"2.0","id":1,"result":{"a":1}},{"jsonrpc":"2.0","id":2,"error":{"code":-32601,"message":"nope"}},5]'))!;
  assert.deepEqual(responsesOf(batch).map((m) => [m.message.id, m.batchIndex]), [[1, 0], [2, 1]]);
  assert.deepEqual(resultFor(batch, 1), { a: 1 });
  assert.equal(resultFor(batch, 2), undefined);
  assert.equal(responseFor(batch, 2)!.batchIndex, 1);
  assert.equal(upstreamErrorCodeOf(batch), -32601);

  const stream = parseResponseBody(
    'text/event-stream',
    bytes('data: {"jsonrpc":"2.0","method":"notifications/message","params":{}}\n\ndata: {"jsonrpc":"2.0","id":"s1","method":"sampling/createMessage","params":{}}\n\ndata: not json\n\ndata: {"jsonrpc":"2.0","id":7,"result":{"ok":true}}\n\n'),
  )!;
  assert.equal(jsonRpcMessagesOf(stream).length, 3);
  const responses = responsesOf(stream);
  assert.equal(responses.length, 1);
  assert.equal(responses[0]!.event, stream.events[3]);
  assert.deepEqual(resultFor(stream, 7), { ok: true });
  assert.equal(upstreamErrorCodeOf(stream), undefined);
});

test('a response body with duplicate keys is not read as JSON', () => {
  const body = parseResponseBody('application/json', bytes('{"jsonrpc":"2.0","id":1,"result":{"text":"secret","text":"ok"}}'))!;
  assert.equal(body.events[0]!.json, undefined);
  assert.match(body.events[0]!.jsonError!, /duplicate key "text"/);
  assert.equal(responsesOf(body).length, 0);
});

test('an event marked edited is written as its value, the same bytes as the unmarked check gives', () => {
  const text = '{ "jsonrpc": "2.0", "id": 1, "result": { "content": [ { "type": "text", "text": "key sk-live-1" } ] } }\n';
  for (const format of ['application/json', 'text/event-stream']) {
    const source = format === 'application/json' ? text : `event: message\ndata: ${text}\n`;
    const written: string[] = [];
    for (const mark of [false, true]) {
      const body = parseResponseBody(format, bytes(source))!;
      const result = body.events[0]!.json as { result: { content: { text: string }[] } };
      result.result.content[0]!.text = 'key [REDACTED:secret]';
      if (mark) markEventEdited(body.events[0]!);
      written.push(decoder.decode(serializeResponseBody(body)));
    }
    assert.equal(written[1], written[0], format);
    assert.match(written[1]!, /\[REDACTED:secret\]/);
    assert.doesNotMatch(written[1]!, /sk-live-1/);
  }
});
