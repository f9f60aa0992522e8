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

export async function generateConfType(g: GeneratedConfType, root: string = PACKAGE_ROOT): Promise<string> {
  const schema = JSON.parse(await readFile(join(root, 'schemas', g.schemaFile), 'utf8')) as JSONSchema;
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
