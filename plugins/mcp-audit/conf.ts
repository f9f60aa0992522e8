// The mcp-audit conf as operators write it (schemas/mcp-audit.conf.schema.json) and the
// defaults applied at prepare. Defaults live here too because the host's validator may not
// fill them in.

import type { JsonSchema } from '../../runner/host/plugin.js';
import { loadSchema } from '../../runner/host/schema-file.js';
import type { McpAuditConf } from './conf.generated.js';

/** The conf type is generated from the schema (conf.generated.ts), never written by hand. */
export type AuditConf = McpAuditConf;
export type SinkConf = NonNullable<AuditConf['sink']>;
export type SinkType = NonNullable<SinkConf['type']>;

export const CONF_SCHEMA_FILE = 'mcp-audit.conf.schema.json';
export const confSchema: JsonSchema = loadSchema(CONF_SCHEMA_FILE);

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
