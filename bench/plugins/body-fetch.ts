// Bench-only plugin (loaded with MCP_RUNNER_PLUGINS): fetches the request body (and, in the
// response phase, the response body) through ExtraInfo and does nothing else, so the floor
// includes the same round trips as a plugin that reads them.
import type { Plugin } from '../../runner/host/plugin.js';

export const plugin: Plugin<Record<string, never>, Record<string, never>> = {
  name: 'bench-body-fetch',
  confSchema: { type: 'object', additionalProperties: false },
  async onRequest(ctx) {
    await ctx.request.body();
    return undefined;
  },
  needsResponseBody: () => true,
  async onResponse(ctx) {
    await ctx.response?.body();
    return undefined;
  },
};
