// `npm run dev`: the runner (spawned the way APISIX's ext-plugin.cmd does) behind the APISIX
// emulator, with conf/apisix.yaml when present. For local development only.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../runner/host/schema-file.js';
import { startEmulator } from './index.js';

const confPath = join(PACKAGE_ROOT, 'conf', 'apisix.yaml');
const runnerMain = join(PACKAGE_ROOT, 'dist', 'runner', 'main.js');
const port = Number(process.env.EMULATOR_PORT ?? 9080);

const emulator = await startEmulator({
  config: existsSync(confPath) ? confPath : { routes: [] },
  cmd: [process.execPath, runnerMain],
  // Like nginx_config.envs: everything else is scrubbed from the runner's environment.
  envs: Object.keys(process.env).filter((n) => n.startsWith('MCP_')),
  port,
});

console.log(`APISIX emulator listening on ${emulator.url}`);
console.log(`routes: ${existsSync(confPath) ? confPath : '(none: create conf/apisix.yaml)'}`);
console.log(`runner: ${runnerMain} on unix:${emulator.socketPath}; its output goes to ${emulator.errorLogPath}`);
console.log('This is a development stand-in. Production runs the runner under real Apache APISIX (ext-plugin.cmd).');

let stopping = false;
const shutdown = (): void => {
  if (stopping) return;
  stopping = true;
  void emulator.stop().then(() => process.exit(0));
};
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);
