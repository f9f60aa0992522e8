// The mcp-redact conf: its type is generated from schemas/mcp-redact.conf.schema.json
// (conf.generated.ts), and the defaults prepare applies to what the conf leaves out.

import type { JsonSchema } from '../../runner/host/plugin.js';
import { loadSchema } from '../../runner/host/schema-file.js';
import type { McpRedactConf } from './conf.generated.js';

export const CONF_SCHEMA_FILE = 'mcp-redact.conf.schema.json';
export const confSchema: JsonSchema = loadSchema(CONF_SCHEMA_FILE);

export type RedactConf = McpRedactConf;
export type RedactMethod = NonNullable<RedactConf['methods']>[number];

/** Scan tools/call arguments and results of every tool unless the conf narrows it. */
export const DEFAULT_SCOPE = {
  arguments: true,
  results: true,
  methods: ['tools/call'] as readonly RedactMethod[],
  tools: ['*'] as readonly string[],
} as const;
