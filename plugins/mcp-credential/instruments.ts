// Counters of this plugin on the runner's Prometheus endpoint. Labels are fixed words from
// this plugin (grant, outcome, reason), never values from a call, so cardinality stays small.

import { defaultRegistry } from '../../runner/observability/metrics.js';

const tokenRequests = defaultRegistry.counter({
  name: 'mcp_gateway_credential_token_requests_total',
  help: 'Requests mcp-credential made to a token endpoint, by grant and outcome (issued, refused, unavailable)',
  labelNames: ['grant', 'outcome'],
  maxSeries: 32,
});
const tokenCache = defaultRegistry.counter({
  name: 'mcp_gateway_credential_token_cache_total',
  help: 'Backend token lookups, by grant and result: hit (cached), shared (joined a request in flight), miss (requested)',
  labelNames: ['grant', 'result'],
  maxSeries: 32,
});
const failures = defaultRegistry.counter({
  name: 'mcp_gateway_credential_failures_total',
  help: 'Calls mcp-credential refused, by credential kind and reason',
  labelNames: ['kind', 'reason'],
  maxSeries: 128,
});

export type Grant = 'token_exchange' | 'client_credentials';

export function countTokenRequest(grant: Grant, outcome: 'issued' | 'refused' | 'unavailable'): void {
  tokenRequests.inc({ grant, outcome });
}

export function countTokenLookup(grant: Grant, result: 'hit' | 'miss' | 'shared'): void {
  tokenCache.inc({ grant, result });
}

export function countFailure(kind: string, reason: string): void {
  failures.inc({ kind, reason });
}
