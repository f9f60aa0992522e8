// What the client gets. Refusals: HTTP 429 with a JSON-RPC error (the host fills in the
// request's id), Retry-After, and the IETF draft headers (draft-ietf-httpapi-ratelimit-headers):
//   RateLimit-Policy: "<name>";q=<quota>;w=<window seconds>
//   RateLimit: "<name>";r=<remaining>;t=<seconds until more is allowed>
// We emit only this structured-field form (not the older RateLimit-Limit/-Remaining/-Reset trio).
// Open breakers answer 503 with JsonRpcErrorCode.CircuitOpen; an unavailable store with
// fail_closed answers 503 with GatewayUnavailable.

import type { StopOutcome } from '../../runner/host/plugin.js';
import { JsonRpcErrorCode } from '../../runner/mcp/types.js';
import type { CompiledBudget, CompiledConcurrency, CompiledRate } from './limits.js';

export const PLUGIN_NAME = 'mcp-ratelimit';

export function retryAfterSeconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}

function policyWindowSeconds(l: CompiledRate | CompiledConcurrency | CompiledBudget): number | undefined {
  if (l.kind === 'rate') return l.windowSeconds;
  if (l.kind === 'budget') return l.period === 'day' ? 86400 : 2592000;
  return undefined;
}

function quotaOf(l: CompiledRate | CompiledConcurrency | CompiledBudget): number {
  return l.kind === 'rate' ? l.requests : l.kind === 'budget' ? l.quota : l.max;
}

export function rateLimitPolicyHeader(l: CompiledRate | CompiledConcurrency | CompiledBudget): string {
  const w = policyWindowSeconds(l);
  return `"${l.name}";q=${quotaOf(l)}${w === undefined ? '' : `;w=${w}`}`;
}

export function rateLimitHeader(name: string, remaining: number, resetSeconds: number): string {
  return `"${name}";r=${Math.max(0, Math.floor(remaining))};t=${Math.max(0, Math.ceil(resetSeconds))}`;
}

const MESSAGES = {
  rate: 'Rate limit exceeded',
  concurrency: 'Too many concurrent calls',
  budget: 'Budget exhausted',
} as const;

export function limitRefusal(l: CompiledRate | CompiledConcurrency | CompiledBudget, retryAfterMs: number): StopOutcome {
  const retry = retryAfterSeconds(retryAfterMs);
  return {
    action: 'stop',
    status: 429,
    headers: {
      'Retry-After': String(retry),
      'RateLimit-Policy': rateLimitPolicyHeader(l),
      RateLimit: rateLimitHeader(l.name, 0, retry),
    },
    rpcError: {
      code: JsonRpcErrorCode.RateLimited,
      message: `${MESSAGES[l.kind]}: ${l.name}`,
      data: { limit: l.name, kind: l.kind, retryAfterSeconds: retry },
    },
  };
}

export function circuitOpen(breaker: string, target: string, retryAfterMs: number): StopOutcome {
  const retry = retryAfterSeconds(retryAfterMs);
  return {
    action: 'stop',
    status: 503,
    headers: { 'Retry-After': String(retry) },
    rpcError: {
      code: JsonRpcErrorCode.CircuitOpen,
      message: `Upstream temporarily unavailable (circuit open): ${target}`,
      data: { breaker, retryAfterSeconds: retry },
    },
  };
}

export function storeUnavailable(): StopOutcome {
  return {
    action: 'stop',
    status: 503,
    headers: { 'Retry-After': '1' },
    rpcError: { code: JsonRpcErrorCode.GatewayUnavailable, message: 'Rate limit store unavailable' },
  };
}
