import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decideMessage, decideUse, holdsGrantHere, isVisible, subjectFor, type MatchedRule } from '../../../plugins/mcp-authz/decide.js';
import type { ToolHints } from '../../../plugins/mcp-authz/tool-hints.js';
import type { Identity } from '../../../runner/host/plugin.js';
import type { CompiledPolicy } from '../../../runner/policy/index.js';
import { message, policyFrom, toolCall, who } from '../../../testkit/authz.js';

const POLICY = policyFrom(`
version: 1
risk:
  confirm: [financial]
  deny: [production]
actors:
  - name: support
    actor: { app: support-agent, environment: production }
    allowed_tools:
      - { name: crm.lookup_customer, access: read, risk: read-only }
      - { name: "crm.*", access: read }
      - { name: ticket.create_case, access: write, requires_user_confirmation: true }
      - { name: billing.refund, risk: financial }
      - { name: ops.restart, risk: production }
      - name: db.run_query
        arguments:
          type: object
          required: [sql]
          properties: { sql: { type: string, pattern: "^select " } }
      - "db.*"
    denied_tools:
      - crm.delete_customer
      - { name: "admin.*", reason: never from agents }
    allowed_resources: ["kb://articles/*", { uri: "file:///secret/*", server: docs }]
    denied_resources: ["kb://articles/internal-*"]
    allowed_prompts: ["support.*"]
    denied_prompts: [support.escalate]
  - name: wildcard-for-tests
    actor: { app: tester }
    allowed_tools: ["*"]
    denied_tools: [crm.lookup_customer]
  - name: scoped
    actor: { role: [sre] }
    servers: [metrics]
    allowed_tools: ["metrics.*"]
routes:
  - name: billing-status
    match: { server: billing, tools: [billing.status] }
    auth: { require_user: true, require_role: [support, finance-ops] }
  - name: billing-deny
    match: { server: billing, tools: [billing.update_payment_method] }
    action: deny
    reason: Use human-approved workflow
  - name: search-needs-app
    match: { tools: [crm.search] }
    auth: { require_app: crm-app }
tool_registry:
  - { name: "crm.*", access: read }
`);

const SUPPORT: Identity = who({ app: 'support-agent', environment: 'production', user: 'alice', roles: ['support'] });

function decide(id: Identity, msg: ReturnType<typeof toolCall>, server?: string, policy: CompiledPolicy = POLICY) {
  return decideMessage(policy, subjectFor(policy, id, server), msg);
}

test('allow by exact name, with access and risk', () => {
  const d = decide(SUPPORT, toolCall('crm.lookup_customer'));
  assert.equal(d.effect, 'allow');
  assert.equal(d.rule, 'support/allowed_tools/crm.lookup_customer');
  assert.equal(d.access, 'read');
  assert.equal(d.risk, 'read-only');
});

test('globs allow, and deny wins over allow (exact and glob denies)', () => {
  assert.equal(decide(SUPPORT, toolCall('crm.find')).rule, 'support/allowed_tools/crm.*');
  const del = decide(SUPPORT, toolCall('crm.delete_customer'));
  assert.deepEqual([del.effect, del.rule], ['deny', 'support/denied_tools/crm.delete_customer']);
  const admin = decide(SUPPORT, toolCall('admin.drop'));
  assert.deepEqual([admin.effect, admin.rule, admin.reason], ['deny', 'support/denied_tools/admin.*', 'never from agents']);
  // The '*' actor still cannot call what it denies.
  assert.equal(decide(who({ app: 'tester' }), toolCall('anything.at_all')).effect, 'allow');
  assert.equal(decide(who({ app: 'tester' }), toolCall('crm.lookup_customer')).effect, 'deny');
});

test('default deny: unknown tool, unknown actor, actor fields must all match', () => {
  const d = decide(SUPPORT, toolCall('hr.salaries'));
  assert.deepEqual([d.effect, d.rule], ['deny', 'default-deny']);
  assert.equal(decide(who({ app: 'other' }), toolCall('crm.lookup_customer')).effect, 'deny');
  assert.equal(decide(who({ app: 'support-agent', environment: 'staging' }), toolCall('crm.lookup_customer')).effect, 'deny');
  assert.equal(decideMessage(policyFrom('version: 1\n'), subjectFor(policyFrom('version: 1\n'), SUPPORT, undefined), toolCall('x')).effect, 'deny');
});

test('argument schemas narrow a tool; exact rules are not widened by globs', () => {
  assert.equal(decide(SUPPORT, toolCall('db.run_query', { sql: 'select 1' })).effect, 'allow');
  const bad = decide(SUPPORT, toolCall('db.run_query', { sql: 'drop table users' }));
  assert.equal(bad.effect, 'deny');
  assert.equal(bad.rule, 'support/allowed_tools/db.run_query');
  assert.match(bad.reason, /arguments\/sql must match pattern/);
  assert.equal(decide(SUPPORT, toolCall('db.other', { sql: 'drop' })).effect, 'allow', 'db.* has no schema');
});

test('confirmation by rule and by risk; risk deny', () => {
  assert.equal(decide(SUPPORT, toolCall('ticket.create_case')).effect, 'confirm');
  const refund = decide(SUPPORT, toolCall('billing.refund'));
  assert.deepEqual([refund.effect, refund.risk], ['confirm', 'financial']);
  const prod = decide(SUPPORT, toolCall('ops.restart'));
  assert.deepEqual([prod.effect, prod.rule], ['deny', 'risk/production']);
});

test('per server: actor servers, route rules with auth, route deny', () => {
  const sre = who({ user: 'bob', roles: ['sre'] });
  assert.equal(decide(sre, toolCall('metrics.cpu'), 'metrics').effect, 'allow');
  assert.equal(decide(sre, toolCall('metrics.cpu'), 'crm').effect, 'deny');
  assert.equal(decide(sre, toolCall('metrics.cpu'), undefined).effect, 'deny', 'grants need a known server');

  assert.equal(decide(who({ user: 'u', roles: ['finance-ops'] }), toolCall('billing.status'), 'billing').effect, 'allow');
  const noUser = decide(who({ roles: ['finance-ops'] }), toolCall('billing.status'), 'billing');
  assert.deepEqual([noUser.effect, noUser.rule], ['deny', 'routes/billing-status']);
  assert.match(noUser.reason, /user identity is required/);
  const wrongRole = decide(who({ user: 'u', roles: ['dev'] }), toolCall('billing.status'), 'billing');
  assert.match(wrongRole.reason, /roles support, finance-ops/);

  const pay = decide(who({ app: 'tester' }), toolCall('billing.update_payment_method'), 'billing');
  assert.deepEqual([pay.effect, pay.rule, pay.reason], ['deny', 'routes/billing-deny', 'Use human-approved workflow']);
  // Deny rules bound to a server still apply when the server is unknown (fail closed).
  assert.equal(decide(who({ app: 'tester' }), toolCall('billing.update_payment_method'), undefined).effect, 'deny');
  assert.equal(decide(who({ app: 'tester' }), toolCall('billing.update_payment_method'), 'crm').effect, 'allow');
});

test('route rules are requirements: an actor grant cannot bypass unmet route auth', () => {
  // support's crm.* would allow crm.search, but the route requires app crm-app.
  const d = decide(SUPPORT, toolCall('crm.search'));
  assert.deepEqual([d.effect, d.rule], ['deny', 'routes/search-needs-app']);
  assert.equal(decide(who({ app: 'crm-app' }), toolCall('crm.search')).effect, 'allow');
});

test('resources and prompts', () => {
  const read = (uri: string, server?: string) => decide(SUPPORT, message({ id: 1, method: 'resources/read', params: { uri } }), server);
  assert.equal(read('kb://articles/42').effect, 'allow');
  assert.equal(read('kb://articles/internal-7').effect, 'deny');
  assert.equal(read('file:///secret/a', 'docs').effect, 'allow');
  assert.equal(read('file:///secret/a', 'other').effect, 'deny');
  assert.equal(decide(SUPPORT, message({ id: 1, method: 'resources/subscribe', params: { uri: 'kb://x/1' } })).effect, 'deny');
  const prompt = (name: string) => decide(SUPPORT, message({ id: 1, method: 'prompts/get', params: { name } }));
  assert.equal(prompt('support.greeting').effect, 'allow');
  assert.equal(prompt('support.escalate').effect, 'deny');
  assert.equal(prompt('sales.pitch').effect, 'deny');
});

test('protocol methods are allowed unless the policy says otherwise', () => {
  for (const method of ['initialize', 'ping', 'tools/list', 'resources/list', 'prompts/list', 'notifications/initialized']) {
    const m = method.startsWith('notifications/') ? message({ method }) : message({ id: 1, method });
    assert.equal(decide(SUPPORT, m).effect, 'allow', method);
  }
  const strict = policyFrom('methods:\n  default: deny\n  allow: [initialize, "notifications/*"]\n  deny: [logging/setLevel]\n');
  const s = subjectFor(strict, SUPPORT, undefined);
  assert.equal(decideMessage(strict, s, message({ id: 1, method: 'initialize' })).effect, 'allow');
  assert.equal(decideMessage(strict, s, message({ method: 'notifications/initialized' })).effect, 'allow');
  assert.equal(decideMessage(strict, s, message({ id: 1, method: 'tools/list' })).rule, 'methods/default');
  assert.equal(decideMessage(strict, s, message({ id: 1, method: 'logging/setLevel', params: { level: 'debug' } })).rule, 'methods/deny');
});

test('visibility for list filtering ignores arguments but honours denies', () => {
  const s = subjectFor(POLICY, SUPPORT, undefined);
  assert.equal(isVisible(POLICY, s, 'tool', 'db.run_query'), true);
  assert.equal(isVisible(POLICY, s, 'tool', 'crm.delete_customer'), false);
  assert.equal(isVisible(POLICY, s, 'tool', 'hr.salaries'), false);
  assert.equal(isVisible(POLICY, s, 'tool', 'ticket.create_case'), true);
});

test('fifty rules: a decision stays a few lookups', () => {
  const tools = Array.from({ length: 50 }, (_, i) => `      - { name: svc${i}.tool${i}, access: read }`).join('\n');
  const big = policyFrom(`actors:\n  - name: big\n    actor: { app: a }\n    allowed_tools:\n${tools}\n      - "glob.*"\ntool_registry:\n  - { name: "svc*", access: read }\n`);
  const s = subjectFor(big, who({ app: 'a' }), undefined);
  const msg = toolCall('svc42.tool42');
  const started = performance.now();
  for (let i = 0; i < 20000; i++) decideMessage(big, s, msg);
  const perCall = (performance.now() - started) / 20000;
  assert.equal(decideMessage(big, s, msg).effect, 'allow');
  assert.ok(perCall < 0.05, `decision took ${perCall} ms`);
});

test('rules compose: a route rule on billing.* still applies when an actor holds an exact grant', () => {
  const policy = policyFrom(`
risk: { confirm: [financial] }
actors:
  - name: support
    actor: { app: support-agent }
    allowed_tools: [billing.refund]
routes:
  - name: billing-guard
    match: { tools: ["billing.*"] }
    requires_user_confirmation: true
    risk: financial
    arguments:
      type: object
      properties: { amount: { type: number, maximum: 100 } }
`);
  const huge = decide(SUPPORT, toolCall('billing.refund', { amount: 1e6 }), 'billing', policy);
  assert.deepEqual([huge.effect, huge.rule], ['deny', 'routes/billing-guard']);
  assert.match(huge.reason, /arguments\/amount must be <= 100/);
  const small = decide(SUPPORT, toolCall('billing.refund', { amount: 50 }), 'billing', policy);
  assert.deepEqual([small.effect, small.rule], ['confirm', 'routes/billing-guard']);
  // Both rules are listed with their effect.
  const trace: MatchedRule[] = [];
  decideMessage(policy, subjectFor(policy, SUPPORT, 'billing'), toolCall('billing.refund', { amount: 1e6 }), trace);
  assert.deepEqual(trace.map((m) => [m.rule, m.effect]), [['support/allowed_tools/billing.refund', 'allow'], ['routes/billing-guard', 'deny']]);
});

test('rules compose: every grant applies whole (schemas of exact and glob grants, risk deny of any)', () => {
  const policy = policyFrom(`
risk: { deny: [production] }
actors:
  - name: a
    actor: { app: support-agent }
    allowed_tools:
      - { name: "db.*", arguments: { type: object, required: [limit] } }
      - { name: db.run_query, arguments: { type: object, required: [sql] } }
  - name: b
    actor: { role: support }
    allowed_tools: [{ name: "ops.*", risk: production }]
  - name: c
    actor: { app: support-agent }
    allowed_tools: [ops.status]
`);
  assert.equal(decide(SUPPORT, toolCall('db.run_query', { sql: 'select 1' }), undefined, policy).rule, 'a/allowed_tools/db.*', 'the glob schema applies too');
  assert.equal(decide(SUPPORT, toolCall('db.run_query', { sql: 'select 1', limit: 1 }), undefined, policy).effect, 'allow');
  const ops = decide(SUPPORT, toolCall('ops.status'), undefined, policy);
  assert.deepEqual([ops.effect, ops.rule], ['deny', 'risk/production']);
});

test('route requirements compose too: each matching route rule must have its auth met', () => {
  const policy = policyFrom(`
actors:
  - { name: all, actor: {}, allowed_tools: ["*"] }
routes:
  - { name: needs-user, match: { tools: ["crm.*"] }, auth: { require_user: true } }
  - { name: needs-finance, match: { tools: [crm.refund] }, auth: { require_role: [finance] } }
`);
  assert.equal(decide(SUPPORT, toolCall('crm.lookup'), undefined, policy).effect, 'allow');
  assert.deepEqual([decide(SUPPORT, toolCall('crm.refund'), undefined, policy).rule], ['routes/needs-finance']);
  assert.equal(decide(who({ user: 'u', roles: ['finance'] }), toolCall('crm.refund'), undefined, policy).effect, 'allow');
});

test('read access: a read grant covers only tools the registry or the annotations mark read-only', () => {
  const policy = policyFrom(`
actors:
  - name: reader
    actor: { app: support-agent }
    allowed_tools: [{ name: "*", access: read }]
  - name: ro-actor
    actor: { app: ro }
    access: read
    servers: [crm]
    allowed_tools: ["*", { name: crm.update, access: write }]
tool_registry:
  - { name: crm.lookup, access: read }
  - { name: crm.update, access: write }
`);
  const s = subjectFor(policy, SUPPORT, 'crm');
  const use = (name: string, hints?: ToolHints) => decideUse(policy, s, 'tool', name, {}, hints);
  assert.equal(use('crm.lookup').effect, 'allow', 'registry says read');
  assert.match(use('crm.update').reason, /writes \(tool_registry\)/);
  assert.equal(use('x.list', { readOnly: true, writes: false }).effect, 'allow', 'readOnlyHint');
  assert.match(use('x.drop', { readOnly: false, writes: true }).reason, /writes \(its annotations\)/);
  // Unknown (no registry entry, no annotations): not covered, fail closed.
  const unknown = use('x.other');
  assert.deepEqual([unknown.effect, unknown.rule], ['deny', 'reader/allowed_tools/*']);
  assert.match(unknown.reason, /not known to be read-only/);
  // Write wins: the registry says read, the annotations say destructive.
  assert.equal(use('crm.lookup', { readOnly: false, writes: true }).effect, 'deny');
  // A read-only actor: its own write grant is capped too.
  const ro = subjectFor(policy, who({ app: 'ro' }), 'crm');
  assert.equal(decideUse(policy, ro, 'tool', 'crm.lookup', {}).effect, 'allow');
  assert.equal(decideUse(policy, ro, 'tool', 'crm.update', {}).effect, 'deny');
  assert.equal(isVisible(policy, ro, 'tool', 'crm.update'), false);
});

test('a grant on this server: any allow rule whose actor (or route auth) and servers fit', () => {
  const sre = subjectFor(POLICY, who({ user: 'bob', roles: ['sre'] }), 'metrics');
  assert.equal(holdsGrantHere(POLICY, sre), true);
  assert.equal(holdsGrantHere(POLICY, subjectFor(POLICY, who({ roles: ['sre'] }), 'crm')), false, 'scoped to metrics');
  assert.equal(holdsGrantHere(POLICY, subjectFor(POLICY, who({ app: 'nobody' }), 'crm')), false);
  assert.equal(holdsGrantHere(POLICY, subjectFor(POLICY, SUPPORT, 'crm')), true);
  // A route rule whose auth is met grants on its server.
  assert.equal(holdsGrantHere(POLICY, subjectFor(POLICY, who({ user: 'u', roles: ['finance-ops'] }), 'billing')), true);
  assert.equal(holdsGrantHere(POLICY, subjectFor(POLICY, who({ roles: ['finance-ops'] }), 'billing')), false, 'route auth not met');
});
