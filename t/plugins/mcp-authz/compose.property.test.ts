// Property: the real evaluator (compiled policy, pattern index, early exits) decides exactly
// like a plain reference evaluation written straight from the documented rules, for random
// policies, identities, servers, tool annotations and calls:
//   deny rules that match deny; route rules are requirements (auth, read-only) and grant when
//   met; actor rules grant, a read grant only covering read-only tools; every grant that applies
//   applies whole (schema, risk deny, confirmation); exact names first, then globs, in policy
//   order; nothing granted -> default deny. Also: list visibility, "sees everything" and
//   "holds a grant on this server" agree with the same reference.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { compilePolicy, validatePolicyDocument, type PolicyDoc } from '../../../runner/policy/index.js';
import { decideUse, holdsGrantHere, isVisible, seesEverything, subjectFor } from '../../../plugins/mcp-authz/decide.js';
import type { ToolHints } from '../../../plugins/mcp-authz/tool-hints.js';
import type { Identity } from '../../../runner/host/plugin.js';

const TOOLS = ['a.x', 'a.y', 'b.x', 'b.zz'];
const PATTERNS = [...TOOLS, 'a.*', '*.x', '*', 'b.?', 'b.??', 'c.*'];
const SERVERS = ['s1', 's2'];
const RISKS = ['read-only', 'write', 'financial', 'production'] as const;
type Args = Record<string, unknown>;

/** Argument schemas with the predicate a reader would write for each. */
const SCHEMAS: Array<{ schema: object; holds: (a: Args) => boolean }> = [
  { schema: { type: 'object', properties: { n: { type: 'integer', maximum: 100 } } }, holds: (a) => a['n'] === undefined || (Number.isInteger(a['n']) && (a['n'] as number) <= 100) },
  { schema: { type: 'object', required: ['n'] }, holds: (a) => 'n' in a },
  { schema: { type: 'object', properties: { n: { minimum: 50 } } }, holds: (a) => typeof a['n'] !== 'number' || (a['n'] as number) >= 50 },
];

const maybe = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined });
const subsetOf = <T>(xs: readonly T[]) => fc.subarray([...xs], { minLength: 1 });
const serverField = maybe(fc.oneof(fc.constantFrom(...SERVERS), subsetOf(SERVERS)));

const allowedTool = fc.record({
  name: fc.constantFrom(...PATTERNS),
  server: serverField,
  access: maybe(fc.constantFrom('read' as const, 'write' as const)),
  risk: maybe(fc.constantFrom(...RISKS)),
  requires_user_confirmation: maybe(fc.boolean()),
  schema: maybe(fc.nat(SCHEMAS.length - 1)),
});
const actor = fc.record({
  actor: fc.record({ app: maybe(fc.constantFrom('p', 'q')), role: maybe(subsetOf(['r1', 'r2'])) }),
  servers: serverField,
  access: maybe(fc.constantFrom('read' as const, 'write' as const)),
  allowed_tools: fc.array(allowedTool, { maxLength: 3 }),
  denied_tools: fc.array(fc.record({ name: fc.constantFrom(...PATTERNS), server: serverField }), { maxLength: 2 }),
});
const route = fc.record({
  server: serverField,
  tools: maybe(fc.subarray(PATTERNS, { minLength: 1, maxLength: 2 })),
  auth: maybe(fc.record({ require_user: maybe(fc.boolean()), require_app: maybe(fc.constantFrom('p', 'q')), require_role: maybe(subsetOf(['r1', 'r2'])) })),
  action: maybe(fc.constantFrom('allow' as const, 'deny' as const)),
  access: maybe(fc.constantFrom('read' as const, 'write' as const)),
  risk: maybe(fc.constantFrom(...RISKS)),
  requires_user_confirmation: maybe(fc.boolean()),
  schema: maybe(fc.nat(SCHEMAS.length - 1)),
});
const policyArb = fc.record({
  actors: fc.array(actor, { maxLength: 3 }),
  routes: fc.array(route, { maxLength: 3 }),
  confirm: fc.subarray([...RISKS]),
  deny: fc.subarray([...RISKS]),
  registry: fc.array(fc.record({ name: fc.constantFrom(...PATTERNS), server: serverField, access: fc.constantFrom('read' as const, 'write' as const) }), { maxLength: 3 }),
});
type Gen = typeof policyArb extends fc.Arbitrary<infer T> ? T : never;

const strip = <T extends object>(o: T): T => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;

/** The generated policy as the YAML document an operator would write. */
function documentOf(g: Gen): PolicyDoc {
  const doc = {
    version: 1,
    risk: { confirm: g.confirm, deny: g.deny },
    actors: g.actors.map((a, i) =>
      strip({
        name: `actor${i}`,
        actor: strip(a.actor),
        servers: a.servers,
        access: a.access,
        allowed_tools: a.allowed_tools.map((t) => strip({ name: t.name, server: t.server, access: t.access, risk: t.risk, requires_user_confirmation: t.requires_user_confirmation, arguments: t.schema === undefined ? undefined : SCHEMAS[t.schema]!.schema })),
        denied_tools: a.denied_tools.map((t) => strip(t)),
      }),
    ),
    routes: g.routes.map((r, i) =>
      strip({
        name: `route${i}`,
        match: strip({ server: r.server, tools: r.tools }),
        auth: r.auth === undefined ? undefined : strip(r.auth),
        action: r.action,
        access: r.access,
        risk: r.risk,
        requires_user_confirmation: r.requires_user_confirmation,
        // The schema refuses arguments on a route without match.tools.
        arguments: r.schema === undefined || r.tools === undefined ? undefined : SCHEMAS[r.schema]!.schema,
      }),
    ),
    tool_registry: g.registry.map((t) => strip(t)),
  };
  validatePolicyDocument(doc, 'generated');
  return doc;
}

// ---- The reference: straight from the rules, over the generated document ----

function globMatches(pattern: string, name: string): boolean {
  if (pattern === '') return name === '';
  if (pattern[0] === '*') return globMatches(pattern.slice(1), name) || (name !== '' && globMatches(pattern, name.slice(1)));
  if (name === '') return false;
  return (pattern[0] === '?' || pattern[0] === name[0]) && globMatches(pattern.slice(1), name.slice(1));
}
const list = (v: string | string[] | undefined): string[] | undefined => (v === undefined ? undefined : typeof v === 'string' ? [v] : v);

interface Rule {
  effect: 'allow' | 'deny';
  rule: string;
  pattern: string;
  servers: string[] | undefined;
  actorMatches: ((id: Identity) => boolean) | undefined;
  authFails: ((id: Identity) => boolean) | undefined;
  access: 'read' | 'write' | undefined;
  risk: string | undefined;
  confirm: boolean;
  holds: ((a: Args) => boolean) | undefined;
}

function rulesOf(g: Gen): Rule[] {
  const rules: Rule[] = [];
  g.actors.forEach((a, i) => {
    const matches = (id: Identity): boolean =>
      (a.actor.app === undefined || id.app === a.actor.app) && (a.actor.role === undefined || id.roles.some((r) => a.actor.role!.includes(r)));
    for (const t of a.allowed_tools) {
      rules.push({
        effect: 'allow', rule: `actor${i}/allowed_tools/${t.name}`, pattern: t.name, servers: list(t.server ?? a.servers), actorMatches: matches, authFails: undefined,
        access: a.access === 'read' ? 'read' : t.access, risk: t.risk, confirm: t.requires_user_confirmation === true, holds: t.schema === undefined ? undefined : SCHEMAS[t.schema]!.holds,
      });
    }
    for (const t of a.denied_tools) {
      rules.push({ effect: 'deny', rule: `actor${i}/denied_tools/${t.name}`, pattern: t.name, servers: list(t.server ?? a.servers), actorMatches: matches, authFails: undefined, access: undefined, risk: undefined, confirm: false, holds: undefined });
    }
  });
  g.routes.forEach((r, i) => {
    const auth = r.auth ?? { require_user: undefined, require_app: undefined, require_role: undefined };
    const authFails = (id: Identity): boolean =>
      (auth.require_user === true && id.user === undefined) || (auth.require_app !== undefined && id.app !== auth.require_app) || (auth.require_role !== undefined && !id.roles.some((x) => auth.require_role!.includes(x)));
    for (const pattern of r.tools ?? ['*']) {
      rules.push({
        effect: r.action ?? 'allow', rule: `routes/route${i}`, pattern, servers: list(r.server), actorMatches: undefined, authFails,
        access: r.access, risk: r.risk, confirm: r.requires_user_confirmation === true, holds: r.schema === undefined || r.tools === undefined ? undefined : SCHEMAS[r.schema]!.holds,
      });
    }
  });
  const exact = rules.filter((r) => !r.pattern.includes('*') && !r.pattern.includes('?'));
  return [...exact, ...rules.filter((r) => !exact.includes(r))];
}

function classify(g: Gen, server: string | undefined, tool: string, hints: ToolHints | undefined): 'read' | 'write' | 'unknown' {
  const entries = g.registry.filter((e) => globMatches(e.name, tool) && (e.server === undefined || (server !== undefined && list(e.server)!.includes(server))));
  if (entries.some((e) => e.access === 'write') || hints?.writes === true) return 'write';
  if (entries.some((e) => e.access === 'read') || hints?.readOnly === true) return 'read';
  return 'unknown';
}

function reference(g: Gen, id: Identity, server: string | undefined, tool: string, args: Args | undefined, hints: ToolHints | undefined): { effect: string; rule: string } {
  const matching = rulesOf(g).filter((r) => globMatches(r.pattern, tool));
  const applies = (r: Rule): boolean => (r.actorMatches ? r.actorMatches(id) : !r.authFails!(id));
  for (const r of matching) {
    if (r.effect === 'deny' && (r.servers === undefined || server === undefined || r.servers.includes(server)) && applies(r)) return { effect: 'deny', rule: r.rule };
  }
  const cls = classify(g, server, tool, hints);
  const grants: Rule[] = [];
  let notCovered: Rule | undefined;
  for (const r of matching) {
    if (r.effect !== 'allow' || !(r.servers === undefined || (server !== undefined && r.servers.includes(server)))) continue;
    if (r.actorMatches) {
      if (!r.actorMatches(id)) continue;
      if (r.access === 'read' && cls !== 'read') notCovered ??= r;
      else grants.push(r);
    } else {
      if (r.authFails!(id) || (r.access === 'read' && cls !== 'read')) return { effect: 'deny', rule: r.rule };
      grants.push(r);
    }
  }
  if (grants.length === 0) return { effect: 'deny', rule: notCovered?.rule ?? 'default-deny' };
  for (const r of grants) {
    if (args !== undefined && r.holds !== undefined && !r.holds(args)) return { effect: 'deny', rule: r.rule };
    if (r.risk !== undefined && (g.deny as string[]).includes(r.risk)) return { effect: 'deny', rule: `risk/${r.risk}` };
  }
  const confirmBy = grants.find((r) => r.confirm || (r.risk !== undefined && (g.confirm as string[]).includes(r.risk)));
  return confirmBy ? { effect: 'confirm', rule: confirmBy.rule } : { effect: 'allow', rule: grants[0]!.rule };
}

function referenceHoldsGrant(g: Gen, id: Identity, server: string | undefined): boolean {
  return rulesOf(g).some((r) => r.effect === 'allow' && (r.servers === undefined || (server !== undefined && r.servers.includes(server))) && (r.actorMatches ? r.actorMatches(id) : !r.authFails!(id)));
}

const identityArb = fc.record({ app: maybe(fc.constantFrom('p', 'q')), user: maybe(fc.constant('u')), roles: fc.subarray(['r1', 'r2']) }).map((i): Identity => ({ ...i, source: 'jwt' }));
const hintsArb = maybe(fc.constantFrom<ToolHints>({ readOnly: true, writes: false }, { readOnly: false, writes: true }, { readOnly: false, writes: false }));
const argsArb = maybe(fc.oneof(fc.constant({}), fc.record({ n: fc.integer({ min: 0, max: 200 }) }), fc.record({ n: fc.constant('x') })));
const callArb = fc.record({ identity: identityArb, server: maybe(fc.constantFrom(...SERVERS)), tool: fc.constantFrom(...TOOLS), args: argsArb, hints: hintsArb });

test('the compiled evaluator decides like the reference, for random policies and calls', () => {
  fc.assert(
    fc.property(policyArb, fc.array(callArb, { minLength: 1, maxLength: 24 }), (g, calls) => {
      const doc = documentOf(g);
      const policy = compilePolicy([{ doc, label: 'generated' }]);
      for (const c of calls) {
        const s = subjectFor(policy, c.identity, c.server);
        const real = decideUse(policy, s, 'tool', c.tool, c.args, c.hints);
        const expected = reference(g, c.identity, c.server, c.tool, c.args, c.hints);
        assert.deepEqual({ effect: real.effect, rule: real.rule }, expected, JSON.stringify({ doc, call: c }));
        // With a trace (explain) the decision is the same.
        assert.deepEqual(decideUse(policy, s, 'tool', c.tool, c.args, c.hints, []), real);
        assert.equal(isVisible(policy, s, 'tool', c.tool, c.hints), reference(g, c.identity, c.server, c.tool, undefined, c.hints).effect !== 'deny');
        assert.equal(holdsGrantHere(policy, s), referenceHoldsGrant(g, c.identity, c.server));
        if (seesEverything(policy, s, 'tool')) {
          for (const t of TOOLS) for (const h of [undefined, { readOnly: false, writes: true }]) assert.ok(isVisible(policy, s, 'tool', t, h), `sees everything, yet ${t} is hidden`);
        }
      }
    }),
    { numRuns: 400 },
  );
});
