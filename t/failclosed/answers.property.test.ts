// The fail-closed rule as a property: whatever a server answers, what reaches the client is the
// answer as the plugins read and edited it, or a JSON-RPC error that withholds it; never a
// tool the policy hides from the actor, never a secret the redactor masks. Random answers
// (valid JSON and SSE, malformed JSON and SSE, duplicate keys, lone surrogates, trailing bytes,
// escapes, wrong content types, compressed, empty, huge, error statuses, slow, slower than the
// carry lifetime) go through the emulator, the real runner and the generated route layout
// (list filtering and redaction on), plus a route whose post-resp conf is invalid.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { gzipSync, gunzipSync } from 'node:zlib';
import { join } from 'node:path';
import fc from 'fast-check';
import { PACKAGE_ROOT } from '../../runner/host/schema-file.js';
import { generateLayout } from '../../runner/layout/generate.js';
import { startEmulator, type RouteConf } from '../../emulator/index.js';
import { request, startUpstream } from '../../testkit/emulator.js';
import { filteringGateway } from '../../testkit/layout-fixtures.js';

const DENIED = 'account.delete_customer';
const CARD = '4111 1111 1111 1111';
/** Carry lifetime of the runner under test: an answer slower than this has lost its carry. */
const CARRY_TTL_MS = 1000;

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  delayMs: number;
}

/** What the upstream answers next (the test sends one call at a time). */
let next: (id: number) => Answer = () => ({ status: 500, headers: {}, body: Buffer.alloc(0), delayMs: 0 });

const upstream = await startUpstream((_req, res, body) => {
  let id = 0;
  try {
    id = (JSON.parse(body) as { id: number }).id;
  } catch {
    // the gateway only forwards JSON bodies here; id 0 otherwise
  }
  const a = next(id);
  setTimeout(() => {
    if (res.destroyed) return;
    res.writeHead(a.status, { ...a.headers, 'content-length': String(a.body.length) });
    res.end(a.body);
  }, a.delayMs);
});

const layout = await generateLayout(filteringGateway(), { baseDir: PACKAGE_ROOT });
const routes = layout.routes.map((r) => ({ ...(structuredClone(r) as unknown as RouteConf), upstream: { nodes: { [`127.0.0.1:${upstream.port}`]: 1 } } }));
// The full route again on /bad/mcp, with a post-resp conf whose redactor conf is invalid.
const bad = structuredClone(routes.find((r) => String(r.id).endsWith('-full'))!);
bad.id = 'bad-post-resp';
bad.uri = '/bad/mcp';
const badRedact = bad.plugins!['ext-plugin-post-resp']!.conf!.find((e) => e.name === 'mcp-redact')!;
badRedact.value = '{"tools":7}';
routes.push(bad);

const emulator = await startEmulator({
  routes,
  cmd: [process.execPath, join(PACKAGE_ROOT, 'dist/runner/main.js')],
  envs: { MCP_RUNNER_LOG_LEVEL: 'fatal', MCP_RUNNER_CARRY_TTL_SECONDS: String(CARRY_TTL_MS / 1000) },
});
await emulator.waitForRunner(10_000);

after(async () => {
  await emulator.stop();
  await upstream.close();
});

type Method = 'tools/list' | 'tools/call';

function payload(method: Method, id: number, escapeNames: boolean): string {
  const denied = escapeNames ? 'account.delete\\u005fcustomer' : DENIED;
  const card = escapeNames ? '\\u0034111 1111 1111 1111' : CARD;
  if (method === 'tools/list') {
    return `{"jsonrpc":"2.0","id":${id},"result":{"tools":[{"name":"crm.lookup_customer","inputSchema":{"type":"object"}},{"name":"${denied}","inputSchema":{"type":"object"}}]}}`;
  }
  return `{"jsonrpc":"2.0","id":${id},"result":{"content":[{"type":"text","text":"card ${card}"}]}}`;
}

/** How the server mangles its answer. */
const SHAPES = [
  'json', 'sse', 'escaped', 'truncated', 'sse-unterminated', 'sse-broken-json', 'duplicate-key', 'duplicate-list',
  'lone-surrogate', 'trailing', 'bom', 'text-plain', 'no-content-type', 'gzip', 'empty', 'huge', 'lost-carry',
] as const;
type Shape = (typeof SHAPES)[number];

function answer(shape: Shape, method: Method, id: number, status: number, slowMs: number): Answer {
  const json = payload(method, id, shape === 'escaped');
  const JSON_TYPE = { 'content-type': 'application/json' };
  const make = (body: string | Buffer, headers: Record<string, string> = JSON_TYPE): Answer => ({ status, headers, body: Buffer.isBuffer(body) ? body : Buffer.from(body), delayMs: slowMs });
  switch (shape) {
    case 'json':
    case 'escaped':
      return make(json);
    case 'sse':
      return make(`event: message\ndata: ${json}\n\n`, { 'content-type': 'text/event-stream' });
    case 'truncated':
      return make(json.slice(0, json.length - 3));
    case 'sse-unterminated':
      return make(`event: message\ndata: ${json}`, { 'content-type': 'text/event-stream' });
    case 'sse-broken-json':
      return make(`data: ${json.slice(0, -1)}\n\ndata: ${json}\n\n`, { 'content-type': 'text/event-stream' });
    case 'duplicate-key':
      return make(json.replace('"result":{', '"result":{"x":1,"x":2,'));
    case 'duplicate-list':
      // A strict reader refuses it; a lenient client keeps the last list, which holds the hidden tool.
      return make(json.replace('"result":{"tools":[', '"result":{"tools":[],"tools":[').replace('"result":{"content":[', '"result":{"content":[],"content":['));
    case 'lone-surrogate':
      return make(json.replace('"result":{', '"result":{"note":"\\ud800",'));
    case 'trailing':
      return make(`${json} ${json}`);
    case 'bom':
      return make(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(json)]));
    case 'text-plain':
      return make(json, { 'content-type': 'text/plain' });
    case 'no-content-type':
      return make(json, {});
    case 'gzip':
      return make(gzipSync(json), { 'content-type': 'application/json', 'content-encoding': 'gzip' });
    case 'empty':
      return make('');
    case 'huge':
      return make(json.replace('"result":{', `"result":{"pad":"${'x'.repeat(2 * 1024 * 1024)}",`));
    case 'lost-carry':
      return { ...make(json), delayMs: CARRY_TTL_MS + 400 };
  }
}

/** Every JSON text a lenient client could read out of the body (JSON, or SSE data lines). */
function readings(body: string): unknown[] {
  const out: unknown[] = [];
  const tryParse = (text: string): void => {
    try {
      out.push(JSON.parse(text.replace(/^\uFEFF/, '')));
    } catch {
      // not JSON to a client either
    }
  };
  tryParse(body);
  for (const line of body.split(/\r?\n/)) if (line.startsWith('data:')) tryParse(line.slice(5).trim());
  return out;
}

function assertNothingLeaks(what: string, res: { status: number; headers: http.IncomingHttpHeaders; body: Buffer }): void {
  let bytes = res.body;
  if (res.headers['content-encoding'] === 'gzip') bytes = gunzipSync(bytes);
  const text = bytes.toString('utf8');
  const views = [text, ...readings(text).map((v) => JSON.stringify(v))];
  for (const view of views) {
    assert.ok(!view.includes(DENIED), `${what}: the hidden tool reached the client (${res.status}): ${text.slice(0, 300)}`);
    assert.ok(!view.includes(CARD) && !view.includes('4111111111111111'), `${what}: the card reached the client (${res.status}): ${text.slice(0, 300)}`);
  }
  // Withheld answers are JSON-RPC errors that say why.
  if (res.status >= 500 && text.length > 0 && res.headers['content-type'] === 'application/json') {
    const parsed = readings(text)[0] as { error?: { code?: unknown; message?: unknown } } | undefined;
    if (parsed?.error) assert.equal(typeof parsed.error.message, 'string', `${what}: ${text}`);
  }
}

function send(path: string, body: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${emulator.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'x-app': 'test-agent' }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

let nextId = 1;

test('property: a client gets the read-and-edited answer or a JSON-RPC error, never a hidden tool or a planted secret', async () => {
  // Baseline: the controllable upstream's plain answers come back filtered and redacted.
  next = (id) => answer('json', 'tools/list', id, 200, 0);
  const list = await send('/mcp', '{"jsonrpc":"2.0","id":1,"method":"tools/list"}');
  assert.equal(list.status, 200, list.body.toString());
  assert.match(list.body.toString(), /crm\.lookup_customer/);
  next = (id) => answer('json', 'tools/call', id, 200, 0);
  const call = await send('/mcp', '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"crm.lookup_customer","arguments":{}}}');
  assert.match(call.body.toString(), /\*\*\*\*1111/);

  const lostCarries: number[] = [];
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom<Method>('tools/list', 'tools/call'),
      fc.constantFrom(...SHAPES),
      fc.constantFrom(200, 200, 200, 202, 400, 404, 500, 503),
      fc.constantFrom(0, 0, 0, 40),
      fc.constantFrom('/mcp', '/mcp', '/mcp', '/bad/mcp'),
      async (method, shape, status, slowMs, path) => {
        const id = ++nextId;
        next = (reqId) => answer(shape, method, reqId, status, slowMs);
        const body =
          method === 'tools/list'
            ? `{"jsonrpc":"2.0","id":${id},"method":"tools/list"}`
            : `{"jsonrpc":"2.0","id":${id},"method":"tools/call","params":{"name":"crm.lookup_customer","arguments":{"customer_id":"c-1"}}}`;
        const res = await send(path, body);
        if (shape === 'lost-carry' && path === '/mcp') lostCarries.push(res.status);
        assertNothingLeaks(`${method} ${shape} ${status} via ${path}`, res);
      },
    ),
    { numRuns: 60, seed: Number(process.env['FC_SEED'] ?? Date.now() % 1_000_000) },
  );
  // A lost carry is withheld with 502 (or the upstream never got the call).
  for (const status of lostCarries) assert.ok(status >= 400, `lost carry answered ${status}`);
});
