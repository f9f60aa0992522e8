// mcp-audit: one audit event per meaningful MCP call, a span per HTTP call, call metrics.
//
// Put mcp-audit FIRST in the route's conf list: a plugin that stops the call ends the chain,
// and audit only sees calls whose onRequest it ran (it registers ctx.onDone there and emits
// with the final outcome, whatever ran after it).
//
// Phases: with a response phase (post-resp on the route) the request-phase facts are kept
// in ctx.carry and a bounded lease table; the one event is emitted after the response
// phase with the result status, or with result "no_response" when the lease runs out.
// Without a response phase the event is emitted at the end of the request phase with
// result "forwarded".

import type { CallContext, Plugin, PrepareEnv, PhaseResult, StopOutcome } from '../../runner/host/plugin.js';
import type { RunnerState } from '../../runner/host/state.js';
import { JsonRpcErrorCode, type McpRequestBody } from '../../runner/mcp/types.js';
import { closeMetricsEndpointFromEnv, ensureMetricsEndpointFromEnv } from '../../runner/observability/prometheus.js';
import { formatTraceparent, parseTraceparent } from '../../runner/observability/telemetry.js';
import type { Span } from '@opentelemetry/api';
import { confSchema, resolveSinkConf, type AuditConf } from './conf.js';
import { buildEvents, finish, requestResult, responseResult, type CallFacts } from './event.js';
import { initOtelInstruments } from './instruments.js';
import { auditBuffersOf, type AuditBuffers, type Pending, type PreparedAudit } from './pending.js';
import { closeAllSinks, sinkFor } from './sinks.js';
import { endSpan, startSpan, tracingActive } from './spans.js';

export type { AuditConf } from './conf.js';
export type { AuditEvent } from './event.js';
export type { PreparedAudit } from './pending.js';

export const PLUGIN_NAME = 'mcp-audit';

/**
 * Budget of shutdown(): the protocol server bounds host.shutdown() (150 ms by default)
 * inside APISIX's 1 s SIGTERM window. File writes finish in a few ms; an HTTP sink that
 * cannot deliver in time writes the rest to its fallback_path.
 */
const SHUTDOWN_BUDGET_MS = Number(process.env['MCP_AUDIT_SHUTDOWN_MS'] ?? '') || 130;

/** Set by onRequest, read by the request phase's onDone. */
interface RequestState {
  facts: CallFacts;
  body: McpRequestBody | undefined;
  span: Span | undefined;
}

async function onRequest(ctx: CallContext, p: PreparedAudit): Promise<StopOutcome | undefined> {
  const remote = parseTraceparent(ctx.request.header('traceparent'), ctx.request.header('tracestate'));
  const startedEpochMs = performance.timeOrigin + ctx.startedAt;
  const facts: CallFacts = {
    routeKey: p.routeKey,
    server: p.server ?? ctx.route.server,
    callId: ctx.callId,
    correlationId: remote?.traceId ?? ctx.callId,
    startedEpochMs,
  };
  const state: RequestState = { facts, body: undefined, span: undefined };
  // Registered before anything can throw, so even a refused body yields an event.
  ctx.onDone((r) => requestDone(ctx, p, state, r));
  // fail_closed judges the sink with every finished event handed over.
  if (p.failClosed && p.buffers.hasUnwritten) p.buffers.writeUnwritten();
  if (p.failClosed && !p.sink.canAccept()) {
    ctx.record({ plugin: PLUGIN_NAME, action: 'error', rule: 'audit-sink-unavailable', reason: 'audit events cannot be written' });
    return {
      action: 'stop',
      status: 503,
      headers: { 'retry-after': '5' },
      rpcError: { code: JsonRpcErrorCode.GatewayUnavailable, message: 'Audit log unavailable; call refused (fail_closed)' },
    };
  }
  // A body the host refuses (StopError) propagates: the host answers it, onDone reports it.
  state.body = await ctx.mcp();
  if (p.tracing && tracingActive()) {
    const span = startSpan(p.routeKey, facts.server, state.body, remote, startedEpochMs);
    state.span = span;
    if (span.isRecording()) {
      const sc = span.spanContext();
      facts.traceId = sc.traceId;
      facts.spanId = sc.spanId;
      if (remote === undefined) facts.correlationId = sc.traceId;
      if (p.propagate) {
        ctx.requestMutations.setHeader('traceparent', formatTraceparent(sc));
        const ts = sc.traceState?.serialize();
        if (ts !== undefined && ts !== '') ctx.requestMutations.setHeader('tracestate', ts);
      }
    }
  }
  return undefined;
}

function requestDone(ctx: CallContext, p: PreparedAudit, state: RequestState, r: PhaseResult): void {
  const provisional = requestResult(r, ctx.decisions);
  const events = buildEvents(state.facts, state.body, ctx.identity, ctx.decisions, provisional, p.events);
  const forwarded = provisional === 'forwarded';
  const responseFollows =
    forwarded && (p.responsePhase === 'expected' || (p.responsePhase === 'auto' && ctx.route.postResp));
  if (!responseFollows) {
    finish(events, provisional, r, performance.now() - ctx.startedAt, 'request', ctx.identity, []);
    endSpan(state.span, events, provisional, r);
    p.buffers.emit(p, events);
    return;
  }
  if (events.length === 0 && state.span?.isRecording() !== true) {
    state.span?.end();
    // Not worth an event so far (e.g. a list call): the response phase reports it only if it fails.
    ctx.carry.set(PLUGIN_NAME, { quiet: true, facts: state.facts, body: state.body } satisfies QuietCall);
    return;
  }
  const item: Pending = {
    events,
    identity: ctx.identity,
    request: r,
    startedAt: ctx.startedAt,
    deadline: performance.now() + p.leaseMs,
    span: state.span,
    prepared: p,
    settled: false,
    // The record is append-only and carried as the same array: what follows `count` is new.
    seen: { records: ctx.decisions, count: ctx.decisions.length },
  };
  ctx.carry.set(PLUGIN_NAME, item);
  p.buffers.park(item);
}

function isPending(v: unknown): v is Pending {
  return typeof v === 'object' && v !== null && 'settled' in v && 'events' in v;
}

/** A call the request phase saw but did not report (nothing meaningful yet). */
interface QuietCall {
  quiet: true;
  facts: CallFacts;
  body: McpRequestBody | undefined;
}

function isQuiet(v: unknown): v is QuietCall {
  return typeof v === 'object' && v !== null && 'quiet' in v;
}

function onResponse(ctx: CallContext, p: PreparedAudit): undefined {
  const carried = ctx.carry.get(PLUGIN_NAME);
  if (isQuiet(carried)) {
    ctx.onDone((r) => {
      const result = responseResult(r);
      if (result === 'ok') return;
      const events = buildEvents(carried.facts, carried.body, ctx.identity, ctx.decisions, result, p.events);
      finish(events, result, r, performance.now() - ctx.startedAt, 'response', ctx.identity, []);
      p.buffers.emit(p, events);
    });
    return undefined;
  }
  if (isPending(carried)) {
    ctx.onDone((r) => {
      // Only records the request phase did not have (the host may carry them over).
      const { records, count } = carried.seen;
      const later =
        ctx.decisions === records
          ? ctx.decisions.slice(count)
          : ctx.decisions.filter((d) => {
              const at = records.indexOf(d);
              return at < 0 || at >= count;
            });
      const result = responseResult(r);
      if (!carried.settled) {
        p.buffers.settle(carried, result, r, 'response', ctx.identity, later);
        return;
      }
      // The lease ran out before the answer came: report the answer as its own event.
      const copies = carried.events.map((e) => ({ ...e, decisions: [...e.decisions] }));
      finish(copies, result, r, performance.now() - carried.startedAt, 'late_response', ctx.identity, later);
      p.buffers.emit(p, copies);
    });
    return undefined;
  }
  // No request-phase facts (audit not in the request chain, or the carry expired): report
  // the answer on its own. The request body is not read here: that could fail the answer.
  const facts: CallFacts = {
    routeKey: p.routeKey,
    server: p.server ?? ctx.route.server,
    callId: ctx.callId,
    correlationId: ctx.callId,
    startedEpochMs: performance.timeOrigin + ctx.startedAt,
  };
  ctx.onDone((r) => {
    const result = responseResult(r);
    const events = buildEvents(facts, undefined, ctx.identity, ctx.decisions, result, p.events, true);
    finish(events, result, r, performance.now() - ctx.startedAt, 'response', ctx.identity, []);
    p.buffers.emit(p, events);
  });
  return undefined;
}

let warnedOrder = false;

function prepare(conf: AuditConf, env: PrepareEnv): PreparedAudit {
  const sinkConf = resolveSinkConf(conf.sink);
  const prepared: PreparedAudit = {
    routeKey: env.routeKey,
    server: conf.server,
    sink: sinkFor(sinkConf),
    buffers: auditBuffersOf(env.state),
    failClosed: conf.on_sink_failure === 'fail_closed',
    responsePhase: conf.response_phase ?? 'auto',
    leaseMs: (conf.response_lease_seconds ?? 120) * 1000,
    tracing: conf.tracing?.enabled ?? true,
    propagate: conf.tracing?.propagate ?? true,
    metrics: conf.metrics?.enabled ?? true,
    events: {
      includeListCalls: conf.include_list_calls ?? false,
      includeAllMethods: conf.include_all_methods ?? false,
      logArgumentValues: conf.log_argument_values ?? false,
      maxArgumentValueBytes: conf.max_argument_value_bytes ?? 4096,
    },
  };
  if (prepared.metrics) initOtelInstruments();
  void ensureMetricsEndpointFromEnv().catch(() => undefined);
  const at = env.chain.indexOf(PLUGIN_NAME);
  if (at > 0 && !warnedOrder) {
    // Once per process, at prepare time (never per call).
    warnedOrder = true;
    process.emitWarning(
      `mcp-audit is at position ${at + 1} in ${env.routeKey}; calls stopped by ${env.chain.slice(0, at).join(', ')} will not be audited. List mcp-audit first.`,
    );
  }
  return prepared;
}

async function shutdown(state: RunnerState): Promise<void> {
  // Calls still waiting for a response phase are written with what we know.
  state.peek<AuditBuffers>('mcp-audit/buffers')?.settleAll();
  await Promise.all([closeAllSinks(SHUTDOWN_BUDGET_MS), closeMetricsEndpointFromEnv()]);
}

export const plugin: Plugin<AuditConf, PreparedAudit> = {
  name: PLUGIN_NAME,
  confSchema,
  prepare,
  onRequest,
  onResponse,
  shutdown,
};

/** For tests: calls of this runner parked waiting for their response phase. */
export function pendingCount(state: RunnerState): number {
  return auditBuffersOf(state).pendingCount;
}
