// The memory store counts in each runner process alone. A runner of several processes says so
// at prepare (once per route); a single process says nothing. The multi-process run itself is
// covered through the emulator in t/cluster/shared-state.e2e.test.ts.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRatelimitPlugin } from '../../../plugins/mcp-ratelimit/index.js';
import type { RatelimitConf } from '../../../plugins/mcp-ratelimit/conf.js';
import { LocalSharedState } from '../../../runner/cluster/shared-state.js';
import { RunnerState } from '../../../runner/host/state.js';
import { log } from '../../../runner/log.js';

/** One process's state, standing in for a worker that knows it is one of `processes`. */
class SharedBy extends LocalSharedState {
  override readonly processes: number;
  constructor(processes: number) {
    super();
    this.processes = processes;
  }
}

const limited = { server: 'crm', store: { type: 'memory' }, limits: [{ name: 'per-user', by: ['user'], requests: 10, per: 'minute' }] } as RatelimitConf;
const redisless = { server: 'crm', store: { type: 'memory' } } as RatelimitConf;

async function warningsOf(state: RunnerState, confs: Array<[string, RatelimitConf]>): Promise<string[]> {
  const said: string[] = [];
  const warn = log.warn.bind(log);
  log.warn = ((o: unknown, m?: string) => void said.push(`${JSON.stringify(o)} ${m ?? ''}`)) as typeof log.warn;
  try {
    const plugin = createRatelimitPlugin();
    for (const [routeKey, conf] of confs) await plugin.prepare!(conf, { routeKey, chain: ['mcp-ratelimit'], state });
  } finally {
    log.warn = warn;
    await state.close();
  }
  return said.filter((s) => s.includes('memory store counts per runner process'));
}

test('three processes: one warning per route with limits, naming the route and the factor', async () => {
  const said = await warningsOf(new RunnerState({ shared: new SharedBy(3) }), [['r1', limited], ['r1', limited], ['r2', limited], ['r3', redisless]]);
  assert.equal(said.length, 2, said.join('\n'));
  assert.match(said[0]!, /"route":"r1".*"processes":3.*up to 3×/);
  assert.match(said[1]!, /"route":"r2"/);
});

test('one process: no warning', async () => {
  assert.deepEqual(await warningsOf(new RunnerState(), [['r1', limited]]), []);
});
