// The hand-written JSON text equals JSON.stringify and the plain canonical form, byte for
// byte, on random values (any string: quotes, controls, lone surrogates, astral characters).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { canonicalJson } from '../../runner/util/canonical.js';
import { quoteJson } from '../../runner/util/json-text.js';

/** The plain canonical form: what canonicalJson computed before it was made faster. */
function referenceCanonical(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return '[' + value.map(referenceCanonical).join(',') + ']';
  const obj = value as Record<string, unknown>;
  const parts: string[] = [];
  for (const k of Object.keys(obj).sort()) {
    if (obj[k] !== undefined) parts.push(JSON.stringify(k) + ':' + referenceCanonical(obj[k]));
  }
  return '{' + parts.join(',') + '}';
}

const anyString = fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.constantFrom('"', '\\', '\u0000', '\u001f', '\ud800', '\udc00x', '😀', '\u2028', 'é', ''));
/** JSON-shaped values plus what JSON.stringify treats specially: undefined members, -0, NaN, Infinity. */
const value = fc.letrec((tie) => ({
  leaf: fc.oneof(anyString, fc.double(), fc.integer(), fc.constantFrom(-0, NaN, Infinity, -Infinity, 1e21, 5e-324), fc.boolean(), fc.constant(null)),
  node: fc.oneof({ maxDepth: 4 }, tie('leaf'), fc.array(tie('node'), { maxLength: 5 }), fc.dictionary(anyString, fc.oneof(tie('node'), fc.constant(undefined)), { maxKeys: 6 })),
})).node;

test('quoteJson equals JSON.stringify on any string', () => {
  fc.assert(fc.property(anyString, (s) => quoteJson(s) === JSON.stringify(s)), { numRuns: 5000 });
});

test('canonicalJson equals the plain canonical form on random values (keys in any order)', () => {
  fc.assert(fc.property(value, (v) => assert.equal(canonicalJson(v), referenceCanonical(v))), { numRuns: 3000 });
  // The memo of quoted keys is bounded and keeps answering right past its bound.
  const many = Object.fromEntries(Array.from({ length: 3000 }, (_, i) => [`k${3000 - i}"`, i]));
  assert.equal(canonicalJson(many), referenceCanonical(many));
  assert.equal(canonicalJson(many), referenceCanonical(many));
  assert.throws(() => canonicalJson({ n: 1n }), TypeError);
});
