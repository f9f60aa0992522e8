// Renders docs/configuration.md from the JSON Schemas in schemas/: one table of properties
// per schema (path, type, default, required, enum, description). The schemas are what the
// runner validates with, so the reference cannot say something the runner does not enforce.
//   node dist/runner/docs/reference.js           write docs/configuration.md
//   node dist/runner/docs/reference.js --check   exit 1 when the committed file is stale

import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BUILTIN_PLUGINS } from '../host/registry.js';
import { CARRY_SETTINGS } from '../host/carry.js';
import { PACKAGE_ROOT } from '../host/schema-file.js';

type Schema = { [key: string]: unknown };

export interface SchemaFile {
  /** File name inside schemas/, e.g. `mcp-authz.conf.schema.json`. */
  file: string;
  schema: Schema;
}

export interface PropertyRow {
  path: string;
  type: string;
  default: string;
  required: boolean;
  enumValues: string;
  description: string;
}

export const REFERENCE_PATH = 'docs/configuration.md';
/** Nesting deeper than this is summarised, not expanded (guards recursive $refs). */
const MAX_DEPTH = 8;

const isObject = (v: unknown): v is Schema => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Schema files in reading order: plugin confs (runner order), route settings, policy, audit event, the rest. */
export function orderSchemaFiles(files: readonly string[]): string[] {
  const rank = (f: string): number => {
    const plugin = BUILTIN_PLUGINS.findIndex((p) => f === `${p}.conf.schema.json`);
    if (plugin >= 0) return plugin;
    if (f === 'mcp-route.conf.schema.json') return 50;
    if (f === 'mcp-policy.schema.json') return 100;
    if (f === 'audit-event.schema.json') return 101;
    return 200;
  };
  return [...files].filter((f) => f.endsWith('.schema.json')).sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

export async function loadReferenceSchemas(root: string = PACKAGE_ROOT): Promise<SchemaFile[]> {
  const dir = join(root, 'schemas');
  const files = orderSchemaFiles(await readdir(dir));
  const out: SchemaFile[] = [];
  for (const file of files) {
    const parsed: unknown = JSON.parse(await readFile(join(dir, file), 'utf8'));
    if (!isObject(parsed)) throw new Error(`schemas/${file}: not a JSON object`);
    out.push({ file, schema: parsed });
  }
  return out;
}

/** Follow a local `#/definitions/x` (or `#/$defs/x`) reference; the referring node's own keys win. */
function resolve(node: Schema, root: Schema, seen: ReadonlySet<string>): { node: Schema; seen: ReadonlySet<string> } {
  const ref = node['$ref'];
  if (typeof ref !== 'string') return { node, seen };
  if (!ref.startsWith('#/') || seen.has(ref)) return { node, seen };
  let target: unknown = root;
  for (const part of ref.slice(2).split('/')) {
    target = isObject(target) ? target[part.replace(/~1/g, '/').replace(/~0/g, '~')] : undefined;
  }
  if (!isObject(target)) throw new Error(`unresolvable $ref ${ref}`);
  const { $ref: _drop, ...own } = node;
  const next = new Set(seen).add(ref);
  return resolve({ ...target, ...own }, root, next);
}

function literal(v: unknown): string {
  return JSON.stringify(v) ?? String(v);
}

function typeOf(raw: Schema, root: Schema, seen: ReadonlySet<string>, depth = 0): string {
  const { node } = resolve(raw, root, seen);
  if ('const' in node) return `const ${literal(node['const'])}`;
  const variants = (node['oneOf'] ?? node['anyOf']) as unknown;
  if (Array.isArray(variants) && depth < MAX_DEPTH) {
    const types = variants.filter(isObject).map((v) => typeOf(v, root, seen, depth + 1));
    return [...new Set(types)].join(' | ');
  }
  const t = node['type'];
  const names = Array.isArray(t) ? t.map(String) : typeof t === 'string' ? [t] : Array.isArray(node['enum']) ? [...new Set((node['enum'] as unknown[]).map((v) => (v === null ? 'null' : typeof v)))] : [];
  return (
    names
      .map((name) => {
        if (name === 'array' && isObject(node['items']) && depth < MAX_DEPTH) return `array<${typeOf(node['items'], root, seen, depth + 1)}>`;
        if (name === 'object' && !isObject(node['properties']) && isObject(node['additionalProperties']) && depth < MAX_DEPTH) {
          return `map<string, ${typeOf(node['additionalProperties'], root, seen, depth + 1)}>`;
        }
        return name;
      })
      .join(' | ') || 'any'
  );
}

function enumText(node: Schema): string {
  const values = node['enum'];
  if (Array.isArray(values)) return values.map((v) => `\`${typeof v === 'string' ? v : literal(v)}\``).join(', ');
  const names = node['propertyNames'];
  if (isObject(names) && Array.isArray(names['enum'])) return 'keys: ' + (names['enum'] as unknown[]).map((v) => `\`${String(v)}\``).join(', ');
  const items = node['items'];
  if (isObject(items) && Array.isArray(items['enum'])) return (items['enum'] as unknown[]).map((v) => `\`${typeof v === 'string' ? v : literal(v)}\``).join(', ');
  return '';
}

/** Bounds worth stating (min/max, lengths, patterns, formats), appended to the description. */
function constraints(node: Schema): string {
  const parts: string[] = [];
  const keys: [string, string][] = [
    ['minimum', '>='],
    ['exclusiveMinimum', '>'],
    ['maximum', '<='],
    ['exclusiveMaximum', '<'],
    ['minLength', 'min length'],
    ['maxLength', 'max length'],
    ['minItems', 'min items'],
    ['maxItems', 'max items'],
    ['pattern', 'pattern'],
    ['format', 'format'],
  ];
  for (const [key, label] of keys) {
    const v = node[key];
    if (v === undefined || typeof v === 'boolean') continue;
    parts.push(`${label} \`${typeof v === 'string' ? v : literal(v)}\``);
  }
  return parts.length ? ` (${parts.join(', ')})` : '';
}

function requiredSet(node: Schema): Set<string> {
  const r = node['required'];
  return new Set(Array.isArray(r) ? r.map(String) : []);
}

/** The property rows of one schema, depth first in declaration order. */
export function schemaRows(root: Schema): PropertyRow[] {
  const rows: PropertyRow[] = [];
  walkObject(root, '', root, new Set(), 0, '', rows);
  return rows;
}

function walkObject(raw: Schema, prefix: string, root: Schema, seen: ReadonlySet<string>, depth: number, note: string, rows: PropertyRow[]): void {
  const { node, seen: seenHere } = resolve(raw, root, seen);
  const props = node['properties'];
  if (isObject(props)) {
    const required = requiredSet(node);
    for (const [name, child] of Object.entries(props)) {
      if (!isObject(child)) continue;
      const path = prefix ? `${prefix}.${name}` : name;
      const { node: c, seen: childSeen } = resolve(child, root, seenHere);
      const description = String(c['description'] ?? '').trim();
      rows.push({
        path,
        type: typeOf(child, root, seenHere),
        default: 'default' in c ? `\`${literal(c['default'])}\`` : '',
        required: required.has(name),
        enumValues: enumText(c),
        description: note + description + constraints(c),
      });
      if (depth < MAX_DEPTH) walkChildren(c, path, root, childSeen, depth + 1, rows);
    }
  }
  // Variants of an object (oneOf/anyOf): each variant's properties, marked by its discriminator.
  const variants = (node['oneOf'] ?? node['anyOf']) as unknown;
  if (Array.isArray(variants) && depth < MAX_DEPTH) {
    variants.filter(isObject).forEach((variant, i) => {
      const { node: v, seen: vSeen } = resolve(variant, root, seenHere);
      if (!isObject(v['properties'])) return;
      walkObject(v, prefix, root, vSeen, depth + 1, `[${variantLabel(v, i)}] `, rows);
    });
  }
}

function walkChildren(c: Schema, path: string, root: Schema, seen: ReadonlySet<string>, depth: number, rows: PropertyRow[]): void {
  if (isObject(c['properties']) || Array.isArray(c['oneOf']) || Array.isArray(c['anyOf'])) {
    walkObject(c, path, root, seen, depth, '', rows);
    return;
  }
  const items = c['items'];
  if (isObject(items)) {
    const { node: it, seen: itSeen } = resolve(items, root, seen);
    if (isObject(it['properties']) || Array.isArray(it['oneOf'])) walkObject(it, `${path}[]`, root, itSeen, depth, '', rows);
    return;
  }
  const values = c['additionalProperties'];
  if (isObject(values)) {
    const { node: val, seen: valSeen } = resolve(values, root, seen);
    if (isObject(val['properties'])) walkObject(val, `${path}.<name>`, root, valSeen, depth, '', rows);
  }
}

/** "type = bearer" when the variant has a const property, else its position. */
function variantLabel(variant: Schema, index: number): string {
  const props = variant['properties'];
  if (isObject(props)) {
    for (const [name, p] of Object.entries(props)) {
      if (isObject(p) && 'const' in p) return `${name} = ${typeof p['const'] === 'string' ? p['const'] : literal(p['const'])}`;
    }
  }
  return `variant ${index + 1}`;
}

function cell(text: string): string {
  return text.replace(/\r?\n/g, ' ').replace(/\|/g, '\\|').trim();
}

function conditionalRules(schema: Schema): string[] {
  const all = schema['allOf'];
  if (!Array.isArray(all)) return [];
  return all.filter((r) => isObject(r) && 'if' in r).map((r) => `- If \`${literal((r as Schema)['if'])}\` then \`${literal((r as Schema)['then'])}\``);
}

function anchorOf(file: string): string {
  return file.replace(/\.json$/, '').replace(/[^a-z0-9]+/gi, '-').toLowerCase();
}

/** The whole reference as Markdown (deterministic: same schemas, same text). */
export function renderReference(schemas: readonly SchemaFile[]): string {
  const out: string[] = [];
  out.push('# Configuration reference');
  out.push('');
  out.push('<!-- Generated by `npm run docs` (runner/docs/reference.ts) from schemas/*.schema.json. Do not edit by hand: change the schema and regenerate. -->');
  out.push('');
  out.push('Every table below is generated from the JSON Schema the runner validates with. A plugin conf is the JSON text in the');
  out.push('`value` of a `{"name": "<plugin>", "value": "..."}` entry of a route\'s `ext-plugin-pre-req` / `ext-plugin-post-resp` `conf` list');
  out.push('(see [deployment.md](deployment.md)). Paths use `.` for nested objects, `[]` for array items and `<name>` for map keys;');
  out.push('`[type = x]` marks properties of one variant of a choice. Defaults are filled in by the runner before the plugin reads the conf.');
  out.push('');
  for (const { file, schema } of schemas) {
    out.push(`- [${String(schema['title'] ?? file)}](#${anchorOf(file)})`);
  }
  out.push('');
  for (const { file, schema } of schemas) {
    out.push(`<a id="${anchorOf(file)}"></a>`);
    out.push('');
    out.push(`## ${String(schema['title'] ?? file)}`);
    out.push('');
    out.push(`Schema: [\`schemas/${file}\`](../schemas/${file})`);
    out.push('');
    const description = schema['description'];
    if (typeof description === 'string' && description.trim()) {
      out.push(description.trim());
      out.push('');
    }
    const rows = schemaRows(schema);
    if (rows.length === 0) {
      out.push('_No properties._');
      out.push('');
      continue;
    }
    out.push('| Path | Type | Default | Required | Values | Description |');
    out.push('|---|---|---|---|---|---|');
    for (const r of rows) {
      out.push(`| \`${cell(r.path)}\` | ${cell(r.type)} | ${cell(r.default)} | ${r.required ? 'yes' : ''} | ${cell(r.enumValues)} | ${cell(r.description)} |`);
    }
    out.push('');
    const rules = conditionalRules(schema);
    if (rules.length) {
      out.push('Conditional requirements:');
      out.push('');
      out.push(...rules.map(cell));
      out.push('');
    }
  }
  return out.join('\n');
}

/** The runner's own settings that are not in a conf: the carry store's limits. */
export function renderRunnerSettings(): string {
  const out: string[] = [
    '<a id="runner-carry-settings"></a>',
    '',
    '## Runner settings: calls waiting for their response phase',
    '',
    "On a post-resp route the runner keeps each call's request-phase state (identity, decisions, the parsed request) until the",
    'response phase of the same call. It never drops a waiting call to make room: an answer whose state is gone would pass',
    'unfiltered. So when the store is full, new calls on post-resp routes are refused with 503 (JSON-RPC error, reason',
    '`carry-full`, `Retry-After: 1`), and an answer that arrives after its state expired (or after a runner restart) is',
    'withheld with 502 (JSON-RPC error, reason `carry-lost`). Both are counted in `mcp_runner_carry_failures_total{reason}`',
    'and logged; `mcp_runner_carried_calls` and `mcp_runner_carried_bytes` show what the store holds. These are environment',
    "variables of the runner: list the ones you set in APISIX's `nginx_config.envs`.",
    '',
    '| Variable | Default | Description |',
    '|---|---|---|',
  ];
  for (const s of CARRY_SETTINGS) out.push(`| \`${s.env}\` | \`${s.default}\` | ${cell(s.description)} |`);
  out.push('');
  return out.join('\n');
}

/** The runner's environment beyond the carry store: processes, logs, metrics, traces, plugins. */
const PROCESS_SETTINGS: readonly { env: string; default: string; description: string }[] = [
  { env: 'MCP_RUNNER_WORKERS', default: 'half the cores, at least 1', description: 'Runner processes serving the one socket APISIX connects to (1 to 64). 1 is a single process; more makes the process APISIX started a primary that forks that many workers (docs/ext-plugin-protocol.md §9.1). Memory-store limits, breakers and caches are then per worker.' },
  { env: 'MCP_RUNNER_LOG_LEVEL', default: 'info', description: 'pino level of the runner log (silent, fatal, error, warn, info, debug, trace). Nothing is logged per call above debug.' },
  { env: 'MCP_RUNNER_LOG_FILE', default: '(stdout)', description: "Write the runner log to this file instead of stdout (APISIX copies a runner's stdout into its error.log at warn level)." },
  { env: 'MCP_RUNNER_METRICS_PORT', default: '(off)', description: 'Serve Prometheus metrics at /metrics on this port.' },
  { env: 'MCP_RUNNER_METRICS_HOST', default: '127.0.0.1', description: 'Address of the metrics endpoint (0.0.0.0 for a Prometheus in another container).' },
  { env: 'MCP_RUNNER_PLUGINS', default: '(none)', description: 'Comma-separated absolute paths of extra plugin modules that export `plugin` (contract: runner/host/plugin.ts).' },
  { env: 'OTEL_TRACES_EXPORTER', default: '(off)', description: 'otlp: export spans over OTLP/HTTP (OTEL_EXPORTER_OTLP_ENDPOINT and the other standard OTEL_* variables apply).' },
  { env: 'OTEL_METRICS_EXPORTER', default: '(off)', description: 'otlp: export the call metrics over OTLP/HTTP too (interval: OTEL_METRIC_EXPORT_INTERVAL).' },
];

export function renderProcessSettings(): string {
  const out: string[] = [
    '<a id="runner-process-settings"></a>',
    '',
    '## Runner settings: processes, logs, metrics, traces',
    '',
    "Environment variables of the runner: list each one you set in APISIX's `nginx_config.envs` (APISIX passes no others).",
    '',
    '| Variable | Default | Description |',
    '|---|---|---|',
  ];
  for (const s of PROCESS_SETTINGS) out.push(`| \`${s.env}\` | ${s.default.startsWith('(') || s.default.includes(' ') ? s.default : `\`${s.default}\``} | ${cell(s.description)} |`);
  out.push('');
  return out.join('\n');
}

export async function generateReference(root: string = PACKAGE_ROOT): Promise<string> {
  return `${renderReference(await loadReferenceSchemas(root))}\n${renderRunnerSettings()}\n${renderProcessSettings()}`;
}

async function main(argv: readonly string[]): Promise<number> {
  const text = await generateReference();
  const target = join(PACKAGE_ROOT, REFERENCE_PATH);
  if (argv.includes('--check')) {
    const current = await readFile(target, 'utf8').catch(() => '');
    if (current === text) return 0;
    process.stderr.write(`${REFERENCE_PATH} is out of date: run npm run docs\n`);
    return 1;
  }
  await writeFile(target, text);
  process.stdout.write(`wrote ${REFERENCE_PATH}\n`);
  return 0;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`${(err as Error).message}\n`);
      process.exit(1);
    },
  );
}
