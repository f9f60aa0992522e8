// The runner's policy service: one watched source per policy file path, shared by every route
// conf (of any plugin) that names it, so a file is read, validated and watched once. Each
// runner owns one (RunnerState.policies) and closes it on shutdown.

import { resolve } from 'node:path';
import { PolicyError } from './document.js';
import { PolicySource } from './source.js';

/** How often a policy file is stat-ed when fs.watch is silent, unless a conf says otherwise. */
export const DEFAULT_RELOAD_INTERVAL_MS = 2000;

const DEFAULT_MAX_SOURCES = 64;

export class PolicyService {
  private readonly sources = new Map<string, PolicySource>();

  constructor(private readonly maxSources = DEFAULT_MAX_SOURCES) {}

  /** The watched source of a policy file (created on first use; the first load may still run). */
  source(path: string, intervalMs = DEFAULT_RELOAD_INTERVAL_MS): PolicySource {
    const key = resolve(path);
    let src = this.sources.get(key);
    if (!src) {
      if (this.sources.size >= this.maxSources) throw new PolicyError(`too many distinct policy files (limit ${this.maxSources})`);
      src = new PolicySource(key, intervalMs);
      this.sources.set(key, src);
    }
    return src;
  }

  /**
   * At prepare, for plugins that need a usable document now: the watched source with its first
   * load done. Errors start with `field`, the conf field that named the file.
   */
  async loaded(path: string, field: string): Promise<PolicySource> {
    let source: PolicySource;
    try {
      source = this.source(path);
    } catch (err) {
      throw new Error(`${field}: ${(err as Error).message}`);
    }
    await source.ready;
    if (source.current.doc === undefined) throw new Error(`${field}: ${source.current.error ?? `${path} not loaded`}`);
    return source;
  }

  /** How many files are watched. */
  get size(): number {
    return this.sources.size;
  }

  /** Stop every watcher (runner shutdown). */
  close(): void {
    for (const s of this.sources.values()) s.close();
    this.sources.clear();
  }
}
