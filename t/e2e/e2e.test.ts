// The end-to-end scenario suite through the APISIX emulator: MCP SDK client → emulator (pre-req,
// post-resp) → our runner, spawned like ext-plugin.cmd → sample MCP servers, server-everything,
// fault upstreams, real Redis. One stack for every group (faults last: they kill the runner).

import { test, before, after } from 'node:test';
import { startEverythingServer, startFaultUpstream, startLocalStack, faultRoutes, type LocalStack } from './harness.js';
import { SCENARIOS, missingNeed } from './scenarios.js';

let stack: LocalStack;
let everything: Awaited<ReturnType<typeof startEverythingServer>>;
let faults: Awaited<ReturnType<typeof startFaultUpstream>>;

before(async () => {
  [everything, faults] = await Promise.all([startEverythingServer(), startFaultUpstream()]);
  stack = await startLocalStack({ redis: true, everything: { port: everything.port }, extraRoutes: faultRoutes(faults.port) });
});

after(async () => {
  await stack?.stop();
  await Promise.all([everything?.close(), faults?.close()]);
});

for (const s of SCENARIOS) {
  test(`${s.group}: ${s.name}`, async (t) => {
    const skip = missingNeed(s, stack.target);
    if (skip !== undefined) {
      t.skip(skip);
      return;
    }
    await s.run(stack.target);
  });
}
