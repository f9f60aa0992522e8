// OpenTelemetry accessors shared by the plugins. The API package alone is a no-op that costs
// almost nothing; a real SDK is present only when an operator configures one (see
// installTracingFromEnv) or a test registers one. Plugins never import an SDK themselves.

import {
  ROOT_CONTEXT,
  TraceFlags,
  createTraceState,
  metrics,
  trace,
  type Context,
  type Meter,
  type SpanContext,
  type Tracer,
} from '@opentelemetry/api';

export const INSTRUMENTATION_NAME = 'apisix-mcp-gateway';

/** The gateway's tracer (resolved through the global provider at each call: cheap, and a
 * provider registered after module load is picked up). */
export function gatewayTracer(): Tracer {
  return trace.getTracer(INSTRUMENTATION_NAME);
}

/** The gateway's meter. The metrics API has no proxy: create instruments after the SDK is set. */
export function gatewayMeter(): Meter {
  return metrics.getMeter(INSTRUMENTATION_NAME);
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

/**
 * Parse a W3C traceparent header. Returns undefined when absent or invalid (version ff,
 * all-zero ids, bad shape, or extra fields on version 00), as the spec asks.
 */
export function parseTraceparent(value: string | undefined, tracestate?: string): SpanContext | undefined {
  if (value === undefined || value.length > 512) return undefined;
  const m = TRACEPARENT.exec(value.trim());
  if (m === null) return undefined;
  const [, version, traceId, spanId, flags, rest] = m as unknown as [string, string, string, string, string, string | undefined];
  if (version === 'ff' || (version === '00' && rest !== undefined)) return undefined;
  if (/^0+$/.test(traceId) || /^0+$/.test(spanId)) return undefined;
  const ctx: SpanContext = {
    traceId,
    spanId,
    traceFlags: parseInt(flags, 16) & TraceFlags.SAMPLED,
    isRemote: true,
  };
  if (tracestate !== undefined && tracestate !== '' && tracestate.length <= 512) {
    ctx.traceState = createTraceState(tracestate);
  }
  return ctx;
}

/** traceparent text of a span context (version 00). */
export function formatTraceparent(sc: SpanContext): string {
  const flags = (sc.traceFlags & 0xff).toString(16).padStart(2, '0');
  return `00-${sc.traceId}-${sc.spanId}-${flags}`;
}

/** A context whose parent is the client's span (or the root when there is none). */
export function parentContext(remote: SpanContext | undefined): Context {
  return remote === undefined ? ROOT_CONTEXT : trace.setSpanContext(ROOT_CONTEXT, remote);
}

type LoadedModule = Record<string, unknown>;

/**
 * The SDK and OTLP exporter modules an OTEL_*_EXPORTER variable asks for: undefined for none
 * (the default), an error naming the variable for anything but otlp or for missing packages.
 * Specifiers are held in variables: these packages are optional and only loaded when configured.
 */
async function otlpModulesFromEnv(env: NodeJS.ProcessEnv, variable: string, sdkName: string, exporterPkg: string): Promise<{ sdk: LoadedModule; exp: LoadedModule } | undefined> {
  const exporterName = (env[variable] ?? 'none').trim();
  if (exporterName === 'none' || exporterName === '') return undefined;
  if (exporterName !== 'otlp') {
    throw new Error(`${variable}="${exporterName}" is not supported by the runner (use otlp or none)`);
  }
  try {
    return { sdk: (await import(sdkName)) as LoadedModule, exp: (await import(exporterPkg)) as LoadedModule };
  } catch {
    throw new Error(`${variable}=otlp needs the packages ${sdkName} and ${exporterPkg} installed next to the runner`);
  }
}

/**
 * Register a tracer provider from the standard OTEL_* environment, once, at runner startup:
 * OTEL_TRACES_EXPORTER=otlp (needs @opentelemetry/exporter-trace-otlp-http installed) or
 * none (default). Console export is refused: runner stdout lands in APISIX's error.log.
 * Returns a shutdown function (flushes spans) or undefined when tracing stays a no-op.
 */
export async function installTracingFromEnv(env: NodeJS.ProcessEnv = process.env): Promise<(() => Promise<void>) | undefined> {
  const modules = await otlpModulesFromEnv(env, 'OTEL_TRACES_EXPORTER', '@opentelemetry/sdk-trace-base', '@opentelemetry/exporter-trace-otlp-http');
  if (!modules) return undefined;
  const { sdk, exp } = modules;
  type Ctor = new (arg?: unknown) => unknown;
  const Provider = sdk['BasicTracerProvider'] as Ctor;
  const Batch = sdk['BatchSpanProcessor'] as Ctor;
  const Exporter = exp['OTLPTraceExporter'] as Ctor;
  const provider = new Provider({ spanProcessors: [new Batch(new Exporter())] }) as {
    shutdown(): Promise<void>;
  };
  trace.setGlobalTracerProvider(provider as unknown as Parameters<typeof trace.setGlobalTracerProvider>[0]);
  return () => provider.shutdown();
}

/**
 * Register a meter provider from the standard OTEL_* environment, once, at runner startup
 * (before any plugin's prepare creates instruments): OTEL_METRICS_EXPORTER=otlp exports every
 * OTel instrument (mcp.server.operation.duration, ...) over OTLP/HTTP every
 * OTEL_METRIC_EXPORT_INTERVAL ms (default 60000); none (default) keeps the API a no-op.
 * The Prometheus endpoint (MCP_RUNNER_METRICS_PORT) is independent of this.
 */
export async function installMetricsFromEnv(env: NodeJS.ProcessEnv = process.env): Promise<(() => Promise<void>) | undefined> {
  const modules = await otlpModulesFromEnv(env, 'OTEL_METRICS_EXPORTER', '@opentelemetry/sdk-metrics', '@opentelemetry/exporter-metrics-otlp-http');
  if (!modules) return undefined;
  const { sdk, exp } = modules;
  type Ctor = new (arg?: unknown) => unknown;
  const interval = Number(env['OTEL_METRIC_EXPORT_INTERVAL'] ?? '') || 60_000;
  const Reader = sdk['PeriodicExportingMetricReader'] as Ctor;
  const Provider = sdk['MeterProvider'] as Ctor;
  const Exporter = exp['OTLPMetricExporter'] as Ctor;
  const reader = new Reader({ exporter: new Exporter(), exportIntervalMillis: interval, exportTimeoutMillis: Math.min(30_000, interval) });
  const provider = new Provider({ readers: [reader] }) as { shutdown(): Promise<void> };
  metrics.setGlobalMeterProvider(provider as unknown as Parameters<typeof metrics.setGlobalMeterProvider>[0]);
  return () => provider.shutdown();
}
