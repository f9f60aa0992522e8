// The real-APISIX e2e configuration (conf/e2e/), exercised without APISIX: the committed files
// are what conf/e2e/gateway.yaml generates, and the whole suite passes through the emulator
// reading that very apisix.yaml and config.yaml (ext-plugin.cmd with its pid file), driven by
// the e2e CLI with the arguments deploy/e2e-real-apisix.sh gives it — nothing skipped. Only the
// site's values are swapped: free ports instead of the described ones, a temp state directory,
// this checkout's runner and node.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { load as loadYaml } from 'js-yaml';
import { startEmulator } from '../../emulator/index.js';
import { REPO_ROOT } from '../../e2e/harness.js';
import { SCENARIOS } from '../../e2e/scenarios.js';
import { startE2eUpstreams } from '../../e2e/upstreams.js';
import { E2E_CONF_DIR, cliArgs, loadE2eGateway, renderApisixYaml, renderConfigYaml, stateFiles, writeSecrets, type E2eGateway } from '../../e2e/real-config.js';
import { startRedis } from '../../testkit/redis.js';
import { freePort } from '../../testkit/local-run.js';

test('conf/e2e/apisix.yaml and config.yaml are what conf/e2e/gateway.yaml generates (node dist/e2e/real-config.js generate)', async () => {
  const gw = await loadE2eGateway();
  assert.equal(await readFile(join(E2E_CONF_DIR, 'apisix.yaml'), 'utf8'), renderApisixYaml(gw));
  assert.equal(await readFile(join(E2E_CONF_DIR, 'config.yaml'), 'utf8'), renderConfigYaml(gw));
  // Every endpoint the scenarios can ask for has a route.
  const routes = (loadYaml(renderApisixYaml(gw)) as { routes: { id: string }[] }).routes.map((r) => r.id).sort();
  assert.deepEqual(routes, ['everything', 'faults', 'json', 'main', 'pin', 'pinflag', 'prm', 'redis', 'shadow', 'stateful']);
});

/** The committed text with the described site values replaced by this run's. */
function swap(text: string, from: E2eGateway, to: E2eGateway): string {
  let out = text.replaceAll(from.stateDir, to.stateDir).replaceAll(from.redisUrl, to.redisUrl);
  for (const role of Object.keys(from.upstreams) as (keyof E2eGateway['upstreams'])[]) out = out.replaceAll(`127.0.0.1:${from.upstreams[role]}`, `127.0.0.1:${to.upstreams[role]}`);
  return out;
}

test('the whole e2e suite through the emulator with the real-APISIX configuration and the CLI: every scenario runs, none skipped', { timeout: 300_000 }, async () => {
  const described = await loadE2eGateway();
  const state = await mkdtemp(join(tmpdir(), 'e2e-real-'));
  const upstreams = await startE2eUpstreams();
  const redis = await startRedis();
  let emulator: Awaited<ReturnType<typeof startEmulator>> | undefined;
  try {
    const site: E2eGateway = {
      ...described,
      stateDir: state,
      metricsPort: await freePort(),
      upstreams: upstreams.ports,
      redisUrl: redis.url,
      runner: join(REPO_ROOT, 'dist/runner/main.js'),
      node: process.execPath,
    };
    await writeSecrets(site);
    const apisixYaml = join(state, 'apisix.yaml');
    await writeFile(apisixYaml, swap(await readFile(join(E2E_CONF_DIR, 'apisix.yaml'), 'utf8'), described, site));
    const config = loadYaml(swap(await readFile(join(E2E_CONF_DIR, 'config.yaml'), 'utf8'), described, site)) as {
      'ext-plugin': { cmd: string[] };
      nginx_config: { envs: string[] };
    };
    const cmd = config['ext-plugin'].cmd.map((a) => a.replace(described.node, site.node).replace(described.runner, site.runner));
    const envs: Record<string, string> = {};
    for (const e of config.nginx_config.envs) {
      const [name, value] = e.split('=') as [string, string | undefined];
      const v = name === 'MCP_RUNNER_METRICS_PORT' ? String(site.metricsPort) : (value ?? process.env[name]);
      if (v !== undefined) envs[name] = v;
    }
    // APISIX respawns after 3 s; 1 s keeps the restart scenario's down window without the wait.
    emulator = await startEmulator({ config: apisixYaml, cmd, envs: { ...envs, MCP_RUNNER_LOG_LEVEL: 'warn' }, respawnDelayMs: 1000 });
    await emulator.waitForRunner(30_000);
    const args = cliArgs({ ...site, listen: emulator.port });
    const out = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, [join(REPO_ROOT, 'dist/e2e/cli.js'), ...args], { timeout: 240_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) =>
        resolve({ code: err === null ? 0 : ((err as { code?: number }).code ?? 1), stdout, stderr }),
      );
    });
    const log = emulator.runnerLog().split('\n').filter((l) => !/ECONNREFUSED/.test(l));
    const detail = `${out.stdout}\n${out.stderr}\nrunner log:\n${log.slice(-30).join('\n')}`;
    assert.equal(out.code, 0, detail);
    assert.match(out.stdout, new RegExp(`^${SCENARIOS.length} passed, 0 failed, 0 skipped$`, 'm'), detail);
    // The runner wrote its pid where the CLI read it, and was respawned by the restart scenario.
    const pid = Number((await readFile(stateFiles(site).runnerPid, 'utf8')).trim());
    assert.equal(pid, emulator.runnerPid());
  } finally {
    await emulator?.stop();
    await Promise.all([upstreams.close(), redis.stop()]);
    await rm(state, { recursive: true, force: true });
  }
});
