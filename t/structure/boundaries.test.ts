// The repository's shape rules, checked on the TypeScript sources: no plugin folder imports
// another plugin folder (shared code lives in runner/), and no source file in runner/ or
// plugins/ grows past the size where it holds several concerns.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file runs from dist/t/structure/). */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

function tsFiles(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) tsFiles(p, out);
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** Module specifiers of static imports, re-exports and dynamic imports. */
function specifiers(source: string): string[] {
  const out: string[] = [];
  const re = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)(['"])([^'"]+)\1/gm;
  for (const m of source.matchAll(re)) out.push(m[2]!);
  return out;
}

/** The plugin folder a repository-relative path lies in, if any ('plugins/<name>/...'). */
function pluginOf(repoPath: string): string | undefined {
  const parts = repoPath.split(sep);
  return parts[0] === 'plugins' && parts.length > 2 ? parts[1] : undefined;
}

/** Imports of `file` (repository-relative, inside plugins/<name>/) that reach another plugin folder. */
export function crossPluginImports(file: string, source: string): string[] {
  const own = pluginOf(file);
  if (own === undefined) return [];
  const bad: string[] = [];
  for (const spec of specifiers(source)) {
    if (!spec.startsWith('.')) continue;
    const target = relative(ROOT, resolve(ROOT, dirname(file), spec));
    const other = pluginOf(target);
    if (other !== undefined && other !== own) bad.push(`${file}: imports ${spec} (plugins/${other})`);
  }
  return bad;
}

test('the import scan finds every form of a cross-plugin import and passes runner imports', () => {
  const file = join('plugins', 'mcp-ratelimit', 'policy-routes.ts');
  const source = [
    "import { a } from '../mcp-authz/policy.js';",
    "import type { B } from \"../mcp-authz/types.js\";",
    "export { c } from '../mcp-redact/index.js';",
    "const d = await import('../mcp-audit/event.js');",
    "import '../mcp-credential/side-effect.js';",
    "import { ok } from '../../runner/policy/index.js';",
    "import { own } from './keys.js';",
    "import { ext } from 'ajv';",
  ].join('\n');
  assert.deepEqual(
    crossPluginImports(file, source).map((l) => l.split(' (')[1]),
    ['plugins/mcp-authz)', 'plugins/mcp-authz)', 'plugins/mcp-redact)', 'plugins/mcp-audit)', 'plugins/mcp-credential)'],
  );
  assert.deepEqual(crossPluginImports(join('runner', 'main.ts'), "import '../plugins/mcp-authz/index.js';"), [], 'only plugin folders are bound by the rule');
});

test('no plugin folder imports another plugin folder (shared code lives in runner/)', () => {
  const files = tsFiles(join(ROOT, 'plugins'));
  assert.ok(files.length > 20, 'the plugin sources were found');
  const bad = files.flatMap((f) => crossPluginImports(relative(ROOT, f), readFileSync(f, 'utf8')));
  assert.deepEqual(bad, []);
});

const MAX_LINES = 450;

/**
 * Files over the limit that are being split along their seams right now (none at the moment).
 * Remove an entry when its file is split; the test fails for a listed file that is
 * already small enough, so the list cannot go stale.
 */
const BEING_SPLIT = new Set<string>([]);

/** Conf types generated from the JSON Schemas (npm run docs): nobody edits them, the schema is the source. */
const GENERATED = /\.generated\.ts$/;

test(`no source file in runner/ or plugins/ is over ${MAX_LINES} lines`, () => {
  const over: string[] = [];
  const stale: string[] = [];
  for (const f of [...tsFiles(join(ROOT, 'runner')), ...tsFiles(join(ROOT, 'plugins'))]) {
    const rel = relative(ROOT, f).split(sep).join('/');
    if (GENERATED.test(rel)) continue;
    const lines = readFileSync(f, 'utf8').split('\n').length - 1;
    if (lines > MAX_LINES && !BEING_SPLIT.has(rel)) over.push(`${rel}: ${lines} lines`);
    if (lines <= MAX_LINES && BEING_SPLIT.has(rel)) stale.push(`${rel} (${lines} lines) is small enough: take it off BEING_SPLIT`);
  }
  assert.deepEqual(over, [], 'split these along their seams');
  assert.deepEqual(stale, []);
});
