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
  /**
   * Pass requests that resume an SSE stream (a Last-Event-ID header). The server replays that stream's events, answers included, and the gateway does not read them: no list filtering, no pinning, no result redaction. When false, such a request is refused with 403 (JSON-RPC error, rule resumption-unread) on any route whose chain has a plugin that may read answers. Set it only where no plugin needs to read what the server sends.
   */
  allow_resumption?: boolean;
  /**
   * How refusals reach MCP clients. By default policy denials, limits and confirmation-token requests answer HTTP 200 with a JSON-RPC error (code, message, data with rule, plugin, next step and refusal kind), so SDK clients raise their protocol error with code and data. 401 and 403 insufficient_scope (WWW-Authenticate) are never remapped; elicitation answers (-32042, input_required) are always 200.
   */
  answers?: {
    /**
     * HTTP status of policy denials (JSON-RPC -32003).
     */
    denied?: 200 | 403;
    /**
     * HTTP status of limits (JSON-RPC -32029); Retry-After and RateLimit headers are sent either way.
     */
    limited?: 200 | 429;
    /**
     * HTTP status of confirmation-token requests (JSON-RPC -32010).
     */
    confirm?: 200 | 403 | 428;
    /**
     * A denied or limited tools/call (not a batch): a JSON-RPC error, or a tool result with isError: true and a readable text the model sees.
     */
    tool_call_refusals?: 'error' | 'result';
  };
}
