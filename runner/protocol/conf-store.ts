// Conf tokens (docs/ext-plugin-protocol.md §4.1): PrepareConf stores a built chain under a fresh token; calls look
// the chain up by token. Tokens carry a random per-process generation in the high 12 bits so
// a token issued by a previous runner process is (almost certainly) unknown here and gets
// CONF_TOKEN_NOT_FOUND instead of silently running another route's policy (docs/ext-plugin-protocol.md §4.1.4).

import { randomInt } from 'node:crypto';
import type { TextEntry } from './messages.js';

const COUNTER_BITS = 20;
const COUNTER_MASK = (1 << COUNTER_BITS) - 1;
const GENERATION_MASK = 0xfff;

export const DEFAULT_CONF_EXPIRE_SECONDS = 3600;
/** Tokens live at least this many times APISIX_CONF_EXPIRE_TIME, refreshed on every use (docs/ext-plugin-protocol.md §4.1.3). */
export const TTL_FACTOR = 1.2;
export const DEFAULT_MAX_ENTRIES = 50_000;

export interface ConfStoreOptions {
  /** APISIX_CONF_EXPIRE_TIME in seconds (default 3600). */
  confExpireSeconds?: number;
  /** Overrides the sliding TTL computed from confExpireSeconds (tests). */
  ttlMs?: number;
  /** Cap on live tokens; beyond it the least recently used token is evicted. */
  maxEntries?: number;
  /** 12-bit generation; random by default. */
  generation?: number;
  /** First counter value (random by default; tests use it to exercise wrap-around). */
  counterStart?: number;
  /** Interval of the expiry sweep (default: ttl / 4, at most 60 s). The timer is unref'd. */
  sweepIntervalMs?: number;
  /** Clock in ms (tests). */
  now?: () => number;
  /**
   * Called when a used token's expiry is pushed back (at most once per ttl/8 per token): a
   * worker of a multi-process runner tells the primary, whose registry must outlive it.
   */
  onRefresh?: (token: number) => void;
}

interface Entry<C> {
  readonly token: number;
  readonly key: string;
  readonly conf: readonly TextEntry[];
  readonly chain: C;
  expiresAt: number;
  /** When the entry was last moved to the recent end of the LRU order. */
  touchedAt: number;
}

function sameConf(a: readonly TextEntry[], b: readonly TextEntry[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x.name !== y.name || x.value !== y.value) return false;
  }
  return true;
}

/** Parses APISIX_CONF_EXPIRE_TIME; unset or empty means 3600 (development mode, docs/ext-plugin-protocol.md §2.2). */
export function confExpireSecondsFromEnv(value: string | undefined): number {
  if (value === undefined || value.trim() === '') return DEFAULT_CONF_EXPIRE_SECONDS;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) {
    throw new Error(`APISIX_CONF_EXPIRE_TIME must be a positive number of seconds, got ${JSON.stringify(value)}`);
  }
  return n;
}

export class ConfStore<C> {
  readonly generation: number;
  readonly ttlMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;
  /** Iteration order = LRU order (oldest first); refreshed lazily, see get(). */
  private readonly byToken = new Map<number, Entry<C>>();
  private readonly byKey = new Map<string, number>();
  private counter: number;
  private readonly sweepTimer: NodeJS.Timeout;
  private readonly onRefresh: ((token: number) => void) | undefined;

  constructor(opts: ConfStoreOptions = {}) {
    const expire = opts.confExpireSeconds ?? DEFAULT_CONF_EXPIRE_SECONDS;
    this.ttlMs = opts.ttlMs ?? Math.ceil(expire * 1000 * TTL_FACTOR);
    if (!(this.ttlMs > 0)) throw new RangeError('conf token TTL must be positive');
    // Leave free counter values so a fresh token always exists.
    this.maxEntries = Math.max(1, Math.min(opts.maxEntries ?? DEFAULT_MAX_ENTRIES, COUNTER_MASK >> 1));
    this.generation = (opts.generation ?? randomInt(0, GENERATION_MASK + 1)) & GENERATION_MASK;
    // A random start makes equal generations across two processes still unlikely to collide.
    this.counter = (opts.counterStart ?? randomInt(1, COUNTER_MASK + 1)) & COUNTER_MASK;
    this.now = opts.now ?? Date.now;
    this.onRefresh = opts.onRefresh;
    const sweepMs = opts.sweepIntervalMs ?? Math.min(60_000, Math.max(1000, Math.floor(this.ttlMs / 4)));
    this.sweepTimer = setInterval(() => this.sweep(), sweepMs);
    this.sweepTimer.unref();
  }

  get size(): number {
    return this.byToken.size;
  }

  /**
   * Token for a PrepareConf. Same key (and same conf) with a live token → that token,
   * refreshed; otherwise `build()` runs and a new token is issued (docs/ext-plugin-protocol.md §4.1.5).
   */
  prepare(key: string, conf: readonly TextEntry[], build: () => C): number {
    const now = this.now();
    const known = this.byKey.get(key);
    if (known !== undefined) {
      // Re-check the token itself: the key must never hand out a token that is gone.
      const entry = this.byToken.get(known);
      if (entry !== undefined && entry.expiresAt > now && sameConf(entry.conf, conf)) {
        this.touch(entry, now);
        return known;
      }
      if (entry !== undefined) this.remove(entry);
      else this.byKey.delete(key);
    }
    const chain = build();
    if (this.byToken.size >= this.maxEntries) this.sweep();
    while (this.byToken.size >= this.maxEntries) {
      const oldest = this.byToken.values().next().value;
      if (oldest === undefined) break;
      this.remove(oldest);
    }
    const token = this.nextToken();
    this.byToken.set(token, { token, key, conf, chain, expiresAt: now + this.ttlMs, touchedAt: now });
    this.byKey.set(key, token);
    return token;
  }

  /**
   * Stores a chain under a token another process allocated (a multi-process runner's primary
   * owns the numbering); an entry already held under that token with the same conf is reused.
   */
  adopt(token: number, key: string, conf: readonly TextEntry[], build: () => C): C {
    const now = this.now();
    const held = this.byToken.get(token);
    if (held !== undefined && held.key === key && sameConf(held.conf, conf)) {
      this.touch(held, now);
      return held.chain;
    }
    if (held !== undefined) this.remove(held);
    const stale = this.byKey.get(key);
    if (stale !== undefined && stale !== token) {
      const entry = this.byToken.get(stale);
      if (entry !== undefined) this.remove(entry);
    }
    const chain = build();
    while (this.byToken.size >= this.maxEntries) {
      const oldest = this.byToken.values().next().value;
      if (oldest === undefined) break;
      this.remove(oldest);
    }
    this.byToken.set(token, { token, key, conf, chain, expiresAt: now + this.ttlMs, touchedAt: now });
    this.byKey.set(key, token);
    return chain;
  }

  /** The key and conf behind a live token (refreshing it), for processes that must build its chain. */
  describe(token: number): { key: string; conf: readonly TextEntry[] } | undefined {
    const entry = this.live(token);
    return entry === undefined ? undefined : { key: entry.key, conf: entry.conf };
  }

  /** Pushes a live token's expiry back (a worker used it); false when it is gone. */
  refresh(token: number): boolean {
    return this.describe(token) !== undefined;
  }

  /** Chain for a token, refreshing its expiry; undefined when unknown or expired. */
  get(token: number): C | undefined {
    return this.live(token)?.chain;
  }

  /** The token's entry if it has not expired (an expired one is dropped), its expiry pushed back. */
  private live(token: number): Entry<C> | undefined {
    const entry = this.byToken.get(token);
    if (entry === undefined) return undefined;
    const now = this.now();
    if (entry.expiresAt <= now) {
      this.remove(entry);
      return undefined;
    }
    this.touch(entry, now);
    return entry;
  }

  /** Drops expired entries; returns how many. */
  sweep(): number {
    const now = this.now();
    let removed = 0;
    for (const entry of this.byToken.values()) {
      if (entry.expiresAt <= now) {
        this.remove(entry);
        removed++;
      }
    }
    return removed;
  }

  /** Stops the sweep timer and forgets every token. */
  close(): void {
    clearInterval(this.sweepTimer);
    this.byToken.clear();
    this.byKey.clear();
  }

  private touch(entry: Entry<C>, now: number): void {
    entry.expiresAt = now + this.ttlMs;
    // Re-inserting keeps Map order ≈ LRU; doing it at most once per ttl/8 keeps get() cheap.
    if (now - entry.touchedAt > this.ttlMs / 8) {
      entry.touchedAt = now;
      this.byToken.delete(entry.token);
      this.byToken.set(entry.token, entry);
      this.onRefresh?.(entry.token);
    }
  }

  private remove(entry: Entry<C>): void {
    this.byToken.delete(entry.token);
    if (this.byKey.get(entry.key) === entry.token) this.byKey.delete(entry.key);
  }

  private nextToken(): number {
    for (;;) {
      this.counter = (this.counter + 1) & COUNTER_MASK;
      const token = ((this.generation << COUNTER_BITS) | this.counter) >>> 0;
      if (token !== 0 && !this.byToken.has(token)) return token;
    }
  }
}
