// APISIX's error.log, emulated: runner stdout/stderr chunks at warn level plus the lines
// APISIX's ext-plugin code logs (retries, cache flushes, respawns). Kept in memory (bounded)
// for tests and appended to a file for people.

import { createWriteStream, type WriteStream } from 'node:fs';

export type LogLevel = 'debug' | 'info' | 'notice' | 'warn' | 'error';

/** Enough for any test; older text is dropped first. */
const MAX_MEMORY_CHARS = 4 * 1024 * 1024;

function timestamp(d: Date): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}/${p(d.getMonth() + 1)}/${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

const RANK: Record<LogLevel, number> = { debug: 0, info: 1, notice: 2, warn: 3, error: 4 };

export class ErrorLog {
  private text = '';
  private file: WriteStream | undefined;
  private readonly minRank: number;

  /** `level`: like nginx `error_log ... warn;` (APISIX's default). */
  constructor(readonly path: string | undefined, level: LogLevel = 'warn') {
    this.minRank = RANK[level];
    if (path !== undefined) this.file = createWriteStream(path, { flags: 'a' });
  }

  write(level: LogLevel, message: string): void {
    if (RANK[level] < this.minRank) return;
    const line = `${timestamp(new Date())} [${level}] ${process.pid}#${process.pid}: ${message}\n`;
    this.text += line;
    if (this.text.length > MAX_MEMORY_CHARS) this.text = this.text.slice(this.text.length - MAX_MEMORY_CHARS);
    this.file?.write(line);
  }

  contents(): string {
    return this.text;
  }

  async close(): Promise<void> {
    const f = this.file;
    this.file = undefined;
    if (f !== undefined) await new Promise<void>((resolve) => f.end(resolve));
  }
}
