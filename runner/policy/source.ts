// A watched policy file: fs.watch on its directory plus a periodic stat fallback, debounced.
// Every accepted version is validated and compiled first; an invalid new version is rejected
// (logged) and the last good one stays.

import { watch, type FSWatcher } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { log as runnerLog } from '../log.js';
import { compilePolicy } from './compile.js';
import type { PolicyDoc } from './document.js';
import { loadPolicyFile } from './validate.js';

const log = runnerLog.child({ component: 'policy' });

export interface PolicySnapshot {
  /** Increments on every accepted version. */
  readonly version: number;
  readonly doc: PolicyDoc | undefined;
  readonly label: string;
  /** Why the file is unusable when no good version was ever loaded. */
  readonly error: string | undefined;
}

/** A watched policy file. The last good version stays when a new one is invalid. */
export class PolicySource {
  private snapshot: PolicySnapshot;
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private lastStat = '';
  private loading: Promise<void> | undefined;
  private pending = false;
  private closed = false;
  /** Resolves once the first load attempt finished. */
  readonly ready: Promise<void>;

  constructor(
    readonly path: string,
    private readonly intervalMs: number,
    private readonly debounceMs = 50,
  ) {
    this.snapshot = { version: 0, doc: undefined, label: basename(path), error: `${basename(path)}: not loaded yet` };
    this.ready = this.reload();
    this.startWatching();
  }

  get current(): PolicySnapshot {
    return this.snapshot;
  }

  /** Load now (serialised: a change during a load triggers one more load afterwards). */
  reload(): Promise<void> {
    if (this.loading) {
      this.pending = true;
      return this.loading;
    }
    this.loading = this.loadOnce().finally(() => {
      this.loading = undefined;
      if (this.pending && !this.closed) {
        this.pending = false;
        void this.reload();
      }
    });
    return this.loading;
  }

  private async loadOnce(): Promise<void> {
    try {
      const st = await stat(this.path).catch(() => undefined);
      this.lastStat = st ? `${st.mtimeMs}:${st.size}:${st.ino}` : 'missing';
      const { doc, label } = await loadPolicyFile(this.path);
      // Compile once here too so a schema-valid file with a broken arguments schema is rejected
      // before it replaces the last good one.
      compilePolicy([{ doc, label }]);
      this.snapshot = { version: this.snapshot.version + 1, doc, label, error: undefined };
      log.info({ path: this.path, version: this.snapshot.version }, 'policy loaded');
    } catch (err) {
      const message = (err as Error).message;
      if (this.snapshot.doc === undefined) {
        this.snapshot = { ...this.snapshot, error: message };
        log.error({ path: this.path, error: message }, 'policy unusable: calls on routes using it are refused');
      } else {
        log.error({ path: this.path, error: message, keptVersion: this.snapshot.version }, 'new policy rejected; keeping the last good version');
      }
    }
  }

  private schedule(): void {
    if (this.closed) return;
    if (this.debounce) clearTimeout(this.debounce);
    this.debounce = setTimeout(() => {
      this.debounce = undefined;
      void this.reload();
    }, this.debounceMs);
    this.debounce.unref();
  }

  private startWatching(): void {
    // Watch the directory: editors and config management replace files (rename), which a
    // file watch would lose.
    const dir = dirname(this.path);
    const file = basename(this.path);
    try {
      this.watcher = watch(dir, { persistent: false }, (_event, name) => {
        if (name === null || name === file) this.schedule();
      });
      this.watcher.on('error', () => {
        this.watcher?.close();
        this.watcher = undefined;
      });
    } catch {
      this.watcher = undefined; // the stat poll below still catches changes
    }
    this.timer = setInterval(() => {
      stat(this.path).then(
        (st) => {
          const key = `${st.mtimeMs}:${st.size}:${st.ino}`;
          if (key !== this.lastStat) this.schedule();
        },
        () => {
          if (this.lastStat !== 'missing') {
            this.lastStat = 'missing';
            this.schedule();
          }
        },
      );
    }, this.intervalMs);
    this.timer.unref();
  }

  close(): void {
    this.closed = true;
    this.watcher?.close();
    if (this.timer) clearInterval(this.timer);
    if (this.debounce) clearTimeout(this.debounce);
  }
}
