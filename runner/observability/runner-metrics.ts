// Runner-level numbers on the Prometheus endpoint: the protocol server's counters (read at
// scrape time, no per-frame cost) and any other gauge the runner wants to expose.

import { defaultRegistry, type MetricsRegistry } from './metrics.js';

/** Names of fields that go up and down; every other field is a counter. */
const GAUGE_FIELDS = new Set(['connectionsOpen']);

function snake(name: string): string {
  return name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase();
}

/**
 * Expose every numeric field of `counters` (e.g. RunnerServer.counters) as
 * mcp_runner_<field> (counters get a _total suffix). Call once after startServer.
 */
export function exposeRunnerCounters(counters: Readonly<Record<string, number>>, registry: MetricsRegistry = defaultRegistry): void {
  for (const field of Object.keys(counters)) {
    if (typeof counters[field] !== 'number') continue;
    const gauge = GAUGE_FIELDS.has(field);
    registry.collect({
      name: `mcp_runner_${snake(field)}${gauge ? '' : '_total'}`,
      help: `Runner protocol server: ${field}`,
      type: gauge ? 'gauge' : 'counter',
      read: () => counters[field] ?? 0,
    });
  }
}

/** A gauge read at scrape time, e.g. the host's carried-call count. */
export function exposeGauge(name: string, help: string, read: () => number, registry: MetricsRegistry = defaultRegistry): void {
  registry.collect({ name, help, type: 'gauge', read });
}
