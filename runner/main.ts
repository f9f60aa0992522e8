// Entry point: APISIX spawns this (ext-plugin.cmd) with APISIX_LISTEN_ADDRESS and
// APISIX_CONF_EXPIRE_TIME, or an operator starts it by hand next to `path_for_test`.
// Only variables listed in APISIX's nginx_config.envs reach us, so every setting has a default.
// MCP_RUNNER_WORKERS > 1 makes this process the primary of a multi-process runner
// (runner/cluster/); 1 is a single process serving the socket itself.

import { Host } from './host/chain.js';
import { CALL_VAR, carryLimitsFromEnv, type CarryLimits } from './host/carry.js';
import { PluginRegistry, loadPlugins } from './host/registry.js';
import { RunnerState } from './host/state.js';
import { setSecretsLogger } from './secrets/index.js';
import { ConfStore, DEFAULT_CONF_EXPIRE_SECONDS, confExpireSecondsFromEnv } from './protocol/conf-store.js';
import { startServer, type RunnerServer } from './protocol/server.js';
import { flushLog, log } from './log.js';
import { ensureMetricsEndpointFromEnv } from './observability/prometheus.js';
import { exposeGauge, exposeRunnerCounters } from './observability/runner-metrics.js';
import { installMetricsFromEnv, installTracingFromEnv } from './observability/telemetry.js';
import { DRAIN_MS, STOP_BUDGET_MS, runPrimary } from './cluster/primary.js';
import { WorkerLink, isClusterWorker } from './cluster/worker.js';
import { workersFromEnv } from './cluster/settings.js';
import { onParentGone } from './parent-watch.js';
import type { CompiledChain } from './host/chain.js';

async function main(): Promise<void> {
  const address = process.env['APISIX_LISTEN_ADDRESS'];
  if (!address) {
    process.stderr.write('APISIX_LISTEN_ADDRESS is not set (expected unix:/path/to/runner.sock)\n');
    process.exit(2);
  }
  let confExpireSeconds = DEFAULT_CONF_EXPIRE_SECONDS;
  try {
    confExpireSeconds = confExpireSecondsFromEnv(process.env['APISIX_CONF_EXPIRE_TIME']);
  } catch (err) {
    // A bad value must not keep every route down: serve with the default, and say why.
    log.warn({ err: (err as Error).message, default: DEFAULT_CONF_EXPIRE_SECONDS }, 'APISIX_CONF_EXPIRE_TIME ignored');
  }
  if (isClusterWorker()) return serve(address, confExpireSeconds, new WorkerLink(CALL_VAR));
  const { workers, error } = workersFromEnv(process.env['MCP_RUNNER_WORKERS']);
  if (error !== undefined) log.warn({}, error);
  if (workers > 1) {
    const metricsPort = Number(process.env['MCP_RUNNER_METRICS_PORT']);
    return runPrimary({
      address,
      workers,
      confExpireSeconds,
      logger: log,
      metricsPortBase: process.env['MCP_RUNNER_METRICS_PORT'] && Number.isInteger(metricsPort) ? metricsPort : undefined,
    });
  }
  return serve(address, confExpireSeconds, undefined);
}

/** A runner: the whole runner (one process), or one worker of a multi-process runner (`link`). */
async function serve(address: string, confExpireSeconds: number, link: WorkerLink | undefined): Promise<void> {
  const registry = new PluginRegistry();
  setSecretsLogger(log);
  const extra = (process.env['MCP_RUNNER_PLUGINS'] ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  const failures = await loadPlugins(registry, extra);
  for (const f of failures) log.error({ failure: f }, 'plugin failed to load: routes that use it fail closed');

  // Tracing only when OTEL_TRACES_EXPORTER asks for it; otherwise the OTel API stays a no-op.
  const stopTracing = await installTracingFromEnv().catch((err: unknown) => {
    log.error({ err: (err as Error).message }, 'tracing not installed');
    return undefined;
  });
  // OTel metrics export only when OTEL_METRICS_EXPORTER asks for it (before any prepare).
  const stopMetrics = await installMetricsFromEnv().catch((err: unknown) => {
    log.error({ err: (err as Error).message }, 'OTel metrics export not installed');
    return undefined;
  });
  let carry: CarryLimits | undefined;
  try {
    carry = carryLimitsFromEnv();
  } catch (err) {
    log.warn({ err: (err as Error).message }, 'carry limits from the environment ignored: defaults apply');
  }
  // This runner's own state (policy files, caches, stores): plugins get it at prepare.
  const state = new RunnerState({ shared: link?.shared });
  const host = new Host({ registry, state, carry, carryKeyPrefix: link?.carryKeyPrefix });
  const server: RunnerServer<CompiledChain> = await startServer({
    address,
    host,
    confExpireSeconds,
    logger: log,
    ...(link && {
      adoptOnly: true,
      authority: link,
      router: link,
      store: new ConfStore<CompiledChain>({ confExpireSeconds, onRefresh: link.touched }),
    }),
  });
  exposeRunnerCounters(server.counters);
  exposeGauge('mcp_runner_in_flight_calls', 'Calls being decided right now', () => server.inFlight());
  exposeGauge('mcp_runner_carried_calls', 'Request-phase states waiting for their response phase', () => host.carriedCalls);
  exposeGauge('mcp_runner_carried_bytes', 'Estimated bytes held by request-phase states waiting for their response phase', () => host.carriedBytes);
  // Each (re)spawn by APISIX is a new process: changes() of this counts runner restarts.
  const startedSeconds = Math.round(performance.timeOrigin) / 1000;
  exposeGauge('process_start_time_seconds', 'Start time of the runner process since the Unix epoch in seconds', () => startedSeconds);
  const metrics = await ensureMetricsEndpointFromEnv().catch((err: unknown) => {
    log.error({ err: (err as Error).message }, 'metrics endpoint not started');
    return undefined;
  });

  let stopping = false;
  /**
   * SIGTERM (a reload): refuse new request phases, keep answering the response phases of calls
   * already carried (their answer would otherwise reach the client raw, §2.7), then close and
   * flush, all within APISIX's 1 s before SIGKILL. `drainMs` 0: close at once.
   */
  const stop = (reason: string, drainMs: number): void => {
    if (stopping) return;
    stopping = true;
    const startedAt = Date.now();
    log.info({ reason, carried: host.carriedCalls }, 'draining');
    const hardStop = setTimeout(() => process.exit(0), STOP_BUDGET_MS);
    hardStop.unref();
    server
      .drain({ pending: () => host.carriedCalls, maxMs: drainMs })
      .then((left) => {
        if (left > 0) log.warn({ carried: left }, 'stopping with calls still waiting for their response phase: APISIX answers those 503 with the upstream body');
        const rest = STOP_BUDGET_MS - (Date.now() - startedAt);
        return server.close({ drainMs: Math.max(0, Math.min(150, rest - 200)), shutdownTimeoutMs: Math.max(50, Math.min(150, rest - 100)) });
      })
      .catch((err: unknown) => log.error({ err: (err as Error).message }, 'close failed'))
      .then(() => Promise.all([stopTracing?.(), stopMetrics?.()]))
      .finally(() => {
        link?.close();
        flushLog();
        process.exit(0);
      });
  };
  if (link) {
    await link.start({ adopt: (socket, routed) => server.adopt(socket, routed), drain: (ms) => stop('primary', ms) });
    // The primary owns signals: a worker drains when the primary says so.
    process.on('SIGTERM', () => undefined);
    process.on('SIGINT', () => undefined);
  } else {
    process.on('SIGTERM', () => stop('SIGTERM', DRAIN_MS));
    process.on('SIGINT', () => stop('SIGINT', DRAIN_MS));
    onParentGone(() => stop('parent exited', DRAIN_MS));
  }
  log.info(
    { address, plugins: registry.names(), pid: process.pid, worker: link?.id, metrics: metrics ? 'on' : 'off' },
    link ? 'mcp runner worker serving' : 'mcp runner listening',
  );
  // A bug in one call must not take down every route: log and keep serving.
  process.on('uncaughtException', (err) => log.error({ err: err.message, stack: err.stack }, 'uncaught exception'));
  process.on('unhandledRejection', (err) => log.error({ err: String(err) }, 'unhandled rejection'));
}

main().catch((err: unknown) => {
  process.stderr.write(`mcp runner failed to start: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
