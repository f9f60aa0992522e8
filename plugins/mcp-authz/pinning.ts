// Tool pinning against tool shadowing and "rug pulls": a server that changes a tool's
// description, schemas or behaviour hints after review. Each listed tool's definition (name,
// title, description, inputSchema, outputSchema, annotations) is hashed (sha256 of canonical
// JSON; absent fields are left out) and compared with the policy's pins or, in
// trust_on_first_use mode, with the first definition seen. A mismatch blocks the tool (removed
// from lists, calls denied) or is only flagged.

import type { JsonObject, JsonValue } from '../../runner/mcp/types.js';
import { canonicalHash } from '../../runner/util/canonical.js';
import type { RunnerState } from '../../runner/host/state.js';
import { LocalSharedState, type ReplicatedMap, type SharedState } from '../../runner/cluster/shared-state.js';

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

/** First sightings (trust on first use): the shared table is the authority for every runner process. */
const FIRST_SEEN_NS = 'mcp-authz/pins-first-seen';
/** Blocked tools: replicated, so a call on any runner process is refused the moment one saw the change. */
const BLOCKED_MAP = 'mcp-authz/pin-blocks';

/**
 * First-seen hashes and currently blocked tools, keyed by server + tool. Bounded. The first
 * sighting is claimed in the runner's shared state (two processes never pin two different
 * definitions); `learn` brings it here before `check` reads it synchronously.
 */
export class PinStore {
  /** First-seen hashes this process learned (they never change once claimed). */
  private readonly seen = new Map<string, string>();
  private readonly blocked: ReplicatedMap<string>;
  constructor(public maxEntries: number, private readonly shared: SharedState = new LocalSharedState()) {
    this.blocked = shared.replicated<string>(BLOCKED_MAP);
  }

  private static key(server: string, tool: string): string {
    return `${server}\u0000${tool}`;
  }

  /**
   * Trust on first use: claim the first sighting of each listed tool not pinned by the policy
   * and not known here yet (the first listing anywhere in the runner wins). Rejects with
   * SharedStateUnavailable when the shared state cannot be asked.
   */
  async learn(pins: ReadonlyMap<string, ReadonlyMap<string, string>>, server: string, tools: ReadonlyArray<readonly [string, string]>): Promise<void> {
    const asks: Promise<void>[] = [];
    for (const [tool, hash] of tools) {
      if (pins.get(server)?.get(tool) !== undefined || pins.get('*')?.get(tool) !== undefined) continue;
      const key = PinStore.key(server, tool);
      if (this.seen.has(key)) continue;
      asks.push(
        this.shared.putIfAbsent(FIRST_SEEN_NS, key, hash, 0, this.maxEntries).then((first) => {
          // Full: the tool stays unpinned rather than evicting (and so forgetting) reviewed ones.
          if (typeof first === 'string' && this.seen.size < this.maxEntries) this.seen.set(key, first);
        }),
      );
    }
    await Promise.all(asks);
  }

  check(pins: ReadonlyMap<string, ReadonlyMap<string, string>>, mode: PinMode, server: string, tool: string, hash: string): PinCheck {
    const pinned = pins.get(server)?.get(tool) ?? pins.get('*')?.get(tool);
    if (pinned !== undefined) return pinned === hash ? { status: 'ok' } : { status: 'mismatch', expected: pinned, actual: hash, source: 'policy' };
    if (mode !== 'trust_on_first_use') return { status: 'unpinned' };
    const first = this.seen.get(PinStore.key(server, tool));
    // Not learned (the store is full): unpinned, as a first sighting that was not kept.
    if (first === undefined) return { status: 'first-seen' };
    return first === hash ? { status: 'ok' } : { status: 'mismatch', expected: first, actual: hash, source: 'first-seen' };
  }

  block(server: string, tool: string, hash: string): void {
    const key = PinStore.key(server, tool);
    if (this.blocked.get(key) === hash) return;
    if (!this.blocked.has(key) && this.blocked.size >= this.maxEntries) {
      this.blocked.delete(this.blocked.keys().next().value!);
    }
    this.blocked.set(key, hash);
  }

  unblock(server: string, tool: string): void {
    if (this.blocked.size > 0) this.blocked.delete(PinStore.key(server, tool));
  }

  isBlocked(server: string, tool: string): boolean {
    return this.blocked.size > 0 && this.blocked.has(PinStore.key(server, tool));
  }

  /** Forget everything, in every runner process (tests, operator reset after review). */
  async clear(): Promise<void> {
    this.seen.clear();
    this.blocked.clear();
    await this.shared.clear(FIRST_SEEN_NS);
  }
}

/** The runner's store (every route to the same server shares what was seen), grown to hold `minEntries`. */
export function pinStoreOf(state: RunnerState, minEntries: number): PinStore {
  const store = state.own('mcp-authz/pins', () => new PinStore(10_000, state.shared));
  if (store.maxEntries < minEntries) store.maxEntries = minEntries;
  return store;
}
