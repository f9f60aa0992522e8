// node dist/bench/routing-headers.js [--calls 2000000] [--rounds 3]
//
// CPU per call of the routing-header check the host runs after every plugin chain
// (runner/host/header-agreement.ts) for requests that cannot need a body read: no mcp-*
// headers at all, and a 2025 session's headers (Mcp-Session-Id, MCP-Protocol-Version).
// process.cpuUsage over many calls: the steadiest figure on a shared machine.

import { enforceRoutingHeaders } from '../runner/host/header-agreement.js';
import type { CallContext } from '../runner/host/plugin.js';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : dflt;
}

const calls = Number(arg('calls', '2000000'));
const rounds = Number(arg('rounds', '3'));

const session = [
  { name: 'host', value: 'gateway' },
  { name: 'content-type', value: 'application/json' },
  { name: 'accept', value: 'application/json, text/event-stream' },
  { name: 'authorization', value: 'Bearer token' },
  { name: 'mcp-session-id', value: '6f1c0e7a-5b0e-4a8e-9d55-0c2f6a1b9e21' },
  { name: 'mcp-protocol-version', value: '2025-11-25' },
  { name: 'user-agent', value: 'node' },
  { name: 'content-length', value: '120' },
];
const scenarios: [string, typeof session][] = [
  ['no mcp-* headers', session.filter((h) => !h.name.startsWith('mcp-'))],
  ['2025 session headers', session],
];

for (let round = 1; round <= rounds; round++) {
  for (const [label, headers] of scenarios) {
    // Only the fields the check reads before it decides there is nothing to check.
    const ctx = { request: { headers, method: 'POST' } } as unknown as CallContext;
    for (let i = 0; i < calls / 10; i++) enforceRoutingHeaders(ctx);
    const start = process.cpuUsage();
    for (let i = 0; i < calls; i++) {
      if (enforceRoutingHeaders(ctx) !== undefined) throw new Error('expected no body check');
    }
    const used = process.cpuUsage(start);
    console.log(`round ${round}: ${label}: ${(((used.user + used.system) * 1000) / calls).toFixed(1)} ns CPU/call`);
  }
}
