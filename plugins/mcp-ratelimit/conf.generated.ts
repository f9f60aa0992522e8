// Generated from schemas/mcp-ratelimit.conf.schema.json by `npm run docs`; do not edit.
// The schema is the source of truth: ajv validates confs against it, and this type follows.

/**
 * Stable name of the limit: shown in audit records and the `RateLimit` header, part of the counter key (renaming resets it).
 */
export type Name = string;
/**
 * Dimensions that make up the key; each distinct combination is counted apart. Empty or absent: one counter for the route. `tool` is the tool name (tools/call), prompt name (prompts/get) or resource URI (resources/read).
 *
 * @maxItems 8
 */
export type By = ('user' | 'agent' | 'app' | 'tenant' | 'environment' | 'tool' | 'server' | 'method' | 'ip' | 'route')[];
/**
 * When a dimension of `by` is unknown for a call: `shared` (default) counts all such calls in one bucket named `-`; `skip` does not apply this limit to them.
 */
export type Missing = 'shared' | 'skip';

/**
 * Rate limits, concurrent-call limits, budgets and circuit breakers for MCP calls on one route. Limits may also come from a policy file (same shape as the limit sections of this conf); both sets apply.
 */
export interface McpRatelimitConf {
  /**
   * Name of the MCP server behind this route: the value of the `server` dimension and of server-scoped breakers. Defaults to the route key.
   */
  server?: string;
  /**
   * Where counters live. `memory` (default) counts per runner process; `redis` shares counters across runner processes and nodes.
   */
  store?: {
    /**
     * Store kind.
     */
    type: 'memory' | 'redis';
    /**
     * Redis URL (redis:// or rediss://). Required for `redis`. One connection is shared by every route that names the same URL.
     */
    url?: string;
    /**
     * Prefix of every Redis key written by this plugin. Default `mcprl`.
     */
    key_prefix?: string;
    /**
     * Give up on a Redis round trip after this many milliseconds and apply `on_store_error`. Default 50.
     */
    command_timeout_ms?: number;
    /**
     * Memory store only: most counters kept; the oldest are evicted beyond it. Default 100000.
     */
    max_keys?: number;
  };
  /**
   * When the store cannot answer in time: `fail_closed` (default) refuses the call with HTTP 503; `fail_open` lets it through uncounted. Both count a metric and log (at most one line per 10 s).
   */
  on_store_error?: 'fail_open' | 'fail_closed';
  /**
   * How to find the caller when no identity plugin (mcp-authz) ran before this one. Ignored when ctx.identity is set.
   */
  identity?: {
    /**
     * Request header names that carry identity dimensions (trusted as sent: use only behind something that sets them).
     */
    headers?: {
      /**
       * Header carrying the user.
       */
      user?: string;
      /**
       * Header carrying the agent.
       */
      agent?: string;
      /**
       * Header carrying the application.
       */
      app?: string;
      /**
       * Header carrying the tenant.
       */
      tenant?: string;
    };
    /**
     * Use the APISIX `consumer_name` variable (set by an APISIX auth plugin) as the user when no header gave one. Costs one ExtraInfo round trip per call.
     */
    consumer_name?: boolean;
    /**
     * Read claims from a bearer JWT WITHOUT verifying its signature. Only for keying limits behind something that already verified the token; never for authorization.
     */
    unverified_jwt?: {
      /**
       * Must be true: an explicit acknowledgement that the claims are not verified here.
       */
      allow_unverified: true;
      /**
       * Header carrying `Bearer <jwt>`. Default `authorization`.
       */
      header?: string;
      /**
       * Claim name per identity dimension.
       */
      claims: {
        /**
         * Claim naming the user (e.g. `sub`).
         */
        user?: string;
        /**
         * Claim naming the agent.
         */
        agent?: string;
        /**
         * Claim naming the application (e.g. `azp`).
         */
        app?: string;
        /**
         * Claim naming the tenant.
         */
        tenant?: string;
      };
    };
  };
  /**
   * Add `RateLimit-Policy` and `RateLimit` headers to allowed answers too (the tightest rate limit of the call). Default false: only refusals carry them.
   */
  headers_on_allow?: boolean;
  /**
   * Path of a YAML or JSON file with `limits`, `concurrency`, `budgets` and `breakers` sections (same shape as here), read once per conf. Its limits apply in addition to the route's.
   */
  policy_file?: string;
  /**
   * Path of the mcp-authz policy file (schemas/mcp-policy.schema.json), usually the same file mcp-authz names. Each `routes[]` / `mcp_gateway.routes[]` entry with `limits` adds limits scoped by the entry's `match` (server, tools, resources, prompts): `requests_per_minute` a GCRA rate limit, `concurrent_calls` a concurrency limit, keyed by `limits.by` (default `[user]`: one counter per user for the entry, shared by the tools and servers it matches). Their names are `routes/<entry name>/requests_per_minute` and `routes/<entry name>/concurrent_calls` (unnamed entries: `routes[<index>]`), shown in audit records and RateLimit headers. The file is watched: an accepted new version applies from the next call; an invalid one keeps the last good version. Server matching uses `server`, else the route's `mcp-route` server.
   */
  authz_policy_file?: string;
  /**
   * Request-rate limits (GCRA: a smooth rate with a burst allowance).
   *
   * @maxItems 64
   */
  limits?: {
    name: Name;
    by?: By;
    match?: Match;
    /**
     * Requests allowed per `per`.
     */
    requests: number;
    /**
     * Window: `second`, `minute`, `hour`, `day`, or a number of seconds.
     */
    per: ('second' | 'minute' | 'hour' | 'day') | number;
    /**
     * Most requests accepted at once from an idle key. Default `requests` (the whole window's allowance).
     */
    burst?: number;
    missing?: Missing;
  }[];
  /**
   * Concurrent in-flight calls per key. A slot is taken in the request phase and given back when the answer has gone through the response phase, or when its lease expires.
   *
   * @maxItems 32
   */
  concurrency?: {
    name: Name;
    by?: By;
    match?: Match;
    /**
     * Most calls in flight at once.
     */
    max: number;
    /**
     * A slot not given back within this time is freed anyway (a lost answer never leaks a slot). Default 60.
     */
    lease_seconds?: number;
    missing?: Missing;
  }[];
  /**
   * Quotas per UTC calendar day or month, with optional cost weights per tool.
   *
   * @maxItems 32
   */
  budgets?: {
    name: Name;
    by?: By;
    match?: Match;
    /**
     * Cost units allowed per period.
     */
    quota: number;
    /**
     * UTC calendar day (resets 00:00 UTC) or UTC calendar month (resets on the 1st, 00:00 UTC).
     */
    period: 'day' | 'month';
    /**
     * Cost per call by tool name glob (`*` any run, `?` one character); the first glob that matches, in written order, wins.
     */
    costs?: {
      [k: string]: number;
    };
    /**
     * Cost of a call no `costs` glob matches. Default 1.
     */
    default_cost?: number;
    missing?: Missing;
  }[];
  /**
   * Circuit breakers fed by the upstream's answers (HTTP status >= 500, optionally JSON-RPC errors and tool errors in the body). State is kept per runner process.
   *
   * @maxItems 16
   */
  breakers?: {
    name: Name;
    /**
     * One breaker for the whole MCP server (default), or one per tool.
     */
    scope?: 'server' | 'tool';
    match?: Match;
    /**
     * Open after this many failures within `window_seconds` (when `min_calls` calls were seen). Default 5 unless `error_rate` is set.
     */
    failures?: number;
    /**
     * Open when failures / calls within the window reach this rate (with at least `min_calls` calls).
     */
    error_rate?: number;
    /**
     * Fewest calls within the window before the breaker may open. Default 1 (with `failures`) or 10 (with `error_rate`).
     */
    min_calls?: number;
    /**
     * Rolling window of observed calls. Default 30.
     */
    window_seconds?: number;
    /**
     * How long the breaker stays open before letting probes through. Default 30.
     */
    cooldown_seconds?: number;
    /**
     * Calls let through at once while half-open; the first answer decides (success closes, failure re-opens). Default 1.
     */
    half_open_probes?: number;
    /**
     * Also count JSON-RPC error answers inside a 2xx response (reads the response body, which buffers SSE). Client mistakes (-32700, -32600, -32601, -32602) never count. Default false.
     */
    count_jsonrpc_errors?: boolean;
    /**
     * Also count tool results with `isError: true` (reads the response body). Default false.
     */
    count_tool_errors?: boolean;
  }[];
}
/**
 * Which messages this applies to. Absent: tools/call, resources/read and prompts/get.
 */
export interface Match {
  /**
   * JSON-RPC methods (requests only; `*` = every request method). Notifications and responses never count.
   *
   * @minItems 1
   */
  methods?: string[];
  /**
   * Globs on the tool name (`*` any run, `?` one character); for prompts/get and resources/read they match the prompt name / resource URI.
   *
   * @minItems 1
   */
  tools?: string[];
}
