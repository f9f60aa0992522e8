// The policy document as operators write it (YAML or JSON), in the shape
// schemas/mcp-policy.schema.json accepts. One file answers several plugins: mcp-authz reads
// actors, methods, risk, routes, pins and the tool registry; mcp-ratelimit reads route
// `limits`; mcp-redact reads route `data_policy`.

export type Risk = 'read-only' | 'write' | 'financial' | 'security-sensitive' | 'production';
export type Access = 'read' | 'write';
export type UseKind = 'tool' | 'resource' | 'prompt';

/** Identity fields an actor entry or route auth can test. */
export const ACTOR_FIELDS = ['user', 'app', 'agent', 'tenant', 'environment'] as const;
export type ActorField = (typeof ACTOR_FIELDS)[number];

/** A policy that failed to load or validate; message lists every problem with its field path. */
export class PolicyError extends Error {
  override readonly name = 'PolicyError';
}

export type StringOrList = string | string[];
export interface ActorMatchDoc { user?: StringOrList; app?: StringOrList; agent?: StringOrList; tenant?: StringOrList; environment?: StringOrList; role?: StringOrList }
export interface AllowedToolDoc { name: string; server?: StringOrList; access?: Access; risk?: Risk; requires_user_confirmation?: boolean; arguments?: object | boolean }
export interface DeniedNameDoc { name: string; server?: StringOrList; reason?: string }
export interface AllowedResourceDoc { uri: string; server?: StringOrList; risk?: Risk; requires_user_confirmation?: boolean }
export interface DeniedResourceDoc { uri: string; server?: StringOrList; reason?: string }
export interface AllowedPromptDoc { name: string; server?: StringOrList; requires_user_confirmation?: boolean }
export interface ActorPolicyDoc {
  name?: string;
  actor: ActorMatchDoc;
  servers?: StringOrList;
  /** read: every tool grant of this actor covers read-only tools only. */
  access?: Access;
  allowed_tools?: Array<string | AllowedToolDoc>;
  denied_tools?: Array<string | DeniedNameDoc>;
  allowed_resources?: Array<string | AllowedResourceDoc>;
  denied_resources?: Array<string | DeniedResourceDoc>;
  allowed_prompts?: Array<string | AllowedPromptDoc>;
  denied_prompts?: Array<string | DeniedNameDoc>;
}
export interface RouteRuleDoc {
  name?: string;
  match: { server?: StringOrList; tools?: string[]; resources?: string[]; prompts?: string[] };
  auth?: {
    require_user?: boolean;
    require_app?: StringOrList;
    require_role?: StringOrList;
    require_agent?: StringOrList;
    require_tenant?: StringOrList;
    require_environment?: StringOrList;
  };
  action?: 'allow' | 'deny';
  reason?: string;
  access?: Access;
  risk?: Risk;
  requires_user_confirmation?: boolean;
  arguments?: object | boolean;
  /** Applied by mcp-ratelimit (authz_policy_file). */
  limits?: { requests_per_minute?: number; concurrent_calls?: number; by?: string[] };
  /** Applied by mcp-redact (policy_file). */
  data_policy?: { redact?: string[] };
}
export interface PolicyDoc {
  version?: number;
  methods?: { default?: 'allow' | 'deny'; allow?: string[]; deny?: string[] };
  risk?: { confirm?: Risk[]; deny?: Risk[] };
  confirmation?: { approver_roles?: string[] };
  actors?: ActorPolicyDoc[];
  /** The requirements document's per-actor shape: one actor entry or a list of them. */
  mcp_tool_policy?: ActorPolicyDoc | ActorPolicyDoc[];
  routes?: RouteRuleDoc[];
  mcp_gateway?: { routes?: RouteRuleDoc[] };
  pins?: Record<string, Record<string, string>>;
  tool_registry?: Array<{ name: string; server?: StringOrList; access: Access }>;
}

/**
 * Every route rule with its field path: `routes[]`, then `mcp_gateway.routes[]`. An unnamed
 * rule is called `routes[<index>]` (index over both lists); every plugin names what it derives
 * from a rule the same way.
 */
export function routeEntries(doc: PolicyDoc): Array<{ r: RouteRuleDoc; path: string; index: number }> {
  const out: Array<{ r: RouteRuleDoc; path: string; index: number }> = [];
  (doc.routes ?? []).forEach((r, i) => out.push({ r, path: `/routes/${i}`, index: out.length }));
  (doc.mcp_gateway?.routes ?? []).forEach((r, i) => out.push({ r, path: `/mcp_gateway/routes/${i}`, index: out.length }));
  return out;
}

/** The rule name of a route entry (as in decisions: routes/<name>). */
export function routeEntryName(r: RouteRuleDoc, index: number): string {
  return r.name ?? `routes[${index}]`;
}

/**
 * Every actor entry with its field path: `actors[]`, then `mcp_tool_policy` (one entry, as in
 * the requirements document, or a list), all compiled the same way.
 */
export function actorEntries(doc: PolicyDoc): Array<{ a: ActorPolicyDoc; path: string; defaultName: string }> {
  const out = (doc.actors ?? []).map((a, i) => ({ a, path: `/actors/${i}`, defaultName: `actors[${i}]` }));
  const tp = doc.mcp_tool_policy;
  if (Array.isArray(tp)) tp.forEach((a, i) => out.push({ a, path: `/mcp_tool_policy/${i}`, defaultName: `mcp_tool_policy[${i}]` }));
  else if (tp !== undefined) out.push({ a: tp, path: '/mcp_tool_policy', defaultName: 'mcp_tool_policy' });
  return out;
}
