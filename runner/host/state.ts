// What one runner owns beyond its routes: state that outlives a conf and is shared by every
// route of this runner, but never by another runner in the same process. Created by
// runner/main.ts (or by whoever builds a Host: tests, the layout command, the bench) and
// handed to plugins in PrepareEnv.state; closed by Host.shutdown() after the plugins' own
// shutdown ran.
//
// `shared` is the state every process of a multi-process runner agrees on (in memory for a
// single process; asked of the primary by a worker: runner/cluster/shared-state.ts,
// docs/ext-plugin-protocol.md §9.1). Everything under own() is this process's alone.
//
// What the shipped plugins keep, and where:
//   shared (cluster-wide)
//     mcp-authz   confirmation replay claims (tokens and form approval states, single use),
//                 the approval book, session capabilities, trust-on-first-use first sightings,
//                 the default confirmation key (a shared secret); replicated: pin blocks and
//                 tool hints (read locally on every call)
//   own (per process; with N workers each has its own, consequences in §9.1)
//     mcp-authz/confirmation     handles onto the shared replay claims and default key
//     mcp-authz/pins             first sightings learned from the shared table, blocks
//     mcp-authz/tool-hints       the replicated hints map
//     mcp-authz/approvals        handle onto the shared approval book
//     mcp-authz/session-capabilities  handle onto the shared session capabilities
//     mcp-authz/jwks             remote JWKS key sets, cached per (url, options): warm per process
//     mcp-ratelimit/breakers     circuit breakers, kept across re-prepare: they trip per process
//     mcp-ratelimit/memory-store the in-memory limit counters: N processes admit up to N x a
//                                limit (store: redis for exact cluster-wide limits)
//     mcp-ratelimit/redis        Redis connections, one per URL
//     mcp-audit/buffers          calls parked until their response phase, unwritten events
//     mcp-audit/rounds           requestStates of input_required answers (MRTR round numbers)

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
