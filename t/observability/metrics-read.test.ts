import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Counter } from '../../runner/observability/metrics.js';

test('reading a counter never creates a series (nor uses up the series cap)', () => {
  const c = new Counter({ name: 'reads_total', help: 'h', labelNames: ['tool'], maxSeries: 2 });
  assert.equal(c.get({ tool: 'a' }), 0);
  assert.equal(c.get({ tool: 'b' }), 0);
  assert.equal(c.seriesCount, 0);
  c.inc({ tool: 'x' });
  c.inc({ tool: 'y' }, 2);
  assert.equal(c.get({ tool: 'y' }), 2);
  const out: string[] = [];
  c.render(out);
  assert.ok(!out.some((l) => l.includes('_overflow_')), 'two written series fit the cap of two');
});

test('series found by label value count like series found by joined key (cap, overflow, odd values; fast-check)', () => {
  const value = fc.oneof(fc.constantFrom('a', 'b', '', 'a\u0000b', '\u0000', '_overflow_'), fc.constantFrom(1, 0, undefined));
  const labels = fc.record({ x: value, y: value, z: value });
  fc.assert(
    fc.property(fc.array(fc.tuple(labels, fc.integer({ min: 0, max: 3 })), { maxLength: 60 }), fc.integer({ min: 1, max: 6 }), (incs, maxSeries) => {
      const c = new Counter({ name: 'model_total', help: 'h', labelNames: ['x', 'y', 'z'], maxSeries });
      // The model: one total per joined key, new keys past the cap folded into the overflow key.
      const text = (v: string | number | undefined): string => (v === undefined ? '' : String(v));
      const model = new Map<string, number>();
      const overflow = ['_overflow_', '_overflow_', '_overflow_'].join('\u0000');
      for (const [l, by] of incs) {
        c.inc(l, by);
        let key = [text(l.x), text(l.y), text(l.z)].join('\u0000');
        if (!model.has(key) && model.size >= maxSeries) key = overflow;
        model.set(key, (model.get(key) ?? 0) + by);
      }
      assert.equal(c.seriesCount, model.size);
      const out: string[] = [];
      c.render(out);
      const total = out.filter((l) => !l.startsWith('#')).reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
      assert.equal(total, [...model.values()].reduce((a, b) => a + b, 0));
      for (const [l] of incs) {
        const key = [text(l.x), text(l.y), text(l.z)].join('\u0000');
        if (model.has(key) && key !== overflow) assert.equal(c.get(l), model.get(key));
      }
    }),
    { numRuns: 500 },
  );
});
