// The operator-facing conf shape (schemas/mcp-ratelimit.conf.schema.json is the source of truth;
// these types mirror it for the compiler).

export type Dimension =
  | 'user'
  | 'agent'
  | 'app'
  | 'tenant'
  | 'environment'
  | 'tool'
  | 'server'
  | 'method'
  | 'ip'
  | 'route';

export type MissingPolicy = 'shared' | 'skip';

export interface MatchConf {
  methods?: string[];
  tools?: string[];
}

interface Keyed {
  name: string;
  by?: Dimension[];
  match?: MatchConf;
  missing?: MissingPolicy;
}

export interface RateLimitConf extends Keyed {
  requests: number;
  per: 'second' | 'minute' | 'hour' | 'day' | number;
  burst?: number;
}

export interface ConcurrencyConf extends Keyed {
  max: number;
  lease_seconds?: number;
}

export interface BudgetConf extends Keyed {
  quota: number;
  period: 'day' | 'month';
  costs?: Record<string, number>;
  default_cost?: number;
}

export interface BreakerConf {
  name: string;
  scope?: 'server' | 'tool';
  match?: MatchConf;
  failures?: number;
  error_rate?: number;
  min_calls?: number;
  window_seconds?: number;
  cooldown_seconds?: number;
  half_open_probes?: number;
  count_jsonrpc_errors?: boolean;
  count_tool_errors?: boolean;
}

export interface StoreConf {
  type: 'memory' | 'redis';
  url?: string;
  key_prefix?: string;
  command_timeout_ms?: number;
  max_keys?: number;
}

export interface IdentityConf {
  headers?: { user?: string; agent?: string; app?: string; tenant?: string };
  consumer_name?: boolean;
  unverified_jwt?: {
    allow_unverified: true;
    header?: string;
    claims: { user?: string; agent?: string; app?: string; tenant?: string };
  };
}

/** The limit sections, shared by the route conf and the policy file. */
export interface LimitSections {
  limits?: RateLimitConf[];
  concurrency?: ConcurrencyConf[];
  budgets?: BudgetConf[];
  breakers?: BreakerConf[];
}

export interface RatelimitConf extends LimitSections {
  server?: string;
  store?: StoreConf;
  on_store_error?: 'fail_open' | 'fail_closed';
  identity?: IdentityConf;
  headers_on_allow?: boolean;
  policy_file?: string;
  /** mcp-authz's policy file: its route entries' `limits` apply too (see policy-routes.ts). */
  authz_policy_file?: string;
}
