// The shared policy file as the other plugins (mcp-ratelimit, mcp-redact) read it, in a
// temporary directory that goes away with the test file.

import { after } from 'node:test';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A policy with one actor allowed every tool (the part the other plugins ignore) and these `mcp_gateway.routes` list items. */
export function policyWithRoutes(routes: string): string {
  return `version: 1
actors:
  - name: support
    actor: { app: support-agent }
    allowed_tools: ["*"]
mcp_gateway:
  routes:
${routes}`;
}

/** A fresh directory for policy files, removed after the test file (the hosts that watch it close their watchers on shutdown). */
export async function policyDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  return dir;
}
