// mcp-audit's spans: one SERVER span per HTTP call when a tracer SDK is registered, named
// after the MCP method and target, ended with the call's result and decision.

import { ProxyTracerProvider, SpanKind, SpanStatusCode, trace, type Attributes, type Span } from '@opentelemetry/api';
import type { PhaseResult } from '../../runner/host/plugin.js';
import type { McpRequestBody } from '../../runner/mcp/types.js';
import { gatewayTracer, parentContext, type parseTraceparent } from '../../runner/observability/telemetry.js';
import type { AuditEvent, AuditResult } from './event.js';

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

export function startSpan(routeKey: string, server: string | undefined, body: McpRequestBody | undefined, remote: ReturnType<typeof parseTraceparent>, startedEpochMs: number): Span {
  const first = body?.ok ? body.messages.find((m) => m.type !== 'response') : undefined;
  const method = first?.method;
  const target = first?.toolName ?? first?.promptName ?? first?.resourceUri;
  const attrs: Attributes = {};
  if (method !== undefined) attrs['mcp.method.name'] = method;
  if (first?.toolName !== undefined) attrs['mcp.tool.name'] = first.toolName;
  if (first?.promptName !== undefined) attrs['mcp.prompt.name'] = first.promptName;
  if (first?.resourceUri !== undefined) attrs['mcp.resource.uri'] = first.resourceUri;
  if (server !== undefined) attrs['mcp.server'] = server;
  if (body?.ok && body.batch) attrs['mcp.batch.size'] = body.messages.length;
  attrs['mcp.route'] = routeKey;
  const name = method === undefined ? 'mcp' : target === undefined ? method : `${method} ${target}`;
  return gatewayTracer().startSpan(name, { kind: SpanKind.SERVER, startTime: startedEpochMs, attributes: attrs }, parentContext(remote));
}

export function endSpan(span: Span | undefined, events: readonly AuditEvent[], result: AuditResult, r: PhaseResult | undefined): void {
  if (span === undefined) return;
  if (span.isRecording()) {
    const first = events[0];
    const attrs: Attributes = { 'mcp.result': result };
    if (first?.decision !== undefined) attrs['mcp.decision'] = first.decision.action;
    else if (result === 'denied') attrs['mcp.decision'] = 'deny';
    if (first?.decision?.rule !== undefined) attrs['mcp.decision.rule'] = first.decision.rule;
    if (r?.rpcErrorCode !== undefined) attrs['rpc.jsonrpc.error_code'] = r.rpcErrorCode;
    if (r?.status !== undefined) attrs['http.response.status_code'] = r.status;
    // Identity dimensions that are not personal data (no user, no subject, no claims).
    if (first?.app !== undefined) attrs['mcp.app'] = first.app;
    if (first?.agent !== undefined) attrs['mcp.agent'] = first.agent;
    if (first?.tenant !== undefined) attrs['mcp.tenant'] = first.tenant;
    if (first?.environment !== undefined) attrs['mcp.environment'] = first.environment;
    if (first?.limit?.rule !== undefined) attrs['mcp.limit.rule'] = first.limit.rule;
    span.setAttributes(attrs);
    if (result === 'error') span.setStatus({ code: SpanStatusCode.ERROR, message: r?.rpcErrorCode !== undefined ? `JSON-RPC ${r.rpcErrorCode}` : 'error' });
  }
  span.end();
}
