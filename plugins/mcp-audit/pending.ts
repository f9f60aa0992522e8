// mcp-audit's runner-wide buffers: calls parked until their response phase (a bounded lease
// table swept once a second) and finished events waiting to be serialised. One per runner
// (RunnerState), so two runners in one process never settle or write each other's calls.

import type { Attributes, Span } from '@opentelemetry/api';
import type { CallContext, DecisionRecord, Identity, PhaseResult } from '../../runner/host/plugin.js';
import type { RunnerState } from '../../runner/host/state.js';
import { finish, type AuditEvent, type AuditResult, type Completion, type EventOptions } from './event.js';
import { recordClientDuration, recordMetrics } from './instruments.js';
import type { AuditSink } from './sinks.js';
import { endSpan, recordUpstreamSpan } from './spans.js';

export interface PreparedAudit {
  readonly routeKey: string;
  readonly server: string | undefined;
  readonly sink: AuditSink;
  readonly failClosed: boolean;
  readonly responsePhase: 'auto' | 'expected' | 'none';
  readonly leaseMs: number;
  readonly tracing: boolean;
  readonly propagate: boolean;
  readonly metrics: boolean;
  readonly events: EventOptions;
  /** This runner's parked calls and unwritten events. */
  readonly buffers: AuditBuffers;
}

/** Request-phase state of one HTTP call, carried to its response phase. */
export interface Pending {
  events: AuditEvent[];
  identity: Identity | undefined;
  request: PhaseResult;
  /** performance.now() at call start. */
  startedAt: number;
  /** performance.now() when the request phase let the call go upstream. */
  forwardedAt: number;
  deadline: number;
  span: Span | undefined;
  /** Conventional attributes of the operation and the span name, for the upstream (CLIENT) span. */
  operation: Attributes;
  spanName: string;
  prepared: PreparedAudit;
  settled: boolean;
  /** The request phase's decision records (already in the events). */
  seen: { records: readonly DecisionRecord[]; count: number };
}

const MAX_PENDING = 100_000;
/**
 * Finished events are serialised after this event-loop turn's answers are written, off the
 * decision path. Bounded: past the bound the backlog is written inline.
 */
const MAX_UNWRITTEN = 10_000;

export class AuditBuffers {
  /** Calls waiting for their response phase, oldest first (Map keeps insertion order). */
  private readonly pending = new Map<Pending, true>();
  private sweeper: NodeJS.Timeout | undefined;
  private unwritten: Array<{ sink: AuditSink; event: AuditEvent }> = [];
  private writeScheduled = false;
  /** Bound once: handed to setImmediate and setInterval without a closure per call. */
  private readonly writeLater = (): void => this.writeUnwritten();
  private readonly sweepLater = (): void => this.sweepExpired();

  /** Calls parked waiting for their response phase. */
  get pendingCount(): number {
    return this.pending.size;
  }

  get hasUnwritten(): boolean {
    return this.unwritten.length > 0;
  }

  park(p: Pending): void {
    if (this.pending.size >= MAX_PENDING) {
      // Never lose the event: emit what we know now instead of waiting.
      const oldest = this.pending.keys().next().value;
      if (oldest !== undefined) this.settle(oldest, 'no_response', undefined, 'lease_expired', undefined, []);
    }
    this.pending.set(p, true);
    if (this.sweeper === undefined) {
      this.sweeper = setInterval(this.sweepLater, 1000);
      this.sweeper.unref();
    }
  }

  /** Final step for parked calls: fill results, end the span, emit once. */
  settle(p: Pending, result: AuditResult, r: PhaseResult | undefined, completion: Completion, identity: Identity | undefined, later: CallContext['decisions'], answeredAt?: number): void {
    if (p.settled) return;
    p.settled = true;
    this.pending.delete(p);
    finish(p.events, result, r ?? p.request, performance.now() - p.startedAt, completion, identity ?? p.identity, later);
    // The gateway as the upstream's client: from forwarding to the answer reaching the runner.
    if (answeredAt !== undefined) upstreamLeg(p, answeredAt, r);
    endSpan(p.span, p.events, result, r ?? p.request);
    this.emit(p.prepared, p.events);
  }

  emit(prepared: PreparedAudit, events: readonly AuditEvent[]): void {
    for (const ev of events) {
      // Metrics stay synchronous: a scrape right after the answer must already count the call.
      if (prepared.metrics) recordMetrics(ev);
      this.unwritten.push({ sink: prepared.sink, event: ev });
    }
    if (this.unwritten.length >= MAX_UNWRITTEN) this.writeUnwritten();
    else if (!this.writeScheduled && this.unwritten.length > 0) {
      this.writeScheduled = true;
      setImmediate(this.writeLater);
    }
  }

  writeUnwritten(): void {
    this.writeScheduled = false;
    const batch = this.unwritten;
    this.unwritten = [];
    for (const { sink, event } of batch) sink.offer(JSON.stringify(event));
  }

  /** Shutdown: calls still waiting for a response phase are written with what we know. */
  settleAll(): void {
    for (const p of [...this.pending.keys()]) this.settle(p, 'no_response', undefined, 'shutdown', undefined, []);
    if (this.sweeper !== undefined) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
    }
    this.writeUnwritten();
  }

  /** Closed with the runner's state (after shutdown already settled everything). */
  close(): void {
    this.settleAll();
  }

  private sweepExpired(): void {
    const now = performance.now();
    for (const p of this.pending.keys()) {
      if (p.deadline > now) break; // same lease per route in practice: the rest are younger
      this.settle(p, 'no_response', undefined, 'lease_expired', undefined, []);
    }
    if (this.pending.size === 0 && this.sweeper !== undefined) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
    }
  }
}

/** mcp.client.operation.duration and the CLIENT span of the upstream call (routes with a response phase). */
function upstreamLeg(p: Pending, answeredAt: number, r: PhaseResult | undefined): void {
  const first = p.events[0];
  if (p.prepared.metrics && first !== undefined) recordClientDuration(first, Math.max(0, answeredAt - p.forwardedAt) / 1000);
  if (p.span !== undefined) recordUpstreamSpan(p.span, p.spanName, p.operation, p.forwardedAt, answeredAt, r);
}

/** This runner's audit buffers (created on first use). */
export function auditBuffersOf(state: RunnerState): AuditBuffers {
  return state.own('mcp-audit/buffers', () => new AuditBuffers());
}
