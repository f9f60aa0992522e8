// Bench-only plugin (loaded with MCP_RUNNER_PLUGINS): fetches the request body through
// ExtraInfo ReqBody and does nothing else, so the floor includes the body round trip.
import type { Plugin } from '../../runner/host/plugin.js';

export const plugin: Plugin<Record<string, never>, Record<string, never>> = {
  name: 'bench-body-fetch',
  confSchema: { type: 'object', additionalProperties: false },
  async onRequest(ctx) {
    await ctx.request.body();
    return undefined;
  },
};
