// The decisions of the optimised chain (one frozen identity per verified token, subjects and
// name lookups memoised) against a straightforward reference evaluation written from the
// documented semantics, on random policies and random call sequences (fast-check). The
// sequences repeat callers and tools, so every memo is hit as well as filled.
//
// Reference semantics (decide.ts): an identity whose matching actors grant nothing at all is
// refused as no-grant; a deny rule of a matching actor wins, exact-name entries before globs;
// every grant that matches applies (exact names, then globs, each in policy order); nothing
// allows -> default-deny; any grant asking for confirmation makes it confirm, named by the
// first such grant, else by the first grant.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SignJWT } from 'jose';
import { Host } from '../../../runner/host/chain.js';
import type { CallContext, DecisionRecord, Plugin } from '../../../runner/host/plugin.js';
import { plugin as authz } from '../../../plugins/mcp-authz/index.js';
import { PluginRegistry } from '../../../runner/host/registry.js';
import { LATER, TableChannel, requestCall } from '../../../testkit/host-kit.js';

const SECRET = 'decide-reference-hs256-secret-0123456789abcdef';
const key = new TextEncoder().encode(SECRET);
process.env['DECIDE_REFERENCE_SECRET'] = SECRET;
const APPS = ['a1', 'a2', 'a3'] as const;
const TENANTS = ['t1', 't2'] as const;
const NAMES = ['crm.get_x', 'crm.get_y', 'crm.list', 'billing.get_x', 'billing.del', 'ops.run', 'ops.get_y'] as const;
const GLOBS = ['crm.*', '*.get_*', 'billing.get_?', 'ops.*', '*', 'crm.get_?', '*.del'] as const;

interface ToolRule {
  name: string;
  confirm: boolean;
}
interface ActorDoc {
  name: string;
  app: string | undefined;
  tenant: string | undefined;
  allowed: ToolRule[];
  denied: string[];
}
interface Caller {
  app: string;
  tenant: string;
  user: string;
}

const pattern = fc.oneof(fc.constantFrom(...NAMES), fc.constantFrom(...GLOBS));
const actorArb = fc.record({
  app: fc.option(fc.constantFrom(...APPS), { nil: undefined }),
  tenant: fc.option(fc.constantFrom(...TENANTS), { nil: undefined }),
  allowed: fc.uniqueArray(fc.record({ name: pattern, confirm: fc.boolean() }), { maxLength: 5, selector: (r) => r.name }),
  denied: fc.uniqueArray(pattern, { maxLength: 2 }),
});
const callerArb = fc.record({ app: fc.constantFrom(...APPS), tenant: fc.constantFrom(...TENANTS), user: fc.constantFrom('u1', 'u2') });

function globMatches(p: string, name: string): boolean {
  let re = '';
  for (const ch of p) re += ch === '*' ? '[\\s\\S]*' : ch === '?' ? '[\\s\\S]' : ch.replace(/[.+^${}()|[\]\\/-]/g, '\\$&');
  return new RegExp(`^${re}$`).test(name);
}
const isGlob = (p: string): boolean => p.includes('*') || p.includes('?');

/** The reference: every rule in policy order, filtered and chosen as documented. */
function reference(actors: readonly ActorDoc[], c: Caller, tool: string): { action: string; rule: string } {
  type Entry = { rule: string; effect: 'allow' | 'deny'; pattern: string; confirm: boolean };
  const entries: Entry[] = [];
  for (const a of actors) {
    if ((a.app !== undefined && a.app !== c.app) || (a.tenant !== undefined && a.tenant !== c.tenant)) continue;
    for (const t of a.allowed) entries.push({ rule: `${a.name}/allowed_tools/${t.name}`, effect: 'allow', pattern: t.name, confirm: t.confirm });
    for (const d of a.denied) entries.push({ rule: `${a.name}/denied_tools/${d}`, effect: 'deny', pattern: d, confirm: false });
  }
  if (!entries.some((e) => e.effect === 'allow')) return { action: 'deny', rule: 'no-grant' };
  const exact = entries.filter((e) => !isGlob(e.pattern) && e.pattern === tool);
  const glob = entries.filter((e) => isGlob(e.pattern) && globMatches(e.pattern, tool));
  const deny = exact.find((e) => e.effect === 'deny') ?? glob.find((e) => e.effect === 'deny');
  if (deny) return { action: 'deny', rule: deny.rule };
  const grants = [...exact, ...glob].filter((e) => e.effect === 'allow');
  if (grants.length === 0) return { action: 'deny', rule: 'default-deny' };
  const confirming = grants.find((g) => g.confirm);
  return confirming ? { action: 'confirm', rule: confirming.rule } : { action: 'allow', rule: grants[0]!.rule };
}

/** Records what mcp-authz decided, whatever the answer (registered before authz runs). */
let decided: DecisionRecord[] = [];
const recorder: Plugin<Record<string, never>, Record<string, never>> = {
  name: 'recorder',
  confSchema: { type: 'object' },
  onRequest(ctx: CallContext) {
    ctx.onDone(() => {
      decided = ctx.decisions.filter((d) => d.plugin === 'mcp-authz');
    });
  },
};

test('the optimised chain decides exactly as the reference on random policies and call sequences', async () => {
  const tokens = new Map<string, string>();
  const tokenOf = async (c: Caller): Promise<string> => {
    const k = `${c.app}/${c.tenant}/${c.user}`;
    let t = tokens.get(k);
    if (t === undefined) {
      t = await new SignJWT({ azp: c.app, tenant: c.tenant }).setProtectedHeader({ alg: 'HS256' }).setSubject(c.user).setIssuer('https://idp.test').setAudience('mcp').setExpirationTime('1h').sign(key);
      tokens.set(k, t);
    }
    return t;
  };
  await fc.assert(
    fc.asyncProperty(
      fc.array(actorArb, { minLength: 1, maxLength: 4 }),
      fc.array(fc.record({ caller: callerArb, tool: fc.constantFrom(...NAMES) }), { minLength: 1, maxLength: 16 }),
      async (actorDocs, calls) => {
        const actors: ActorDoc[] = actorDocs.map((a, i) => ({ ...a, name: `actor${i}` }));
        const policy = {
          version: 1,
          actors: actors.map((a) => {
            const match: Record<string, string> = {};
            if (a.app !== undefined) match['app'] = a.app;
            if (a.tenant !== undefined) match['tenant'] = a.tenant;
            return {
              name: a.name,
              actor: match,
              allowed_tools: a.allowed.map((t) => ({ name: t.name, requires_user_confirmation: t.confirm })),
              denied_tools: a.denied,
            };
          }),
        };
        const registry = new PluginRegistry();
        registry.register(recorder as unknown as Plugin<never, unknown>);
        registry.register(authz as unknown as Plugin<never, unknown>);
        const host = new Host({ registry });
        try {
          const conf = {
            server: 'crm-tools',
            policy,
            identity: { jwt: { shared_secret: '$env://DECIDE_REFERENCE_SECRET', issuer: 'https://idp.test', audience: 'mcp' }, claims: { app: 'azp' } },
          };
          const chain = host.buildChain([{ name: 'recorder', value: '{}' }, { name: 'mcp-authz', value: JSON.stringify(conf) }], 'route#ref#ext-plugin-pre-req#1');
          for (const { caller, tool } of calls) {
            const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: tool, arguments: {} } });
            const headers = [
              { name: 'host', value: 'gw.test' },
              { name: 'authorization', value: `Bearer ${await tokenOf(caller)}` },
            ];
            decided = [];
            await host.onRequest(chain, requestCall(body, headers), new TableChannel({}, body), LATER());
            const got = decided.map((d) => ({ action: d.action, rule: d.rule }));
            assert.deepEqual(got, [reference(actors, caller, tool)], `${JSON.stringify(caller)} calls ${tool} under ${JSON.stringify(policy)}`);
          }
        } finally {
          await host.shutdown();
        }
      },
    ),
    { numRuns: 150 },
  );
});
