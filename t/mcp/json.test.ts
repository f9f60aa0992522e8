import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_JSON_DEPTH, parseStrictJson, parseStrictJsonText } from '../../runner/mcp/index.js';

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

function refusal(input: Uint8Array | string): string {
  const result = typeof input === 'string' ? parseStrictJson(bytes(input)) : parseStrictJson(input);
  assert.equal(result.ok, false, `expected refusal of ${String(input)}`);
  return result.ok ? '' : result.message;
}

function accepted(text: string): unknown {
  const result = parseStrictJson(bytes(text));
  assert.ok(result.ok, `expected ${text} to parse: ${result.ok ? '' : result.message}`);
  return result.value;
}

test('plain JSON values parse like JSON.parse', () => {
  for (const text of ['{}', '[]', '1', '"x"', 'null', ' \t\r\n{"a":[1,2,{"b":null}],"c":"\\n\\"\\\\"} \n', '{"a":1,"b":{"a":1}}', '[{"a":1},{"a":1}]']) {
    assert.deepEqual(accepted(text), JSON.parse(text));
  }
});

test('duplicate keys are refused at the top level and at any depth', () => {
  assert.match(refusal('{"method":"tools/list","method":"tools/call"}'), /duplicate key "method" at position 23/);
  assert.match(refusal('{"params":{"arguments":{"x":{"y":[{"z":1,"z":2}]}}}}'), /duplicate key "z"/);
  assert.match(refusal('[1,{"a":{"b":1},"a":2}]'), /duplicate key "a"/);
});

test('keys that differ only in escaping are the same key', () => {
  assert.match(refusal('{"method":"a","\\u006dethod":"b"}'), /duplicate key "method"/);
  assert.match(refusal('{"\\u006dethod":"a","method":"b"}'), /duplicate key "method"/);
  assert.match(refusal('{"a\\/b":1,"a/b":2}'), /duplicate key "a\/b"/);
  // Escaped quotes and backslashes inside keys and values must not confuse the scanner.
  assert.match(refusal('{"a\\"":"\\\\","b":"\\"","a\\"":3}'), /duplicate key "a\\""/);
  assert.deepEqual(accepted('{"a\\"":1,"a":2,"a\\\\":3}'), { 'a"': 1, a: 2, 'a\\': 3 });
});

test('objects with many keys are still checked for duplicates', () => {
  const keys = Array.from({ length: 200 }, (_, i) => `"k${i}":${i}`);
  assert.equal(Object.keys(accepted(`{${keys.join(',')}}`) as object).length, 200);
  assert.match(refusal(`{${keys.join(',')},"k150":0}`), /duplicate key "k150"/);
});

test('the same key in sibling or nested objects is fine', () => {
  assert.deepEqual(accepted('{"a":{"a":{"a":1}},"b":{"a":2}}'), { a: { a: { a: 1 } }, b: { a: 2 } });
});

test('a long duplicated key is quoted truncated', () => {
  const key = 'k'.repeat(10_000);
  const message = refusal(`{"${key}":1,"${key}":2}`);
  assert.ok(message.length < 200, message);
});

test('a UTF-8 BOM is refused', () => {
  assert.match(refusal(new Uint8Array([0xef, 0xbb, 0xbf, 0x7b, 0x7d])), /byte order mark/);
  assert.match(refusal(new Uint8Array([0xef, 0xbb, 0xbf])), /byte order mark/);
});

test('invalid UTF-8 is refused', () => {
  for (const raw of [[0x22, 0xff, 0x22], [0x22, 0xc3, 0x22], [0x22, 0xed, 0xa0, 0x80, 0x22] /* encoded surrogate */, [0x22, 0xc0, 0xaf, 0x22] /* overlong */]) {
    assert.match(refusal(new Uint8Array(raw)), /not valid UTF-8/);
  }
  assert.deepEqual(accepted('"héllo 😀"'), 'héllo 😀');
});

test('lone surrogate escapes are refused, pairs are fine', () => {
  for (const text of ['"\\ud800"', '"\\uDBFF"', '"\\udc00"', '"\\ud800x"', '"\\ud800\\u0041"', '"\\ud800\\ud800"', '"\\udc00\\ud800"', '{"\\ud800":1}', '["a","\\ud83d"]']) {
    assert.match(refusal(text), /lone surrogate/, text);
  }
  assert.equal(accepted('"\\ud83d\\ude00"'), '😀');
  assert.equal(accepted('"\\uD83D\\uDE00\\u00e9"'), '😀é');
  assert.equal(accepted('"x\\\\ud800"'), 'x\\ud800'); // an escaped backslash, not an escape
});

test('lone surrogates in text given as a string are refused', () => {
  assert.equal(parseStrictJsonText('"\ud800"').ok, false);
  assert.equal(parseStrictJsonText('"\ud83d\ude00"').ok, true);
  assert.equal(parseStrictJsonText('\ufeff{}').ok, false);
});

test('nesting deeper than the limit is refused, even far beyond the stack', () => {
  assert.ok(Array.isArray(accepted('['.repeat(MAX_JSON_DEPTH) + ']'.repeat(MAX_JSON_DEPTH))));
  assert.match(refusal('['.repeat(MAX_JSON_DEPTH + 1) + ']'.repeat(MAX_JSON_DEPTH + 1)), /nesting deeper than 64/);
  assert.match(refusal('{"a":'.repeat(MAX_JSON_DEPTH + 1) + '1' + '}'.repeat(MAX_JSON_DEPTH + 1)), /nesting deeper/);
  assert.match(refusal('['.repeat(500_000) + ']'.repeat(500_000)), /nesting deeper/);
  assert.equal(parseStrictJson(bytes('[[[1]]]'), { maxDepth: 2 }).ok, false);
  // Brackets inside strings do not count.
  assert.deepEqual(accepted(`["${"[".repeat(200)}"]`), ["[".repeat(200)]);
});

test('syntax errors and trailing garbage are refused', () => {
  for (const text of ['', ' ', '{', '{"a":1,}', '[1,]', "{'a':1}", '{"a":1} x', '{"a":1}{"b":2}', 'NaN', '01', '"\t"', '{"a" 1}', '\u0000']) {
    assert.ok(refusal(text).length > 0, text);
  }
});

test('__proto__ keys stay plain own data and do not touch prototypes', () => {
  const value = accepted('{"__proto__":{"polluted":true},"a":{"__proto__":null}}') as Record<string, unknown>;
  assert.ok(Object.hasOwn(value, '__proto__'));
  assert.equal(Object.getPrototypeOf(value), Object.prototype);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  assert.equal((value as { polluted?: unknown }).polluted, undefined);
  assert.equal(JSON.stringify(value), '{"__proto__":{"polluted":true},"a":{"__proto__":null}}');
  assert.match(refusal('{"__proto__":1,"__proto__":2}'), /duplicate key "__proto__"/);
});

test('strings full of escapes are scanned in linear time', () => {
  const long = '\\n'.repeat(500_000);
  const started = performance.now();
  assert.equal((accepted(`{"a":"${long}","b":"${long}"}`) as { a: string }).a.length, 500_000);
  assert.ok(performance.now() - started < 1000);
});

test('large bodies of many small strings and objects are scanned in linear time', () => {
  // A quadratic scan takes tens of seconds here; a linear one a few milliseconds. The
  // optimised code is what once went quadratic (an indexOf -1 sentinel), so warm it up first.
  const small = bytes(JSON.stringify(Array.from({ length: 50 }, (_, i) => ({ id: i, name: `row ${i}` }))));
  for (let k = 0; k < 2000; k++) parseStrictJson(small);
  const rows = JSON.stringify(Array.from({ length: 40_000 }, (_, i) => ({ id: i, name: `row ${i}`, tags: ['a', 'b'] })));
  const started = performance.now();
  const value = accepted(rows) as unknown[];
  assert.equal(value.length, 40_000);
  assert.ok(performance.now() - started < 3000, `took ${performance.now() - started} ms`);
});
