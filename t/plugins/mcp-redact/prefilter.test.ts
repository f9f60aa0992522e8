// The prefilter (a family is skipped when one look at a short string's characters proves it
// cannot match) against the plain path that runs every family on every string: on random
// strings and JSON trees made of detector-shaped fragments at their shortest (the sizes the
// prefilter's conditions sit on), truncated and mutated into near-misses, both must find the
// same spans and redact trees to the same bytes with the same tallies.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { compileDetectors, compileRedaction, DETECTOR_NAMES, newTally, redactTree, TAX_ID_KINDS, type DetectorName, type Redaction, type TaxIdKind } from '../../../runner/redact/index.js';
import { familiesOf, PREFILTER_MAX } from '../../../runner/redact/prefilter.js';
import type { JsonValue } from '../../../runner/mcp/types.js';

const CONFS: [DetectorName[], TaxIdKind[]][] = [
  [[...DETECTOR_NAMES], [...TAX_ID_KINDS]],
  [['payment_card', 'phone', 'tax_id'], ['us_ssn', 'ca_sin']],
  [['secret'], []],
  [['iban', 'tax_id', 'email'], ['uk_nino', 'us_ein']],
];
const scanners = CONFS.map(([d, t]) => ({ fast: compileDetectors(d, t), plain: compileDetectors(d, t, false) }));

/** Findings at (or near) their shortest: each sits on one of the prefilter's conditions. */
const SHORTEST = [
  'pwd=abcd', 'sig=abcd', 'pwd:abcd', 'key:abcd', 'pass abc1!x', 'pass\tabc1!x', 'token = "abcd"', 'set passwd s3cret!',
  'eyJabcdefgh.eyJabcdefgh.abcdefghijklmnop', 'xoxb-a-b-c-d-e-', 'xoxb-abcdefghij', 'FwoGZXIvYXdz/a+b/a+b/a+b/a+b/a+b/a+b/a+b/a+b/a+b/a+b', 'AKIA2E0A8F3B244C9986', 'SK0123456789abcdef0123456789abcdef',
  'glpat-abcdefghij0123456789', 'SG.abcdefghijklmnopqrstuv.abcdefghijklmnopqrstuvwxyzabcdefghijklmnopq',
  'basic YTpiYTpi', 'Bearer abc123def456ghi7', 'curl -u a:pw12', 'redis-cli -a pw12',
  'aB3dEfGh1jKlMn0pQrStUvWxYz/1234567890abc',
  'AB123456C', 'ab 12 34 56 c', 'NO9386011117947', 'QA69DOHBABCDEFGHIJKLMNOPQRSTU', 'GB82WEST12345698765432', 'DE89370400440532013000',
  '4111111111111111', '4111 1111 1111 1111', '378282246310005', '123-45-6789', '12-3456789', '130 692 544', '130-692-544', '123456789',
  '+4915123456', '+1 415 555 0132', '415-555-0132', '(415) 555-0132', '020 7946 0958', '01 23 45 67 89',
  'a@b.co', 'x://:p@h', 'https://u:p@h', 'u:pw@10.0.0.5', 'a%40b.co', '"jane doe"@example.com', 'git@github.com:org/repo',
  'kind: Secret\ndata:\n  k: dmFsdWU=\n',
];
const FILLER = ['', ' ', '=', ':', '\t', '-', '_', '.', '@', '%', '1', 'a', 'Z', 'ssn ', 'id ', ', ', '"', '\n', 'é', '€'];

/** Cut a fragment at a random place, or replace / delete / insert one character. */
const mutated = fc.tuple(fc.constantFrom(...SHORTEST), fc.nat(), fc.nat(4), fc.constantFrom(...FILLER)).map(([s, at, how, ch]) => {
  const i = at % (s.length + 1);
  if (how === 0) return s.slice(0, i);
  if (how === 1) return s.slice(i);
  if (how === 2) return s.slice(0, i) + ch + s.slice(i + 1);
  if (how === 3) return s.slice(0, i) + s.slice(i + 1);
  return s.slice(0, i) + ch + s.slice(i);
});
const fragment = fc.oneof(fc.constantFrom(...SHORTEST), mutated, mutated, fc.string({ unit: fc.constantFrom(...'aZ09 _-.:=@%+/()\t'), maxLength: 16 }));
/** Mostly short strings (where the prefilter works), some just over its limit. */
const text = fc.tuple(fc.array(fc.tuple(fc.constantFrom(...FILLER), fragment), { minLength: 1, maxLength: 3 }), fc.integer({ min: 0, max: PREFILTER_MAX + 8 }))
  .map(([parts, cap]) => parts.map(([f, p]) => f + p).join('').slice(0, Math.max(cap, 1)));
const key = fc.constantFrom(undefined, 'note', 'password', 'ssn', 'sin', 'ein', 'aws_secret', 'tax_id', 'email');

test('the prefilter skips only families that cannot match: the same findings as running them all', () => {
  fc.assert(
    fc.property(text, key, fc.nat(CONFS.length - 1), (t, k, c) => {
      const { fast, plain } = scanners[c]!;
      assert.deepEqual(fast.scan(t, k), plain.scan(t, k), JSON.stringify({ t, k, conf: CONFS[c] }));
    }),
    { numRuns: 20000, seed: Number(process.env['REDACT_PREFILTER_SEED'] ?? 20261203) },
  );
});

test('the shortest findings are found with the prefilter on, and ids and names skip every family', () => {
  const { fast, plain } = scanners[0]!;
  for (const t of SHORTEST) {
    for (const k of [undefined, 'sin']) assert.deepEqual(fast.scan(t, k), plain.scan(t, k), JSON.stringify({ t, k }));
  }
  // Most fragments are findings (the rest are near-misses by design).
  assert.ok(SHORTEST.filter((t) => fast.scan(t, 'sin').length > 0).length >= SHORTEST.length - 5);
  // The conditions do skip: short ids, names and enum values need no family at all.
  for (const t of ['name', 'active', 'eu-west', 'c-1', 'Jane', 'renewal', 'v2', 'ok: yes']) assert.equal(familiesOf(t), 0, t);
});

const KEYS = ['note', 'id', 'email', 'password', 'ssn', 'card_number', 'items', 'data', 'kind', 'x-api-key', 'region'];
const tree: fc.Arbitrary<JsonValue> = fc.letrec<{ node: JsonValue }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    text,
    fc.constantFrom(4111111111111111, 123456789, 1e12 + 7, 42, true, null),
    fc.array(tie('node'), { maxLength: 4 }),
    fc.dictionary(fc.constantFrom(...KEYS), tie('node'), { maxKeys: 5 }),
  ),
})).node;

function plainOf(r: Redaction, c: number): Redaction {
  const [d, t] = CONFS[c]!;
  return { ...r, detectors: compileDetectors(d, t, false) };
}

test('trees redact to the same bytes and tallies with the prefilter as without it', () => {
  const confs = CONFS.map(([detectors, tax_ids], c) => {
    const r = compileRedaction({ detectors, tax_ids, modes: { email: 'drop', phone: 'block' }, fields: { keys: ['password'] } });
    return { fast: r, plain: plainOf(r, c) };
  });
  fc.assert(
    fc.property(fc.dictionary(fc.constantFrom(...KEYS), tree, { minKeys: 1, maxKeys: 6 }), fc.nat(CONFS.length - 1), (root, c) => {
      const { fast, plain } = confs[c]!;
      const a = structuredClone(root);
      const b = structuredClone(root);
      const ta = newTally();
      const tb = newTally();
      redactTree(a, ['params', 'arguments'], fast, ta);
      redactTree(b, ['params', 'arguments'], plain, tb);
      assert.equal(JSON.stringify(a), JSON.stringify(b));
      assert.deepEqual(ta, tb);
    }),
    { numRuns: 3000, seed: Number(process.env['REDACT_PREFILTER_SEED'] ?? 20261203) },
  );
});
