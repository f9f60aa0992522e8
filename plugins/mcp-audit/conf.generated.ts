// Generated from schemas/mcp-audit.conf.schema.json by `npm run docs`; do not edit.
// The schema is the source of truth: ajv validates confs against it, and this type follows.

/**
 * Per-route conf of mcp-audit: one audit event per meaningful MCP call, a trace span per HTTP call, call metrics. List mcp-audit FIRST in the route's plugin list so it also sees calls that later plugins stop.
 */
export type McpAuditConf = {
  /**
   * Name of the MCP server behind this route; written to every event, span (mcp.server) and metric (server label).
   */
  server?: string;
  /**
   * Also emit events for tools/list, resources/list, resources/templates/list and prompts/list calls that succeed. Denied, limited or failed calls are always audited.
   */
  include_list_calls?: boolean;
  /**
   * Emit an event for every JSON-RPC request and notification (initialize, ping, notifications, ...), not only tools/call, resources/read and prompts/get.
   */
  include_all_methods?: boolean;
  /**
   * Write the raw tools/call argument values into events (as forwarded, i.e. after mcp-redact). Off by default: events carry argument key names, JSON types, size and SHA-256 only. Enable only with a strict reason.
   */
  log_argument_values?: boolean;
  /**
   * With log_argument_values: arguments larger than this (canonical JSON bytes) are not written; the event says values_omitted: too_large.
   */
  max_argument_value_bytes?: number;
  /**
   * Whether a response phase (ext-plugin-post-resp) follows the request phase. auto: expected unless the host asked needsResponsePhase (it does so only on routes without post-resp). expected: always wait for it (up to response_lease_seconds). none: emit at the end of the request phase with result forwarded.
   */
  response_phase?: 'auto' | 'expected' | 'none';
  /**
   * How long request-phase facts wait for the response phase. When it never comes, the event is written anyway with result no_response (no event is lost).
   */
  response_lease_seconds?: number;
  /**
   * fail_open: calls proceed when audit events cannot be written (they are counted in mcp_audit_events_dropped_total). fail_closed: while the sink is broken or its buffer is full, calls are refused with HTTP 503 and a JSON-RPC error (-32050).
   */
  on_sink_failure?: 'fail_open' | 'fail_closed';
  /**
   * Where events go. Sinks with identical settings are shared between routes.
   */
  sink?: {
    /**
     * file (recommended: JSON lines through an asynchronous pino destination), stdout (note: APISIX copies runner stdout into its error.log at warn level), or http (batched POST to a collector).
     */
    type?: 'file' | 'stdout' | 'http';
    /**
     * file sink: path of the JSON-lines file (appended; parent directories are created). Relative paths resolve against the runner's working directory, so prefer an absolute path.
     */
    path?: string;
    /**
     * http sink: collector URL, e.g. http://127.0.0.1:4318/v1/logs for OTLP/HTTP or any endpoint accepting JSON lines.
     */
    url?: string;
    /**
     * http sink body: json_lines (application/x-ndjson, one event per line) or otlp_json (OTLP/HTTP logs JSON, one log record per event with the event JSON as body).
     */
    format?: 'json_lines' | 'otlp_json';
    /**
     * http sink: extra request headers (e.g. authorization for the collector). A value of the form $env://NAME is read from the runner's environment at prepare; values are never logged.
     */
    headers?: {
      [k: string]: string;
    };
    /**
     * http sink: most events per POST; a full batch is sent at once.
     */
    batch_max_events?: number;
    /**
     * http sink: a partial batch is sent at least this often; also the base of the retry back-off.
     */
    flush_interval_ms?: number;
    /**
     * http sink: timeout of one POST; a failed batch stays queued and is retried.
     */
    timeout_ms?: number;
    /**
     * Bound of the in-memory queue in front of the sink. Beyond it events are dropped and counted (mcp_audit_events_dropped_total), or calls refused with fail_closed.
     */
    max_buffered_events?: number;
    /**
     * http sink: file to which events still unsent at shutdown are appended (JSON lines), so a collector outage at SIGTERM loses nothing.
     */
    fallback_path?: string;
  };
  /**
   * Spans through @opentelemetry/api. Without a registered SDK this costs nearly nothing.
   */
  tracing?: {
    /**
     * Start a span per HTTP call (tracer apisix-mcp-gateway), continuing the client's traceparent.
     */
    enabled?: boolean;
    /**
     * When the span is recorded, send its context upstream by setting traceparent (and tracestate) on the upstream request.
     */
    propagate?: boolean;
  };
  /**
   * Call metrics (Prometheus endpoint at MCP_RUNNER_METRICS_PORT, and OpenTelemetry metrics when an SDK is registered).
   */
  metrics?: {
    /**
     * Record call count, latency, errors, policy decisions, limit hits and breaker state for this route.
     */
    enabled?: boolean;
  };
};
