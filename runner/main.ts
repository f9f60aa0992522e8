// Entry point: APISIX spawns this (ext-plugin.cmd) with APISIX_LISTEN_ADDRESS and
// APISIX_CONF_EXPIRE_TIME, or an operator starts it by hand next to `path_for_test`.
// Only variables listed in APISIX's nginx_config.envs reach us, so every setting has a default.

import { Host } from './host/chain.js';
import { carryLimitsFromEnv, type CarryLimits } from './host/carry.js';
import { PluginRegistry, loadPlugins } from './host/registry.js';
import { RunnerState } from './host/state.js';
import { setSecretsLogger } from './secrets/index.js';
import { DEFAULT_CONF_EXPIRE_SECONDS, confExpireSecondsFromEnv } from './protocol/conf-store.js';
import { startServer } from './protocol/server.js';
import { flushLog, log } from './log.js';
import { ensureMetricsEndpointFromEnv } from './observability/prometheus.js';
import { exposeGauge, exposeRunnerCounters } from './observability/runner-metrics.js';
import { installTracingFromEnv } from './observability/telemetry.js';

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
  let carry: CarryLimits | undefined;
  try {
    carry = carryLimitsFromEnv();
  } catch (err) {
    log.warn({ err: (err as Error).message }, 'carry limits from the environment ignored: defaults apply');
  }
  // This runner's own state (policy files, caches, stores): plugins get it at prepare.
  const state = new RunnerState();
  const host = new Host({ registry, state, carry });
  const server = await startServer({
    address,
    host,
    confExpireSeconds,
    logger: log,
  });
  exposeRunnerCounters(server.counters);
  exposeGauge('mcp_runner_in_flight_calls', 'Calls being decided right now', () => server.inFlight());
  exposeGauge('mcp_runner_carried_calls', 'Request-phase states waiting for their response phase', () => host.carriedCalls);
  exposeGauge('mcp_runner_carried_bytes', 'Estimated bytes held by request-phase states waiting for their response phase', () => host.carriedBytes);
  const metrics = await ensureMetricsEndpointFromEnv().catch((err: unknown) => {
    log.error({ err: (err as Error).message }, 'metrics endpoint not started');
    return undefined;
  });
  log.info({ address, plugins: registry.names(), pid: process.pid, metrics: metrics ? 'on' : 'off' }, 'mcp runner listening');

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'draining');
    // APISIX waits 1 s after SIGTERM, then kills: drain within that.
    const hardStop = setTimeout(() => process.exit(0), 950);
    hardStop.unref();
    server
      .close({ drainMs: 700 })
      .catch((err: unknown) => log.error({ err: (err as Error).message }, 'close failed'))
      .then(() => stopTracing?.())
      .finally(() => {
        flushLog();
        process.exit(0);
      });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  // A bug in one call must not take down every route: log and keep serving.
  process.on('uncaughtException', (err) => log.error({ err: err.message, stack: err.stack }, 'uncaught exception'));
  process.on('unhandledRejection', (err) => log.error({ err: String(err) }, 'unhandled rejection'));
}

main().catch((err: unknown) => {
  process.stderr.write(`mcp runner failed to start: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
