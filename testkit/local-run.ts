// Small local-run helpers shared by the test stacks (demo, e2e, Redis).

import { readFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';

/** A TCP port on 127.0.0.1 that was free a moment ago (bound, read, released). */
export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as AddressInfo).port;
      s.close(() => res(p));
    });
  });
}

function canListen(port: number): Promise<boolean> {
  return new Promise((res) => {
    const s = createServer();
    s.once('error', () => res(false));
    s.listen(port, '127.0.0.1', () => s.close(() => res(true)));
  });
}

/** The first of `count` consecutive free ports (a multi-process runner's metrics use port + i). */
export async function freePorts(count: number): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    const base = await freePort();
    let ok = base + count - 1 <= 65535;
    for (let i = 1; ok && i < count; i++) ok = await canListen(base + i);
    if (ok || attempt >= 50) return base;
  }
}

/** The JSON lines of a file written by another process (a missing file is empty; a half-written line is skipped). */
export async function readJsonLines<T>(path: string): Promise<T[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return [];
  }
  const out: T[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      out.push(JSON.parse(line) as T);
    } catch {
      /* a line still being written */
    }
  }
  return out;
}
