// Redaction quality on output shaped like real tool results (testkit/redact-corpus/):
// 1500 generated documents, every shape and transport, through the plugin's real request and
// response paths with the default conf. Prints precision and recall per category, transport
// and shape, lists what was missed, and fails below the floor.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { closeSecretWatchers } from '../../../runner/secrets/index.js';
import { generateCorpus, SHAPES, TRANSPORTS } from '../../../testkit/redact-corpus/generate.js';
import { harness, kept, leaked } from '../../../testkit/redact-corpus/harness.js';
import { CATEGORIES } from '../../../testkit/redact-corpus/values.js';

const SEED = Number(process.env['REDACT_CORPUS_SEED'] ?? 20261203);
const COUNT = Number(process.env['REDACT_CORPUS_DOCS'] ?? 1500);
/** The floor: overall, and for every category, transport and shape. */
const OVERALL_FLOOR = 0.98;
const GROUP_FLOOR = 0.95;

const h = harness({});
after(async () => {
  await h.close();
  closeSecretWatchers();
});

interface Cell {
  caught: number;
  missed: number;
  kept: number;
  lost: number;
}
const newCell = (): Cell => ({ caught: 0, missed: 0, kept: 0, lost: 0 });
const recall = (c: Cell): number => (c.caught + c.missed === 0 ? 1 : c.caught / (c.caught + c.missed));
// Precision over values: what was masked that should have been, against look-alikes masked.
const precision = (c: Cell): number => (c.caught + c.lost === 0 ? 1 : c.caught / (c.caught + c.lost));

function table(title: string, rows: Map<string, Cell>): string {
  const lines = [`${title.padEnd(16)} secrets  missed  look-alikes  lost  precision  recall`];
  for (const [name, c] of rows) {
    lines.push(
      `${name.padEnd(16)} ${String(c.caught + c.missed).padStart(7)} ${String(c.missed).padStart(7)} ${String(c.kept + c.lost).padStart(12)} ${String(c.lost).padStart(5)}  ${precision(c).toFixed(3).padStart(9)}  ${recall(c).toFixed(3).padStart(6)}`,
    );
  }
  return lines.join('\n');
}

test('tool-output corpus: precision and recall per category, transport and shape hold the floor', async () => {
  const docs = generateCorpus(SEED, COUNT);
  const total = newCell();
  const byCategory = new Map(CATEGORIES.map((c) => [c as string, newCell()]));
  const byTransport = new Map(TRANSPORTS.map((t) => [t as string, newCell()]));
  const byShape = new Map(SHAPES.map((s) => [s as string, newCell()]));
  const misses: string[] = [];
  for (let n = 0; n < docs.length; n++) {
    const doc = docs[n]!;
    const out = await h.run(doc, n);
    for (const it of doc.items) {
      const cells = [total, byCategory.get(it.category)!, byTransport.get(doc.transport)!, byShape.get(doc.shape)!];
      if (it.sensitive) {
        const leak = leaked(out, it);
        for (const c of cells) leak ? c.missed++ : c.caught++;
        if (leak) misses.push(`MISSED ${it.category}/${doc.transport}/${doc.shape}: ${JSON.stringify(it.text.slice(0, 120))}`);
      } else {
        const ok = kept(out, it);
        for (const c of cells) ok ? c.kept++ : c.lost++;
        if (!ok) misses.push(`MASKED ${it.category}/${doc.transport}/${doc.shape}: ${JSON.stringify(it.text.slice(0, 120))}`);
      }
    }
  }
  const report = [
    `mcp-redact tool-output corpus: ${docs.length} documents (seed ${SEED}), default conf`,
    table('category', byCategory),
    table('transport', byTransport),
    table('shape', byShape),
    table('overall', new Map([['all', total]])),
  ].join('\n\n');
  const limit = Number(process.env['REDACT_CORPUS_SHOW'] ?? 40);
  console.log(`${report}${misses.length ? `\n\nfirst ${Math.min(limit, misses.length)} of ${misses.length} errors:\n${misses.slice(0, limit).join('\n')}` : ''}`);

  assert.ok(total.caught + total.missed >= 2000 && total.kept + total.lost >= 2000, 'the corpus holds thousands of secrets and look-alikes');
  assert.ok(recall(total) >= OVERALL_FLOOR, `overall recall ${recall(total).toFixed(3)} < ${OVERALL_FLOOR}`);
  assert.ok(precision(total) >= OVERALL_FLOOR, `overall precision ${precision(total).toFixed(3)} < ${OVERALL_FLOOR}`);
  for (const [title, rows] of [['category', byCategory], ['transport', byTransport], ['shape', byShape]] as const) {
    for (const [name, c] of rows) {
      assert.ok(recall(c) >= GROUP_FLOOR, `${title} ${name}: recall ${recall(c).toFixed(3)} < ${GROUP_FLOOR}`);
      assert.ok(precision(c) >= GROUP_FLOOR, `${title} ${name}: precision ${precision(c).toFixed(3)} < ${GROUP_FLOOR}`);
    }
  }
});
