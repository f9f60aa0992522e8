// Generated from schemas/mcp-credential.conf.schema.json by `npm run docs`; do not edit.
// The schema is the source of truth: ajv validates confs against it, and this type follows.

/**
 * The backend credential attached to every allowed call.
 */
export type Credential =
  | BearerCredential
  | ApiKeyCredential
  | BasicCredential
  | NoCredential
  | TokenExchangeCredential
  | ClientCredentialsCredential
  | PerUserCredential;
/**
 * Per-user secret references: the caller's own backend secret.
 */
export type PerUserCredential = {
  [k: string]: unknown;
} & {
  /**
   * Each caller's own secret, chosen by their identity.
   */
  type: 'per_user';
  /**
   * Template of a secret reference with placeholders {user}, {subject}, {app}, {agent} or {tenant}, e.g. $file:///run/secrets/crm/{user} or $env://CRM_TOKEN_{user}. An identity value is used only when it is a plain name (letters, digits, _@+=,:.-; no '..', no leading dot): anything else is refused.
   */
  token?: string;
  /**
   * Map from the identity value named by `field` to a secret reference. Checked before `token`.
   */
  tokens?: {
    [k: string]: Secret;
  };
  /**
   * The identity field that keys `tokens`.
   */
  field?: 'user' | 'subject' | 'app' | 'agent' | 'tenant';
  /**
   * Header that carries the secret. Default: authorization.
   */
  header?: string;
  /**
   * Text put before the secret. Default: 'Bearer ' for authorization, none otherwise.
   */
  prefix?: string;
  /**
   * A secret reference: $env://NAME or $file:///absolute/path (a Kubernetes secret mount; re-read on change). A literal value is refused unless allow_literal_secrets is true.
   */
  fallback?: string;
  /**
   * A per-user file is read again after this long (rotation). A missing file is looked for again after 1 s.
   */
  refresh_seconds?: number;
};
/**
 * A secret reference: $env://NAME or $file:///absolute/path (a Kubernetes secret mount; re-read on change). A literal value is refused unless allow_literal_secrets is true.
 */
export type Secret = string;
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
  credential?: Credential;
  /**
   * Identity token settings for the route.
   */
  identity_token?: IdentityToken;
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
   * Allow this plugin to come before mcp-authz in the chain (it would attach credentials before authorization decided). Off by default. When mcp-authz comes first, each call's decision record must hold its allow, or the credential is withheld (403).
   */
  allow_before_authz?: boolean;
  /**
   * Allow a chain without mcp-authz (credentials would go to every call that reaches this plugin). Off by default.
   */
  allow_without_authz?: boolean;
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
  credential?: Credential;
  /**
   * Identity token settings for this server (replace the route-level ones).
   */
  identity_token?: IdentityToken;
  /**
   * Extra client headers to remove for this server (added to the route-level list).
   *
   * @maxItems 64
   */
  strip_request_headers?: HeaderName[];
}
/**
 * Authorization: Bearer <token>.
 */
export interface BearerCredential {
  /**
   * Send the token as an Authorization bearer token.
   */
  type: 'bearer';
  /**
   * Secret reference of the bearer token.
   */
  token: string;
}
/**
 * An API key in a header of your choice.
 */
export interface ApiKeyCredential {
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
/**
 * Authorization: Basic base64(username:password).
 */
export interface BasicCredential {
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
/**
 * No backend credential: only strip what the client sent (and send the identity token if configured).
 */
export interface NoCredential {
  /**
   * Attach nothing.
   */
  type: 'none';
}
/**
 * OAuth 2.0 Token Exchange (RFC 8693): the caller's bearer token, verified by mcp-authz, is exchanged for a token for the upstream, sent as Authorization: Bearer.
 */
export interface TokenExchangeCredential {
  /**
   * Exchange the caller's verified token for one whose audience is the upstream.
   */
  type: 'token_exchange';
  /**
   * The authorization server's token endpoint. https, or http to a loopback address (or anywhere with allow_insecure_http).
   */
  token_endpoint: string;
  /**
   * How the gateway authenticates to the token endpoint.
   */
  client: Client;
  /**
   * The audience parameter: the upstream the token is for. Default: the selected server name.
   */
  audience?: string;
  /**
   * RFC 8707 resource indicator sent with the request (an absolute URI), when the authorization server wants one.
   */
  resource?: string;
  /**
   * Scopes asked for (the scope parameter). Default: none, the server's default.
   *
   * @maxItems 64
   */
  scopes?: string[];
  /**
   * Longest wait for the token endpoint; past it the call fails closed (503, or unavailable_status).
   */
  timeout_ms?: number;
  /**
   * Tokens kept in memory (least recently used evicted). 0 asks the token endpoint on every call.
   */
  cache_size?: number;
  /**
   * Stop reusing a cached token this long before it expires (at most half its lifetime).
   */
  refresh_before_seconds?: number;
  /**
   * Allow an http token endpoint that is not on a loopback address (a private network). Off by default.
   */
  allow_insecure_http?: boolean;
  /**
   * How the caller's token is described to the token endpoint (urn:ietf:params:oauth:token-type:...).
   */
  subject_token_type?: 'access_token' | 'jwt';
  /**
   * requested_token_type. Default: urn:ietf:params:oauth:token-type:access_token.
   */
  requested_token_type?: string;
}
/**
 * How the gateway authenticates to the token endpoint as an OAuth client.
 */
export interface Client {
  /**
   * The gateway's client_id at the authorization server.
   */
  id: string;
  /**
   * Client authentication. Default: private_key_jwt when private_key is set, else client_secret_basic.
   */
  auth_method?: 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt';
  /**
   * Secret reference of the client secret (client_secret_basic, client_secret_post).
   */
  secret?: string;
  /**
   * Secret reference of the private key (PEM or JWK) that signs the RFC 7523 client assertion (private_key_jwt).
   */
  private_key?: string;
  /**
   * Client assertion algorithm. Default: derived from the key.
   */
  alg?: 'RS256' | 'ES256' | 'EdDSA';
  /**
   * Key id in the client assertion header. Default: the JWK's kid, if any.
   */
  kid?: string;
  /**
   * The client assertion's aud. Default: the token endpoint URL (some servers want their issuer identifier instead).
   */
  assertion_audience?: string;
}
/**
 * OAuth 2.0 client credentials grant: the gateway's own token, sent as Authorization: Bearer.
 */
export interface ClientCredentialsCredential {
  /**
   * The gateway's own token from the client credentials grant.
   */
  type: 'client_credentials';
  /**
   * The authorization server's token endpoint. https, or http to a loopback address (or anywhere with allow_insecure_http).
   */
  token_endpoint: string;
  /**
   * How the gateway authenticates to the token endpoint.
   */
  client: Client;
  /**
   * The audience parameter, when the authorization server wants one. Default: not sent.
   */
  audience?: string;
  /**
   * RFC 8707 resource indicator sent with the request (an absolute URI), when the authorization server wants one.
   */
  resource?: string;
  /**
   * Scopes asked for (the scope parameter). Default: none, the server's default.
   *
   * @maxItems 64
   */
  scopes?: string[];
  /**
   * Longest wait for the token endpoint; past it the call fails closed (503, or unavailable_status).
   */
  timeout_ms?: number;
  /**
   * Tokens kept in memory (least recently used evicted). 0 asks the token endpoint on every call.
   */
  cache_size?: number;
  /**
   * Stop reusing a cached token this long before it expires (at most half its lifetime).
   */
  refresh_before_seconds?: number;
  /**
   * Allow an http token endpoint that is not on a loopback address (a private network). Off by default.
   */
  allow_insecure_http?: boolean;
}
/**
 * Mint a short-lived JWT describing the caller (user, app, agent, tenant, environment, roles) so the backend knows who is behind the gateway's credential.
 */
export interface IdentityToken {
  /**
   * A secret reference: $env://NAME or $file:///absolute/path (a Kubernetes secret mount; re-read on change). A literal value is refused unless allow_literal_secrets is true.
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
