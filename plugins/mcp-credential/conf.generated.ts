// Generated from schemas/mcp-credential.conf.schema.json by `npm run docs`; do not edit.
// The schema is the source of truth: ajv validates confs against it, and this type follows.

/**
 * An HTTP header name (case-insensitive).
 */
export type HeaderName = string;

/**
 * Removes the credentials the client sent and attaches the backend credential (and optionally a short-lived identity JWT) before the call goes upstream; drops credential headers from the upstream answer. Place it after mcp-authz and mcp-ratelimit in the route's conf list: it only runs once every plugin before it allowed the call.
 */
export interface McpCredentialConf {
  /**
   * Name of the MCP server this route proxies; selects the entry of `servers`.
   */
  server?: string;
  /**
   * Credential settings per MCP server name. The entry named by `server` is used; route-level settings apply otherwise.
   */
  servers?: {
    [k: string]: Server;
  };
  /**
   * The backend credential for the route (when `server` selects no entry of `servers`, or the entry has none).
   */
  credential?:
    | {
        /**
         * Send the token as an Authorization bearer token.
         */
        type: 'bearer';
        /**
         * Secret reference of the bearer token.
         */
        token: string;
      }
    | {
        /**
         * Send the key in the header named by `header`.
         */
        type: 'api_key';
        /**
         * Header that carries the key, e.g. x-api-key.
         */
        header: string;
        /**
         * Secret reference of the API key.
         */
        value: string;
        /**
         * Text put before the key in the header value (e.g. 'Token '). Default: none.
         */
        prefix?: string;
      }
    | {
        /**
         * HTTP basic authentication.
         */
        type: 'basic';
        /**
         * User name: plain text, or a secret reference ($env:// / $file://).
         */
        username: string;
        /**
         * Secret reference of the password.
         */
        password: string;
      }
    | {
        /**
         * Attach nothing.
         */
        type: 'none';
      };
  identity_token?: IdentityToken1;
  /**
   * Client headers removed before the call goes upstream, in addition to authorization, cookie, proxy-authorization and the headers this plugin sets (e.g. x-api-key).
   *
   * @maxItems 64
   */
  strip_request_headers?: HeaderName[];
  /**
   * Upstream response headers dropped before the answer reaches the client (e.g. set-cookie). When set, the route must have the response phase (post-resp). Always dropped as well, when the route has it: authorization, proxy-authorization, the headers this plugin sets, and any header whose value contains an injected secret.
   *
   * @maxItems 64
   */
  strip_response_headers?: HeaderName[];
  /**
   * Accept literal secrets in this conf (a warning is logged). Off by default: use $env:// or $file:// references.
   */
  allow_literal_secrets?: boolean;
  /**
   * Allow this plugin to come before mcp-authz in the chain (it would attach credentials before authorization decided). Off by default.
   */
  allow_before_authz?: boolean;
  /**
   * HTTP status when a secret reference cannot be resolved at call time (the call fails closed).
   */
  unavailable_status?: 500 | 503;
}
/**
 * Credential settings of one MCP server.
 */
export interface Server {
  /**
   * The backend credential of this server.
   */
  credential?:
    | {
        /**
         * Send the token as an Authorization bearer token.
         */
        type: 'bearer';
        /**
         * Secret reference of the bearer token.
         */
        token: string;
      }
    | {
        /**
         * Send the key in the header named by `header`.
         */
        type: 'api_key';
        /**
         * Header that carries the key, e.g. x-api-key.
         */
        header: string;
        /**
         * Secret reference of the API key.
         */
        value: string;
        /**
         * Text put before the key in the header value (e.g. 'Token '). Default: none.
         */
        prefix?: string;
      }
    | {
        /**
         * HTTP basic authentication.
         */
        type: 'basic';
        /**
         * User name: plain text, or a secret reference ($env:// / $file://).
         */
        username: string;
        /**
         * Secret reference of the password.
         */
        password: string;
      }
    | {
        /**
         * Attach nothing.
         */
        type: 'none';
      };
  identity_token?: IdentityToken;
  /**
   * Extra client headers to remove for this server (added to the route-level list).
   *
   * @maxItems 64
   */
  strip_request_headers?: HeaderName[];
}
/**
 * Identity token settings for this server (replace the route-level ones).
 */
export interface IdentityToken {
  /**
   * Secret reference of the gateway's private signing key, PEM (PKCS#8, PKCS#1 or SEC1) or JWK JSON.
   */
  signing_key: string;
  /**
   * Signature algorithm. Default: derived from the key (RSA: RS256, P-256: ES256, Ed25519: EdDSA).
   */
  alg?: 'RS256' | 'ES256' | 'EdDSA';
  /**
   * Key id put in the JWT header. Default: the JWK's kid, if any.
   */
  kid?: string;
  /**
   * The `iss` claim (this gateway).
   */
  issuer: string;
  /**
   * The `aud` claim (the backend). Default: the selected server name; required when no server is selected.
   */
  audience?: string;
  /**
   * Token lifetime in seconds (at most 5 minutes).
   */
  ttl_seconds?: number;
  /**
   * Header that carries the token. Default: x-mcp-identity, or authorization (as a bearer token) when the credential type is none.
   */
  header?: string;
  /**
   * How many minted tokens are kept (per distinct identity and audience, least recently used evicted) so signing is not per call. 0 disables caching.
   */
  cache_size?: number;
  /**
   * When no plugin set an identity: deny (401, the default) or send the call without an identity token.
   */
  on_missing_identity?: 'deny' | 'skip';
}
/**
 * Identity token settings for the route.
 */
export interface IdentityToken1 {
  /**
   * Secret reference of the gateway's private signing key, PEM (PKCS#8, PKCS#1 or SEC1) or JWK JSON.
   */
  signing_key: string;
  /**
   * Signature algorithm. Default: derived from the key (RSA: RS256, P-256: ES256, Ed25519: EdDSA).
   */
  alg?: 'RS256' | 'ES256' | 'EdDSA';
  /**
   * Key id put in the JWT header. Default: the JWK's kid, if any.
   */
  kid?: string;
  /**
   * The `iss` claim (this gateway).
   */
  issuer: string;
  /**
   * The `aud` claim (the backend). Default: the selected server name; required when no server is selected.
   */
  audience?: string;
  /**
   * Token lifetime in seconds (at most 5 minutes).
   */
  ttl_seconds?: number;
  /**
   * Header that carries the token. Default: x-mcp-identity, or authorization (as a bearer token) when the credential type is none.
   */
  header?: string;
  /**
   * How many minted tokens are kept (per distinct identity and audience, least recently used evicted) so signing is not per call. 0 disables caching.
   */
  cache_size?: number;
  /**
   * When no plugin set an identity: deny (401, the default) or send the call without an identity token.
   */
  on_missing_identity?: 'deny' | 'skip';
}
