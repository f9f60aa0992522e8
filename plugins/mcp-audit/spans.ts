// mcp-audit's spans, named and attributed per OpenTelemetry's MCP conventions (semconv.ts):
// a SERVER span per HTTP call (the agent's view, continuing the client's traceparent) and,
// where the runner sees the answer, a CLIENT span for the upstream leg under it.

import { ProxyTracerProvider, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Span, type SpanContext } from '@opentelemetry/api';
import type { CallContext, PhaseResult } from '../../runner/host/plugin.js';
import type { McpRequestBody } from '../../runner/mcp/types.js';
import { PROTOCOL_VERSION_HEADER, SESSION_HEADER } from '../../runner/mcp/revision.js';
import { gatewayTracer, parentContext } from '../../runner/observability/telemetry.js';
import type { AuditEvent, AuditResult } from './event.js';
import { errorType, GATEWAY_ATTR, operationAttributes, operationFacts, SEMCONV, spanName } from './semconv.js';

export const NO_ATTRIBUTES: Attributes = {};

/** The no-op provider the API falls back to when no SDK is registered. */
const NO_TRACER_PROVIDER = new ProxyTracerProvider().getDelegate();

/**
 * A tracer SDK is registered: without one every span is a no-op, so the per-call span work
 * (attributes, tracer lookup, span object) is skipped. Checked per call: an SDK may be
 * registered (or removed) at any time.
 */
export function tracingActive(): boolean {
  const provider = trace.getTracerProvider();
  return !(provider instanceof ProxyTracerProvider) || provider.getDelegate() !== NO_TRACER_PROVIDER;
}

/** The SERVER span of the call as the agent sees it: `{mcp.method.name} {target}`. */
export function startServerSpan(
  ctx: CallContext,
  routeKey: string,
  server: string | undefined,
  body: McpRequestBody | undefined,
  remote: SpanContext | undefined,
  startedEpochMs: number,
): { span: Span; operation: Attributes; name: string } {
  const op = operationFacts(body);
  const operation = operationAttributes(op, ctx.request.header(SESSION_HEADER), ctx.request.header(PROTOCOL_VERSION_HEADER));
  const name = spanName(op);
  const attrs: Attributes = { ...operation, [GATEWAY_ATTR.route]: routeKey };
  if (server !== undefined) attrs[GATEWAY_ATTR.server] = server;
  if (body?.ok && body.batch) attrs[GATEWAY_ATTR.batchSize] = body.messages.length;
  const span = gatewayTracer().startSpan(name, { kind: SpanKind.SERVER, startTime: startedEpochMs, attributes: attrs }, parentContext(remote));
  return { span, operation, name };
}

export function endSpan(span: Span | undefined, events: readonly AuditEvent[], result: AuditResult, r: PhaseResult | undefined): void {
  if (span === undefined) return;
  if (span.isRecording()) {
    const first = events[0];
    const attrs: Attributes = { [GATEWAY_ATTR.result]: result };
    if (first?.decision !== undefined) attrs[GATEWAY_ATTR.decision] = first.decision.action;
    else if (result === 'denied') attrs[GATEWAY_ATTR.decision] = 'deny';
    if (first?.decision?.rule !== undefined) attrs[GATEWAY_ATTR.rule] = first.decision.rule;
    if (r?.rpcErrorCode !== undefined) attrs[SEMCONV.rpcStatusCode] = String(r.rpcErrorCode);
    if (r?.status !== undefined) attrs[SEMCONV.httpStatusCode] = r.status;
    const failed = result === 'error' || result === 'denied' || result === 'limited';
    const type = errorType(failed, r?.rpcErrorCode, r?.status);
    if (type !== undefined) attrs[SEMCONV.errorType] = type;
    // Identity dimensions that are not personal data (no user, no subject, no claims).
    if (first?.app !== undefined) attrs[GATEWAY_ATTR.app] = first.app;
    if (first?.agent !== undefined) attrs[GATEWAY_ATTR.agent] = first.agent;
    if (first?.tenant !== undefined) attrs[GATEWAY_ATTR.tenant] = first.tenant;
    if (first?.environment !== undefined) attrs[GATEWAY_ATTR.environment] = first.environment;
    if (first?.limit?.rule !== undefined) attrs[GATEWAY_ATTR.limit] = first.limit.rule;
    span.setAttributes(attrs);
    // The conventions: status ERROR whenever error.type is set.
    if (type !== undefined) span.setStatus({ code: SpanStatusCode.ERROR, message: r?.rpcErrorCode !== undefined ? `JSON-RPC ${r.rpcErrorCode}` : type });
  }
  span.end();
}

/**
 * The upstream leg as a CLIENT span under the server span, from the moment the request phase
 * let the call go (performance.now() times) to the answer reaching the response phase.
 */
export function recordUpstreamSpan(server: Span, name: string, operation: Attributes, forwardedAt: number, answeredAt: number, r: PhaseResult | undefined): void {
  if (!server.isRecording()) return;
  const attrs: Attributes = { ...operation };
  const code = r?.rpcErrorCode;
  const type = errorType(code !== undefined || (r?.status ?? 0) >= 400, code, r?.status);
  if (code !== undefined) attrs[SEMCONV.rpcStatusCode] = String(code);
  if (type !== undefined) attrs[SEMCONV.errorType] = type;
  if (r?.status !== undefined) attrs[SEMCONV.httpStatusCode] = r.status;
  const epoch = performance.timeOrigin;
  const span = gatewayTracer().startSpan(name, { kind: SpanKind.CLIENT, startTime: epoch + forwardedAt, attributes: attrs }, trace.setSpan(ROOT_CONTEXT, server));
  if (type !== undefined) span.setStatus({ code: SpanStatusCode.ERROR, message: code !== undefined ? `JSON-RPC ${code}` : type });
  span.end(epoch + answeredAt);
}
