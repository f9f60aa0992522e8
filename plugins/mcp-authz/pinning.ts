// Tool pinning against tool shadowing and "rug pulls": a server that changes a tool's
// description, schemas or behaviour hints after review. Each listed tool's definition (name,
// title, description, inputSchema, outputSchema, annotations) is hashed (sha256 of canonical
// JSON; absent fields are left out) and compared with the policy's pins or, in
// trust_on_first_use mode, with the first definition seen. A mismatch blocks the tool (removed
// from lists, calls denied) or is only flagged.

import type { JsonObject, JsonValue } from '../../runner/mcp/types.js';
import { canonicalHash } from '../../runner/util/canonical.js';
import type { RunnerState } from '../../runner/host/state.js';

export type PinMode = 'off' | 'pinned' | 'trust_on_first_use';

export interface PinConf {
  mode?: PinMode;
  on_mismatch?: 'block' | 'flag';
  max_entries?: number;
}

/**
 * What a reviewer approved: annotations (readOnlyHint, destructiveHint) decide read access,
 * so a server turning a read-only tool into a destructive one must show as a change.
 */
export function toolDefinitionHash(tool: JsonObject): string {
  const def: Record<string, JsonValue | undefined> = {
    name: tool['name'],
    title: tool['title'],
    description: tool['description'],
    inputSchema: tool['inputSchema'],
    outputSchema: tool['outputSchema'],
    annotations: tool['annotations'],
  };
  return canonicalHash(def);
}

export type PinCheck =
  | { status: 'ok' | 'unpinned' | 'first-seen' }
  | { status: 'mismatch'; expected: string; actual: string; source: 'policy' | 'first-seen' };

/** First-seen hashes and currently blocked tools, keyed by server + tool. Bounded. */
export class PinStore {
  private readonly seen = new Map<string, string>();
  private readonly blocked = new Map<string, string>();
  constructor(public maxEntries: number) {}

  private static key(server: string, tool: string): string {
    return `${server}\u0000${tool}`;
  }

  check(pins: ReadonlyMap<string, ReadonlyMap<string, string>>, mode: PinMode, server: string, tool: string, hash: string): PinCheck {
    const pinned = pins.get(server)?.get(tool) ?? pins.get('*')?.get(tool);
    if (pinned !== undefined) return pinned === hash ? { status: 'ok' } : { status: 'mismatch', expected: pinned, actual: hash, source: 'policy' };
    if (mode !== 'trust_on_first_use') return { status: 'unpinned' };
    const key = PinStore.key(server, tool);
    const first = this.seen.get(key);
    if (first === undefined) {
      // When full, new tools stay unpinned rather than evicting (and so forgetting) reviewed ones.
      if (this.seen.size < this.maxEntries) this.seen.set(key, hash);
      return { status: 'first-seen' };
    }
    return first === hash ? { status: 'ok' } : { status: 'mismatch', expected: first, actual: hash, source: 'first-seen' };
  }

  block(server: string, tool: string, hash: string): void {
    const key = PinStore.key(server, tool);
    if (!this.blocked.has(key) && this.blocked.size >= this.maxEntries) {
      this.blocked.delete(this.blocked.keys().next().value!);
    }
    this.blocked.set(key, hash);
  }

  unblock(server: string, tool: string): void {
    this.blocked.delete(PinStore.key(server, tool));
  }

  isBlocked(server: string, tool: string): boolean {
    return this.blocked.size > 0 && this.blocked.has(PinStore.key(server, tool));
  }

  /** Forget everything (tests, operator reset after review). */
  clear(): void {
    this.seen.clear();
    this.blocked.clear();
  }
}

/** The runner's store (every route to the same server shares what was seen), grown to hold `minEntries`. */
export function pinStoreOf(state: RunnerState, minEntries: number): PinStore {
  const store = state.own('mcp-authz/pins', () => new PinStore(10_000));
  if (store.maxEntries < minEntries) store.maxEntries = minEntries;
  return store;
}
