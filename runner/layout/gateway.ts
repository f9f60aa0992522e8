// conf/gateway.yaml: the operator's description of one MCP server behind APISIX (see
// schemas/gateway.schema.json). Read and validated once by the layout command.

import { readFile } from 'node:fs/promises';
import { load as loadYaml } from 'js-yaml';
import { Ajv, type ErrorObject } from 'ajv';
import { loadSchema } from '../host/schema-file.js';

export interface GatewayPlugin {
  name: string;
  conf: Record<string, unknown>;
}

export interface GatewayDoc {
  server: string;
  uri: string;
  hosts?: string[] | undefined;
  upstream: Record<string, unknown>;
  tools: string[];
  prompts?: string[] | undefined;
  resources?: string[] | undefined;
  plugins: GatewayPlugin[];
  response_plugins?: string[] | undefined;
  max_body_bytes?: number | undefined;
  allow_degradation: false;
}

export class GatewayError extends Error {}

const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: false });
const validate = ajv.compile<GatewayDoc>(loadSchema('gateway.schema.json'));

function describe(errors: readonly ErrorObject[] | null | undefined, label: string): string {
  return (errors ?? [])
    .slice(0, 8)
    .map((e) => {
      const at = e.instancePath || '/';
      const extra =
        e.keyword === 'additionalProperties'
          ? ` '${String((e.params as { additionalProperty?: unknown }).additionalProperty)}'`
          : e.keyword === 'const' || e.keyword === 'enum'
            ? ` (${JSON.stringify((e.params as { allowedValue?: unknown; allowedValues?: unknown }).allowedValue ?? (e.params as { allowedValues?: unknown }).allowedValues)})`
            : '';
      return `${label}: ${at} ${e.message ?? 'is invalid'}${extra}`;
    })
    .join('\n');
}

/** Validate a parsed gateway document (defaults filled in); throws GatewayError naming the field. */
export function parseGateway(doc: unknown, label = 'gateway'): GatewayDoc {
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw new GatewayError(`${label}: expected a mapping (server:, upstream:, tools:, plugins:)`);
  const copy = structuredClone(doc);
  if (!validate(copy)) throw new GatewayError(describe(validate.errors, label));
  const g = copy as GatewayDoc;
  const names = g.plugins.map((p) => p.name);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup !== undefined) throw new GatewayError(`${label}: /plugins names ${dup} twice (one conf per plugin per route)`);
  for (const [i, n] of (g.response_plugins ?? []).entries()) {
    if (!names.includes(n)) throw new GatewayError(`${label}: /response_plugins/${i} '${n}' is not in /plugins`);
  }
  return g;
}

/** Read and validate a gateway.yaml (or JSON) file. */
export async function loadGateway(path: string): Promise<GatewayDoc> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new GatewayError(`${path}: cannot read (${(err as Error).message})`);
  }
  let doc: unknown;
  try {
    doc = loadYaml(text);
  } catch (err) {
    throw new GatewayError(`${path}: not valid YAML (${(err as Error).message})`);
  }
  return parseGateway(doc, path);
}
