// Shared test helpers: build a compiled policy from YAML text and MCP messages from JSON-RPC
// objects (through the real runner/mcp parser).

import type { Identity } from '../runner/host/plugin.js';
import type { McpMessage } from '../runner/mcp/types.js';
import { parseRequestBody } from '../runner/mcp/parse.js';
import { compilePolicy, parsePolicyText, type CompiledPolicy } from '../runner/policy/index.js';

export function policyFrom(yaml: string): CompiledPolicy {
  return compilePolicy([{ doc: parsePolicyText(yaml, 'test.yaml'), label: 'test.yaml' }]);
}

export function message(obj: Record<string, unknown>): McpMessage {
  const body = parseRequestBody(new TextEncoder().encode(JSON.stringify({ jsonrpc: '2.0', ...obj })));
  if (!body.ok) throw new Error(body.message);
  return body.messages[0]!;
}

export function toolCall(name: string, args: Record<string, unknown> = {}, id = 1): McpMessage {
  return message({ id, method: 'tools/call', params: { name, arguments: args } });
}

export function who(fields: Partial<Identity>): Identity {
  return { roles: [], source: 'jwt', ...fields };
}
