// Gateway descriptions shared by the layout tests.

import type { GatewayDoc } from '../runner/layout/gateway.js';
import { parseGateway } from '../runner/layout/gateway.js';
import { sampleTools } from '../examples/sample-mcp-server.js';

export const TOOLS = sampleTools().map((t) => t.name);

/** A support-agent policy: identity from a trusted header, lists filtered, crm.* results redacted. */
export const POLICY = {
  version: 1,
  actors: [
    {
      name: 'test-agent',
      actor: { app: 'test-agent' },
      allowed_tools: ['crm.*', 'billing.get_subscription_status', 'debug.echo'],
      denied_tools: ['account.delete_customer'],
      allowed_resources: ['*'],
      allowed_prompts: ['support.*'],
    },
  ],
};

export function filteringGateway(upstreamNode = 'mcp-server:8000'): GatewayDoc {
  return parseGateway({
    server: 'sample-tools',
    upstream: { type: 'roundrobin', nodes: { [upstreamNode]: 1 } },
    tools: TOOLS,
    plugins: [
      { name: 'mcp-authz', conf: { policy: POLICY, identity: { trusted_headers: { app: 'x-app' } } } },
      { name: 'mcp-redact', conf: { tools: ['crm.*'] } },
    ],
  });
}

/** Nothing reads answers: no filtering, no result redaction, no concurrency limits. */
export function permissiveGateway(): GatewayDoc {
  return parseGateway({
    server: 'open-tools',
    uri: '/tools/mcp',
    hosts: ['mcp.example.test'],
    upstream: { nodes: { 'mcp-server:8000': 1 } },
    tools: TOOLS,
    plugins: [
      { name: 'mcp-audit', conf: { sink: { type: 'stdout' } } },
      { name: 'mcp-authz', conf: { policy: { version: 1, actors: [{ name: 'all', actor: {}, allowed_tools: ['*'], allowed_resources: ['*'], allowed_prompts: ['*'] }] }, identity: { allow_anonymous: true }, filter_lists: false } },
      { name: 'mcp-ratelimit', conf: { limits: [{ name: 'per-user', by: ['user'], requests: 10, per: 'second' }] } },
      { name: 'mcp-redact', conf: { results: false } },
    ],
  });
}
