// The shared state of a worker: every claim, value and secret is asked of the primary (one IPC
// round trip, time-bound: no answer means SharedStateUnavailable, and the caller refuses);
// replicated maps are held here and kept in step by the primary's relays.

import type { JsonValue } from '../mcp/types.js';
import { ReplicatedMaps, type ClaimResult, type ReplicatedMap, type SharedOp, type SharedResult, type SharedState } from './shared-state.js';

export class RemoteSharedState implements SharedState {
  private readonly maps: ReplicatedMaps;
  /** Secrets never change once the primary made them: asked once per name. */
  private readonly secrets = new Map<string, Promise<Buffer>>();

  constructor(
    private readonly ask: (op: SharedOp) => Promise<SharedResult>,
    publish: (name: string, key: string, value: JsonValue | undefined) => void,
    readonly processes: number,
  ) {
    this.maps = new ReplicatedMaps(publish);
  }

  async claimOnce(ns: string, key: string, exp: number, max: number): Promise<ClaimResult> {
    const r = await this.ask({ op: 'claim', ns, key, exp, max });
    return r === 'ok' || r === 'taken' ? r : 'full';
  }
  async put(ns: string, key: string, value: JsonValue, exp: number, max: number, evict = false): Promise<boolean> {
    return (await this.ask({ op: 'put', ns, key, value, exp, max, evict })) === true;
  }
  async putIfAbsent(ns: string, key: string, value: JsonValue, exp: number, max: number): Promise<JsonValue | undefined> {
    return (await this.ask({ op: 'putIfAbsent', ns, key, value, exp, max })) ?? undefined;
  }
  async get(ns: string, key: string): Promise<JsonValue | undefined> {
    return (await this.ask({ op: 'get', ns, key })) ?? undefined;
  }
  async take(ns: string, key: string): Promise<JsonValue | undefined> {
    return (await this.ask({ op: 'take', ns, key })) ?? undefined;
  }
  async clear(ns: string): Promise<void> {
    await this.ask({ op: 'clear', ns });
  }
  secret(name: string): Promise<Buffer> {
    let s = this.secrets.get(name);
    if (s === undefined) {
      s = this.ask({ op: 'secret', name }).then((r) => {
        if (typeof r !== 'string') throw new Error('the primary sent no secret');
        return Buffer.from(r, 'base64url');
      });
      // A failed ask is asked again next time, not remembered.
      s.catch(() => this.secrets.delete(name));
      this.secrets.set(name, s);
    }
    return s;
  }
  replicated<V extends JsonValue>(name: string): ReplicatedMap<V> {
    return this.maps.of<V>(name);
  }
  /** A change another worker made, relayed by the primary. */
  applyRemote(name: string, key: string, value: JsonValue | undefined): void {
    this.maps.of(name).applyRemote(key, value);
  }
}
