// Generates each conf's TypeScript type from its JSON Schema, so the type the compiler checks
// a plugin against is the shape ajv validates, never a copy that drifts. One file per conf,
// beside the code that reads it; each plugin's conf.ts re-exports its generated type.
//   node dist/runner/docs/conf-types.js           write the generated files
//   node dist/runner/docs/conf-types.js --check   exit 1 when a committed file is stale

import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compile, type JSONSchema } from 'json-schema-to-typescript';
import { BUILTIN_PLUGINS } from '../host/registry.js';
import { PACKAGE_ROOT } from '../host/schema-file.js';

export interface GeneratedConfType {
  /** schemas/<file> */
  schemaFile: string;
  /** Where the type is written, relative to the package root. */
  target: string;
  /** The exported interface's name. */
  typeName: string;
}

const pascal = (name: string): string => name.replace(/(^|-)([a-z])/g, (_, _sep: string, c: string) => c.toUpperCase());

/** Every conf: the five plugins, then the route settings. */
export const GENERATED_CONF_TYPES: readonly GeneratedConfType[] = [
  ...BUILTIN_PLUGINS.map((p) => ({ schemaFile: `${p}.conf.schema.json`, target: `plugins/${p}/conf.generated.ts`, typeName: `${pascal(p)}Conf` })),
  { schemaFile: 'mcp-route.conf.schema.json', target: 'runner/host/route-conf.generated.ts', typeName: 'McpRouteConf' },
];

/** Keywords that only annotate: dropping them changes nothing that validates. */
const ANNOTATIONS = new Set(['description', '$comment', 'examples']);

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** The node a local `#/...` pointer names, if any. */
function pointee(root: Json, ref: string): Json | undefined {
  let node: Json | undefined = root;
  for (const part of ref.slice(2).split('/')) {
    if (node === null || typeof node !== 'object' || Array.isArray(node)) return undefined;
    node = node[part.replace(/~1/g, '/').replace(/~0/g, '~')];
  }
  return node;
}

/**
 * The schema as the type generator should see it. The generator copies a `$ref` that has
 * sibling keywords into a new anonymous type at every use, so a titled definition used in three
 * places with three descriptions came out three times. A `$ref` to a titled definition with
 * only annotations beside it becomes `allOf: [{ $ref }]` plus its description: every use shares
 * the one named type and keeps its own doc comment. (Only what the generator reads changes;
 * ajv and docs/configuration.md read the schema as written.)
 */
export function shareTitledRefs(node: Json, root: Json = node): Json {
  if (Array.isArray(node)) return node.map((n) => shareTitledRefs(n, root));
  if (node === null || typeof node !== 'object') return node;
  const ref = node['$ref'];
  if (typeof ref === 'string' && ref.startsWith('#/')) {
    const target = pointee(root, ref);
    const titled = target !== null && typeof target === 'object' && !Array.isArray(target) && typeof target['title'] === 'string';
    if (titled && Object.keys(node).every((k) => k === '$ref' || ANNOTATIONS.has(k))) {
      const description = node['description'];
      return typeof description === 'string' ? { allOf: [{ $ref: ref }], description } : { $ref: ref };
    }
  }
  const out: { [key: string]: Json } = {};
  for (const [k, v] of Object.entries(node)) out[k] = shareTitledRefs(v, root);
  return out;
}

export async function generateConfType(g: GeneratedConfType, root: string = PACKAGE_ROOT): Promise<string> {
  const schema = shareTitledRefs(JSON.parse(await readFile(join(root, 'schemas', g.schemaFile), 'utf8')) as Json) as JSONSchema;
  // The root type takes our name, not the schema's title or $id.
  const { title: _title, $id: _id, ...untitled } = schema;
  const body = await compile(untitled, g.typeName, {
    bannerComment: '',
    additionalProperties: false,
    // Tuples for minItems would blow up the types; ajv enforces the counts.
    ignoreMinAndMaxItems: true,
    format: true,
    style: { printWidth: 140, singleQuote: true },
  });
  return `// Generated from schemas/${g.schemaFile} by \`npm run docs\`; do not edit.\n// The schema is the source of truth: ajv validates confs against it, and this type follows.\n\n${body}`;
}

async function main(argv: readonly string[]): Promise<number> {
  let stale = 0;
  for (const g of GENERATED_CONF_TYPES) {
    const text = await generateConfType(g);
    const path = join(PACKAGE_ROOT, g.target);
    if (argv.includes('--check')) {
      const current = await readFile(path, 'utf8').catch(() => '');
      if (current !== text) {
        process.stderr.write(`${g.target} is stale: run npm run docs\n`);
        stale++;
      }
    } else {
      await writeFile(path, text);
      process.stdout.write(`wrote ${g.target}\n`);
    }
  }
  return stale === 0 ? 0 : 1;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}
