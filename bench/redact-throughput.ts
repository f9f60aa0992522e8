// Redaction throughput: the engine on large strings without secrets (tool output made of
// look-alikes, and plain log text), and mcp-redact's whole response path (the runner's host,
// parse, redact, serialise) on the tool-output corpus with secrets.
//
//   npm run build && node dist/bench/redact-throughput.js

import { defaultRedaction, redactText } from '../runner/redact/index.js';
import { generateCorpus } from '../t/plugins/mcp-redact/corpus/generate.js';
import { answerOf, harness } from '../t/plugins/mcp-redact/corpus/harness.js';

function best(runs: number, f: () => void): number {
  f();
  let min = Infinity;
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    f();
    min = Math.min(min, performance.now() - t);
  }
  return min;
}

function logText(bytes: number): string {
  const parts: string[] = [];
  let size = 0;
  for (let i = 0; size < bytes; i++) {
    const line = `2026-03-0${(i % 9) + 1}T12:${String(i % 60).padStart(2, '0')}:05.123Z INFO [worker-${i % 7}] processed batch ${i} of job etl-nightly in ${(i * 37) % 900} ms (rows=${(i * 131) % 10000}, status=ok, region=eu-west-1)\n`;
    parts.push(line);
    size += line.length;
  }
  return JSON.parse(JSON.stringify(parts.join(''))) as string;
}

async function main(): Promise<void> {
  const r = defaultRedaction();
  const lookalikes = JSON.parse(JSON.stringify(generateCorpus(7, 3000, 0).map((d) => d.text).join('\n\n'))) as string;
  const logs = logText(4_000_000);
  const rows: string[] = [];
  for (const [name, text] of [['engine, look-alike tool output', lookalikes], ['engine, log lines', logs]] as const) {
    const ms = best(5, () => redactText(text, r));
    rows.push(`${name.padEnd(34)} ${(text.length / 1e6).toFixed(1).padStart(5)} MB  ${((text.length / 1e6) / (ms / 1000)).toFixed(0).padStart(5)} MB/s`);
  }
  const docs = generateCorpus(11, 1000).map((d) => ({ ...d, transport: 'text' as const }));
  const h = harness({});
  let bytes = 0;
  for (let n = 0; n < docs.length; n++) bytes += answerOf(docs[n]!, n + 1, n).body.length;
  const ms = best(3, () => {
    void 0;
  });
  void ms;
  let min = Infinity;
  for (let round = 0; round < 4; round++) {
    const t = performance.now();
    for (let n = 0; n < docs.length; n++) await h.run(docs[n]!, n);
    min = Math.min(min, performance.now() - t);
  }
  await h.close();
  rows.push(`${'plugin request+response path'.padEnd(34)} ${(bytes / 1e6).toFixed(1).padStart(5)} MB  ${((bytes / 1e6) / (min / 1000)).toFixed(0).padStart(5)} MB/s  (${docs.length} tool results with secrets)`);
  console.log(`mcp-redact throughput (node ${process.version}, best of runs)\n${rows.join('\n')}\n\nreproduce: npm run build && node dist/bench/redact-throughput.js`);
}

await main();
