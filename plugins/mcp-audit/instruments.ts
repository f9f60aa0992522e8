// Call metrics, recorded once per audit event into the runner's Prometheus registry and,
// when an OpenTelemetry SDK is registered, through the OTel metrics API as well.
// Durations follow OpenTelemetry's MCP conventions (semconv.ts): mcp.server.operation.duration
// (the agent's view, every call) and mcp.client.operation.duration (the upstream leg, routes
// with a response phase), exported to Prometheus as mcp_server_operation_duration_seconds and
// mcp_client_operation_duration_seconds with the attributes as labels (dots → underscores).
// mcp_gateway_call_duration_seconds is deprecated (same data, old labels; removed in 0.3).

import { createNoopMeter, type Attributes, type Counter as OtelCounter, type Histogram as OtelHistogram } from '@opentelemetry/api';
import { defaultRegistry } from '../../runner/observability/metrics.js';
import { gatewayMeter } from '../../runner/observability/telemetry.js';
import type { AuditEvent } from './event.js';
import { CLIENT_DURATION, DURATION_BUCKETS, DURATION_UNIT, errorType, GATEWAY_ATTR, SEMCONV, SERVER_DURATION } from './semconv.js';

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
  help: 'Deprecated (use mcp_server_operation_duration_seconds): latency of MCP calls through the gateway',
  labelNames: ['server', 'method', 'tool'],
  maxSeries: MAX_SERIES,
});
const OPERATION_LABELS = ['mcp_method_name', 'gen_ai_tool_name', 'gen_ai_prompt_name', 'error_type', 'mcp_gateway_server'] as const;
const serverDuration = defaultRegistry.histogram({
  name: 'mcp_server_operation_duration_seconds',
  help: 'OpenTelemetry mcp.server.operation.duration: MCP request duration as the gateway (the agent\'s server) saw it, from receipt to answer',
  labelNames: [...OPERATION_LABELS],
  buckets: DURATION_BUCKETS,
  maxSeries: MAX_SERIES,
});
const clientDuration = defaultRegistry.histogram({
  name: 'mcp_client_operation_duration_seconds',
  help: 'OpenTelemetry mcp.client.operation.duration: the upstream leg as the gateway (the upstream\'s client) saw it, from forwarding to the answer (routes with a response phase)',
  labelNames: [...OPERATION_LABELS],
  buckets: DURATION_BUCKETS,
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
  serverDuration: OtelHistogram;
  clientDuration: OtelHistogram;
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
    calls: m.createCounter('mcp_gateway.calls', { description: 'MCP calls seen by the gateway' }),
    errors: m.createCounter('mcp_gateway.call.errors', { description: 'MCP calls that ended in an error' }),
    serverDuration: m.createHistogram(SERVER_DURATION, {
      unit: DURATION_UNIT,
      description: 'MCP request or notification duration as observed on the receiver from the time it was received until the result or ack is sent',
      advice: { explicitBucketBoundaries: [...DURATION_BUCKETS] },
    }),
    clientDuration: m.createHistogram(CLIENT_DURATION, {
      unit: DURATION_UNIT,
      description: 'The duration of the MCP request or notification as observed on the sender from the time it was sent until the response or ack is received',
      advice: { explicitBucketBoundaries: [...DURATION_BUCKETS] },
    }),
    policy: m.createCounter('mcp_gateway.policy.decisions', { description: 'Policy decisions' }),
    limits: m.createCounter('mcp_gateway.ratelimit.hits', { description: 'Limit and breaker refusals' }),
  };
}

export function recordMetrics(ev: AuditEvent): void {
  const server = ev.server ?? '';
  const method = ev.method ?? ev.kind;
  const tool = ev.tool ?? ev.prompt ?? ev.resource_uri ?? '';
  const tenant = ev.tenant ?? '';
  calls.inc({ server, method, tool, tenant, result: ev.result });
  latency.observe({ server, method, tool }, ev.latency_ms / 1000);
  const type = eventErrorType(ev);
  serverDuration.observe(operationLabels(ev, type), ev.latency_ms / 1000);
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
    const attrs = operationAttributes(ev, type);
    if (tenant !== '') attrs[GATEWAY_ATTR.tenant] = tenant;
    otel.serverDuration.record(ev.latency_ms / 1000, attrs);
    otel.calls.add(1, { ...attrs, [GATEWAY_ATTR.result]: ev.result });
    if (isError) otel.errors.add(1, attrs);
    if (ev.decision !== undefined) otel.policy.add(1, { ...attrs, [GATEWAY_ATTR.decision]: ev.decision.action });
    if (ev.limit !== undefined && ev.result === 'limited') otel.limits.add(1, { ...attrs, [GATEWAY_ATTR.limit]: ev.limit.rule ?? '' });
  }
}

/** The upstream leg of a call whose answer the runner saw (seconds). */
export function recordClientDuration(ev: AuditEvent, seconds: number): void {
  const type = eventErrorType(ev);
  clientDuration.observe(operationLabels(ev, type), seconds);
  otel?.clientDuration.record(seconds, operationAttributes(ev, type));
}

/** error.type of the event's outcome (refusals carry their JSON-RPC code). */
function eventErrorType(ev: AuditEvent): string {
  const failed = ev.result === 'error' || ev.result === 'denied' || ev.result === 'limited';
  return errorType(failed, ev.jsonrpc_error_code, ev.http_status) ?? '';
}

function operationLabels(ev: AuditEvent, type: string): Record<(typeof OPERATION_LABELS)[number], string> {
  return {
    mcp_method_name: ev.method ?? ev.kind,
    gen_ai_tool_name: ev.tool ?? '',
    gen_ai_prompt_name: ev.prompt ?? '',
    error_type: type,
    mcp_gateway_server: ev.server ?? '',
  };
}

/** The conventions' metric attributes (the resource URI is opt-in there: left out). */
function operationAttributes(ev: AuditEvent, type: string): Attributes {
  const a: Attributes = { [SEMCONV.methodName]: ev.method ?? ev.kind, [SEMCONV.networkTransport]: 'tcp', [SEMCONV.networkProtocolName]: 'http' };
  if (ev.tool !== undefined) a[SEMCONV.toolName] = ev.tool;
  if (ev.method === 'tools/call') a[SEMCONV.operationName] = 'execute_tool';
  if (ev.prompt !== undefined) a[SEMCONV.promptName] = ev.prompt;
  if (type !== '') a[SEMCONV.errorType] = type;
  if (ev.jsonrpc_error_code !== undefined) a[SEMCONV.rpcStatusCode] = String(ev.jsonrpc_error_code);
  if (ev.server !== undefined) a[GATEWAY_ATTR.server] = ev.server;
  return a;
}
