// The requirements document's per-actor shape (`mcp_tool_policy:` with one actor, or a list)
// is accepted as written and compiled like `actors:` entries.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compilePolicy, parsePolicyText, PolicyError } from '../../../runner/policy/index.js';
import { decideMessage, subjectFor } from '../../../plugins/mcp-authz/decide.js';
import { toolCall, who } from '../../../testkit/authz.js';

// Verbatim from the requirements document ("Policy shapes operators write", per actor).
const REQUIREMENTS_PER_ACTOR = `mcp_tool_policy:
  actor:
    app: support-agent
    environment: production
  allowed_tools:
    - name: crm.lookup_customer
      access: read
    - name: billing.get_subscription_status
      access: read
    - name: ticket.create_case
      access: write
      requires_user_confirmation: true
  denied_tools:
    - billing.update_payment_method
    - account.delete_customer
  audit:
    log_tool_name: true
    log_argument_schema: true
    log_sensitive_values: false
`;

const agent = who({ app: 'support-agent', environment: 'production', user: 'alice' });

// The reviewed tool registry, kept apart from the verbatim document: its read grants cover
// only tools known to be read-only.
const REGISTRY = parsePolicyText('tool_registry:\n  - { name: crm.lookup_customer, access: read }\n  - { name: billing.get_subscription_status, access: read }\n', 'registry.yaml');

function decide(yaml: string, tool: string, identity = agent): [string, string] {
  const policy = compilePolicy([
    { doc: parsePolicyText(yaml, 'req.yaml'), label: 'req.yaml' },
    { doc: REGISTRY, label: 'registry.yaml' },
  ]);
  const d = decideMessage(policy, subjectFor(policy, identity, 'crm-tools'), toolCall(tool));
  return [d.effect, d.rule];
}

test('the per-actor YAML of the requirements document loads as written and decides', () => {
  assert.deepEqual(decide(REQUIREMENTS_PER_ACTOR, 'crm.lookup_customer'), ['allow', 'mcp_tool_policy/allowed_tools/crm.lookup_customer']);
  assert.deepEqual(decide(REQUIREMENTS_PER_ACTOR, 'billing.get_subscription_status'), ['allow', 'mcp_tool_policy/allowed_tools/billing.get_subscription_status']);
  assert.deepEqual(decide(REQUIREMENTS_PER_ACTOR, 'ticket.create_case'), ['confirm', 'mcp_tool_policy/allowed_tools/ticket.create_case']);
  assert.deepEqual(decide(REQUIREMENTS_PER_ACTOR, 'billing.update_payment_method'), ['deny', 'mcp_tool_policy/denied_tools/billing.update_payment_method']);
  assert.deepEqual(decide(REQUIREMENTS_PER_ACTOR, 'account.delete_customer'), ['deny', 'mcp_tool_policy/denied_tools/account.delete_customer']);
  assert.equal(decide(REQUIREMENTS_PER_ACTOR, 'hr.payroll')[0], 'deny', 'default deny');
  // The actor match is real: another environment gets nothing.
  assert.equal(decide(REQUIREMENTS_PER_ACTOR, 'crm.lookup_customer', who({ app: 'support-agent', environment: 'staging' }))[0], 'deny');
});

test('a list of mcp_tool_policy entries, next to actors, compiles to the same rules', () => {
  const yaml = `actors:
  - name: ops
    actor: { role: sre }
    allowed_tools: [metrics.*]
mcp_tool_policy:
  - name: support
    actor: { app: support-agent }
    allowed_tools: [crm.lookup_customer]
  - actor: { app: billing-agent }
    allowed_tools: [billing.*]
`;
  assert.deepEqual(decide(yaml, 'crm.lookup_customer'), ['allow', 'support/allowed_tools/crm.lookup_customer']);
  assert.deepEqual(decide(yaml, 'billing.refund', who({ app: 'billing-agent' })), ['allow', 'mcp_tool_policy[1]/allowed_tools/billing.*']);
  assert.deepEqual(decide(yaml, 'metrics.cpu', who({ roles: ['sre'] })), ['allow', 'ops/allowed_tools/metrics.*']);
  assert.equal(decide(yaml, 'billing.refund')[0], 'deny');
});

test('errors inside mcp_tool_policy name the field path; names stay unique across both shapes', () => {
  const bad = (yaml: string): string => {
    try {
      compilePolicy([{ doc: parsePolicyText(yaml, 'req.yaml'), label: 'req.yaml' }]);
    } catch (err) {
      assert.ok(err instanceof PolicyError);
      return err.message;
    }
    assert.fail('accepted');
  };
  assert.match(bad('mcp_tool_policy:\n  actor: { app: a }\n  allowed_tools:\n    - name: x\n      access: readwrite\n'), /req\.yaml: \/mcp_tool_policy\/allowed_tools\/0\/access must be equal to one of the allowed values \(read, write\)/);
  assert.match(bad('mcp_tool_policy:\n  - actor: { app: a }\n  - allowed_tools: [x]\n'), /req\.yaml: \/mcp_tool_policy\/1 must have required property 'actor'/);
  assert.match(bad('mcp_tool_policy: yes\n'), /req\.yaml: \/mcp_tool_policy must be object,array/);
  assert.match(bad('actors:\n  - name: s\n    actor: {}\nmcp_tool_policy:\n  name: s\n  actor: {}\n'), /req\.yaml: \/mcp_tool_policy\/name 's' is used twice/);
});
