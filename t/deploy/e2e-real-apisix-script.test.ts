// deploy/e2e-real-apisix.sh run for real against an APISIX_HOME whose `apisix` CLI starts the
// APISIX emulator instead of nginx (no APISIX here): the script's own steps — secrets, Redis,
// upstreams, installing the generated config.yaml/apisix.yaml and policies, start, readiness,
// the CLI with every access, stop, restoring the previous configuration, the summary — with
// a description on free ports so parallel runs do not collide.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../../e2e/harness.js';
import { SCENARIOS } from '../../e2e/scenarios.js';
import { freePort } from '../../testkit/local-run.js';

/** The fake `apisix` CLI: start → a detached emulator serving conf/ like APISIX would; stop → kill it. */
const FAKE_APISIX = `#!${process.execPath}
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
const home = process.env.APISIX_HOME;
const pidFile = home + '/logs/nginx.pid';
if (process.argv[2] === 'start') {
  mkdirSync(home + '/logs', { recursive: true });
  const child = spawn(process.execPath, [home + '/fake-nginx.mjs'], { cwd: home, detached: true, stdio: ['ignore', 'ignore', 'ignore'] });
  writeFileSync(pidFile, String(child.pid));
  child.unref();
} else if (process.argv[2] === 'stop') {
  try { process.kill(Number(readFileSync(pidFile, 'utf8')), 'SIGTERM'); } catch {}
}
`;

const FAKE_NGINX = `import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
const yaml = createRequire('${join(REPO_ROOT, 'package.json')}')('js-yaml');
import { startEmulator } from '${join(REPO_ROOT, 'dist/emulator/index.js')}';
const config = yaml.load(readFileSync('conf/config.yaml', 'utf8'));
const envs = {};
for (const e of config.nginx_config.envs) { const [k, v] = e.split('='); const val = v ?? process.env[k]; if (val !== undefined) envs[k] = val; }
const emu = await startEmulator({ config: 'conf/apisix.yaml', cmd: config['ext-plugin'].cmd, envs, port: config.apisix.node_listen[0] });
const stop = () => emu.stop().finally(() => process.exit(0));
process.on('SIGTERM', stop);
`;

test('deploy/e2e-real-apisix.sh: installs the e2e config into APISIX_HOME, runs the whole suite (none skipped), stops and restores', { timeout: 300_000 }, async () => {
  const home = await mkdtemp(join(tmpdir(), 'fake-apisix-home-'));
  const state = await mkdtemp(join(tmpdir(), 'e2e-script-state-'));
  try {
    await mkdir(join(home, 'bin'), { recursive: true });
    await mkdir(join(home, 'conf'), { recursive: true });
    await writeFile(join(home, 'bin/apisix'), FAKE_APISIX);
    await chmod(join(home, 'bin/apisix'), 0o755);
    await writeFile(join(home, 'fake-nginx.mjs'), FAKE_NGINX);
    await writeFile(join(home, 'conf/config.yaml'), '# the operator\'s own config\n');
    const ports = await Promise.all(Array.from({ length: 10 }, () => freePort()));
    const description = join(state, 'gateway.yaml');
    const original = await readFile(join(REPO_ROOT, 'conf/e2e/gateway.yaml'), 'utf8');
    await writeFile(
      description,
      original
        .replace(/^listen: .*$/m, `listen: ${ports[0]}`)
        .replace(/^metrics_port: .*$/m, `metrics_port: ${ports[1]}`)
        .replace(/^state_dir: .*$/m, `state_dir: ${join(state, 'run')}`)
        .replace(/^redis_url: .*$/m, `redis_url: redis://127.0.0.1:${ports[2]}`)
        .replace(/^ {2}(sse|json|pin|stateful|everything|faults|control): \d+$/gm, (_l, role: string) => `  ${role}: ${ports[3 + ['sse', 'json', 'pin', 'stateful', 'everything', 'faults', 'control'].indexOf(role)]}`),
    );
    const out = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile('sh', [join(REPO_ROOT, 'deploy/e2e-real-apisix.sh')], {
        cwd: REPO_ROOT,
        timeout: 280_000,
        maxBuffer: 16 * 1024 * 1024,
        env: { ...process.env, APISIX_HOME: home, E2E_GATEWAY: description, NODE_BIN: process.execPath, PATH: `${join(home, 'bin')}:${process.env['PATH'] ?? ''}` },
      }, (err, stdout, stderr) => resolve({ code: err === null ? 0 : ((err as { code?: number }).code ?? 1), stdout, stderr }));
    });
    const detail = `${out.stdout}\n${out.stderr}`;
    assert.equal(out.code, 0, detail);
    assert.match(out.stdout, new RegExp(`^e2e-real-apisix: ${SCENARIOS.length} passed, 0 failed, 0 skipped \\(APISIX: ${home}\\)$`, 'm'), detail);
    // The operator's configuration is back; the policies were installed where the routes name them.
    assert.equal(await readFile(join(home, 'conf/config.yaml'), 'utf8'), '# the operator\'s own config\n');
    assert.ok((await readFile(join(home, 'conf/policies/support.yaml'), 'utf8')).length > 0);
  } finally {
    // The fake APISIX is stopped by the script; make sure even on failure.
    await readFile(join(home, 'logs/nginx.pid'), 'utf8').then((pid) => process.kill(Number(pid), 'SIGTERM')).catch(() => undefined);
    await rm(home, { recursive: true, force: true });
    await rm(state, { recursive: true, force: true });
  }
});
