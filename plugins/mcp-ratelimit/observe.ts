// Store failures are counted (OpenTelemetry counter + an in-process tally for tests and health)
// and logged at most once per interval, so a Redis outage cannot flood the log.

import { metrics } from '@opentelemetry/api';
import { pino } from 'pino';

const meter = metrics.getMeter('mcp-ratelimit');
const storeErrorCounter = meter.createCounter('mcp_ratelimit_store_errors_total', {
  description: 'Rate limit store failures (timeouts, connection errors), by on_store_error choice',
});

/** fail_open / fail_closed: checks that failed; release: slot returns that failed (the lease expires instead). */
export const storeErrorTally = { fail_open: 0, fail_closed: 0, release: 0 };

const log = pino({ name: 'mcp-ratelimit', level: process.env['LOG_LEVEL'] ?? 'info' }, pino.destination(2));
const LOG_INTERVAL_MS = 10_000;
let lastLogAt = -Infinity;
let suppressed = 0;

export function storeFailed(choice: 'fail_open' | 'fail_closed' | 'release', err: unknown): void {
  storeErrorTally[choice]++;
  storeErrorCounter.add(1, { outcome: choice });
  const now = Date.now();
  if (now - lastLogAt < LOG_INTERVAL_MS) {
    suppressed++;
    return;
  }
  lastLogAt = now;
  log.warn(
    { err: err instanceof Error ? err.message : String(err), outcome: choice, suppressed },
    'rate limit store unavailable',
  );
  suppressed = 0;
}
