// State that must hold across every process of a runner: single-use claims (confirmation
// tokens, approvals), small expiring JSON values (approval book, session capabilities,
// trust-on-first-use pins), cluster-wide random secrets, and replicated maps read on the hot
// path (pin blocks, tool hints). One process: all of it lives here, in memory. A worker of a
// multi-process runner: the primary holds the tables and answers over IPC (shared-remote.ts),
// so the first claimant wins across the whole cluster; replicated maps are copied to every
// worker and read locally. Plugins reach it through RunnerState.shared.

import { randomBytes } from 'node:crypto';
import type { JsonValue } from '../mcp/types.js';

/** The cluster's shared state could not be reached: callers refuse what depends on it. */
export class SharedStateUnavailable extends Error {
  override readonly name = 'SharedStateUnavailable';
}

export type ClaimResult = 'ok' | 'taken' | 'full';

export interface SharedState {
  /** How many runner processes share this state (1: a single process). */
  readonly processes: number;
  /**
   * Claim `key` once until `expiresAtMs`: 'ok' for the first claimant in the whole runner,
   * 'taken' afterwards, 'full' when `maxEntries` live claims leave no room (refuse, never forget).
   */
  claimOnce(ns: string, key: string, expiresAtMs: number, maxEntries: number): Promise<ClaimResult>;
  /** Store a value (0 = no expiry). False when full; `evictOldest` makes room instead. */
  put(ns: string, key: string, value: JsonValue, expiresAtMs: number, maxEntries: number, evictOldest?: boolean): Promise<boolean>;
  /** The stored value of `key`: the existing one, else `value` (now stored); undefined when full. */
  putIfAbsent(ns: string, key: string, value: JsonValue, expiresAtMs: number, maxEntries: number): Promise<JsonValue | undefined>;
  get(ns: string, key: string): Promise<JsonValue | undefined>;
  /** Read and remove. */
  take(ns: string, key: string): Promise<JsonValue | undefined>;
  /** Forget every entry of a namespace (an operator's reset, tests). */
  clear(ns: string): Promise<void>;
  /** 32 random bytes generated once for the whole runner (every worker gets the same). */
  secret(name: string): Promise<Buffer>;
  /** A map every process holds a copy of: reads are local and synchronous, writes reach the others within milliseconds. */
  replicated<V extends JsonValue>(name: string): ReplicatedMap<V>;
}

/** One operation on the tables, as it crosses IPC. */
export type SharedOp =
  | { op: 'claim'; ns: string; key: string; exp: number; max: number }
  | { op: 'put'; ns: string; key: string; value: JsonValue; exp: number; max: number; evict: boolean }
  | { op: 'putIfAbsent'; ns: string; key: string; value: JsonValue; exp: number; max: number }
  | { op: 'get' | 'take'; ns: string; key: string }
  | { op: 'clear'; ns: string }
  | { op: 'secret'; name: string };

/** What an operation answers (null: nothing stored, or no room). */
export type SharedResult = JsonValue;

interface Entry {
  value: JsonValue;
  /** Epoch ms; 0 = never. */
  exp: number;
}

class Table {
  readonly entries = new Map<string, Entry>();
  max = 0;

  live(key: string, now: number): Entry | undefined {
    const e = this.entries.get(key);
    if (e !== undefined && e.exp !== 0 && e.exp <= now) {
      this.entries.delete(key);
      return undefined;
    }
    return e;
  }

  /** Room for one more entry: expired ones swept first, then the oldest evicted if asked. */
  room(now: number, evict: boolean): boolean {
    if (this.entries.size < this.max) return true;
    for (const [k, e] of this.entries) if (e.exp !== 0 && e.exp <= now) this.entries.delete(k);
    if (this.entries.size < this.max) return true;
    if (!evict) return false;
    const oldest = this.entries.keys().next();
    if (!oldest.done) this.entries.delete(oldest.value);
    return true;
  }
}

/** The tables themselves: in a single process, or in the primary for its workers. */
export class SharedTables {
  private readonly tables = new Map<string, Table>();
  private readonly secrets = new Map<string, Buffer>();

  constructor(private readonly now: () => number = Date.now) {}

  private table(ns: string, max: number): Table {
    let t = this.tables.get(ns);
    if (t === undefined) {
      t = new Table();
      this.tables.set(ns, t);
    }
    if (t.max < max) t.max = max;
    return t;
  }

  secret(name: string): Buffer {
    let s = this.secrets.get(name);
    if (s === undefined) {
      s = randomBytes(32);
      this.secrets.set(name, s);
    }
    return s;
  }

  apply(op: SharedOp): SharedResult {
    const now = this.now();
    switch (op.op) {
      case 'claim': {
        const t = this.table(op.ns, op.max);
        if (t.live(op.key, now) !== undefined) return 'taken';
        if (!t.room(now, false)) return 'full';
        t.entries.set(op.key, { value: true, exp: op.exp });
        return 'ok';
      }
      case 'put': {
        const t = this.table(op.ns, op.max);
        if (t.live(op.key, now) === undefined && !t.room(now, op.evict)) return false;
        t.entries.delete(op.key); // re-inserted: newest last for eviction
        t.entries.set(op.key, { value: op.value, exp: op.exp });
        return true;
      }
      case 'putIfAbsent': {
        const t = this.table(op.ns, op.max);
        const known = t.live(op.key, now);
        if (known !== undefined) return known.value;
        if (!t.room(now, false)) return null;
        t.entries.set(op.key, { value: op.value, exp: op.exp });
        return op.value;
      }
      case 'get':
        return this.tables.get(op.ns)?.live(op.key, now)?.value ?? null;
      case 'take': {
        const t = this.tables.get(op.ns);
        const e = t?.live(op.key, now);
        if (e === undefined) return null;
        t!.entries.delete(op.key);
        return e.value;
      }
      case 'clear':
        this.tables.get(op.ns)?.entries.clear();
        return true;
      case 'secret':
        return this.secret(op.name).toString('base64url');
    }
  }

  /** Live entries of a namespace (tests, metrics). */
  size(ns: string): number {
    return this.tables.get(ns)?.entries.size ?? 0;
  }
}

/** Entries a replicated map takes from other processes (each store bounds its own writes). */
const REPLICATED_MAX = 100_000;

/**
 * A map copied into every process. Reads never leave the process; set/delete apply here at once
 * and are published (the primary keeps the master copy and hands it to workers that start later).
 */
export class ReplicatedMap<V extends JsonValue> {
  private readonly map = new Map<string, V>();

  constructor(readonly name: string, private readonly publish: (key: string, value: V | undefined) => void = () => undefined) {}

  get size(): number {
    return this.map.size;
  }
  get(key: string): V | undefined {
    return this.map.get(key);
  }
  has(key: string): boolean {
    return this.map.has(key);
  }
  keys(): IterableIterator<string> {
    return this.map.keys();
  }
  set(key: string, value: V): void {
    this.map.set(key, value);
    this.publish(key, value);
  }
  delete(key: string): void {
    if (this.map.delete(key)) this.publish(key, undefined);
  }
  clear(): void {
    for (const key of [...this.map.keys()]) this.delete(key);
  }
  /** A change made by another process (not published again). Bounded like the primary's copy. */
  applyRemote(key: string, value: V | undefined): void {
    this.map.delete(key);
    if (value === undefined) return;
    if (this.map.size >= REPLICATED_MAX) this.map.delete(this.map.keys().next().value!);
    this.map.set(key, value);
  }
}

/** Registry of a process's replicated maps by name. */
export class ReplicatedMaps {
  private readonly maps = new Map<string, ReplicatedMap<JsonValue>>();
  constructor(private readonly publish: (name: string, key: string, value: JsonValue | undefined) => void = () => undefined) {}

  of<V extends JsonValue>(name: string): ReplicatedMap<V> {
    let m = this.maps.get(name);
    if (m === undefined) {
      m = new ReplicatedMap<JsonValue>(name, (key, value) => this.publish(name, key, value));
      this.maps.set(name, m);
    }
    return m as unknown as ReplicatedMap<V>;
  }
}

/** The one-process implementation: the tables in memory, answered at once. */
export class LocalSharedState implements SharedState {
  readonly processes: number = 1;
  readonly tables: SharedTables;
  private readonly maps = new ReplicatedMaps();

  constructor(now: () => number = Date.now) {
    this.tables = new SharedTables(now);
  }

  claimOnce(ns: string, key: string, exp: number, max: number): Promise<ClaimResult> {
    return Promise.resolve(this.tables.apply({ op: 'claim', ns, key, exp, max }) as ClaimResult);
  }
  put(ns: string, key: string, value: JsonValue, exp: number, max: number, evict = false): Promise<boolean> {
    return Promise.resolve(this.tables.apply({ op: 'put', ns, key, value, exp, max, evict }) === true);
  }
  putIfAbsent(ns: string, key: string, value: JsonValue, exp: number, max: number): Promise<JsonValue | undefined> {
    return Promise.resolve(this.tables.apply({ op: 'putIfAbsent', ns, key, value, exp, max }) ?? undefined);
  }
  get(ns: string, key: string): Promise<JsonValue | undefined> {
    return Promise.resolve(this.tables.apply({ op: 'get', ns, key }) ?? undefined);
  }
  take(ns: string, key: string): Promise<JsonValue | undefined> {
    return Promise.resolve(this.tables.apply({ op: 'take', ns, key }) ?? undefined);
  }
  clear(ns: string): Promise<void> {
    this.tables.apply({ op: 'clear', ns });
    return Promise.resolve();
  }
  secret(name: string): Promise<Buffer> {
    return Promise.resolve(this.tables.secret(name));
  }
  replicated<V extends JsonValue>(name: string): ReplicatedMap<V> {
    return this.maps.of<V>(name);
  }
}

/** The primary's copy of every replicated map, for workers that start later. Bounded per map. */
export class ReplicatedMaster {
  private readonly maps = new Map<string, Map<string, JsonValue>>();
  constructor(private readonly maxPerMap = REPLICATED_MAX) {}

  apply(name: string, key: string, value: JsonValue | undefined): void {
    let m = this.maps.get(name);
    if (m === undefined) {
      m = new Map();
      this.maps.set(name, m);
    }
    m.delete(key);
    if (value === undefined) return;
    if (m.size >= this.maxPerMap) m.delete(m.keys().next().value!);
    m.set(key, value);
  }

  snapshot(): Array<[string, Array<[string, JsonValue]>]> {
    return [...this.maps].map(([name, m]) => [name, [...m]]);
  }
}
