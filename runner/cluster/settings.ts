// How many runner processes serve the socket: MCP_RUNNER_WORKERS, or a default from the cores.

import { availableParallelism } from 'node:os';

export const MAX_WORKERS = 64;

/**
 * Half the cores (APISIX's own workers need the rest of the node), at least 1, unless
 * MCP_RUNNER_WORKERS says otherwise; a bad value falls back to that default with a reason.
 */
export function workersFromEnv(value: string | undefined, cores = availableParallelism()): { workers: number; error?: string } {
  const fallback = Math.max(1, Math.min(MAX_WORKERS, Math.floor(cores / 2)));
  if (value === undefined || value.trim() === '') return { workers: fallback };
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > MAX_WORKERS) {
    return { workers: fallback, error: `MCP_RUNNER_WORKERS must be an integer from 1 to ${MAX_WORKERS}, got ${JSON.stringify(value)}: using ${fallback}` };
  }
  return { workers: n };
}
