// GET /metrics on a loopback port of the runner, in Prometheus text format. Loopback only:
// the runner lives beside APISIX and the scraper reaches it through the host or a sidecar.

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { defaultRegistry, type MetricsRegistry } from './metrics.js';

export interface MetricsEndpoint {
  readonly port: number;
  readonly url: string;
  close(): Promise<void>;
}

/** Start the endpoint on 127.0.0.1:port (0 = any free port). */
export function startMetricsEndpoint(opts: { port: number; registry?: MetricsRegistry; host?: string }): Promise<MetricsEndpoint> {
  const registry = opts.registry ?? defaultRegistry;
  const host = opts.host ?? '127.0.0.1';
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    let text: string;
    try {
      text = registry.render();
    } catch {
      res.writeHead(500, { 'content-type': 'text/plain' }).end('render failed\n');
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
    res.end(req.method === 'HEAD' ? undefined : text);
  });
  // A scraper that never finishes must not hold the runner open at shutdown.
  server.keepAliveTimeout = 5000;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, host, () => {
      server.off('error', reject);
      server.unref();
      const port = (server.address() as AddressInfo).port;
      resolve({
        port,
        url: `http://${host}:${port}/metrics`,
        close: () =>
          new Promise<void>((done) => {
            server.closeAllConnections();
            server.close(() => done());
          }),
      });
    });
  });
}

let fromEnv: Promise<MetricsEndpoint | undefined> | undefined;

/**
 * Start the endpoint once per process when MCP_RUNNER_METRICS_PORT is set (idempotent).
 * The runner's main calls it at startup; mcp-audit also calls it at prepare so the endpoint
 * exists whenever audit is in use.
 */
export function ensureMetricsEndpointFromEnv(env: NodeJS.ProcessEnv = process.env): Promise<MetricsEndpoint | undefined> {
  if (fromEnv !== undefined) return fromEnv;
  const raw = env['MCP_RUNNER_METRICS_PORT'];
  if (raw === undefined || raw === '') {
    fromEnv = Promise.resolve(undefined);
    return fromEnv;
  }
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    fromEnv = Promise.reject(new Error(`MCP_RUNNER_METRICS_PORT must be a port number, got "${raw}"`));
    fromEnv.catch(() => undefined);
    return fromEnv;
  }
  // 127.0.0.1 unless MCP_RUNNER_METRICS_HOST says otherwise (a Prometheus in another container).
  const host = env['MCP_RUNNER_METRICS_HOST'];
  fromEnv = startMetricsEndpoint({ port, ...(host !== undefined && host !== '' ? { host } : {}) });
  fromEnv.catch(() => undefined);
  return fromEnv;
}

/** Close the env-started endpoint (shutdown). */
export async function closeMetricsEndpointFromEnv(): Promise<void> {
  const p = fromEnv;
  fromEnv = undefined;
  const ep = await p?.catch(() => undefined);
  await ep?.close();
}
