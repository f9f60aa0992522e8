// Micro-benchmark of the MCP message layer: parseRequestBody on a typical tools/call body,
// against plain JSON.parse, and the two strict-reader designs (JSON.parse + key scan, which
// the gateway uses, versus a full hand-written parser).
// Run: npx tsc -p tsconfig.json && node dist/bench/mcp-parse.js

import { parseRequestBody } from '../runner/mcp/parse.js';
import { parseStrictJson } from '../runner/mcp/json.js';
import { parseResponseBody, serializeResponseBody } from '../runner/mcp/response.js';
import { parseHandwritten } from './mcp-json-handwritten.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

const typical = encoder.encode(
  JSON.stringify({
    jsonrpc: '2.0',
    id: 42,
    method: 'tools/call',
    params: {
      name: 'search_repositories',
      arguments: { query: 'apache apisix mcp gateway plugin', owner: 'example-org', page: 1, perPage: 20, sort: 'updated', labels: ['bug', 'help wanted'], includeArchived: false, note: 'line one\nline two "quoted"' },
      _meta: { progressToken: 'b3f1c2d4-5e6f-4a7b-8c9d-0e1f2a3b4c5d' },
    },
  }).padEnd(400, ' '),
);

function tenKilobytes(): Uint8Array {
  const rows = Array.from({ length: 90 }, (_, i) => ({ id: i, title: `row ${i} with some text`, tags: ['a', 'b', 'c'], score: i * 1.5, nested: { ok: true, by: 'someone' } }));
  return encoder.encode(JSON.stringify({ jsonrpc: '2.0', id: 'x', method: 'tools/call', params: { name: 'upsert_rows', arguments: { rows } } }));
}
const large = tenKilobytes();

const sse = encoder.encode(
  Array.from({ length: 5 }, (_, i) => `event: message\nid: ${i}\ndata: ${JSON.stringify({ jsonrpc: '2.0', method: 'notifications/progress', params: { progress: i, total: 5 } })}\n\n`).join('') +
    `event: message\ndata: ${JSON.stringify({ jsonrpc: '2.0', id: 42, result: { content: [{ type: 'text', text: 'x'.repeat(2000) }] } })}\n\n`,
);

// Best of several interleaved rounds: the figures are meant to compare designs on a shared,
// possibly busy machine, where a single long run mostly measures the neighbours.
const ROUNDS = 7;
const ROUND_MS = 150;

function opsPerSecond(run: () => unknown): number {
  for (let k = 0; k < 200; k++) run();
  let ops = 0;
  const started = performance.now();
  let elapsed = 0;
  while (elapsed < ROUND_MS) {
    for (let k = 0; k < 20; k++) run();
    ops += 20;
    elapsed = performance.now() - started;
  }
  return (ops / elapsed) * 1000;
}

function report(cases: ReadonlyArray<readonly [string, () => unknown]>): void {
  const best = new Map<string, number>();
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, run] of cases) best.set(name, Math.max(best.get(name) ?? 0, opsPerSecond(run)));
  }
  for (const [name, perSecond] of best) {
    console.log(`${name.padEnd(58)} ${Math.round(perSecond).toLocaleString('en-US').padStart(12)} ops/s  ${(1e6 / perSecond).toFixed(2).padStart(8)} µs/op`);
  }
}

console.log(`typical tools/call body: ${typical.length} B; large body: ${large.length} B; SSE body: ${sse.length} B`);
// The two strict designs must agree before their speed means anything.
for (const body of [typical, large]) {
  const strict = parseStrictJson(body);
  if (!strict.ok || JSON.stringify(strict.value) !== JSON.stringify(parseHandwritten(decoder.decode(body)))) throw new Error('readers disagree');
}
const cases: Array<readonly [string, () => unknown]> = [];
for (const [label, body] of [['400 B', typical], ['10 KB', large]] as const) {
  cases.push([`${label}: TextDecoder + JSON.parse (no checks)`, () => JSON.parse(decoder.decode(body))]);
  cases.push([`${label}: strict reader, JSON.parse + key scan (used)`, () => parseStrictJson(body)]);
  cases.push([`${label}: strict reader, hand-written parser`, () => parseHandwritten(decoder.decode(body))]);
  cases.push([`${label}: parseRequestBody (strict + classify)`, () => parseRequestBody(body)]);
}
cases.push(['SSE 6 events: parseResponseBody', () => parseResponseBody('text/event-stream', sse)]);
cases.push(['SSE 6 events: parse + serialise unchanged', () => serializeResponseBody(parseResponseBody('text/event-stream', sse)!)]);
report(cases);
