// An audit event's line is JSON.stringify's, byte for byte, on random values with shared
// frozen parts and on what JSON.stringify treats specially.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { eventLine } from '../../../plugins/mcp-audit/event-line.js';

const anyString = fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.constantFrom('"', '\\', '\u0000', '\ud800', '😀', 'é', '', 'toJSON'));
const leaf = fc.oneof(anyString, fc.double(), fc.integer(), fc.constantFrom(-0, NaN, Infinity, 1e21, 5e-324, undefined), fc.boolean(), fc.constant(null));

function deepFreeze<T>(v: T): T {
  if (v !== null && typeof v === 'object') {
    for (const x of Object.values(v)) deepFreeze(x);
    Object.freeze(v);
  }
  return v;
}

/** JSON-like values, some parts deeply frozen (kept text), some only shallowly frozen. */
const value = fc.letrec((tie) => ({
  leaf,
  node: fc.oneof(
    { maxDepth: 5 },
    tie('leaf'),
    fc.array(tie('node'), { maxLength: 5 }),
    fc.dictionary(anyString, tie('node'), { maxKeys: 6 }),
    fc.array(tie('node'), { maxLength: 4 }).map(deepFreeze),
    fc.dictionary(anyString, tie('node'), { maxKeys: 4 }).map(deepFreeze),
    fc.dictionary(anyString, tie('node'), { maxKeys: 4 }).map((o) => Object.freeze(o)),
  ),
})).node;

test('eventLine equals JSON.stringify on random values, first time and again', () => {
  fc.assert(
    fc.property(fc.dictionary(anyString, value, { maxKeys: 30 }), (ev) => {
      assert.equal(eventLine(ev), JSON.stringify(ev));
      assert.equal(eventLine(ev), JSON.stringify(ev));
    }),
    { numRuns: 3000 },
  );
});

test('eventLine follows JSON.stringify on what it treats specially', () => {
  let n = 0;
  const getter = Object.freeze(Object.defineProperty({}, 'count', { enumerable: true, get: () => ++n }));
  const withToJSON = { toJSON: (key: string) => `key ${key}` };
  const frozenWithToJSON = deepFreeze({ inner: { toJSON: () => 'inner' } });
  const sparse = [1, , 3]; // eslint-disable-line no-sparse-arrays
  const ev: Record<string, unknown> = {
    a: getter,
    b: withToJSON,
    c: [withToJSON, undefined, () => 1, Symbol('s')],
    d: new Date(0),
    e: Object.freeze(new Date(0)),
    f: Object(5),
    g: Object('s'),
    h: frozenWithToJSON,
    i: sparse,
    j: Object.freeze([Object.freeze({ x: [1, { y: 2 }] })]),
    k: { nested: { deep: { deeper: [1, 2, { z: undefined }] } } },
    l: Object.create(null, { own: { value: 1, enumerable: true } }),
    m: new Map([[1, 2]]),
    [Symbol('hidden')]: 1,
  };
  Object.defineProperty(ev, 'hidden', { value: 1, enumerable: false });
  for (let i = 0; i < 3; i++) {
    n = 0;
    const want = JSON.stringify(ev);
    n = 0;
    assert.equal(eventLine(ev), want);
  }
  assert.throws(() => eventLine({ n: 1n }), TypeError);
  assert.equal(eventLine(withToJSON), JSON.stringify(withToJSON));
});
