// mcp-audit's per-call shortcuts give what the plain computation gives.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { redactEcho } from '../../../runner/redact/index.js';
import { echoed } from '../../../plugins/mcp-audit/echo.js';

test('echoed equals redactEcho, first time and again, for clean values and values with secrets', () => {
  const values = fc.oneof(
    fc.string(),
    fc.constantFrom('crm.lookup_customer', 'crm.tool_3', 'allowed by support-agent/allowed_tools/crm.lookup_customer', 'mail jane.doe@example.com now', 'card 4111 1111 1111 1111', 'x'.repeat(600), 'key sk-live-0123456789abcdefghijklmnop'),
    fc.tuple(fc.string(), fc.constantFrom(' jane@example.com', ' 4111111111111111', '')).map(([a, b]) => a + b),
  );
  fc.assert(
    fc.property(values, fc.constantFrom(undefined, 256, 512, 16), (v, max) => {
      const want = max === undefined ? redactEcho(v) : redactEcho(v, max);
      assert.equal(max === undefined ? echoed(v) : echoed(v, max), want);
      assert.equal(max === undefined ? echoed(v) : echoed(v, max), want);
    }),
    { numRuns: 3000 },
  );
  // A memo past its bound starts over and keeps answering right.
  for (let i = 0; i < 5000; i++) assert.equal(echoed(`tool.n${i}`), redactEcho(`tool.n${i}`));
  assert.equal(echoed('mail jane.doe@example.com now'), redactEcho('mail jane.doe@example.com now'));
  assert.notEqual(echoed('mail jane.doe@example.com now'), 'mail jane.doe@example.com now');
});
