// `npm run dev`: a local MCP gateway to try things against. The shipped routes
// (conf/apisix.yaml, generated from conf/gateway.yaml) behind the APISIX emulator on :9080,
// the runner spawned the way APISIX's ext-plugin.cmd spawns it, the sample MCP server as
// the upstream (or yours: MCP_DEV_UPSTREAM=host:port), fresh secrets for every $env://
// reference, and a bearer token for the demo identity. Development only: production runs the
// runner under real Apache APISIX.

import { startDemoStack, DEMO_IDENTITY } from './stack.js';

const port = Number(process.env['EMULATOR_PORT'] ?? 9080);
const stack = await startDemoStack({ port, upstream: process.env['MCP_DEV_UPSTREAM'], tokenLifetime: '8h' });

const lines = [
  `MCP gateway (APISIX emulator) on ${stack.mcpUrl}`,
  `  routes:   conf/apisix.yaml (${stack.routeIds.join(', ')})`,
  `  upstream: ${process.env['MCP_DEV_UPSTREAM'] ?? `sample MCP server ${stack.sample.url}`}`,
  `  runner:   pid ${stack.emulator.runnerPid() ?? '?'}, its output in ${stack.emulator.errorLogPath}`,
  `  audit:    ${stack.auditPath}`,
  `  metrics:  ${stack.metricsUrl}`,
  '',
  `A bearer token for ${JSON.stringify(DEMO_IDENTITY)} (issuer ${stack.tokenIssuer}):`,
  `  TOKEN=${stack.token}`,
  '',
  'Try:',
  `  curl -s ${stack.mcpUrl} -H 'content-type: application/json' -H 'accept: application/json, text/event-stream' \\`,
  `    -H "authorization: Bearer $TOKEN" \\`,
  `    -d '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"crm.lookup_customer","arguments":{"customer_id":"c-1001"}}}'`,
  '',
  'This is a development stand-in. Production runs the runner under real Apache APISIX (docs/deployment.md).',
];
console.log(lines.join('\n'));

let stopping = false;
const shutdown = (): void => {
  if (stopping) return;
  stopping = true;
  void stack.stop().then(() => process.exit(0));
};
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);
