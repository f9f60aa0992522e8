// Loads a JSON Schema from the package's schemas/ folder. Schemas live there (not in code)
// so operators can review them and the README reference is generated from the same files.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import type { JsonSchema } from './plugin.js';

/** The package root: this file is runner/host/schema-file.ts, compiled to dist/runner/host/. */
export const PACKAGE_ROOT = findRoot(dirname(fileURLToPath(import.meta.url)));

function findRoot(start: string): string {
  let dir = start;
  for (let i = 0; i < 6; i++) {
    try {
      readFileSync(join(dir, 'package.json'));
      return dir;
    } catch {
      dir = dirname(dir);
    }
  }
  throw new Error(`package root not found above ${start}`);
}

/** Read schemas/<file> (e.g. 'mcp-authz.conf.schema.json'). Called at module load, never per call. */
export function loadSchema(file: string): JsonSchema {
  return JSON.parse(readFileSync(join(PACKAGE_ROOT, 'schemas', file), 'utf8')) as JsonSchema;
}
