// Typed JSON-RPC 2.0 / MCP messages as the gateway sees them. The body of one HTTP call is
// parsed once (runner/mcp/parse.ts) into an McpRequestBody; plugins read these and never
// parse bytes themselves.

export type JsonRpcId = string | number | null;

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

/** JSON-RPC 2.0 error codes used by the gateway. */
export const JsonRpcErrorCode = {
  ParseError: -32700,
  InvalidRequest: -32600,
  MethodNotFound: -32601,
  InvalidParams: -32602,
  InternalError: -32603,
  /** Implementation-defined server errors (-32000..-32099) of the gateway. */
  Unauthorized: -32001,
  Forbidden: -32003,
  ConfirmationRequired: -32010,
  RateLimited: -32029,
  /** 2026-07-28: a routing header (Mcp-Method, Mcp-Name, Mcp-Param-*, MCP-Protocol-Version) disagrees with the body. */
  HeaderMismatch: -32020,
  CircuitOpen: -32030,
  PayloadTooLarge: -32013,
  GatewayUnavailable: -32050,
} as const;

/** What an MCP message is about, for policy. `other` covers every method not listed. */
export type McpKind =
  | 'initialize'
  | 'ping'
  | 'tools/list'
  | 'tools/call'
  | 'resources/list'
  | 'resources/templates/list'
  | 'resources/read'
  | 'resources/subscribe'
  | 'resources/unsubscribe'
  | 'prompts/list'
  | 'prompts/get'
  | 'completion/complete'
  | 'logging/setLevel'
  | 'server/discover'
  | 'subscriptions/listen'
  | 'notification'
  | 'response'
  | 'other';

/** One element of a request body (or the whole body when it is not a batch). */
export interface McpMessage {
  /** request: has id and method; notification: method, no id; response: result or error, id. */
  readonly type: 'request' | 'notification' | 'response';
  readonly kind: McpKind;
  /** Present for requests and responses. */
  readonly id: JsonRpcId | undefined;
  readonly method: string | undefined;
  /** The params object as parsed ({} when absent). */
  readonly params: JsonObject;
  /** tools/call: params.name. */
  readonly toolName?: string | undefined;
  /** tools/call: params.arguments ({} when absent). */
  readonly arguments?: JsonObject | undefined;
  /** resources/read, resources/subscribe (2025 only): params.uri. */
  readonly resourceUri?: string | undefined;
  /** prompts/get: params.name. */
  readonly promptName?: string | undefined;
  /**
   * The revision `params._meta` claims (2026-07-28 on: every request carries it); null when
   * the claim is there but not a string; undefined when there is none (2025 traffic).
   */
  readonly revision?: string | null | undefined;
  /** The parsed message itself, for plugins that rewrite it. */
  readonly raw: JsonObject;
}

/** The result of parsing a request body. */
export type McpRequestBody =
  | {
      readonly ok: true;
      readonly batch: boolean;
      readonly messages: readonly McpMessage[];
    }
  | {
      readonly ok: false;
      /** ParseError (bad JSON, duplicate keys, bad UTF-8) or InvalidRequest (not JSON-RPC 2.0). */
      readonly code: number;
      readonly message: string;
      /** Best-effort id to answer with (null when unknown). */
      readonly id: JsonRpcId;
    };

/** One JSON-RPC error object. */
export interface JsonRpcError {
  code: number;
  message: string;
  data?: JsonValue | undefined;
}

/** A parsed upstream answer: a JSON body, or an SSE stream of events. */
export interface McpResponseBody {
  readonly format: 'json' | 'sse';
  /** JSON: one entry (object or batch array). SSE: one entry per event, in order. */
  readonly events: SseEvent[];
}

export interface SseEvent {
  /** SSE fields other than data, kept verbatim for re-serialisation (id, event, retry). */
  id?: string | undefined;
  event?: string | undefined;
  retry?: string | undefined;
  /** Comment lines (": ...") before the event, kept verbatim. */
  comments?: string[] | undefined;
  /** The event's data as parsed JSON, or undefined when it is not JSON (kept as text). */
  json: JsonValue | undefined;
  /** Why `json` is undefined although there was data (not JSON, duplicate keys, ...). */
  jsonError?: string | undefined;
  /** The event's data text as received. */
  data: string;
}
