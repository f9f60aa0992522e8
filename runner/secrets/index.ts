// Secret references in plugin confs. A conf never carries a backend secret itself: it names
// where the secret lives, and the value is read into memory outside the call path.
//
//   $env://NAME        an environment variable of the runner process
//   $file:///abs/path  a file, e.g. a Kubernetes secret mount (trailing newlines trimmed);
//                      $file://rel/path is resolved against the working directory
//
// value() is synchronous and reads only memory. Files are read asynchronously at resolve
// time and again whenever fs.watch reports a change in their directory (Kubernetes swaps the
// `..data` symlink atomically, so the directory is watched, not the file) or a slow mtime poll
// notices one (fs.watch misses events on some filesystems).

import { watch, type FSWatcher } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname, isAbsolute, resolve } from 'node:path';

export type SecretRef = { kind: 'env'; name: string } | { kind: 'file'; path: string };

/** A resolved secret: read it per call with value(), log it with describe(). */
export interface SecretHandle {
  /** The current value from memory; undefined while missing, empty or unreadable. */
  value(): string | undefined;
  /** The reference text (e.g. `$env://CRM_TOKEN`), safe to log and to show to clients. */
  describe(): string;
  /** Why value() is undefined (e.g. 'not set', 'ENOENT'); undefined when the value is present. */
  problem(): string | undefined;
  /** Settles once the first read was attempted (files); immediately for other kinds. */
  ready(): Promise<void>;
  /** True for a literal from the conf (allowed only with allow_literal_secrets). */
  readonly literal: boolean;
}

/** Minimal logger the secrets layer writes to (pino-compatible signature). */
export interface SecretsLogger {
  warn(obj: Record<string, unknown>, msg: string): void;
  error(obj: Record<string, unknown>, msg: string): void;
  info(obj: Record<string, unknown>, msg: string): void;
}

const stderrLogger: SecretsLogger = {
  warn: (obj, msg) => writeLine('warn', obj, msg),
  error: (obj, msg) => writeLine('error', obj, msg),
  info: (obj, msg) => writeLine('info', obj, msg),
};

function writeLine(level: string, obj: Record<string, unknown>, msg: string): void {
  process.stderr.write(JSON.stringify({ level, time: Date.now(), name: 'secrets', msg, ...obj }) + '\n');
}

let logger: SecretsLogger = stderrLogger;

/** Route secrets log lines to the runner's logger (call once at startup). */
export function setSecretsLogger(next: SecretsLogger): void {
  logger = next;
}

const ENV_PREFIX = '$env://';
const FILE_PREFIX = '$file://';
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Anything that looks like `$scheme://...` is treated as a reference, never as a literal. */
const REF_LIKE = /^\$[a-z][a-z0-9+.-]*:\/\//i;

/** Distinct files watched at once; confs naming more are refused (each costs a watcher). */
export const MAX_WATCHED_FILES = 256;
/** Backstop poll for filesystems where fs.watch stays silent. */
const POLL_INTERVAL_MS = 10_000;
/** Coalesce bursts of watch events (a symlink swap fires several). */
const REREAD_DELAY_MS = 25;
/** Secret files are small; refuse anything larger (a wrong path, e.g. a log file). */
const MAX_SECRET_FILE_BYTES = 1 << 20;

/** Does this conf string look like a secret reference (any `$scheme://`)? */
export function isSecretRef(text: string): boolean {
  return REF_LIKE.test(text);
}

/** Parse a reference; throws an Error that names the problem (never containing a value). */
export function parseSecretRef(ref: string): SecretRef {
  if (ref.startsWith(ENV_PREFIX)) {
    const name = ref.slice(ENV_PREFIX.length);
    if (!ENV_NAME.test(name)) throw new Error(`invalid secret reference ${ref}: expected $env://NAME with NAME made of letters, digits and _`);
    return { kind: 'env', name };
  }
  if (ref.startsWith(FILE_PREFIX)) {
    const path = ref.slice(FILE_PREFIX.length);
    if (path === '' || path.includes('\0')) throw new Error(`invalid secret reference ${ref}: expected $file:///absolute/path`);
    // A relative path is taken from the runner's working directory (the APISIX home when spawned).
    return { kind: 'file', path: isAbsolute(path) ? path : resolve(path) };
  }
  const scheme = /^(\$[^:]*:\/\/)/.exec(ref)?.[1] ?? ref.slice(0, 8);
  throw new Error(`unknown secret reference scheme ${scheme}: use $env://NAME or $file:///path`);
}

/** Resolve a reference to a handle. File handles share one watcher per path. */
export function resolveSecretRef(ref: string): SecretHandle {
  const parsed = parseSecretRef(ref);
  return parsed.kind === 'env' ? new EnvSecret(ref, parsed.name) : fileSecret(ref, parsed.path);
}

export interface SecretFieldOptions {
  /** The conf field, for error messages (e.g. `credential.token`). */
  field: string;
  /** When true a literal is accepted (with a warning); otherwise it is refused. */
  allowLiteral: boolean;
}

/**
 * Turn a conf string into a handle: a reference is resolved, a literal is refused unless
 * allowed. Errors name the field and never repeat the value. Call at prepare, not per call.
 */
export function secretFromConf(text: string, opts: SecretFieldOptions): SecretHandle {
  if (isSecretRef(text)) {
    try {
      return resolveSecretRef(text);
    } catch (err) {
      throw new Error(`${opts.field}: ${(err as Error).message}`);
    }
  }
  if (!opts.allowLiteral) {
    throw new Error(
      `${opts.field}: a literal secret is not allowed in a conf; use $env://NAME or $file:///path (or set allow_literal_secrets: true)`,
    );
  }
  logger.warn({ field: opts.field }, 'literal secret in conf (allow_literal_secrets is on); prefer $env:// or $file://');
  return new LiteralSecret(text, opts.field);
}

class LiteralSecret implements SecretHandle {
  readonly literal = true;
  constructor(
    private readonly text: string,
    private readonly field: string,
  ) {}
  value(): string | undefined {
    return this.text === '' ? undefined : this.text;
  }
  describe(): string {
    return `literal secret in ${this.field}`;
  }
  problem(): string | undefined {
    return this.text === '' ? 'empty' : undefined;
  }
  ready(): Promise<void> {
    return Promise.resolve();
  }
}

class EnvSecret implements SecretHandle {
  readonly literal = false;
  constructor(
    private readonly ref: string,
    private readonly name: string,
  ) {}
  // process.env is in-process memory (no I/O); reading it live lets tests and supervisors
  // that set the variable after startup work without a restart.
  value(): string | undefined {
    const v = process.env[this.name];
    return v === undefined || v === '' ? undefined : v;
  }
  describe(): string {
    return this.ref;
  }
  problem(): string | undefined {
    const v = process.env[this.name];
    return v === undefined ? 'not set' : v === '' ? 'empty' : undefined;
  }
  ready(): Promise<void> {
    return Promise.resolve();
  }
}

/** One watched secret file, shared by every handle that names the same path. */
class WatchedFile {
  current: string | undefined;
  problem: string | undefined = 'not read yet';
  private mtimeMs = -1;
  private size = -1;
  private watcher: FSWatcher | undefined;
  private poll: NodeJS.Timeout | undefined;
  private pending: NodeJS.Timeout | undefined;
  private reading: Promise<void> | undefined;
  private again = false;
  readonly firstRead: Promise<void>;

  constructor(
    readonly ref: string,
    readonly path: string,
  ) {
    this.firstRead = this.refresh(true);
    this.startWatching();
    this.poll = setInterval(() => void this.refresh(false), POLL_INTERVAL_MS);
    this.poll.unref();
  }

  private startWatching(): void {
    try {
      const name = basename(this.path);
      // Only our file, or the kubelet's `..data` / `..<timestamp>` entries, matter.
      this.watcher = watch(dirname(this.path), { persistent: false }, (_event, changed) => {
        if (changed === null || changed === name || String(changed).startsWith('..')) this.schedule();
      });
      this.watcher.on('error', (err) => {
        // The directory went away (unmounted); the poll keeps trying.
        logger.warn({ ref: this.ref, err: (err as NodeJS.ErrnoException).code ?? 'error' }, 'secret file watcher stopped');
        this.watcher?.close();
        this.watcher = undefined;
      });
    } catch (err) {
      logger.warn({ ref: this.ref, err: (err as NodeJS.ErrnoException).code ?? 'error' }, 'cannot watch secret file directory; polling only');
    }
  }

  private schedule(): void {
    if (this.pending) return;
    this.pending = setTimeout(() => {
      this.pending = undefined;
      void this.refresh(true);
    }, REREAD_DELAY_MS);
    this.pending.unref();
  }

  /** Re-read when mtime or size changed (or always when forced by a watch event). */
  refresh(force: boolean): Promise<void> {
    if (this.reading) {
      this.again ||= force;
      return this.reading;
    }
    this.reading = this.read(force).finally(() => {
      this.reading = undefined;
      if (this.again) {
        this.again = false;
        void this.refresh(true);
      }
    });
    return this.reading;
  }

  private async read(force: boolean): Promise<void> {
    try {
      const st = await stat(this.path);
      if (!st.isFile()) throw Object.assign(new Error('not a file'), { code: 'ENOTFILE' });
      if (st.size > MAX_SECRET_FILE_BYTES) throw Object.assign(new Error('too large'), { code: 'EFBIG' });
      if (!force && st.mtimeMs === this.mtimeMs && st.size === this.size && this.problem === undefined) return;
      const text = trimTrailingNewlines(await readFile(this.path, 'utf8'));
      this.mtimeMs = st.mtimeMs;
      this.size = st.size;
      if (text === '') return this.fail('empty');
      const changed = this.current !== undefined && this.current !== text;
      const recovered = this.problem !== undefined && this.problem !== 'not read yet';
      this.current = text;
      this.problem = undefined;
      if (changed) logger.info({ ref: this.ref }, 'secret file changed; new value loaded');
      else if (recovered) logger.info({ ref: this.ref }, 'secret file readable again');
    } catch (err) {
      this.mtimeMs = -1;
      this.size = -1;
      this.fail((err as NodeJS.ErrnoException).code ?? 'unreadable');
    }
  }

  private fail(problem: string): void {
    // Log transitions only, so a missing mount does not flood the log.
    if (this.problem !== problem) logger.error({ ref: this.ref, problem }, 'secret reference cannot be resolved');
    this.current = undefined;
    this.problem = problem;
  }

  close(): void {
    this.watcher?.close();
    this.watcher = undefined;
    if (this.poll) clearInterval(this.poll);
    if (this.pending) clearTimeout(this.pending);
    this.poll = undefined;
    this.pending = undefined;
  }
}

function trimTrailingNewlines(text: string): string {
  let end = text.length;
  while (end > 0 && (text.charCodeAt(end - 1) === 10 || text.charCodeAt(end - 1) === 13)) end--;
  return end === text.length ? text : text.slice(0, end);
}

const watchedFiles = new Map<string, WatchedFile>();

function fileSecret(ref: string, path: string): SecretHandle {
  let file = watchedFiles.get(path);
  if (!file) {
    if (watchedFiles.size >= MAX_WATCHED_FILES) {
      throw new Error(`too many distinct secret files (limit ${MAX_WATCHED_FILES}); cannot watch ${ref}`);
    }
    file = new WatchedFile(ref, path);
    watchedFiles.set(path, file);
  }
  const shared = file;
  return {
    literal: false,
    value: () => shared.current,
    describe: () => ref,
    problem: () => shared.problem,
    ready: () => shared.firstRead,
  };
}

/** Re-read every watched file now (tests; SIGHUP handlers). */
export async function refreshSecretFiles(): Promise<void> {
  await Promise.all([...watchedFiles.values()].map((f) => f.refresh(true)));
}

/** Stop every watcher and forget the cache (shutdown, tests). Handles then read undefined. */
export function closeSecretWatchers(): void {
  for (const f of watchedFiles.values()) {
    f.close();
    f.current = undefined;
    f.problem = 'closed';
  }
  watchedFiles.clear();
}
