// What a tool's annotations say about read access, and how the runner remembers them.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hintsOf, ToolHintStore } from '../../../plugins/mcp-authz/tool-hints.js';

test('annotations: readOnlyHint true reads; readOnlyHint false or destructiveHint true writes; none is unknown', () => {
  assert.deepEqual(hintsOf({ name: 't', annotations: { readOnlyHint: true } }), { readOnly: true, writes: false });
  assert.deepEqual(hintsOf({ name: 't', annotations: { readOnlyHint: false } }), { readOnly: false, writes: true });
  assert.deepEqual(hintsOf({ name: 't', annotations: { destructiveHint: true } }), { readOnly: false, writes: true });
  // Contradictory hints: write wins.
  assert.deepEqual(hintsOf({ name: 't', annotations: { readOnlyHint: true, destructiveHint: true } }), { readOnly: false, writes: true });
  assert.deepEqual(hintsOf({ name: 't', annotations: { title: 'x' } }), { readOnly: false, writes: false });
  assert.equal(hintsOf({ name: 't' }), undefined);
  assert.equal(hintsOf({ name: 't', annotations: [] }), undefined);
});

test('the store: a new listing replaces, a flagged change only ever narrows, absence forgets, and it is bounded', () => {
  const store = new ToolHintStore(2);
  store.remember('s', 'a', { readOnly: true, writes: false }, false);
  assert.deepEqual(store.get('s', 'a'), { readOnly: true, writes: false });
  assert.equal(store.get('other', 'a'), undefined, 'per server');
  // A flagged pin mismatch that claims read-only after a write stays writing.
  store.remember('s', 'b', { readOnly: false, writes: true }, false);
  store.remember('s', 'b', { readOnly: true, writes: false }, true);
  assert.deepEqual(store.get('s', 'b'), { readOnly: false, writes: true });
  // A flagged change to writing narrows a read-only tool.
  store.remember('s', 'a', { readOnly: false, writes: true }, true);
  assert.deepEqual(store.get('s', 'a'), { readOnly: false, writes: true });
  // Full: a new tool stays unknown rather than evicting.
  store.remember('s', 'c', { readOnly: true, writes: false }, false);
  assert.equal(store.get('s', 'c'), undefined);
  // Listed without annotations: forgotten (unknown again).
  store.remember('s', 'a', undefined, false);
  assert.equal(store.get('s', 'a'), undefined);
  store.remember(undefined, 'd', { readOnly: true, writes: false }, false);
  assert.deepEqual(store.get(undefined, 'd'), { readOnly: true, writes: false }, 'unnamed servers share one namespace');
});
