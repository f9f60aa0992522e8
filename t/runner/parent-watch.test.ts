// A runner whose APISIX died without a SIGTERM (SIGKILL, a crash) stops by itself: its parent
// here is a stand-in process that spawns it the way APISIX does and is then SIGKILLed. The
// runner, every worker of a multi-process runner included, exits within a few seconds and
// removes its socket.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { onParentGone } from '../../runner/parent-watch.js';
import { RUNNER_MAIN } from '../../testkit/cluster-runner.js';
import { tempDir } from '../../testkit/temp.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Pids of the direct children of `pid` (from /proc). */
async function childrenOf(pid: number): Promise<number[]> {
  const { readFile } = await import('node:fs/promises');
  const text = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '');
  return text.split(' ').filter(Boolean).map(Number);
}

test('the watch fires once the parent pid changes, and not before', async () => {
  let parent = 4242;
  let fired = 0;
  const timer = onParentGone(() => fired++, 5, () => parent);
  await sleep(30);
  assert.equal(fired, 0);
  parent = 1;
  await sleep(30);
  assert.equal(fired, 1);
  parent = 7;
  await sleep(30);
  assert.equal(fired, 1, 'once');
  clearInterval(timer);
});

for (const workers of [1, 2]) {
  test(`a runner (${workers} process${workers > 1 ? 'es' : ''}) whose parent is SIGKILLed exits and removes its socket`, async () => {
    const dir = tempDir('mcp-orphan-');
    const sock = join(dir, 'runner.sock');
    // The stand-in parent: spawns the runner with APISIX's variables, prints its pid, then waits.
    const script = `
      const { spawn } = require('node:child_process');
      const r = spawn(process.execPath, [${JSON.stringify(RUNNER_MAIN)}], {
        env: { PATH: process.env.PATH, TMPDIR: ${JSON.stringify(dir)}, APISIX_LISTEN_ADDRESS: 'unix:${sock}', MCP_RUNNER_WORKERS: '${workers}', MCP_RUNNER_LOG_LEVEL: 'silent' },
        stdio: 'ignore',
      });
      console.log(r.pid);
      setInterval(() => {}, 1000);
    `;
    const parent = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const runnerPid = await new Promise<number>((resolve, reject) => {
      parent.stdout.once('data', (b: Buffer) => resolve(Number(b.toString().trim())));
      parent.once('exit', () => reject(new Error('the stand-in parent exited early')));
    });
    try {
      for (const until = Date.now() + 20_000; !existsSync(sock); await sleep(50)) assert.ok(Date.now() < until, 'the runner never listened');
      const family = [runnerPid, ...(await childrenOf(runnerPid))];
      assert.equal(family.length, workers > 1 ? workers + 1 : 1, 'the primary and its workers');
      parent.kill('SIGKILL');
      for (const until = Date.now() + 6_000; family.some(alive); await sleep(50)) {
        assert.ok(Date.now() < until, `still running ${family.filter(alive).join(', ')} after its parent died`);
      }
      assert.ok(!existsSync(sock), 'the socket is removed');
    } finally {
      if (parent.exitCode === null && parent.signalCode === null) parent.kill('SIGKILL');
      if (alive(runnerPid)) process.kill(runnerPid, 'SIGKILL');
    }
  });
}
