// What one runner owns beyond its routes: state that outlives a conf and is shared by every
// route of this runner, but never by another runner in the same process. Created by
// runner/main.ts (or by whoever builds a Host: tests, the layout command, the bench) and
// handed to plugins in PrepareEnv.state; closed by Host.shutdown() after the plugins' own
// shutdown ran.
//
// What the shipped plugins keep here (own(key, ...)):
//   mcp-authz/confirmation     replay cache of used confirmation tokens + the random key of
//                              routes without a configured secret
//   mcp-authz/pins             tool definitions seen or blocked (tool pinning)
//   mcp-authz/tool-hints       tool annotations last listed (read access of read grants)
//   mcp-authz/jwks             remote JWKS key sets, cached per (url, options)
//   mcp-ratelimit/breakers     circuit breakers, kept across re-prepare of the same conf
//   mcp-ratelimit/memory-store the in-memory limit counters
//   mcp-ratelimit/redis        Redis connections, one per URL
//   mcp-audit/buffers          calls parked until their response phase, unwritten events
//   mcp-audit/rounds           requestStates of input_required answers (MRTR round numbers)

import { PolicyService } from '../policy/service.js';
import { LocalSharedState, type SharedState } from '../cluster/shared-state.js';

/** Something a runner closes on shutdown (watchers, timers, connections). */
export interface Closable {
  close(): void | Promise<void>;
}

export interface RunnerStateOptions {
  /** A worker's view of the cluster's shared state (runner/cluster/shared-remote.ts); default: this process's own. */
  shared?: SharedState | undefined;
}

export class RunnerState {
  /** Policy files, each read, validated and watched once for every route that names it. */
  readonly policies = new PolicyService();
  /** State every process of a multi-process runner agrees on (in memory when there is one process). */
  readonly shared: SharedState;
  private readonly owned = new Map<string, unknown>();
  private closed = false;

  constructor(opts: RunnerStateOptions = {}) {
    this.shared = opts.shared ?? new LocalSharedState();
  }

  /**
   * A plugin's runner-wide state (replay cache, pin store, key sets, breakers, pending audit
   * events), created on first use. Key by plugin name and purpose ('mcp-authz/pins'); the
   * value's close(), if any, runs at shutdown.
   */
  own<T>(key: string, create: () => T): T {
    let v = this.owned.get(key) as T | undefined;
    if (v === undefined) {
      v = create();
      this.owned.set(key, v);
    }
    return v;
  }

  /** The state under `key` if it was ever created (shutdown handlers: nothing to flush otherwise). */
  peek<T>(key: string): T | undefined {
    return this.owned.get(key) as T | undefined;
  }

  /** Stop watchers and close what plugins left here; later calls do nothing. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.policies.close();
    for (const v of this.owned.values()) {
      const c = v as Partial<Closable> | null;
      if (c !== null && typeof c === 'object' && typeof c.close === 'function') await c.close();
    }
    this.owned.clear();
  }
}
