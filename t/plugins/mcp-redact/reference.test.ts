// The combined engine (gated passes, combined regexes, one secret pass) against a plain
// reference: every detector compiled alone and run over the whole string, then the span
// resolver. On strings made of the corpus's sensitive values and look-alikes, joined by
// separators that tool output uses, both must find the same spans.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { compileDetectors, DETECTOR_NAMES, resolveSpans, TAX_ID_KINDS, type Hit } from '../../../runner/redact/index.js';
import { CATEGORIES, makeItem, Rng } from '../../../testkit/redact-corpus/values.js';

const engine = compileDetectors(DETECTOR_NAMES);
const alone = DETECTOR_NAMES.flatMap((d) => (d === 'tax_id' ? TAX_ID_KINDS.map((k) => compileDetectors([d], [k])) : [compileDetectors([d])]));

function reference(text: string): Hit[] {
  const hits: Hit[] = [];
  for (const detectors of alone) for (const h of detectors.scan(text)) hits.push({ ...h });
  return resolveSpans(hits);
}

const spans = (hits: Hit[]): string[] => hits.map((h) => `${h.start}-${h.end}`);

const value = fc.tuple(fc.integer({ min: 1, max: 2 ** 31 }), fc.constantFrom(...CATEGORIES), fc.boolean()).map(([seed, category, sensitive]) => makeItem(new Rng(seed), category, sensitive).text);
const separator = fc.constantFrom(' ', '\n', ', ', '=', ': ', '"', '\t', ' and ', '/', '', 'id ', 'key: ');

test('the engine finds the same spans as every detector run alone, then resolved', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(separator, value), { minLength: 1, maxLength: 8 }), (parts) => {
      const text = parts.map(([sep, v]) => sep + v).join('');
      assert.deepEqual(spans(engine.scan(text)), spans(reference(text)), JSON.stringify(text));
    }),
    { numRuns: 2000, seed: Number(process.env['REDACT_REFERENCE_SEED'] ?? 20260728) },
  );
});
