// Call metrics, recorded once per audit event into the runner's Prometheus registry and,
// when an OpenTelemetry SDK is registered, through the OTel metrics API as well.

import { createNoopMeter, type Attributes, type Counter as OtelCounter, type Histogram as OtelHistogram } from '@opentelemetry/api';
import { defaultRegistry } from '../../runner/observability/metrics.js';
import { gatewayMeter } from '../../runner/observability/telemetry.js';
import type { AuditEvent } from './event.js';

const MAX_SERIES = 2000;

const calls = defaultRegistry.counter({
  name: 'mcp_gateway_calls_total',
  help: 'MCP calls seen by the gateway, by server, method, tool (or resource/prompt), tenant and result',
  labelNames: ['server', 'method', 'tool', 'tenant', 'result'],
  maxSeries: MAX_SERIES,
});
const errors = defaultRegistry.counter({
  name: 'mcp_gateway_call_errors_total',
  help: 'MCP calls that ended in an error (HTTP >= 400 from upstream, JSON-RPC error, gateway failure)',
  labelNames: ['server', 'method', 'tool', 'tenant'],
  maxSeries: MAX_SERIES,
});
const latency = defaultRegistry.histogram({
  name: 'mcp_gateway_call_duration_seconds',
  help: 'Latency of MCP calls through the gateway (request start to final answer)',
  labelNames: ['server', 'method', 'tool'],
  maxSeries: MAX_SERIES,
});
const policy = defaultRegistry.counter({
  name: 'mcp_gateway_policy_decisions_total',
  help: 'Policy decisions (allow, deny, confirm, shadow-deny) by server, tool, tenant and rule',
  labelNames: ['server', 'tool', 'tenant', 'decision', 'rule'],
  maxSeries: MAX_SERIES,
});
const limits = defaultRegistry.counter({
  name: 'mcp_gateway_ratelimit_hits_total',
  help: 'Calls refused by a limit or an open circuit breaker, by server, tool, tenant, limit name and kind (rate, concurrency, budget, breaker)',
  labelNames: ['server', 'tool', 'tenant', 'rule', 'kind'],
  maxSeries: MAX_SERIES,
});
const breakerOpen = defaultRegistry.counter({
  name: 'mcp_gateway_breaker_open_total',
  help: 'Calls refused because a circuit breaker was open, by server and breaker name',
  labelNames: ['server', 'rule'],
  maxSeries: 500,
});
const breaker = defaultRegistry.gauge({
  name: 'mcp_gateway_breaker_state',
  help: 'Breaker state when a decision record reports one (detail.state): 0 closed, 1 half-open, 2 open',
  labelNames: ['server', 'rule'],
  maxSeries: 500,
});

const BREAKER_STATES: Record<string, number> = { closed: 0, 'half-open': 1, half_open: 1, open: 2 };

interface OtelInstruments {
  calls: OtelCounter;
  errors: OtelCounter;
  latency: OtelHistogram;
  policy: OtelCounter;
  limits: OtelCounter;
}
let otel: OtelInstruments | undefined;
const NOOP_METER_CLASS = createNoopMeter().constructor;

/** Create the OTel instruments (at prepare: the metrics API has no proxy, so after SDK setup). */
export function initOtelInstruments(): void {
  if (otel !== undefined) return;
  const m = gatewayMeter();
  // No MeterProvider registered: the API hands out no-op instruments, and recording into
  // them would cost attribute objects per call for nothing. The next prepare() looks again.
  if (m.constructor === NOOP_METER_CLASS) return;
  otel = {
    calls: m.createCounter('mcp.gateway.calls', { description: 'MCP calls seen by the gateway' }),
    errors: m.createCounter('mcp.gateway.call.errors', { description: 'MCP calls that ended in an error' }),
    latency: m.createHistogram('mcp.gateway.call.duration', { unit: 's', description: 'MCP call latency' }),
    policy: m.createCounter('mcp.gateway.policy.decisions', { description: 'Policy decisions' }),
    limits: m.createCounter('mcp.gateway.ratelimit.hits', { description: 'Limit and breaker refusals' }),
  };
}

export function recordMetrics(ev: AuditEvent): void {
  const server = ev.server ?? '';
  const method = ev.method ?? ev.kind;
  const tool = ev.tool ?? ev.prompt ?? ev.resource_uri ?? '';
  const tenant = ev.tenant ?? '';
  calls.inc({ server, method, tool, tenant, result: ev.result });
  latency.observe({ server, method, tool }, ev.latency_ms / 1000);
  const isError = ev.result === 'error';
  if (isError) errors.inc({ server, method, tool, tenant });
  if (ev.decision !== undefined) {
    policy.inc({ server, tool, tenant, decision: ev.decision.action, rule: ev.decision.rule ?? '' });
  }
  if (ev.limit !== undefined) {
    const kind = typeof ev.limit.detail?.['kind'] === 'string' ? (ev.limit.detail['kind'] as string) : '';
    if (ev.result === 'limited' || ev.limit.action === 'limit') limits.inc({ server, tool, tenant, rule: ev.limit.rule ?? '', kind });
    if (kind === 'breaker') breakerOpen.inc({ server, rule: ev.limit.rule ?? '' });
    const state = ev.limit.detail?.['state'];
    if (typeof state === 'string' && state in BREAKER_STATES) {
      breaker.set({ server, rule: ev.limit.rule ?? '' }, BREAKER_STATES[state] as number);
    }
  }
  if (otel !== undefined) {
    const attrs: Attributes = { 'mcp.server': server, 'mcp.method.name': method, 'mcp.tool.name': tool, 'mcp.tenant': tenant };
    otel.calls.add(1, { ...attrs, 'mcp.result': ev.result });
    otel.latency.record(ev.latency_ms / 1000, attrs);
    if (isError) otel.errors.add(1, attrs);
    if (ev.decision !== undefined) otel.policy.add(1, { ...attrs, 'mcp.decision': ev.decision.action });
    if (ev.limit !== undefined && ev.result === 'limited') otel.limits.add(1, { ...attrs, 'mcp.limit': ev.limit.rule ?? '' });
  }
}
