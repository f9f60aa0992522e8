// Measured detector quality: every corpus line says how many findings of each type it holds
// (positives) or none (look-alike negatives). Precision and recall per detector are printed
// and asserted, so a detector change that trades one for the other shows up here.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../../runner/host/schema-file.js';
import { DETECTOR_NAMES } from '../../../plugins/mcp-redact/detectors.js';
import { defaultRedaction } from '../../../plugins/mcp-redact/redactor.js';

interface Sample {
  text: string;
  expect: Record<string, number>;
  note?: string;
}

const corpusText = await readFile(join(PACKAGE_ROOT, 't/plugins/mcp-redact/corpus/corpus.jsonl'), 'utf8');
const samples: Sample[] = corpusText
  .split('\n')
  .filter((l) => l.trim() !== '')
  .map((l) => JSON.parse(l) as Sample);

test('corpus: precision and recall per detector', () => {
  const r = defaultRedaction();
  const score = new Map<string, { tp: number; fp: number; fn: number }>(DETECTOR_NAMES.map((d) => [d, { tp: 0, fp: 0, fn: 0 }]));
  const misses: string[] = [];
  for (const s of samples) {
    const got: Record<string, number> = {};
    for (const h of r.detectors.scan(s.text)) got[h.detector] = (got[h.detector] ?? 0) + 1;
    for (const d of DETECTOR_NAMES) {
      const want = s.expect[d] ?? 0;
      const have = got[d] ?? 0;
      const tp = Math.min(want, have);
      const cell = score.get(d)!;
      cell.tp += tp;
      cell.fp += have - tp;
      cell.fn += want - tp;
      if (want !== have) misses.push(`${d}: want ${want} got ${have} in ${JSON.stringify(s.text.slice(0, 80))}`);
    }
  }
  const rows: string[] = ['detector       positives  tp  fp  fn  precision  recall'];
  let tp = 0;
  let fp = 0;
  let fn = 0;
  for (const [d, c] of score) {
    tp += c.tp;
    fp += c.fp;
    fn += c.fn;
    const precision = c.tp + c.fp === 0 ? 1 : c.tp / (c.tp + c.fp);
    const recall = c.tp + c.fn === 0 ? 1 : c.tp / (c.tp + c.fn);
    rows.push(`${d.padEnd(14)} ${String(c.tp + c.fn).padStart(9)} ${String(c.tp).padStart(3)} ${String(c.fp).padStart(3)} ${String(c.fn).padStart(3)}  ${precision.toFixed(3).padStart(9)}  ${recall.toFixed(3).padStart(6)}`);
    assert.ok(c.tp + c.fn >= 5, `${d}: the corpus needs at least 5 positives`);
    assert.ok(precision >= 0.9, `${d}: precision ${precision.toFixed(3)}`);
    assert.ok(recall >= 0.9, `${d}: recall ${recall.toFixed(3)}`);
  }
  const precision = tp / (tp + fp);
  const recall = tp / (tp + fn);
  rows.push(`${'overall'.padEnd(14)} ${String(tp + fn).padStart(9)} ${String(tp).padStart(3)} ${String(fp).padStart(3)} ${String(fn).padStart(3)}  ${precision.toFixed(3).padStart(9)}  ${recall.toFixed(3).padStart(6)}`);
  const negatives = samples.filter((s) => Object.keys(s.expect).length === 0).length;
  console.log(`mcp-redact corpus: ${samples.length} samples (${negatives} look-alike negatives)\n${rows.join('\n')}${misses.length ? `\nmisses:\n${misses.join('\n')}` : ''}`);
  assert.ok(negatives >= 40, 'the corpus needs look-alike negatives');
  assert.ok(precision >= 0.95, `overall precision ${precision.toFixed(3)}`);
  assert.ok(recall >= 0.95, `overall recall ${recall.toFixed(3)}`);
});
