// `npm run dev`: a local MCP gateway to try things against. The shipped routes
// (conf/apisix.yaml, generated from conf/gateway.yaml) behind the APISIX emulator on :9080
// (EMULATOR_PORT), the runner spawned the way APISIX's ext-plugin.cmd spawns it, the sample MCP
// server as the upstream (or yours: MCP_DEV_UPSTREAM=host:port), fresh secrets for every
// $env:// reference, and a bearer token for the demo identity. Development only: production
// runs the runner under real Apache APISIX.

import { EmulatorListenError } from '../emulator/index.js';
import { startDemoStack, DEMO_IDENTITY, type DemoStack } from './stack.js';

const DEFAULT_PORT = 9080;

function portFromEnv(): number | undefined {
  const raw = process.env['EMULATOR_PORT'];
  if (raw === undefined || raw === '') return DEFAULT_PORT;
  const port = Number(raw);
  return Number.isInteger(port) && port > 0 && port < 65536 ? port : undefined;
}

const port = portFromEnv();
if (port === undefined) {
  process.stderr.write(`EMULATOR_PORT=${process.env['EMULATOR_PORT']} is not a TCP port (1-65535)\n`);
  process.exit(2);
}

let stack: DemoStack;
try {
  stack = await startDemoStack({ port, upstream: process.env['MCP_DEV_UPSTREAM'], tokenLifetime: '8h', keepLogs: true });
} catch (err) {
  if (err instanceof EmulatorListenError) {
    const next = port === 65535 ? 9081 : port + 1;
    const why = err.code === 'EADDRINUSE' ? `port ${port} on 127.0.0.1 is taken (another npm run dev, or APISIX itself?)` : err.message;
    process.stderr.write(`npm run dev: ${why}.\nPick another port: EMULATOR_PORT=${next} npm run dev\n`);
    process.exit(1);
  }
  throw err;
}

const gateway = stack.mcpUrl;
const jwt = stack.jwt;
const lines = [
  `MCP gateway (APISIX emulator) on ${gateway}   (port: EMULATOR_PORT, default ${DEFAULT_PORT})`,
  `  routes:   conf/apisix.yaml (${stack.routeIds.join(', ')})`,
  `  upstream: ${process.env['MCP_DEV_UPSTREAM'] ?? `sample MCP server ${stack.sample.url}`}`,
  `  runner:   pid ${stack.emulator.runnerPid() ?? '?'}, its output in ${stack.emulator.errorLogPath}`,
  `  audit:    ${stack.auditPath}`,
  `  metrics:  ${stack.metricsUrl}`,
  `  secret:   ${stack.secretFile} (HS256, fresh for this run; ${jwt.secretEnv} in the routes)`,
  '',
  `A bearer token for ${JSON.stringify(DEMO_IDENTITY)} (issuer ${stack.tokenIssuer}):`,
  `  TOKEN=${stack.token}`,
  '',
  'Try:',
  `  curl -s ${gateway} -H 'content-type: application/json' -H 'accept: application/json, text/event-stream' \\`,
  `    -H "authorization: Bearer $TOKEN" \\`,
  `    -d '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"crm.lookup_customer","arguments":{"customer_id":"c-1001"}}}'`,
  '',
  'A token for another identity:',
  `  TOKEN=$(npm run -s mint -- --secret-file ${stack.secretFile} --user bob --roles admin --app support-agent)`,
  'The end-to-end scenarios against this gateway:',
  `  npm run e2e -- --gateway ${gateway} --jwt-secret-file ${stack.secretFile} --issuer ${jwt.issuer} --audience ${jwt.audience}`,
  '',
  'This is a development stand-in. Production runs the runner under real Apache APISIX (docs/deployment.md).',
];
console.log(lines.join('\n'));

let stopping = false;
const shutdown = (): void => {
  if (stopping) return;
  stopping = true;
  void stack.stop().then(() => {
    console.log(`\nstopped; kept the audit log ${stack.auditPath} and the runner's log ${stack.emulator.errorLogPath}`);
    process.exit(0);
  });
};
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);
