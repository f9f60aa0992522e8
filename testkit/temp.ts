// Temp directories that remove themselves: created under the OS temp dir and deleted by a
// node:test `after` hook, of the running test when made inside one, else of the test file.
// t/run-tests.mjs fails the run if anything is left in the temp dir, so use these (or remove
// what you make yourself) in every test.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';

/** A fresh directory `<tmp>/<prefix>XXXXXX`, removed (with its contents) after the current test or file. */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
