// Generated from schemas/mcp-authz.conf.schema.json by `npm run docs`; do not edit.
// The schema is the source of truth: ajv validates confs against it, and this type follows.

/**
 * Per-route conf of the mcp-authz plugin: identity (JWT or APISIX consumer), policy, confirmation, tools/list filtering, tool pinning, OAuth protected resource metadata. To use APISIX's consumer_name, run mcp-authz in ext-plugin-post-req (the variable is not set in pre-req).
 */
export interface McpAuthzConf {
  /**
   * enforce: deny blocks the call. shadow: decide and record (shadow-deny) but let the call pass; identity failures still answer 401 only in enforce mode.
   */
  mode?: 'enforce' | 'shadow';
  /**
   * Name of the MCP server behind this route, matched by policy server fields and used for pinning and confirmation binding (default: the route settings server).
   */
  server?: string;
  /**
   * Path of the YAML policy file (schemas/mcp-policy.schema.json); hot-reloaded; an invalid new version is rejected and the last good one stays.
   */
  policy_file?: string;
  /**
   * Inline policy (same shape as the policy file), merged after the file's rules.
   */
  policy?: {};
  /**
   * Period of the stat fallback that catches changes fs.watch misses.
   */
  reload_interval_ms?: number;
  /**
   * How the caller is identified. Sources are tried in order: JWT bearer (when 'jwt' is set and a bearer token is present), APISIX consumer, trusted headers. A presented token that fails verification is never skipped.
   */
  identity?: {
    /**
     * Verify a JWT bearer token from the Authorization header. issuer and audience are required: a token minted for another resource must not be accepted here (MCP authorization: audience binding).
     */
    jwt?: {
      /**
       * JWKS URL of the authorization server (cached; refetched on unknown kid after the cooldown, so key rotation works).
       */
      jwks_uri?: string;
      /**
       * Static public keys: PEM (SPKI or certificate), JWK JSON, or $env://NAME / $file:///path references to them (re-read when the file changes). Public keys are not secrets, so literals are accepted.
       */
      keys?: string[];
      /**
       * HMAC secret as a reference: $env://NAME or $file:///path (re-read when the file changes: rotation needs no restart; at least 32 bytes). A literal is refused unless allow_literal_secrets is true. Enables HS256/384/512 only; cannot be combined with jwks_uri or keys.
       */
      shared_secret?: string;
      /**
       * Expected iss (one or several).
       */
      issuer: string | string[];
      /**
       * Expected aud (one or several).
       */
      audience: string | string[];
      /**
       * Allowed algorithms. Default RS256, ES256, EdDSA (HS256 with shared_secret). 'none' is never accepted.
       *
       * @minItems 1
       */
      algorithms?: (
        'RS256' | 'RS384' | 'RS512' | 'PS256' | 'PS384' | 'PS512' | 'ES256' | 'ES384' | 'ES512' | 'EdDSA' | 'HS256' | 'HS384' | 'HS512'
      )[];
      /**
       * Allowed clock skew for exp/nbf/iat.
       */
      clock_tolerance_seconds?: number;
      /**
       * Tokens must carry exp by default (a token without one would never expire). Setting this bounds every token's age by its iat instead: tokens whose iat is older are refused, tokens without iat are refused, and tokens without exp are then accepted. At most one day.
       */
      max_token_age_seconds?: number;
      /**
       * Claims that must be present (dot paths).
       */
      required_claims?: string[];
      /**
       * Minimum time between two JWKS fetches (unknown kid refetches).
       */
      jwks_cooldown_ms?: number;
      /**
       * How long a fetched JWKS is used before it is refetched.
       */
      jwks_cache_max_age_ms?: number;
      /**
       * Timeout of a JWKS fetch.
       */
      jwks_timeout_ms?: number;
    };
    /**
     * Claim names (dot paths) mapped to identity fields.
     */
    claims?: {
      /**
       * User claim (default sub).
       */
      user?: string;
      /**
       * Application claim (default azp).
       */
      app?: string;
      /**
       * Agent claim (default agent).
       */
      agent?: string;
      /**
       * Tenant claim (default tenant).
       */
      tenant?: string;
      /**
       * Environment claim (default environment).
       */
      environment?: string;
      /**
       * Roles claim, a string (space or comma separated) or an array (default roles).
       */
      roles?: string;
    };
    /**
     * Trust APISIX's authenticated consumer (Var consumer_name; needs ext-plugin-post-req).
     */
    apisix_consumer?: {
      /**
       * Use consumer_name as identity.
       */
      enabled?: boolean;
      /**
       * Which identity field the consumer name fills.
       */
      field?: 'user' | 'app' | 'agent';
    };
    /**
     * Headers set by a trusted upstream authenticator (e.g. x-consumer-username), mapped to identity fields. Only use when clients cannot set them (APISIX strips/overwrites them).
     */
    trusted_headers?: {
      /**
       * Header holding the user.
       */
      user?: string;
      /**
       * Header holding the application.
       */
      app?: string;
      /**
       * Header holding the agent.
       */
      agent?: string;
      /**
       * Header holding the tenant.
       */
      tenant?: string;
      /**
       * Header holding the environment.
       */
      environment?: string;
      /**
       * Header holding roles (comma or space separated).
       */
      roles?: string;
    };
    /**
     * Let calls without identity through as source 'anonymous' (policy must then allow them explicitly).
     */
    allow_anonymous?: boolean;
  };
  /**
   * OAuth 2.0 Protected Resource Metadata (RFC 9728), served on GET /.well-known/oauth-protected-resource[/<path>] and announced in WWW-Authenticate.
   */
  protected_resource?: {
    /**
     * The resource identifier (URL of the MCP endpoint). Default: derived from Host and the request path.
     */
    resource?: string;
    /**
     * URL announced in WWW-Authenticate resource_metadata. Default: derived from resource per RFC 9728.
     */
    metadata_url?: string;
    /**
     * Issuer URLs of the authorization servers.
     */
    authorization_servers?: string[];
    /**
     * Scopes clients may request.
     */
    scopes_supported?: string[];
    /**
     * Human-readable name of the resource.
     */
    resource_name?: string;
  };
  /**
   * User confirmation of risky calls: a denied-for-now call answers a token; the approved retry carries it.
   */
  confirmation?: {
    /**
     * HMAC-SHA256 key as a reference: $env://NAME or $file:///path (re-read when the file changes; at least 32 bytes). A literal is refused unless allow_literal_secrets is true. Without it the runner's own random key is used (the same on every runner process; tokens then do not survive a runner restart).
     */
    secret?: string;
    /**
     * Lifetime of a confirmation token.
     */
    ttl_seconds?: number;
    /**
     * Request header carrying the token on the approved retry (also accepted in params._meta["io.apisix.mcp/confirmation"], stripped before forwarding).
     */
    header?: string;
    /**
     * How a risky call is confirmed, chosen by what the client declared: 'form' for 2026-07-28 clients that declare form elicitation (an input_required answer with an approve/deny form), 'url' for clients that declare URL-mode elicitation (error -32042 pointing at the gateway's approval page). Clients with neither get a confirmation token. The HTTP status of these answers is the route's (mcp-route answers.confirm).
     */
    channels?: {
      /**
       * Offer the in-client form to 2026-07-28 clients.
       */
      form?: boolean;
      /**
       * Offer the approval page to clients with URL-mode elicitation (the route layout must route approval_page.path to this conf).
       */
      url?: boolean;
    };
    /**
     * The approval page mcp-authz serves in pre-req for URL-mode confirmation.
     */
    approval_page?: {
      /**
       * Path prefix of the page (an approval lives at <path>/<id>).
       */
      path?: string;
      /**
       * Origin the user's browser reaches the gateway at (default: the call's own Host and X-Forwarded-Proto).
       */
      public_url?: string;
    };
    /**
     * Maximum remembered used tokens (single-use); when full of unexpired tokens new confirmations are refused.
     */
    replay_cache_size?: number;
  };
  /**
   * Remove from tools/list, resources/list, resources/templates/list and prompts/list answers what the actor may not use (needs ext-plugin-post-resp).
   */
  filter_lists?: boolean;
  /**
   * Tool definition pinning (tool shadowing / rug-pull defence). Set server (here or in the route settings): unnamed servers share one pin namespace.
   */
  pinning?: {
    /**
     * off, pinned (compare with policy pins) or trust_on_first_use (pins, then the first definition seen).
     */
    mode?: 'off' | 'pinned' | 'trust_on_first_use';
    /**
     * block: remove the tool from lists and deny calls to it; flag: record only.
     */
    on_mismatch?: 'block' | 'flag';
    /**
     * Bound of the trust-on-first-use store (server, tool pairs).
     */
    max_entries?: number;
  };
  /**
   * Accept literal secrets (identity.jwt.shared_secret, confirmation.secret) instead of $env:// or $file:// references (a warning is logged). Off by default.
   */
  allow_literal_secrets?: boolean;
}
