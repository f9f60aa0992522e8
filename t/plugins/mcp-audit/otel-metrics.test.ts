// Call metrics through the OpenTelemetry metrics API when an SDK MeterProvider is registered.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { metrics } from '@opentelemetry/api';
import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { LATER, TableChannel, readEvents, realHost, shutdownHosts, reqCall, tempDir, toolsCall } from '../../../testkit/audit.js';

const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 60_000 });
const provider = new MeterProvider({ readers: [reader] });
metrics.setGlobalMeterProvider(provider);
after(async () => {
  await shutdownHosts();
  await provider.shutdown();
});

test('calls and latency reach the OTel SDK with MCP attributes', async () => {
  const path = join(tempDir(), 'otel.log');
  const h = realHost();
  const chain = h.buildChain([{ name: 'mcp-audit', value: JSON.stringify({ server: 'srv', sink: { path } }) }], 'route#1#ext-plugin-pre-req#1');
  const body = toolsCall('crm.lookup', {});
  for (let i = 0; i < 3; i++) await h.onRequest(chain, reqCall(body), new TableChannel({}, body), LATER());
  await readEvents(path, 3);
  await reader.forceFlush();
  const all = exporter.getMetrics().flatMap((rm) => rm.scopeMetrics.flatMap((sm) => sm.metrics));
  const calls = all.find((m) => m.descriptor.name === 'mcp.gateway.calls');
  assert.ok(calls, `metrics: ${all.map((m) => m.descriptor.name).join(', ')}`);
  const point = calls.dataPoints[0];
  assert.equal(point?.value, 3);
  assert.equal(point?.attributes['mcp.tool.name'], 'crm.lookup');
  assert.equal(point?.attributes['mcp.server'], 'srv');
  assert.equal(point?.attributes['mcp.result'], 'forwarded');
  assert.ok(all.some((m) => m.descriptor.name === 'mcp.gateway.call.duration'));
});
