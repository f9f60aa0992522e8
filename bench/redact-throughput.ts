// Redaction throughput: the engine on large strings without secrets (tool output made of
// look-alikes, and plain log text), and mcp-redact's whole response path (the runner's host,
// parse, redact, serialise) on the tool-output corpus with secrets.
//
//   npm run build && node dist/bench/redact-throughput.js

import { defaultRedaction, redactText } from '../runner/redact/index.js';
import { generateCorpus } from '../testkit/redact-corpus/generate.js';
import { answerOf, harness } from '../testkit/redact-corpus/harness.js';

/** CPU milliseconds of one run of f (the process's own CPU: steadier than wall time on a shared machine). */
async function cpuMs(f: () => void | Promise<void>): Promise<number> {
  const before = process.cpuUsage();
  await f();
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1000;
}

async function best(runs: number, f: () => void | Promise<void>): Promise<number> {
  // Warm-up runs first: the scanners' loops reach the optimising compiler only after a few.
  for (let i = 0; i < 3; i++) await f();
  let min = Infinity;
  for (let i = 0; i < runs; i++) min = Math.min(min, await cpuMs(f));
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
    const ms = await best(10, () => void redactText(text, r));
    rows.push(`${name.padEnd(34)} ${(text.length / 1e6).toFixed(1).padStart(5)} MB  ${((text.length / 1e6) / (ms / 1000)).toFixed(0).padStart(5)} MB/s`);
  }
  // The plugin's request and response paths (the runner's host, parse, redact, serialise):
  // small tool results (one document each) and larger ones (40 documents per result).
  const docs = generateCorpus(11, 1200).map((d) => ({ ...d, transport: 'text' as const }));
  const large: typeof docs = [];
  for (let i = 0; i + 40 <= docs.length; i += 40) large.push({ ...docs[i]!, text: docs.slice(i, i + 40).map((d) => d.text).join('\n\n') });
  const h = harness({});
  for (const [name, set] of [['plugin path, ~0.5 KB results', docs], ['plugin path, ~20 KB results', large]] as const) {
    let bytes = 0;
    for (let n = 0; n < set.length; n++) bytes += answerOf(set[n]!, n + 1, n).body.length;
    const ms = await best(3, async () => {
      for (let n = 0; n < set.length; n++) await h.run(set[n]!, n);
    });
    rows.push(`${name.padEnd(34)} ${(bytes / 1e6).toFixed(1).padStart(5)} MB  ${((bytes / 1e6) / (ms / 1000)).toFixed(0).padStart(5)} MB/s  (${set.length} tool results with secrets, request + response phase)`);
  }
  await h.close();
  console.log(`mcp-redact throughput (node ${process.version}; MB per CPU second of this process, best of runs)\n${rows.join('\n')}\n\nreproduce: npm run build && node dist/bench/redact-throughput.js`);
}

await main();
