// With OTEL_TRACES_EXPORTER=otlp (as the compose stack sets it) the runner, spawned like
// ext-plugin.cmd, exports one span per MCP call to an OTLP/HTTP collector, continuing the
// client's trace. The collector here is a plain HTTP server reading the OTLP JSON body.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { startSampleMcpServer } from '../../examples/sample-mcp-server.js';
import { startEmulator } from '../../emulator/index.js';
import { REPO_ROOT, toolCall } from '../../e2e/harness.js';

const cleanups: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

interface OtlpSpan {
  name: string;
  traceId: string;
  attributes?: Array<{ key: string; value: { stringValue?: string } }>;
}

test('spans reach an OTLP/HTTP collector with the MCP attributes and the client trace id', async () => {
  const bodies: unknown[] = [];
  const collector = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.url === '/v1/traces') bodies.push(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => collector.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise((r) => collector.close(r)));
  const server = await startSampleMcpServer({ json: true });
  cleanups.push(() => server.close());

  const conf = [
    { name: 'mcp-route', value: JSON.stringify({ server: 'sample-tools' }) },
    { name: 'mcp-audit', value: JSON.stringify({ server: 'sample-tools', sink: { type: 'file', path: join(REPO_ROOT, 'node_modules/.cache/otlp-test-audit.log') } }) },
  ];
  const emulator = await startEmulator({
    routes: [{ id: 'otlp', uri: '/mcp', plugins: { 'ext-plugin-pre-req': { conf, allow_degradation: false } }, upstream: { type: 'roundrobin', nodes: { [`127.0.0.1:${server.port}`]: 1 } } }],
    cmd: [process.execPath, join(REPO_ROOT, 'dist/runner/main.js')],
    envs: {
      MCP_RUNNER_LOG_LEVEL: 'silent',
      OTEL_TRACES_EXPORTER: 'otlp',
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(collector.address() as AddressInfo).port}`,
      OTEL_BSP_SCHEDULE_DELAY: '50',
    },
  });
  cleanups.push(() => emulator.stop());
  await emulator.waitForRunner(10_000);

  const traceId = '0af7651916cd43dd8448eb211c80319c';
  const answer = await toolCall(`${emulator.url}/mcp`, 'crm.search_accounts', { query: 'acme' }, { traceparent: `00-${traceId}-b7ad6b7169203331-01` });
  assert.equal(answer.status, 200, answer.text);
  // The upstream got the gateway span as its parent, in the same trace.
  const seen = server.seen.at(-1)!.headers['traceparent'];
  assert.match(String(seen), new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));

  const deadline = Date.now() + 5000;
  let spans: OtlpSpan[] = [];
  while (Date.now() < deadline && spans.length === 0) {
    spans = bodies.flatMap((b) =>
      ((b as { resourceSpans?: Array<{ scopeSpans?: Array<{ spans?: OtlpSpan[] }> }> }).resourceSpans ?? []).flatMap((rs) => (rs.scopeSpans ?? []).flatMap((ss) => ss.spans ?? [])),
    );
    if (spans.length === 0) await new Promise((r) => setTimeout(r, 50));
  }
  assert.ok(spans.length >= 1, 'the collector received a span');
  const span = spans[0]!;
  const attr = (k: string): string | undefined => span.attributes?.find((a) => a.key === k)?.value.stringValue;
  assert.equal(span.traceId.toLowerCase(), traceId);
  assert.equal(attr('mcp.tool.name'), 'crm.search_accounts');
  assert.equal(attr('mcp.method.name'), 'tools/call');
});
