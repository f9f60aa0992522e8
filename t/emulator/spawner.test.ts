// ext-plugin.cmd emulation: scrubbed environment, error.log, respawn with cache flush, SIGTERM/SIGKILL.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startEmulator, type Emulator } from '../../emulator/index.js';
import { conf, request, route, sleep, startUpstream } from '../../testkit/emulator.js';

const runnerScript = fileURLToPath(new URL('../../testkit/spawned-runner.js', import.meta.url));

async function until(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

function runnerEnv(emu: Emulator): Record<string, string> {
  const line = emu.runnerLog().split('\n').find((l) => l.includes('ENV {'));
  assert.ok(line, 'the runner printed its environment into error.log');
  return JSON.parse(line.slice(line.indexOf('ENV ') + 4)) as Record<string, string>;
}

test('cmd: the runner gets only PATH, TZ, APISIX_* and declared envs; output lands in error.log at warn', async () => {
  process.env.MY_DECLARED = 'declared-value';
  process.env.NOT_DECLARED = 'must-not-leak';
  const upstream = await startUpstream();
  const emu = await startEmulator({
    routes: [route(1, upstream.port, { 'ext-plugin-pre-req': conf() })],
    cmd: [process.execPath, runnerScript],
    envs: ['MY_DECLARED'],
  });
  try {
    await until(() => emu.runnerLog().includes('ENV {'), 'runner output');
    const env = runnerEnv(emu);
    assert.equal(env.APISIX_LISTEN_ADDRESS, `unix:${emu.socketPath}`);
    assert.ok(emu.socketPath.endsWith(`apisix-${process.pid}.sock`));
    assert.equal(env.APISIX_CONF_EXPIRE_TIME, '3600');
    assert.equal(env.MY_DECLARED, 'declared-value');
    assert.equal(env.NOT_DECLARED, undefined);
    assert.equal(env.HOME, undefined);
    assert.equal(env.PATH, process.env.PATH);
    // The emulator's one addition: one runner process unless the test declares MCP_RUNNER_WORKERS.
    assert.equal(env.MCP_RUNNER_WORKERS, '1');
    const allowed = new Set(['PATH', 'TZ', 'APISIX_LISTEN_ADDRESS', 'APISIX_CONF_EXPIRE_TIME', 'MY_DECLARED', 'APISIX_PROFILE', 'APISIX_DEPLOYMENT_ETCD_HOST', 'GCP_SERVICE_ACCOUNT', 'MCP_RUNNER_WORKERS']);
    // Node itself may not add variables to process.env, so everything seen must be allowed.
    assert.deepEqual(Object.keys(env).filter((k) => !allowed.has(k)), []);
    assert.match(emu.runnerLog(), /\[warn\] .*ENV \{/);

    await emu.waitForRunner();
    assert.equal((await request(`${emu.url}/x`)).status, 200);
    assert.equal(emu.counters.prepareConf, 1);
  } finally {
    await emu.stop();
    await upstream.close();
  }
});

test('explicit envs map; respawn after exit flushes every token cache (no CONF_TOKEN_NOT_FOUND round trip)', async () => {
  const upstream = await startUpstream();
  const emu = await startEmulator({
    routes: [route(1, upstream.port, { 'ext-plugin-pre-req': conf() })],
    cmd: [process.execPath, runnerScript],
    envs: { EXPLICIT: 'x1' },
    respawnDelayMs: 100,
    workers: 2,
  });
  try {
    await until(() => emu.runnerLog().includes('ENV {'), 'runner output');
    assert.equal(runnerEnv(emu).EXPLICIT, 'x1');
    await emu.waitForRunner();
    const firstPid = emu.runnerPid();
    assert.equal((await request(`${emu.url}/x`, { headers: { 'x-exit': '3' } })).status, 200);
    await until(() => emu.runnerLog().includes('runner exited with reason: exit, status: 3'), 'exit log line');
    assert.match(emu.runnerLog(), /respawn runner 0.1 seconds later with cmd:/);
    await until(() => emu.runnerPid() !== undefined && emu.runnerPid() !== firstPid, 'respawn');
    await emu.waitForRunner();
    // Both workers (fresh client connections alternate between them) get a new PrepareConf
    // from the shared dict being empty, and never see CONF_TOKEN_NOT_FOUND.
    for (let i = 0; i < 4; i++) assert.equal((await request(`${emu.url}/x`)).status, 200);
    assert.equal(emu.counters.confTokenRetries, 0);
    assert.equal(emu.counters.prepareConf, 2);
    assert.doesNotMatch(emu.runnerLog(), /refresh cache and try again/);
  } finally {
    await emu.stop();
    await upstream.close();
  }
});

test('path_for_test: a runner restart is not announced, recovery goes through CONF_TOKEN_NOT_FOUND', async () => {
  const upstream = await startUpstream();
  const dir = await mkdtemp(join(tmpdir(), 'emu-spawn-'));
  // Stand in for a runner started by hand: a second emulator spawns it on the path we use.
  const owner = await startEmulator({ cmd: [process.execPath, runnerScript], workDir: dir, respawnDelayMs: 50 });
  const emu = await startEmulator({ routes: [route(1, upstream.port, { 'ext-plugin-pre-req': conf() })], pathForTest: owner.socketPath });
  try {
    await owner.waitForRunner();
    assert.equal((await request(`${emu.url}/x`)).status, 200);
    const pid = owner.runnerPid();
    assert.equal((await request(`${emu.url}/x`, { headers: { 'x-exit': '0' } })).status, 200);
    await until(() => owner.runnerPid() !== undefined && owner.runnerPid() !== pid, 'restart');
    await owner.waitForRunner();
    assert.equal((await request(`${emu.url}/x`)).status, 200);
    assert.equal(emu.counters.confTokenRetries, 1);
    assert.match(emu.runnerLog(), /refresh cache and try again/);
  } finally {
    await emu.stop();
    await owner.stop();
    await upstream.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('stop: SIGTERM first; a runner ignoring it is SIGKILLed after 1 s', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'emu-term-'));
  try {
    for (const ignore of [false, true]) {
      const marker = join(dir, `term-${ignore}`);
      const envs: Record<string, string> = { TERM_MARKER: marker };
      if (ignore) envs.IGNORE_SIGTERM = '1';
      const emu = await startEmulator({ cmd: [process.execPath, runnerScript], envs });
      await emu.waitForRunner();
      const pid = emu.runnerPid()!;
      const started = Date.now();
      await emu.stop();
      const took = Date.now() - started;
      assert.ok(existsSync(marker), 'the runner received SIGTERM');
      assert.throws(() => process.kill(pid, 0), 'the runner is gone');
      if (ignore) assert.ok(took >= 950 && took < 3000, `SIGKILL after ~1 s (took ${took} ms)`);
      else assert.ok(took < 900, `a well-behaved runner exits at once (took ${took} ms)`);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
