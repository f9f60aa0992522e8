// Where audit events go. Every sink holds a bounded in-memory queue of serialised lines in
// front of the slow part (disk or collector): a full queue drops (and counts) instead of
// growing, and shutdown() flushes within a deadline that fits the runner's drain.

import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import pino from 'pino';
import { defaultRegistry } from '../../runner/observability/metrics.js';
import type { ResolvedSinkConf } from './conf.js';

const eventsWritten = defaultRegistry.counter({
  name: 'mcp_audit_events_total',
  help: 'Audit events accepted by a sink',
  labelNames: ['sink'],
  maxSeries: 64,
});
const eventsDropped = defaultRegistry.counter({
  name: 'mcp_audit_events_dropped_total',
  help: 'Audit events lost: sink queue full, sink broken, or unsent at shutdown',
  labelNames: ['sink'],
  maxSeries: 64,
});
const sinkFailures = defaultRegistry.counter({
  name: 'mcp_audit_sink_failures_total',
  help: 'Failed writes or deliveries of a sink (events are kept and retried where possible)',
  labelNames: ['sink'],
  maxSeries: 64,
});

export interface SinkStats {
  accepted: number;
  dropped: number;
  failures: number;
  queued: number;
}

export interface AuditSink {
  /** Label for metrics: the sink type. */
  readonly kind: string;
  /** Queue one serialised event (one JSON line without newline). False: it was dropped. */
  offer(line: string): boolean;
  /** Room in the queue and not broken: what fail_closed checks before letting a call in. */
  canAccept(): boolean;
  stats(): SinkStats;
  /** Write everything queued and release resources, within deadlineMs. */
  close(deadlineMs: number): Promise<void>;
}

type Destination = ReturnType<typeof pino.destination>;

/**
 * JSON lines through a pino destination (SonicBoom, sync: false): writes are asynchronous,
 * our queue holds lines while the destination is above its high-water mark.
 */
export class StreamSink implements AuditSink {
  readonly kind: string;
  private readonly dest: Destination;
  private readonly maxQueued: number;
  private queue: string[] = [];
  private head = 0;
  private blocked = false;
  private broken = false;
  private closed = false;
  /** A write of everything queued is scheduled for the end of this event-loop turn. */
  private scheduled = false;
  /** Accepted but not yet counted in the metric (counted once per batch). */
  private uncounted = 0;
  private accepted = 0;
  private dropped = 0;
  private failures = 0;

  constructor(target: { path: string } | { fd: 1 }, maxQueued: number) {
    this.kind = 'fd' in target ? 'stdout' : 'file';
    this.maxQueued = maxQueued;
    if ('path' in target) {
      this.dest = pino.destination({ dest: target.path, sync: false, mkdir: true, append: true, minLength: 0 });
    } else {
      this.dest = pino.destination({ dest: 1, sync: false, minLength: 0 });
    }
    this.dest.on('drain', () => {
      this.blocked = false;
      this.pump();
    });
    this.dest.on('error', () => {
      // Opening or writing failed for good (EAGAIN is retried inside SonicBoom).
      this.failures++;
      sinkFailures.inc({ sink: this.kind });
      this.broken = true;
    });
  }

  offer(line: string): boolean {
    if (this.closed || this.broken || this.queued() >= this.maxQueued) {
      this.drop(1);
      return false;
    }
    this.accepted++;
    this.uncounted++;
    // Lines go out in batches, every FLUSH_MS or every LINES_PER_WRITE lines: one write (a
    // thread-pool hop and a syscall) per batch instead of per event. shutdown writes the rest.
    this.queue.push(line);
    if (!this.blocked && this.queued() >= StreamSink.LINES_PER_WRITE) this.flushTurn();
    else if (!this.scheduled) {
      this.scheduled = true;
      setTimeout(this.flushTurn, StreamSink.FLUSH_MS);
    }
    return true;
  }

  /** Longest time an accepted event waits in memory before it is handed to the file. */
  private static readonly FLUSH_MS = 10;

  private readonly flushTurn = (): void => {
    this.scheduled = false;
    if (this.uncounted > 0) {
      eventsWritten.inc({ sink: this.kind }, this.uncounted);
      this.uncounted = 0;
    }
    if (!this.closed) this.pump();
  };

  canAccept(): boolean {
    return !this.closed && !this.broken && this.queued() < this.maxQueued;
  }

  stats(): SinkStats {
    return { accepted: this.accepted, dropped: this.dropped, failures: this.failures, queued: this.queued() };
  }

  private queued(): number {
    return this.queue.length - this.head;
  }

  private write(text: string): void {
    try {
      if (!this.dest.write(text)) this.blocked = true;
    } catch {
      this.failures++;
      sinkFailures.inc({ sink: this.kind });
      this.broken = true;
    }
  }

  /** Joins up to this many queued lines per write. */
  private static readonly LINES_PER_WRITE = 512;

  private pump(): void {
    while (!this.blocked && !this.broken && this.head < this.queue.length) {
      const end = Math.min(this.queue.length, this.head + StreamSink.LINES_PER_WRITE);
      let text = '';
      for (let i = this.head; i < end; i++) text += (this.queue[i] as string) + '\n';
      this.head = end;
      this.write(text);
    }
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else if (this.head > 1024) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
  }

  private drop(n: number): void {
    this.dropped += n;
    eventsDropped.inc({ sink: this.kind }, n);
  }

  async close(deadlineMs: number): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Hand everything to the destination regardless of its high-water mark, then end it:
    // SonicBoom finishes pending writes before it emits 'close'.
    if (!this.broken) {
      this.blocked = false;
      while (this.head < this.queue.length && !this.broken) {
        const line = this.queue[this.head] as string;
        this.head++;
        try {
          this.dest.write(line + '\n');
        } catch {
          this.broken = true;
        }
      }
    }
    if (this.uncounted > 0) {
      eventsWritten.inc({ sink: this.kind }, this.uncounted);
      this.uncounted = 0;
    }
    const unsent = this.queued();
    if (unsent > 0) this.drop(unsent);
    this.queue = [];
    this.head = 0;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, Math.max(1, deadlineMs));
      const done = (): void => {
        clearTimeout(timer);
        resolve();
      };
      this.dest.once('close', done);
      this.dest.once('error', done);
      try {
        this.dest.end();
      } catch {
        done();
      }
    });
  }
}

/** Batches to a collector: JSON lines (application/x-ndjson) or OTLP/HTTP logs JSON. */
export class HttpSink implements AuditSink {
  readonly kind = 'http';
  private readonly conf: ResolvedSinkConf;
  private queue: string[] = [];
  private inflight: Promise<unknown> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private consecutiveFailures = 0;
  private nextAttemptAt = 0;
  private accepted = 0;
  private dropped = 0;
  private failures = 0;

  constructor(conf: ResolvedSinkConf) {
    this.conf = conf;
    this.timer = setInterval(() => this.kick(), conf.flushIntervalMs);
    this.timer.unref();
  }

  offer(line: string): boolean {
    if (this.closed || this.queue.length >= this.conf.maxBufferedEvents) {
      this.drop(1);
      return false;
    }
    this.accepted++;
    eventsWritten.inc({ sink: this.kind });
    this.queue.push(line);
    if (this.queue.length >= this.conf.batchMaxEvents) this.kick();
    return true;
  }

  canAccept(): boolean {
    return !this.closed && this.queue.length < this.conf.maxBufferedEvents;
  }

  stats(): SinkStats {
    return { accepted: this.accepted, dropped: this.dropped, failures: this.failures, queued: this.queue.length };
  }

  private drop(n: number): void {
    this.dropped += n;
    eventsDropped.inc({ sink: this.kind }, n);
  }

  private kick(): void {
    if (this.inflight !== undefined || this.queue.length === 0 || Date.now() < this.nextAttemptAt) return;
    this.inflight = this.sendBatch(this.conf.timeoutMs).finally(() => {
      this.inflight = undefined;
      // more than one batch waiting: keep going without waiting for the timer
      if (!this.closed && this.consecutiveFailures === 0 && this.queue.length >= this.conf.batchMaxEvents) this.kick();
    });
  }

  /** Send the oldest batch; on success remove it from the queue, on failure keep it. */
  private async sendBatch(timeoutMs: number): Promise<boolean> {
    const batch = this.queue.slice(0, this.conf.batchMaxEvents);
    const isOtlp = this.conf.format === 'otlp_json';
    const body = isOtlp ? otlpLogsBody(batch) : batch.join('\n') + '\n';
    try {
      const res = await fetch(this.conf.url, {
        method: 'POST',
        headers: { ...this.conf.headers, 'content-type': isOtlp ? 'application/json' : 'application/x-ndjson' },
        body,
        signal: AbortSignal.timeout(Math.max(1, timeoutMs)),
      });
      await res.arrayBuffer().catch(() => undefined);
      if (res.status < 200 || res.status >= 300) throw new Error(`collector answered ${res.status}`);
      this.queue.splice(0, batch.length);
      this.consecutiveFailures = 0;
      this.nextAttemptAt = 0;
      return true;
    } catch {
      this.failures++;
      sinkFailures.inc({ sink: this.kind });
      this.consecutiveFailures++;
      const backoff = Math.min(30_000, this.conf.flushIntervalMs * 2 ** Math.min(this.consecutiveFailures, 10));
      this.nextAttemptAt = Date.now() + backoff;
      return false;
    }
  }

  async close(deadlineMs: number): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    const end = Date.now() + deadlineMs;
    if (this.inflight !== undefined) {
      await Promise.race([this.inflight, sleep(Math.max(0, end - Date.now()))]);
    }
    while (this.queue.length > 0 && this.inflight === undefined) {
      const left = end - Date.now();
      if (left <= 5) break;
      if (!(await this.sendBatch(left))) break;
    }
    if (this.queue.length > 0 && this.conf.fallbackPath !== undefined) {
      // Shutdown only: a synchronous append so nothing is left in memory when we exit.
      try {
        mkdirSync(dirname(this.conf.fallbackPath), { recursive: true });
        appendFileSync(this.conf.fallbackPath, this.queue.join('\n') + '\n');
        this.queue = [];
      } catch {
        this.failures++;
      }
    }
    if (this.queue.length > 0) this.drop(this.queue.length);
    this.queue = [];
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** OTLP/HTTP JSON logs: one log record per event, the event JSON as the string body. */
function otlpLogsBody(lines: readonly string[]): string {
  const now = `${Date.now()}000000`;
  const records = lines.map((line) => ({
    timeUnixNano: now,
    severityNumber: 9,
    severityText: 'INFO',
    eventName: 'mcp.audit',
    body: { stringValue: line },
    attributes: [{ key: 'event.name', value: { stringValue: 'mcp.audit' } }],
  }));
  return JSON.stringify({
    resourceLogs: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: 'apisix-mcp-gateway' } }] },
        scopeLogs: [{ scope: { name: 'apisix-mcp-gateway.audit' }, logRecords: records }],
      },
    ],
  });
}

/** One sink per distinct sink conf, shared by every route that names it. */
const sinks = new Map<string, AuditSink>();
const MAX_SINKS = 32;

export function sinkFor(conf: ResolvedSinkConf): AuditSink {
  const key = JSON.stringify(conf);
  const existing = sinks.get(key);
  if (existing !== undefined) return existing;
  if (sinks.size >= MAX_SINKS) throw new Error(`more than ${MAX_SINKS} distinct audit sink confs; share sinks between routes`);
  let sink: AuditSink;
  if (conf.type === 'http') sink = new HttpSink(conf);
  else if (conf.type === 'stdout') sink = new StreamSink({ fd: 1 }, conf.maxBufferedEvents);
  else sink = new StreamSink({ path: conf.path }, conf.maxBufferedEvents);
  sinks.set(key, sink);
  return sink;
}

/** Flush and close every sink (plugin shutdown). */
export async function closeAllSinks(deadlineMs: number): Promise<void> {
  const all = [...sinks.values()];
  sinks.clear();
  await Promise.all(all.map((s) => s.close(deadlineMs)));
}
