// Generated from schemas/mcp-route.conf.schema.json by `npm run docs`; do not edit.
// The schema is the source of truth: ajv validates confs against it, and this type follows.

/**
 * Route-level settings, written as an `mcp-route` entry of the route's ext-plugin conf list (pre-req and post-resp alike). The runner reads it itself; it is not a plugin with handlers. Optional: a route without it gets the defaults.
 */
export interface McpRouteConf {
  /**
   * Name of the MCP server behind this route. Policies, limits and credentials per server use it when a plugin's own conf names none.
   */
  server?: string;
  /**
   * The route also has ext-plugin-post-resp with the same conf. When false (a fast route), a call that needs the response phase (list filtering, result redaction, pinning) is refused with 403 instead of passing unread.
   */
  post_resp?: boolean;
  /**
   * Largest request body the runner fetches and parses; larger bodies are answered 413.
   */
  max_body_bytes?: number;
  /**
   * Parse and validate every POST body as JSON-RPC even when no plugin reads it (malformed bodies are answered 400 before they reach the server).
   */
  validate_body?: boolean;
}
