// How a scenario's checks become its verdict and the summary line: a scenario with no
// successful check (only warnings) is inconclusive, never counted as passed.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { table, verdictOf, type Check } from '../../testkit/conformance/harness.js';

const check = (id: string, status: string): Check => ({ id, status });

test('a scenario with only warnings is inconclusive, with the warnings as its reason', () => {
  const r = verdictOf('server-sse-polling', [check('sse-priming', 'WARNING'), check('sse-retry', 'WARNING')], 5);
  assert.equal(r.verdict, 'inconclusive');
  assert.match(r.reason ?? '', /sse-priming WARNING; sse-retry WARNING/);
});

test('a successful check makes a pass, a failed one a fail, whatever the warnings', () => {
  assert.equal(verdictOf('a', [check('x', 'SUCCESS'), check('y', 'WARNING')], 1).verdict, 'pass');
  assert.equal(verdictOf('b', [check('x', 'SUCCESS'), check('y', 'FAILURE')], 1).verdict, 'fail');
  assert.equal(verdictOf('c', [check('x', 'WARNING'), check('y', 'FAILURE')], 1).verdict, 'fail');
});

test('the summary counts inconclusive scenarios apart from passes', () => {
  const results = [
    verdictOf('ok', [check('x', 'SUCCESS')], 1),
    verdictOf('warned', [check('x', 'WARNING')], 1),
    verdictOf('broken', [check('x', 'FAILURE')], 1),
  ];
  const out = table({ direct: results });
  assert.match(out, /\| warned \| inconclusive 0✓ 1⚠ \|/);
  assert.match(out, /\| \*\*total\*\* \| 1\/3 pass, 1 inconclusive \|/);
});
