// Reading and validating a policy document: YAML (JSON is YAML) checked against
// schemas/mcp-policy.schema.json, with errors that name the field path.

import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { load as loadYaml } from 'js-yaml';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { loadSchema } from '../host/schema-file.js';
import { PolicyError, type PolicyDoc } from './document.js';

const policySchema = loadSchema('mcp-policy.schema.json');
const validatePolicyShape: ValidateFunction = new Ajv({ allErrors: true, strict: false }).compile(policySchema);

/** Turn ajv errors into "label: /path message (allowed values)" lines, most useful first. */
export function formatAjvErrors(label: string, errors: readonly ErrorObject[] | null | undefined): string[] {
  const out = new Set<string>();
  for (const e of errors ?? []) {
    let msg = e.message ?? 'is invalid';
    if (e.keyword === 'enum') {
      const allowed = (e.params as { allowedValues?: unknown[] }).allowedValues ?? [];
      msg += ` (${allowed.map(String).join(', ')})`;
    } else if (e.keyword === 'additionalProperties') {
      msg = `must NOT have additional property '${(e.params as { additionalProperty?: string }).additionalProperty}'`;
    }
    out.add(`${label}: ${e.instancePath || '/'} ${msg}`);
  }
  return [...out];
}

/** Validate a parsed policy document; throws PolicyError naming every bad field. */
export function validatePolicyDocument(doc: unknown, label: string): asserts doc is PolicyDoc {
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    throw new PolicyError(`${label}: / must be a mapping (object) at the top level`);
  }
  if (!validatePolicyShape(doc)) {
    throw new PolicyError(formatAjvErrors(label, validatePolicyShape.errors).slice(0, 10).join('\n'));
  }
}

/** Parse YAML text (JSON is YAML) and validate it. */
export function parsePolicyText(text: string, label: string): PolicyDoc {
  let doc: unknown;
  try {
    doc = loadYaml(text);
  } catch (err) {
    throw new PolicyError(`${label}: invalid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  validatePolicyDocument(doc, label);
  return doc;
}

/** Read, parse and validate one policy file (the explain CLI, and every reload). */
export async function loadPolicyFile(path: string): Promise<{ doc: PolicyDoc; label: string }> {
  const label = basename(path);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new PolicyError(`${label}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return { doc: parsePolicyText(text, label), label };
}
