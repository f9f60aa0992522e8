// Fast routes for 2026-07-28 traffic. Such a client repeats the method and the tool name in
// headers (`Mcp-Method`, `Mcp-Name`, SEP-2243) next to `MCP-Protocol-Version`, so APISIX can
// match them on `http_mcp_method` / `http_mcp_name` without parsing the body. Same positive-
// match rules as the body routes: exact names only, a route per purpose, the full route as the
// default. A header that lies about the body gains nothing: the runner refuses any routing
// header that disagrees with the body (runner/host/header-agreement.ts) and re-runs every
// plugin's needsResponsePhase on the body it received. These routes sit one priority above the
// body routes so matching a 2026-07-28 call never makes APISIX parse its body.

import { MODERN_REVISION, PROTOCOL_VERSION_META_KEY } from '../mcp/revision.js';
import type { GatewayDoc } from './gateway.js';

/** Methods a 2026-07-28 client sends, other than tools/call (decided per tool). */
export const MODERN_CLIENT_METHODS: readonly string[] = [
  'server/discover',
  'ping',
  'subscriptions/listen',
  'tools/list',
  'resources/list',
  'resources/templates/list',
  'resources/read',
  'prompts/list',
  'prompts/get',
  'completion/complete',
  'notifications/cancelled',
  'notifications/progress',
];

/** The per-request envelope every 2026-07-28 request carries. */
export function modernMeta(): Record<string, unknown> {
  return {
    [PROTOCOL_VERSION_META_KEY]: MODERN_REVISION,
    'io.modelcontextprotocol/clientInfo': { name: 'layout-probe', version: '0' },
    'io.modelcontextprotocol/clientCapabilities': {},
  };
}

export interface ModernProbe {
  label: string;
  body: Record<string, unknown>;
}

/** Synthetic 2026-07-28 calls for one method (several when a name may matter). */
export function modernProbes(method: string, g: GatewayDoc): ModernProbe[] {
  const call = (params: Record<string, unknown>, label = method): ModernProbe => {
    const body: Record<string, unknown> = { jsonrpc: '2.0', method, params: { ...params, _meta: modernMeta() } };
    if (!method.startsWith('notifications/')) body['id'] = 1;
    return { label, body };
  };
  switch (method) {
    case 'notifications/cancelled':
      return [call({ requestId: 1 })];
    case 'notifications/progress':
      return [call({ progressToken: 1, progress: 1 })];
    case 'subscriptions/listen':
      return [call({ notifications: { toolsListChanged: true, promptsListChanged: true, resourcesListChanged: true, resourceSubscriptions: g.resources ?? [] } })];
    case 'resources/read':
      return ['layout-probe://unlisted', ...(g.resources ?? [])].map((uri) => call({ uri }, `${method} ${uri}`));
    case 'prompts/get':
      return ['layout-probe.unlisted', ...(g.prompts ?? [])].map((name) => call({ name, arguments: {} }, `${method} ${name}`));
    case 'completion/complete':
      return [call({ ref: { type: 'ref/prompt', name: 'layout-probe' }, argument: { name: 'a', value: '' } })];
    default:
      return [call({})];
  }
}

/** A 2026-07-28 tools/call probe. */
export function modernToolProbe(tool: string): ModernProbe {
  return { label: `tools/call ${tool} (${MODERN_REVISION})`, body: { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: tool, arguments: {}, _meta: modernMeta() } } };
}

const VERSION_VAR = ['http_mcp_protocol_version', '==', MODERN_REVISION];

/** `vars` of the header-matched methods route. */
export function modernMethodVars(methods: readonly string[]): unknown[] {
  return [VERSION_VAR, ['http_mcp_method', 'in', [...methods]]];
}

/** `vars` of the header-matched tools route. */
export function modernToolVars(tools: readonly string[]): unknown[] {
  return [VERSION_VAR, ['http_mcp_method', '==', 'tools/call'], ['http_mcp_name', 'in', [...tools]]];
}

/** Which 2026-07-28 methods and tools may take the header routes, asked of the real host. */
export async function classifyModern(
  g: GatewayDoc,
  needs: (probe: { label: string; method: 'POST'; body: Record<string, unknown> }) => Promise<string | undefined>,
  explanation: string[],
): Promise<{ fastMethods: string[]; fastTools: string[] }> {
  const fastMethods: string[] = [];
  for (const method of MODERN_CLIENT_METHODS) {
    let needer: { plugin: string; label: string } | undefined;
    for (const probe of modernProbes(method, g)) {
      const plugin = await needs({ ...probe, method: 'POST' });
      if (plugin) {
        needer = { plugin, label: probe.label };
        break;
      }
    }
    if (needer) {
      const stream = method === 'subscriptions/listen' ? ' (a listen stream reaches the client only while no plugin asks for its body)' : '';
      explanation.push(`${method} (${MODERN_REVISION}) -> full: ${needer.plugin} needs the response phase (probe: ${needer.label})${stream}`);
    } else {
      fastMethods.push(method);
      explanation.push(`${method} (${MODERN_REVISION}) -> fast-methods-2026: no plugin needs the response phase`);
    }
  }
  const fastTools: string[] = [];
  for (const tool of g.tools) {
    const probe = modernToolProbe(tool);
    const plugin = await needs({ ...probe, method: 'POST' });
    if (plugin) explanation.push(`${probe.label} -> full: ${plugin} needs the response phase`);
    else {
      fastTools.push(tool);
      explanation.push(`${probe.label} -> fast-tools-2026: no plugin needs the response phase`);
    }
  }
  return { fastMethods, fastTools };
}
