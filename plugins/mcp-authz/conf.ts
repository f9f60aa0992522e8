// The mcp-authz conf: its type is generated from schemas/mcp-authz.conf.schema.json
// (conf.generated.ts), and the defaults prepare applies to what the conf leaves out.
// The parts handed to identity.ts, pinning.ts and prm.ts are checked by the compiler against
// the types those modules accept.

import type { JsonSchema } from '../../runner/host/plugin.js';
import { loadSchema } from '../../runner/host/schema-file.js';
import type { McpAuthzConf } from './conf.generated.js';

export const CONF_SCHEMA_FILE = 'mcp-authz.conf.schema.json';
export const confSchema: JsonSchema = loadSchema(CONF_SCHEMA_FILE);

export type AuthzConf = McpAuthzConf;
export type ConfirmationConf = NonNullable<AuthzConf['confirmation']>;

/** A confirmation token lives 5 minutes, arrives in this header, and is asked for with 428. */
export const CONFIRMATION_DEFAULTS = {
  ttlSeconds: 300,
  header: 'mcp-confirmation',
  status: 428,
  replayCacheSize: 100_000,
} as const;
