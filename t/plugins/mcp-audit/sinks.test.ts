// Sinks: bounded queues that count drops, fail_closed, HTTP batching (JSON lines and OTLP),
// flush at shutdown, and a SIGTERM'd child whose every accepted event is in the file.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HttpSink, StreamSink } from '../../../plugins/mcp-audit/sinks.js';
import { resolveSinkConf } from '../../../plugins/mcp-audit/conf.js';
import { defaultRegistry } from '../../../runner/observability/metrics.js';
import type { StopAction } from '../../../runner/protocol/messages.js';
import { LATER, TableChannel, assertValidEvent, realHost, shutdownHosts, reqCall, tempDir, toolsCall } from '../../../testkit/audit.js';

const dir = tempDir();
after(() => shutdownHosts());

interface Collector {
  url: string;
  bodies: { contentType: string | undefined; text: string; auth: string | undefined }[];
  /** When true, requests are held open (a stalled collector). */
  stall: boolean;
  status: number;
  close(): Promise<void>;
}

async function collector(): Promise<Collector> {
  const held: IncomingMessage[] = [];
  const c: Collector = {
    url: '',
    bodies: [],
    stall: false,
    status: 200,
    close: () => new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => {
      if (c.stall) {
        held.push(req);
        return;
      }
      c.bodies.push({ contentType: req.headers['content-type'], text: Buffer.concat(chunks).toString(), auth: req.headers['authorization'] });
      res.writeHead(c.status).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  c.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/logs`;
  return c;
}

const line = (i: number): string => JSON.stringify({ schema_version: '1.0', n: i });

test('http sink: batches JSON lines, sends the configured header from $env, and flushes the rest at close', async () => {
  const col = await collector();
  process.env['AUDIT_TEST_TOKEN'] = 'collector-token-value';
  const sink = new HttpSink(resolveSinkConf({ type: 'http', url: col.url, batch_max_events: 3, flush_interval_ms: 10_000, headers: { authorization: '$env://AUDIT_TEST_TOKEN' } }));
  for (let i = 0; i < 7; i++) assert.equal(sink.offer(line(i)), true);
  // two full batches go at once; the partial one waits for the timer or close
  for (let t = 0; t < 100 && col.bodies.length < 2; t++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(col.bodies.length, 2);
  await sink.close(500);
  assert.equal(col.bodies.length, 3);
  assert.deepEqual(col.bodies.map((b) => b.text.trim().split('\n').length), [3, 3, 1]);
  assert.equal(col.bodies[0]?.contentType, 'application/x-ndjson');
  assert.equal(col.bodies[0]?.auth, 'collector-token-value');
  const all = col.bodies.flatMap((b) => b.text.trim().split('\n').map((l) => (JSON.parse(l) as { n: number }).n));
  assert.deepEqual(all, [0, 1, 2, 3, 4, 5, 6]);
  await col.close();
});

test('http sink: OTLP/HTTP logs JSON, and a failing collector keeps events queued for the retry', async () => {
  const col = await collector();
  col.status = 503;
  const sink = new HttpSink(resolveSinkConf({ type: 'http', url: col.url, format: 'otlp_json', batch_max_events: 10, flush_interval_ms: 20 }));
  sink.offer(line(1));
  sink.offer(line(2));
  // the collector sees the body before the sink reads the 503: wait for the sink's own count
  for (let t = 0; t < 200 && sink.stats().failures < 1; t++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(col.bodies.length >= 1);
  assert.ok(sink.stats().failures >= 1);
  assert.equal(sink.stats().queued, 2, 'a refused batch stays queued');
  col.status = 200;
  col.bodies.length = 0;
  await sink.close(500);
  assert.equal(sink.stats().queued, 0);
  const body = JSON.parse(col.bodies.at(-1)?.text ?? '{}') as {
    resourceLogs: { scopeLogs: { logRecords: { body: { stringValue: string } }[] }[] }[];
  };
  const records = body.resourceLogs[0]?.scopeLogs[0]?.logRecords ?? [];
  assert.deepEqual(records.map((r) => (JSON.parse(r.body.stringValue) as { n: number }).n), [1, 2]);
  assert.equal(col.bodies.at(-1)?.contentType, 'application/json');
  await col.close();
});

test('a stalled collector fills the bounded queue: overflow is dropped and counted; unsent events go to the fallback file at shutdown', async () => {
  const col = await collector();
  col.stall = true;
  const fallback = join(dir, 'fallback.log');
  const sink = new HttpSink(resolveSinkConf({ type: 'http', url: col.url, max_buffered_events: 5, batch_max_events: 100, flush_interval_ms: 10, timeout_ms: 60_000, fallback_path: fallback }));
  const dropsBefore = defaultRegistry.counter({ name: 'mcp_audit_events_dropped_total', help: '' }).get({ sink: 'http' });
  const accepted = Array.from({ length: 8 }, (_, i) => sink.offer(line(i)));
  assert.deepEqual(accepted, [true, true, true, true, true, false, false, false]);
  assert.equal(sink.canAccept(), false);
  assert.equal(sink.stats().dropped, 3);
  assert.equal(defaultRegistry.counter({ name: 'mcp_audit_events_dropped_total', help: '' }).get({ sink: 'http' }) - dropsBefore, 3);
  const started = Date.now();
  await sink.close(200);
  assert.ok(Date.now() - started < 800, 'shutdown fits the runner drain');
  const saved = (await readFile(fallback, 'utf8')).trim().split('\n').map((l) => (JSON.parse(l) as { n: number }).n);
  assert.deepEqual(saved, [0, 1, 2, 3, 4]);
  await col.close();
});

test('file sink: every accepted line is in the file after close, in order', async () => {
  const path = join(dir, 'stream.log');
  const sink = new StreamSink({ path }, 100_000);
  for (let i = 0; i < 5000; i++) sink.offer(line(i));
  await sink.close(700);
  const ns = (await readFile(path, 'utf8')).trim().split('\n').map((l) => (JSON.parse(l) as { n: number }).n);
  assert.equal(ns.length, 5000);
  assert.ok(ns.every((v, i) => v === i));
  assert.equal(sink.offer(line(1)), false, 'closed sinks refuse (and count) events');
});

test('fail_closed: when the sink cannot take events, calls are refused with 503 and JSON-RPC -32050; fail_open lets them pass', async () => {
  const col = await collector();
  col.stall = true;
  const h = realHost();
  const sinkConf = { type: 'http', url: col.url, max_buffered_events: 1, flush_interval_ms: 10_000, batch_max_events: 100 };
  const closed = h.buildChain([{ name: 'mcp-audit', value: JSON.stringify({ on_sink_failure: 'fail_closed', sink: sinkConf }) }], 'route#fc#ext-plugin-pre-req#1');
  const open = h.buildChain(
    [{ name: 'mcp-audit', value: JSON.stringify({ on_sink_failure: 'fail_open', sink: { ...sinkConf, url: col.url + '?open' } }) }],
    'route#fo#ext-plugin-pre-req#1',
  );
  const body = toolsCall('crm.lookup', {}, 5);
  const first = await h.onRequest(closed, reqCall(body), new TableChannel({}, body), LATER());
  assert.equal(first.action, undefined, 'room for one event: the call passes');
  const second = await h.onRequest(closed, reqCall(body), new TableChannel({}, body), LATER());
  const stop = second.action as StopAction;
  assert.equal(stop.type, 'stop');
  assert.equal(stop.status, 503);
  const err = JSON.parse(Buffer.from(stop.body ?? new Uint8Array()).toString()) as { id: number; error: { code: number } };
  assert.equal(err.id, 5);
  assert.equal(err.error.code, -32050);
  for (let i = 0; i < 3; i++) {
    const r = await h.onRequest(open, reqCall(body), new TableChannel({}, body), LATER());
    assert.equal(r.action, undefined, 'fail_open never refuses');
  }
  await col.close();
});

test('a bad sink conf is refused at prepare with a message naming the field (and no secret value)', async () => {
  const h = realHost();
  process.env['AUDIT_SECRET_X'] = 'very-secret-header-value';
  const chain = h.buildChain([{ name: 'mcp-audit', value: JSON.stringify({ sink: { type: 'http' } }) }], 'route#bad#ext-plugin-pre-req#1');
  const body = toolsCall('crm.lookup', {});
  const r = await h.onRequest(chain, reqCall(body), new TableChannel({}, body), LATER());
  assert.equal(r.action?.type, 'stop');
  assert.throws(() => resolveSinkConf({ type: 'http', url: 'http://x', headers: { authorization: '$env://AUDIT_MISSING' } }), /sink\.headers\.authorization: environment variable AUDIT_MISSING is not set/);
  assert.throws(() => resolveSinkConf({ type: 'http', url: 'ftp://x' }), /sink\.url must be http/);
});

test('kill and restart: every event accepted before SIGTERM is in the file, across two runs', async () => {
  const path = join(dir, 'kill.log');
  const child = fileURLToPath(new URL('../../../testkit/audit-child.js', import.meta.url));
  async function run(prefix: string): Promise<string[]> {
    const proc = spawn(process.execPath, [child, path, prefix], { stdio: ['ignore', 'pipe', 'inherit'] });
    const accepted: string[] = [];
    let buf = '';
    let ready: () => void = () => undefined;
    const isReady = new Promise<void>((r) => (ready = r));
    proc.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      const lines = buf.split('\n');
      buf = lines.pop() ?? '';
      for (const l of lines) {
        if (l === 'ready') ready();
        else if (l !== '') accepted.push(l);
      }
    });
    const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
    await isReady;
    // let it emit for a while, then SIGTERM mid-stream
    for (let t = 0; t < 200 && accepted.length < 2000; t++) await new Promise((r) => setTimeout(r, 10));
    const sentAt = Date.now();
    proc.kill('SIGTERM');
    assert.equal(await exited, 0);
    assert.ok(Date.now() - sentAt < 1000, 'exits within APISIX 1 s SIGTERM budget');
    if (buf !== '') accepted.push(buf);
    return accepted;
  }
  const first = await run('a');
  const second = await run('b');
  assert.ok(first.length > 100 && second.length > 100, `both runs emitted (${first.length}, ${second.length})`);
  const text = await readFile(path, 'utf8');
  assert.ok(text.endsWith('\n'), 'no torn last line');
  const ids = new Set<unknown>();
  for (const l of text.split('\n')) {
    if (l === '') continue;
    const ev = JSON.parse(l) as { jsonrpc_id: unknown };
    assertValidEvent(ev);
    ids.add(ev.jsonrpc_id);
  }
  const missing = [...first, ...second].filter((id) => !ids.has(id));
  assert.deepEqual(missing, [], 'every accepted event was written');
});
