// One plugin of a compiled chain and its prepare() state. A prepare that fails (a `$env` or
// `$file` secret not there yet, a policy file not yet deployed) is retried with backoff when
// calls arrive, so the route recovers once the missing piece appears instead of answering
// 500 until the runner restarts. Calls between retries fail closed at once.

import { log } from '../log.js';
import { misconfigured } from './answers.js';
import { StopError } from './context.js';
import type { Plugin, PrepareEnv } from './plugin.js';

/** First wait after a failed prepare; doubles per failure up to the cap. */
export const PREPARE_RETRY_FIRST_MS = 1_000;
export const PREPARE_RETRY_MAX_MS = 30_000;

export interface ChainEntry {
  readonly name: string;
  readonly plugin: Plugin<unknown, unknown>;
  /** The validated conf (kept to prepare again after a failure). */
  readonly conf: unknown;
  readonly env: PrepareEnv;
  prepared: unknown;
  /** Set while an async prepare() is running; never rejects (a failure sets `error`). */
  pending: Promise<unknown> | undefined;
  /** The last prepare's failure; calls fail closed until a retry succeeds. */
  error: string | undefined;
  /** Consecutive failed prepares. */
  failures: number;
  /** No retry before this time (ms since the epoch). */
  retryAt: number;
}

export function chainEntry(name: string, plugin: Plugin<unknown, unknown>, conf: unknown, env: PrepareEnv): ChainEntry {
  const entry: ChainEntry = { name, plugin, conf, env, prepared: conf, pending: undefined, error: undefined, failures: 0, retryAt: 0 };
  runPrepare(entry);
  return entry;
}

/** Prepared and usable: the per-call path then skips the await (one microtask less per plugin). */
export function isReady(entry: ChainEntry): boolean {
  return entry.pending === undefined && entry.error === undefined;
}

/** The prepared conf, waiting for a prepare in flight; retries a failed one when its wait is over. */
export async function ready(entry: ChainEntry): Promise<unknown> {
  if (entry.error !== undefined && entry.pending === undefined && Date.now() >= entry.retryAt) runPrepare(entry);
  if (entry.pending) await entry.pending;
  if (entry.error !== undefined) throw new StopError(misconfigured());
  return entry.prepared;
}

function runPrepare(entry: ChainEntry): void {
  const prepare = entry.plugin.prepare;
  if (!prepare) return;
  entry.error = undefined;
  let result: unknown;
  try {
    result = prepare.call(entry.plugin, entry.conf, entry.env);
  } catch (err) {
    failed(entry, err);
    return;
  }
  if (!isPromiseLike(result)) {
    succeeded(entry, result);
    return;
  }
  entry.pending = Promise.resolve(result).then(
    (v) => {
      entry.pending = undefined;
      succeeded(entry, v);
      return v;
    },
    (err: unknown) => {
      entry.pending = undefined;
      failed(entry, err);
      return undefined;
    },
  );
}

function succeeded(entry: ChainEntry, prepared: unknown): void {
  entry.prepared = prepared;
  if (entry.failures > 0) {
    log.info({ route: entry.env.routeKey, plugin: entry.name, failedAttempts: entry.failures }, 'plugin conf prepared after retry: route serves again');
  }
  entry.failures = 0;
  entry.retryAt = 0;
}

function failed(entry: ChainEntry, err: unknown): void {
  entry.failures++;
  const waitMs = Math.min(PREPARE_RETRY_FIRST_MS * 2 ** (entry.failures - 1), PREPARE_RETRY_MAX_MS);
  entry.retryAt = Date.now() + waitMs;
  entry.error = `${entry.name}: ${err instanceof Error ? err.message : String(err)}`;
  const fields = { route: entry.env.routeKey, plugin: entry.name, err: entry.error, attempt: entry.failures, retryInMs: waitMs };
  // The first failure is the news; later ones are paced by the backoff (at most one per 30 s).
  if (entry.failures === 1) log.error(fields, 'plugin conf rejected: calls on this route fail closed until a retry succeeds');
  else log.warn(fields, 'plugin conf still rejected');
}

export function isPromiseLike<T>(v: T | Promise<T>): v is Promise<T> {
  return typeof (v as { then?: unknown } | null | undefined)?.then === 'function';
}
