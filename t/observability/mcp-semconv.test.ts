// The names the real runner exports, checked against OpenTelemetry's semantic conventions for
// MCP (GenAI conventions, docs/gen-ai/mcp.md and model/mcp/*.yaml of
// open-telemetry/semantic-conventions-genai, status: development). The table below is written
// from the spec; the runner, spawned like ext-plugin.cmd with OTEL_TRACES_EXPORTER=otlp and
// OTEL_METRICS_EXPORTER=otlp, exports to a plain OTLP/HTTP (JSON) collector.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSampleMcpServer } from '../../examples/sample-mcp-server.js';
import { startEmulator } from '../../emulator/index.js';
import { REPO_ROOT, toolCall } from '../../e2e/harness.js';

/** From the conventions: spans and metrics, required and conditionally required attributes. */
const CONVENTIONS = {
  spanName: '{mcp.method.name} {target}: target = gen_ai.tool.name or gen_ai.prompt.name, never the resource URI',
  spans: {
    server: { kind: 2 /* SERVER */ },
    client: { kind: 3 /* CLIENT */ },
  },
  required: ['mcp.method.name'],
  /** Conditionally required for a tools/call request. */
  toolCall: { 'gen_ai.tool.name': true, 'jsonrpc.request.id': true },
  recommended: { 'gen_ai.operation.name': 'execute_tool', 'network.transport': 'tcp', 'mcp.protocol.version': '2025-06-18' },
  /** Every attribute key the conventions define for MCP spans and metrics. */
  keys: [
    'mcp.method.name', 'mcp.session.id', 'mcp.resource.uri', 'mcp.protocol.version', 'jsonrpc.request.id', 'jsonrpc.protocol.version',
    'gen_ai.tool.name', 'gen_ai.prompt.name', 'gen_ai.operation.name', 'gen_ai.tool.call.arguments', 'gen_ai.tool.call.result',
    'error.type', 'rpc.response.status_code', 'network.transport', 'network.protocol.name', 'network.protocol.version',
    'server.address', 'server.port', 'client.address', 'client.port',
    // General HTTP convention, on the gateway's HTTP answer.
    'http.response.status_code',
  ],
  metrics: {
    'mcp.server.operation.duration': { unit: 's' },
    'mcp.client.operation.duration': { unit: 's' },
  },
  buckets: [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 120, 300],
} as const;
/** Our own attributes live under this prefix, outside the conventions' namespaces. */
const OWN_PREFIX = 'mcp_gateway.';

type OtlpValue = { stringValue?: string; intValue?: string | number; doubleValue?: number };
type OtlpAttrs = Array<{ key: string; value: OtlpValue }>;
interface OtlpSpan {
  name: string;
  kind: number;
  spanId: string;
  parentSpanId?: string;
  traceId: string;
  attributes?: OtlpAttrs;
}
interface OtlpMetric {
  name: string;
  unit?: string;
  histogram?: { dataPoints: Array<{ attributes?: OtlpAttrs; explicitBounds?: number[]; count?: string | number }> };
}

const cleanups: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

const attrMap = (a: OtlpAttrs | undefined): Map<string, string> => new Map((a ?? []).map((x) => [x.key, String(x.value.stringValue ?? x.value.intValue ?? x.value.doubleValue)]));

function checkKeys(where: string, attrs: Map<string, string>): void {
  for (const k of attrs.keys()) {
    assert.ok((CONVENTIONS.keys as readonly string[]).includes(k) || k.startsWith(OWN_PREFIX), `${where}: attribute ${k} is neither a convention's nor under ${OWN_PREFIX}`);
  }
  for (const k of CONVENTIONS.required) assert.ok(attrs.has(k), `${where}: required ${k}`);
}

test('the runner exports MCP spans and duration histograms under the conventions\' names, units, buckets and attributes', async () => {
  const traces: unknown[] = [];
  const metricBodies: unknown[] = [];
  const collector = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as unknown;
      if (req.url === '/v1/traces') traces.push(body);
      if (req.url === '/v1/metrics') metricBodies.push(body);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => collector.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise((r) => collector.close(r)));
  const server = await startSampleMcpServer({ json: true });
  cleanups.push(() => server.close());
  const dir = await mkdtemp(join(tmpdir(), 'semconv-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));

  // post_resp: the runner sees the answer, so the upstream leg (CLIENT span, client histogram) exists.
  const conf = [
    { name: 'mcp-route', value: JSON.stringify({ server: 'sample-tools', post_resp: true }) },
    { name: 'mcp-audit', value: JSON.stringify({ server: 'sample-tools', sink: { type: 'file', path: join(dir, 'audit.log') } }) },
  ];
  const emulator = await startEmulator({
    routes: [
      {
        id: 'semconv',
        uri: '/mcp',
        plugins: { 'ext-plugin-pre-req': { conf, allow_degradation: false }, 'ext-plugin-post-resp': { conf, allow_degradation: false } },
        upstream: { type: 'roundrobin', nodes: { [`127.0.0.1:${server.port}`]: 1 } },
      },
    ],
    cmd: [process.execPath, join(REPO_ROOT, 'dist/runner/main.js')],
    envs: {
      MCP_RUNNER_LOG_LEVEL: 'silent',
      OTEL_TRACES_EXPORTER: 'otlp',
      OTEL_METRICS_EXPORTER: 'otlp',
      OTEL_METRIC_EXPORT_INTERVAL: '200',
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(collector.address() as AddressInfo).port}`,
      OTEL_BSP_SCHEDULE_DELAY: '50',
    },
  });
  cleanups.push(() => emulator.stop());
  await emulator.waitForRunner(30_000);

  const answer = await toolCall(`${emulator.url}/mcp`, 'crm.search_accounts', { query: 'acme' }, {}, 'call-7');
  assert.equal(answer.status, 200, answer.text);

  const spansOf = (): OtlpSpan[] =>
    traces.flatMap((b) => ((b as { resourceSpans?: Array<{ scopeSpans?: Array<{ spans?: OtlpSpan[] }> }> }).resourceSpans ?? []).flatMap((rs) => (rs.scopeSpans ?? []).flatMap((ss) => ss.spans ?? [])));
  const metricsOf = (): OtlpMetric[] =>
    metricBodies.flatMap((b) => ((b as { resourceMetrics?: Array<{ scopeMetrics?: Array<{ metrics?: OtlpMetric[] }> }> }).resourceMetrics ?? []).flatMap((rm) => (rm.scopeMetrics ?? []).flatMap((sm) => sm.metrics ?? [])));
  const deadline = Date.now() + 8000;
  const ready = (): boolean => spansOf().length >= 2 && Object.keys(CONVENTIONS.metrics).every((n) => metricsOf().some((m) => m.name === n && (m.histogram?.dataPoints.length ?? 0) > 0));
  while (Date.now() < deadline && !ready()) await new Promise((r) => setTimeout(r, 100));

  // Spans: one SERVER (the agent's call) and one CLIENT (the upstream leg) under it.
  const spans = spansOf();
  const serverSpan = spans.find((s) => s.kind === CONVENTIONS.spans.server.kind);
  const clientSpan = spans.find((s) => s.kind === CONVENTIONS.spans.client.kind);
  assert.ok(serverSpan, `a SERVER span: ${JSON.stringify(spans.map((s) => [s.name, s.kind]))}`);
  assert.ok(clientSpan, 'a CLIENT span for the upstream call');
  assert.equal(clientSpan.parentSpanId, serverSpan.spanId);
  for (const [where, span] of [['server span', serverSpan], ['client span', clientSpan]] as const) {
    assert.equal(span.name, 'tools/call crm.search_accounts', `${where}: ${CONVENTIONS.spanName}`);
    const a = attrMap(span.attributes);
    checkKeys(where, a);
    assert.equal(a.get('mcp.method.name'), 'tools/call');
    for (const k of Object.keys(CONVENTIONS.toolCall)) assert.ok(a.has(k), `${where}: ${k} on a tools/call`);
    assert.equal(a.get('gen_ai.tool.name'), 'crm.search_accounts');
    assert.equal(a.get('jsonrpc.request.id'), 'call-7');
    for (const [k, v] of Object.entries(CONVENTIONS.recommended)) assert.equal(a.get(k), v, `${where}: ${k}`);
    assert.equal(a.has('error.type'), false, `${where}: error.type only when the operation fails`);
  }
  assert.equal(attrMap(serverSpan.attributes).get('mcp_gateway.server'), 'sample-tools');

  // Metrics: the two histograms, unit s, the advised buckets, the operation's attributes.
  const metrics = metricsOf();
  for (const [name, spec] of Object.entries(CONVENTIONS.metrics)) {
    const m = metrics.find((x) => x.name === name && (x.histogram?.dataPoints.length ?? 0) > 0);
    assert.ok(m, `${name} exported; got ${[...new Set(metrics.map((x) => x.name))].join(', ')}`);
    assert.equal(m.unit, spec.unit, `${name} unit`);
    const point = m.histogram!.dataPoints.find((p) => attrMap(p.attributes).get('gen_ai.tool.name') === 'crm.search_accounts');
    assert.ok(point, `${name}: a point for the tool`);
    assert.deepEqual(point.explicitBounds, [...CONVENTIONS.buckets], `${name} buckets`);
    const a = attrMap(point.attributes);
    checkKeys(name, a);
    assert.equal(a.get('mcp.method.name'), 'tools/call');
    assert.equal(a.get('gen_ai.operation.name'), 'execute_tool');
    assert.equal(a.has('mcp.resource.uri'), false, `${name}: the resource URI is opt-in on metrics`);
  }
  // The old names are gone from OTel export (Prometheus keeps a deprecated histogram).
  assert.ok(!metrics.some((m) => m.name.startsWith('mcp.gateway.')), 'no metric in the conventions\' mcp. namespace that the conventions do not define');
});
