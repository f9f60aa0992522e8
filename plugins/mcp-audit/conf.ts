// The mcp-audit conf as operators write it (schemas/mcp-audit.conf.schema.json) and the
// defaults applied at prepare. Defaults live here too because the host's validator may not
// fill them in.

export type SinkType = 'file' | 'stdout' | 'http';

export interface SinkConf {
  type?: SinkType;
  /** file: path of the JSON-lines file. */
  path?: string;
  /** http: collector URL. */
  url?: string;
  format?: 'json_lines' | 'otlp_json';
  /** http: extra request headers; values may be `$env://NAME`. */
  headers?: Record<string, string>;
  batch_max_events?: number;
  flush_interval_ms?: number;
  timeout_ms?: number;
  max_buffered_events?: number;
  /** http: where events still unsent at shutdown are appended. */
  fallback_path?: string;
}

export interface AuditConf {
  server?: string;
  include_list_calls?: boolean;
  include_all_methods?: boolean;
  log_argument_values?: boolean;
  max_argument_value_bytes?: number;
  response_phase?: 'auto' | 'expected' | 'none';
  response_lease_seconds?: number;
  on_sink_failure?: 'fail_open' | 'fail_closed';
  sink?: SinkConf;
  tracing?: { enabled?: boolean; propagate?: boolean };
  metrics?: { enabled?: boolean };
}

export const DEFAULT_FILE_PATH = 'logs/mcp-audit.log';

export interface ResolvedSinkConf {
  type: SinkType;
  path: string;
  url: string;
  format: 'json_lines' | 'otlp_json';
  headers: Record<string, string>;
  batchMaxEvents: number;
  flushIntervalMs: number;
  timeoutMs: number;
  maxBufferedEvents: number;
  fallbackPath: string | undefined;
}

export function resolveSinkConf(s: SinkConf | undefined, env: NodeJS.ProcessEnv = process.env): ResolvedSinkConf {
  const type = s?.type ?? 'file';
  if (type === 'http' && (s?.url === undefined || s.url === '')) {
    throw new Error('sink.url is required when sink.type is "http"');
  }
  if (type === 'http') {
    let u: URL;
    try {
      u = new URL(s?.url ?? '');
    } catch {
      throw new Error(`sink.url is not a valid URL`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('sink.url must be http or https');
  }
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(s?.headers ?? {})) {
    if (value.startsWith('$env://')) {
      const varName = value.slice('$env://'.length);
      const v = env[varName];
      // Name the variable, never the value.
      if (v === undefined) throw new Error(`sink.headers.${name}: environment variable ${varName} is not set`);
      headers[name] = v;
    } else {
      headers[name] = value;
    }
  }
  return {
    type,
    path: s?.path ?? DEFAULT_FILE_PATH,
    url: s?.url ?? '',
    format: s?.format ?? 'json_lines',
    headers,
    batchMaxEvents: s?.batch_max_events ?? 100,
    flushIntervalMs: s?.flush_interval_ms ?? 1000,
    timeoutMs: s?.timeout_ms ?? 2000,
    maxBufferedEvents: s?.max_buffered_events ?? 10000,
    fallbackPath: s?.fallback_path,
  };
}
