// What a counter store must do: check AND consume every dimension of one call at once,
// all-or-nothing (if one limit refuses, nothing is consumed), and give concurrency slots back.

import type { BudgetPeriod } from './budget.js';

export interface RateCheck {
  readonly key: string;
  readonly intervalMs: number;
  readonly burst: number;
  readonly cost: number;
}

export interface ConcurrencyCheck {
  readonly key: string;
  readonly max: number;
  readonly leaseMs: number;
  /** Slots this call takes (one per matching message of a batch). */
  readonly count: number;
}

export interface BudgetCheck {
  readonly key: string;
  readonly quota: number;
  readonly cost: number;
  readonly period: BudgetPeriod;
}

export interface CheckBatch {
  readonly rates: readonly RateCheck[];
  readonly concurrency: readonly ConcurrencyCheck[];
  readonly budgets: readonly BudgetCheck[];
  /** Concurrency members are `${leaseId}#n`. */
  readonly leaseId: string;
}

export type LimitKind = 'rate' | 'concurrency' | 'budget';

export interface RateState {
  readonly remaining: number;
  readonly resetMs: number;
}

export type CheckResult =
  | {
      readonly allowed: true;
      /** Per rate check, in order. */
      readonly rates: readonly RateState[];
      /** Per budget check, in order: what is left of the quota. */
      readonly budgets: readonly number[];
    }
  | {
      readonly allowed: false;
      /** The first check that refused (rates, then concurrency, then budgets). */
      readonly kind: LimitKind;
      readonly index: number;
      /** Longest wait among every refusing check (so a retry does not hit the next one), ms. */
      readonly retryAfterMs: number;
    };

export interface LimitStore {
  check(batch: CheckBatch): Promise<CheckResult>;
  /** The same check answered at once, by a store that needs no I/O (no promise per call). */
  checkSync?(batch: CheckBatch): CheckResult;
  /** Give back the slots of a call (idempotent: releasing twice is harmless). */
  release(leaseId: string, slots: ReadonlyArray<{ readonly key: string; readonly count: number }>): Promise<void>;
  close(): Promise<void>;
}

/** Retry-After for a full concurrency limit: slots usually free up within a call's duration. */
export const CONCURRENCY_RETRY_MS = 1000;
