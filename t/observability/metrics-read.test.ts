import { test } from 'node:test';
import assert from 'node:assert/strict';
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
