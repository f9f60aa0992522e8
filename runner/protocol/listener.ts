// The runner's socket on disk (docs/ext-plugin-protocol.md §2.1, §2.4): the listen address, the stale socket a dead
// runner left behind, binding under a private name and renaming it into place, and removing
// the socket on close only while it is still ours. Knows nothing about frames or calls.

import { promises as fsp } from 'node:fs';
import type net from 'node:net';

export const SOCKET_MODE = 0o766;
/** sun_path holds 108 bytes on Linux (104 on BSDs), including the NUL. */
const MAX_SOCKET_PATH = 103;
/** Distinguishes private bind names of several servers in one process. */
let bindSeq = 0;

/** Strips the required 'unix:' prefix of APISIX_LISTEN_ADDRESS (docs/ext-plugin-protocol.md §2.1). */
export function parseListenAddress(address: string | undefined): string {
  if (address === undefined || address === '') {
    throw new Error('APISIX_LISTEN_ADDRESS is not set (expected unix:/path/to/runner.sock)');
  }
  if (!address.startsWith('unix:') || address.length === 'unix:'.length) {
    throw new Error(`APISIX_LISTEN_ADDRESS must look like unix:/path/to/runner.sock, got ${JSON.stringify(address)}`);
  }
  return address.slice('unix:'.length);
}

async function removeStaleSocket(path: string): Promise<void> {
  let st;
  try {
    st = await fsp.lstat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (!st.isSocket()) throw new Error(`${path} exists and is not a socket; refusing to replace it`);
  await fsp.unlink(path);
}

function listen(server: net.Server, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.listen(path, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

/**
 * Makes `server` listen on `path` and returns the inode of the socket it created there, for
 * unlinkIfOurs. Throws (server possibly half-bound: the caller closes it) when it cannot.
 */
export async function bindSocket(server: net.Server, path: string): Promise<bigint> {
  await removeStaleSocket(path);
  // Node unlinks the path it listened on when the server closes, whoever owns that path by
  // then; a successor runner may already have bound it (reload race, docs/ext-plugin-protocol.md §2.4). So bind a
  // private name and rename it into place: Node's unlink then hits the private name, and we
  // remove `path` ourselves only if its inode is still ours.
  const privatePath = `${path}.${process.pid.toString(36)}.${(bindSeq++).toString(36)}~`;
  const bindPath = Buffer.byteLength(privatePath) <= MAX_SOCKET_PATH ? privatePath : path;
  await removeStaleSocket(bindPath);
  await listen(server, bindPath);
  // Workers may run as another user (nobody) than the runner: they need write access (docs/ext-plugin-protocol.md §2.4).
  await fsp.chmod(bindPath, SOCKET_MODE);
  if (bindPath !== path) await fsp.rename(bindPath, path);
  return (await fsp.stat(path, { bigint: true })).ino;
}

/** Removes the socket only if it is still the one we created (a successor may own the path, docs/ext-plugin-protocol.md §2.4). */
export async function unlinkIfOurs(path: string, inode: bigint): Promise<void> {
  try {
    const st = await fsp.stat(path, { bigint: true });
    if (st.ino === inode) await fsp.unlink(path);
  } catch {
    // already gone: nothing to clean up
  }
}
