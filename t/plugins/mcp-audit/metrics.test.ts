// The Prometheus registry (text format, histograms, bounded cardinality) and the loopback
// /metrics endpoint fed by real calls through the host.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { MetricsRegistry, OVERFLOW_LABEL_VALUE } from '../../../runner/observability/metrics.js';
import { ensureMetricsEndpointFromEnv, startMetricsEndpoint } from '../../../runner/observability/prometheus.js';
import type { TextEntry } from '../../../runner/protocol/messages.js';
import { IDENTITY_HEADERS, LATER, POLICY, TableChannel, identityHeaders, readEvents, realHost, shutdownHosts, reqCall, tempDir, toolsCall } from '../../../testkit/audit.js';

after(() => shutdownHosts());

test('counters, gauges and histograms render in Prometheus text format with escaped labels', () => {
  const r = new MetricsRegistry();
  const c = r.counter({ name: 'demo_total', help: 'A demo\ncounter', labelNames: ['tool'] });
  c.inc({ tool: 'a"b\\c\nd' });
  c.inc({ tool: 'x' }, 2);
  c.inc({ tool: 'x' }, -5); // ignored: counters never go down
  const h = r.histogram({ name: 'demo_seconds', help: 'latency', labelNames: ['m'], buckets: [0.1, 1] });
  h.observe({ m: 'get' }, 0.05);
  h.observe({ m: 'get' }, 0.5);
  h.observe({ m: 'get' }, 5);
  r.gauge({ name: 'demo_state', help: 'state' }).set(undefined, 2);
  r.collect({ name: 'runner_connections', help: 'open connections', type: 'gauge', read: () => 3 });
  const text = r.render();
  assert.match(text, /^# HELP demo_total A demo\\ncounter$/m);
  assert.match(text, /^# TYPE demo_total counter$/m);
  assert.ok(text.includes('demo_total{tool="a\\"b\\\\c\\nd"} 1\n'));
  assert.ok(text.includes('demo_total{tool="x"} 2\n'));
  assert.ok(text.includes('demo_seconds_bucket{m="get",le="0.1"} 1\n'));
  assert.ok(text.includes('demo_seconds_bucket{m="get",le="1"} 2\n'));
  assert.ok(text.includes('demo_seconds_bucket{m="get",le="+Inf"} 3\n'));
  assert.ok(text.includes('demo_seconds_sum{m="get"} 5.55\n'));
  assert.ok(text.includes('demo_seconds_count{m="get"} 3\n'));
  assert.ok(text.includes('demo_state 2\n'));
  assert.ok(text.includes('runner_connections 3\n'));
  assert.equal(r.counter({ name: 'demo_total', help: 'again' }), c, 'same name, same metric');
  assert.throws(() => r.gauge({ name: 'demo_total', help: 'x' }), /another type/);
});

test('label cardinality is bounded: new label sets past the limit fold into one overflow series', () => {
  const r = new MetricsRegistry();
  const c = r.counter({ name: 'calls_total', help: 'x', labelNames: ['tool'], maxSeries: 3 });
  for (let i = 0; i < 100; i++) c.inc({ tool: `tool-${i}` });
  c.inc({ tool: 'tool-0' });
  assert.equal(c.seriesCount, 4, '3 real series + 1 overflow');
  assert.equal(c.get({ tool: 'tool-0' }), 2);
  const text = r.render();
  assert.ok(text.includes(`calls_total{tool="${OVERFLOW_LABEL_VALUE}"} 97\n`));
});

test('the endpoint listens on loopback and answers GET /metrics only', async () => {
  const r = new MetricsRegistry();
  r.counter({ name: 'x_total', help: 'x' }).inc();
  const ep = await startMetricsEndpoint({ port: 0, registry: r });
  try {
    assert.match(ep.url, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const ok = await fetch(ep.url);
    assert.equal(ok.status, 200);
    assert.match(ok.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    assert.ok((await ok.text()).includes('x_total 1'));
    assert.equal((await fetch(ep.url.replace('/metrics', '/other'))).status, 404);
    assert.equal((await fetch(ep.url, { method: 'POST' })).status, 404);
  } finally {
    await ep.close();
  }
});

test('calls through the host show up on MCP_RUNNER_METRICS_PORT: calls, latency, policy decisions, limit hits, audit counts', async () => {
  process.env['MCP_RUNNER_METRICS_PORT'] = '0';
  const path = join(tempDir(), 'metrics.log');
  const h = realHost();
  const authz: TextEntry = {
    name: 'mcp-authz',
    value: JSON.stringify({ server: 'crm-tools', identity: { trusted_headers: IDENTITY_HEADERS }, policy: POLICY, filter_lists: false }),
  };
  const limit: TextEntry = { name: 'mcp-ratelimit', value: JSON.stringify({ limits: [{ name: 'per-minute', requests: 2, per: 'minute', burst: 2 }] }) };
  const chain = h.buildChain(
    [{ name: 'mcp-audit', value: JSON.stringify({ server: 'crm-tools', sink: { path } }) }, authz, limit],
    'route#1#ext-plugin-pre-req#1',
  );
  const ok = toolsCall('crm.lookup', { q: 1 });
  const denied = toolsCall('billing.update_payment_method', {});
  for (const body of [ok, ok, ok, denied]) {
    await h.onRequest(chain, reqCall(body, identityHeaders()), new TableChannel({}, body), LATER());
  }
  await readEvents(path, 4);
  const ep = await ensureMetricsEndpointFromEnv();
  assert.ok(ep, 'endpoint started from the environment');
  const text = await (await fetch(ep.url)).text();
  const line = (prefix: string): number => {
    const l = text.split('\n').find((x) => x.startsWith(prefix));
    assert.ok(l, `missing ${prefix} in\n${text}`);
    return Number(l.slice(l.lastIndexOf(' ') + 1));
  };
  assert.equal(line('mcp_gateway_calls_total{server="crm-tools",method="tools/call",tool="crm.lookup",tenant="acme",result="forwarded"}'), 2);
  assert.equal(line('mcp_gateway_calls_total{server="crm-tools",method="tools/call",tool="crm.lookup",tenant="acme",result="limited"}'), 1);
  assert.equal(line('mcp_gateway_calls_total{server="crm-tools",method="tools/call",tool="billing.update_payment_method",tenant="acme",result="denied"}'), 1);
  assert.equal(line('mcp_gateway_ratelimit_hits_total{server="crm-tools",tool="crm.lookup",tenant="acme",rule="per-minute",kind="rate"}'), 1);
  assert.equal(line('mcp_gateway_call_duration_seconds_count{server="crm-tools",method="tools/call",tool="crm.lookup"}'), 3);
  assert.ok(text.includes('mcp_gateway_policy_decisions_total{server="crm-tools",tool="billing.update_payment_method",tenant="acme",decision="deny"'));
  assert.ok(line('mcp_gateway_policy_decisions_total{server="crm-tools",tool="crm.lookup",tenant="acme",decision="allow"') >= 3);
  assert.equal(line('mcp_audit_events_total{sink="file"}'), 4);
});

test('runner counters are exposed at scrape time with Prometheus names', async () => {
  const { exposeRunnerCounters, exposeGauge } = await import('../../../runner/observability/runner-metrics.js');
  const r = new MetricsRegistry();
  const counters = { connectionsOpen: 2, httpReqCalls: 10, tokenNotFound: 0 };
  exposeRunnerCounters(counters, r);
  exposeGauge('mcp_runner_carried_calls', 'calls waiting for post-resp', () => 4, r);
  counters.httpReqCalls = 11; // read when scraped, not when registered
  const text = r.render();
  assert.ok(text.includes('# TYPE mcp_runner_connections_open gauge\nmcp_runner_connections_open 2\n'));
  assert.ok(text.includes('# TYPE mcp_runner_http_req_calls_total counter\nmcp_runner_http_req_calls_total 11\n'));
  assert.ok(text.includes('mcp_runner_token_not_found_total 0\n'));
  assert.ok(text.includes('mcp_runner_carried_calls 4\n'));
});
