// A plugin for the multi-process runner tests (loaded through MCP_RUNNER_PLUGINS): it says
// which process ran each phase. Request phase: upstream header x-runner-pid and the pid in the
// carry. Response phase: the answer is replaced by {"requestPid": <carried pid or null>,
// "responsePid": <this process>}, so a test sees where the state lived and who answered.

import type { Plugin } from '../runner/host/plugin.js';

const NAME = 'test-pid';

export const plugin: Plugin<Record<string, never>> = {
  name: NAME,
  confSchema: { type: 'object', additionalProperties: false },
  onRequest(ctx) {
    ctx.requestMutations.setHeader('x-runner-pid', String(process.pid));
    ctx.carry.set(NAME, process.pid);
  },
  onResponse(ctx) {
    const carried = ctx.carry.get(NAME);
    return {
      action: 'stop',
      status: 200,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ requestPid: typeof carried === 'number' ? carried : null, responsePid: process.pid }),
    };
  },
};
