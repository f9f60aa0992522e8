// The `match` of a policy route entry (server, tools, resources, prompts) as a message test,
// for the plugins that apply other parts of the entry (mcp-ratelimit `limits`, mcp-redact
// `data_policy`). Same meaning as in mcp-authz: only `server` = everything on that server;
// globs from runner/util/glob.ts.

import type { McpMessage } from '../../runner/mcp/types.js';
import { globsToRegExp } from '../../runner/util/glob.js';
import type { RouteRuleDoc } from './policy.js';

const USE_METHODS = ['tools/call', 'resources/read', 'prompts/get'] as const;

export class RouteEntryMatch {
  private constructor(
    private readonly servers: ReadonlySet<string> | undefined,
    /** Method -> target globs (undefined = any target of that method). */
    private readonly targets: ReadonlyMap<string, RegExp | undefined>,
  ) {}

  static of(r: RouteRuleDoc): RouteEntryMatch {
    const m = r.match;
    const servers = m.server === undefined ? undefined : new Set(typeof m.server === 'string' ? [m.server] : m.server);
    const targets = new Map<string, RegExp | undefined>();
    if (m.tools === undefined && m.resources === undefined && m.prompts === undefined) {
      for (const method of USE_METHODS) targets.set(method, undefined);
    } else {
      if (m.tools) targets.set('tools/call', globsToRegExp(m.tools));
      if (m.resources) targets.set('resources/read', globsToRegExp(m.resources));
      if (m.prompts) targets.set('prompts/get', globsToRegExp(m.prompts));
    }
    return new RouteEntryMatch(servers, targets);
  }

  /** A request this entry covers; `server` undefined (unnamed route) never matches a server list. */
  matches(msg: McpMessage, server: string | undefined): boolean {
    if (msg.type !== 'request' || msg.method === undefined || !this.targets.has(msg.method)) return false;
    if (this.servers !== undefined && (server === undefined || !this.servers.has(server))) return false;
    const re = this.targets.get(msg.method);
    if (re === undefined) return true;
    const target = msg.toolName ?? msg.promptName ?? msg.resourceUri;
    return target !== undefined && re.test(target);
  }
}
