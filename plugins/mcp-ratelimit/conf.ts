// The operator-facing conf shape. schemas/mcp-ratelimit.conf.schema.json is the source of
// truth: the conf type is generated from it (conf.generated.ts); the names below pick its parts.

import type { JsonSchema } from '../../runner/host/plugin.js';
import { loadSchema } from '../../runner/host/schema-file.js';
import type { By, Match, McpRatelimitConf, Missing } from './conf.generated.js';

export const CONF_SCHEMA_FILE = 'mcp-ratelimit.conf.schema.json';
export const confSchema: JsonSchema = loadSchema(CONF_SCHEMA_FILE);

export type RatelimitConf = McpRatelimitConf;
export type Dimension = By[number];
export type MissingPolicy = Missing;
export type MatchConf = Match;
export type RateLimitConf = NonNullable<RatelimitConf['limits']>[number];
export type ConcurrencyConf = NonNullable<RatelimitConf['concurrency']>[number];
export type BudgetConf = NonNullable<RatelimitConf['budgets']>[number];
export type BreakerConf = NonNullable<RatelimitConf['breakers']>[number];
export type StoreConf = NonNullable<RatelimitConf['store']>;
export type IdentityConf = NonNullable<RatelimitConf['identity']>;

/** The limit sections, shared by the route conf and the policy file. */
export type LimitSections = Pick<RatelimitConf, 'limits' | 'concurrency' | 'budgets' | 'breakers'>;
