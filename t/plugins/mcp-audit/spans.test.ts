// Spans through a real OpenTelemetry SDK (in-memory exporter): one span per call, continuing
// the client's traceparent, its context passed upstream, MCP attributes, no personal data.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { trace, SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { RewriteAction, TextEntry } from '../../../runner/protocol/messages.js';
import { IDENTITY_HEADERS, LATER, POLICY, TableChannel, carryKeyOf, identityHeaders, readEvents, realHost, shutdownHosts, reqCall, respCall, responseChannel, tempDir, toolsCall } from '../../../testkit/audit.js';

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
trace.setGlobalTracerProvider(provider);
after(async () => {
  await shutdownHosts();
  await provider.shutdown();
});

const dir = tempDir();
const authzEntry: TextEntry = {
  name: 'mcp-authz',
  value: JSON.stringify({ server: 'crm-tools', identity: { trusted_headers: IDENTITY_HEADERS }, policy: POLICY, filter_lists: false }),
};
const CLIENT_TRACE = '0af7651916cd43dd8448eb211c80319c';
const CLIENT_SPAN = 'b7ad6b7169203331';

test('a span per call continues the client trace and its context goes upstream in traceparent/tracestate', async () => {
  exporter.reset();
  const path = join(dir, 'spans-1.log');
  const h = realHost();
  const chain = h.buildChain(
    [{ name: 'mcp-audit', value: JSON.stringify({ server: 'crm-tools', sink: { path } }) }, authzEntry],
    'route#1#ext-plugin-pre-req#1',
  );
  const body = toolsCall('crm.lookup', { q: 'x' });
  const res = await h.onRequest(
    chain,
    reqCall(body, [...identityHeaders(), { name: 'traceparent', value: `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01` }, { name: 'tracestate', value: 'vendor=abc' }]),
    new TableChannel({}, body),
    LATER(),
  );
  const spans = exporter.getFinishedSpans();
  assert.equal(spans.length, 1);
  const span = spans[0]!;
  assert.equal(span.name, 'tools/call crm.lookup');
  assert.equal(span.kind, SpanKind.SERVER);
  assert.equal(span.spanContext().traceId, CLIENT_TRACE);
  assert.equal(span.parentSpanContext?.spanId, CLIENT_SPAN);
  // OpenTelemetry's MCP conventions, plus our own facts under mcp_gateway.*
  assert.equal(span.attributes['mcp.method.name'], 'tools/call');
  assert.equal(span.attributes['gen_ai.tool.name'], 'crm.lookup');
  assert.equal(span.attributes['gen_ai.operation.name'], 'execute_tool');
  assert.equal(span.attributes['jsonrpc.request.id'], '1');
  assert.equal(span.attributes['network.transport'], 'tcp');
  assert.equal(span.attributes['error.type'], undefined, 'an allowed call has no error.type');
  assert.equal(span.attributes['mcp.tool.name'], undefined, 'the old attribute is gone');
  assert.equal(span.attributes['mcp_gateway.server'], 'crm-tools');
  assert.equal(span.attributes['mcp_gateway.decision'], 'allow');
  assert.equal(span.attributes['mcp_gateway.tenant'], 'acme');
  assert.equal(span.attributes['mcp_gateway.app'], 'support-agent');
  assert.ok(!Object.keys(span.attributes).some((k) => k.includes('user')), 'no user id on spans');
  const rewrite = res.action as RewriteAction;
  assert.equal(rewrite.type, 'rewrite');
  const tp = rewrite.headers.find((x) => x.name === 'traceparent')?.value;
  assert.equal(tp, `00-${CLIENT_TRACE}-${span.spanContext().spanId}-01`, 'upstream sees the gateway span as parent');
  assert.equal(rewrite.headers.find((x) => x.name === 'tracestate')?.value, 'vendor=abc');
  const [ev] = await readEvents(path, 1);
  assert.equal(ev?.correlation_id, CLIENT_TRACE);
  assert.equal(ev?.span_id, span.spanContext().spanId);
});

test('a denied call ends its span with the decision and JSON-RPC error code; without traceparent a new trace is the correlation id', async () => {
  exporter.reset();
  const path = join(dir, 'spans-2.log');
  const h = realHost();
  const chain = h.buildChain([{ name: 'mcp-audit', value: JSON.stringify({ sink: { path } }) }, authzEntry], 'route#2#ext-plugin-pre-req#1');
  const body = toolsCall('billing.update_payment_method', {});
  await h.onRequest(chain, reqCall(body, identityHeaders()), new TableChannel({}, body), LATER());
  const span = exporter.getFinishedSpans()[0];
  assert.ok(span);
  assert.equal(span.parentSpanContext, undefined);
  assert.equal(span.attributes['mcp_gateway.decision'], 'deny');
  assert.equal(span.attributes['rpc.response.status_code'], '-32003');
  assert.equal(span.attributes['error.type'], '-32003');
  assert.equal(span.status.code, SpanStatusCode.ERROR, 'error.type set: status ERROR');
  assert.equal(span.attributes['http.response.status_code'], 200);
  const [ev] = await readEvents(path, 1);
  assert.equal(ev?.correlation_id, span.spanContext().traceId);
  assert.equal(ev?.trace_id, span.spanContext().traceId);
});

test('with post_resp the span lasts until the response phase and records an upstream error', async () => {
  exporter.reset();
  const path = join(dir, 'spans-3.log');
  const h = realHost();
  const route = { name: 'mcp-route', value: '{"post_resp":true}' };
  const auditEntry = { name: 'mcp-audit', value: JSON.stringify({ sink: { path } }) };
  const pre = h.buildChain([route, auditEntry, authzEntry], 'route#3#ext-plugin-pre-req#1');
  const post = h.buildChain([route, auditEntry, authzEntry], 'route#3#ext-plugin-post-resp#1');
  const body = toolsCall('crm.lookup', {});
  const res = await h.onRequest(pre, reqCall(body, identityHeaders()), new TableChannel({}, body), LATER());
  assert.equal(exporter.getFinishedSpans().length, 0, 'span still open after the request phase');
  const key = carryKeyOf(res);
  assert.ok(key);
  await h.onResponse(post, respCall(503), responseChannel(key), LATER());
  const span = exporter.getFinishedSpans().find((s) => s.kind === SpanKind.SERVER);
  assert.ok(span);
  assert.equal(span.status.code, SpanStatusCode.ERROR);
  assert.equal(span.attributes['http.response.status_code'], 503);
  assert.equal(span.attributes['error.type'], '503');
  // The upstream leg: a CLIENT span under the server span, same name, ending before it.
  const client = exporter.getFinishedSpans().find((s) => s.kind === SpanKind.CLIENT);
  assert.ok(client, 'a CLIENT span for the upstream call');
  assert.equal(client.name, 'tools/call crm.lookup');
  assert.equal(client.parentSpanContext?.spanId, span.spanContext().spanId);
  assert.equal(client.attributes['gen_ai.tool.name'], 'crm.lookup');
  assert.equal(client.attributes['error.type'], '503');
});

test('tracing disabled in the conf: no span and no traceparent rewrite', async () => {
  exporter.reset();
  const path = join(dir, 'spans-4.log');
  const h = realHost();
  const chain = h.buildChain([{ name: 'mcp-audit', value: JSON.stringify({ sink: { path }, tracing: { enabled: false } }) }], 'route#4#ext-plugin-pre-req#1');
  const body = toolsCall('crm.lookup', {});
  const res = await h.onRequest(chain, reqCall(body), new TableChannel({}, body), LATER());
  assert.equal(res.action, undefined, 'nothing to rewrite');
  assert.equal(exporter.getFinishedSpans().length, 0);
  assert.equal((await readEvents(path, 1)).length, 1);
});
