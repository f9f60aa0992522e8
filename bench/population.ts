// The bench's caller population: many distinct users, each with their own signed JWT (so the
// verify cache and the per-identity caches work as in production), spread over several apps
// and tenants, calling the tools their app's policy allows with arguments of realistic size.
// Bodies are pre-encoded: the load generator must cost little.

import { SignJWT, type CryptoKey, type KeyObject } from 'jose';

const enc = new TextEncoder();

export const ISSUER = 'https://idp.example.com';
export const AUDIENCE = 'https://gateway.example.com/mcp';

/** One app = one actor of the policy, with the tools it calls. */
interface App {
  readonly name: string;
  /** Tools this app calls in the bench (all allowed by the policy). */
  readonly calls: readonly string[];
}

const APPS: readonly App[] = [
  { name: 'support-agent', calls: ['crm.lookup_customer', 'crm.search_accounts', 'crm.tool_3', 'billing.get_invoice', 'crm.tool_7'] },
  { name: 'billing-agent', calls: ['billing.get_invoice', 'billing.list_payments', 'billing.tool_2', 'crm.lookup_customer'] },
  { name: 'sales-agent', calls: ['crm.search_accounts', 'sales.tool_1', 'sales.create_quote', 'crm.tool_4'] },
  { name: 'ops-agent', calls: ['db.run_query', 'ops.tool_0', 'ops.get_status', 'ops.tool_5'] },
];

export const TENANTS = 25;

/** The policy: four actors, 50 rules in all (exact names, a few globs, denies). */
export function policyYaml(): string {
  const rules = (prefix: string, n: number): string =>
    Array.from({ length: n }, (_, i) => `      - name: ${prefix}.tool_${i}\n        access: read\n        risk: read-only`).join('\n');
  return `version: 1
description: bench policy, 50 rules over four actors
actors:
  - name: support-agent
    actor: { app: support-agent, environment: production }
    allowed_tools:
      - name: crm.lookup_customer
        access: read
        risk: read-only
      - name: crm.search_accounts
        access: read
      - name: "billing.get_*"
        access: read
      - name: ticket.create_case
        access: write
        requires_user_confirmation: true
${rules('crm', 12)}
    denied_tools:
      - billing.update_payment_method
      - account.delete_customer
      - "admin.*"
  - name: billing-agent
    actor: { app: billing-agent, environment: production }
    allowed_tools:
      - name: "billing.get_*"
        access: read
      - name: billing.list_payments
        access: read
      - name: crm.lookup_customer
        access: read
${rules('billing', 6)}
    denied_tools:
      - billing.refund_all
      - "admin.*"
  - name: sales-agent
    actor: { app: sales-agent, environment: production }
    allowed_tools:
      - name: crm.search_accounts
        access: read
      - name: sales.create_quote
        access: write
        risk: write
${rules('sales', 6)}
      - name: "crm.tool_*"
        access: read
    denied_tools:
      - "crm.tool_9"
  - name: ops-agent
    actor: { app: ops-agent, environment: production, role: [operator, sre] }
    allowed_tools:
      - name: db.run_query
        access: read
        arguments:
          type: object
          required: [sql]
          properties:
            sql: { type: string, pattern: "^\\\\s*[Ss][Ee][Ll][Ee][Cc][Tt]\\\\s" }
      - name: ops.get_status
        access: read
${rules('ops', 6)}
    denied_tools:
      - "ops.restart_*"
      - ops.drop_cluster
# read grants cover only tools known to be read-only: the bench's read tools are reviewed here
tool_registry:
  - { name: "crm.*", access: read }
  - { name: "billing.get_*", access: read }
  - { name: "billing.list_*", access: read }
  - { name: "billing.tool_*", access: read }
  - { name: "sales.tool_*", access: read }
  - { name: "ops.*", access: read }
  - { name: db.run_query, access: read }
`;
}

export interface Caller {
  readonly user: string;
  readonly app: string;
  readonly tenant: string;
  /** Authorization header value. */
  readonly authorization: string;
}

const NOTES = [
  'Customer called about the renewal of their enterprise plan and asked whether the usage report for last quarter includes the sandbox workspaces; follow up with the account team before Friday.',
  'Escalated from tier one: the nightly export failed twice with a timeout on the EU cluster. Attach the job ids and the last successful run before handing over to engineering.',
  'Prospect evaluating the analytics add-on for three regional teams. Wants pricing for annual billing, a security questionnaire, and a short call with a solutions engineer next week.',
  'Invoice disputed: the customer reports being charged for 42 seats while only 37 are active. Check seat history for the last two billing periods and the proration rules applied.',
];

/** Arguments of a few hundred bytes, like an agent's tool call; some carry an email to redact. */
function argumentsFor(tool: string, k: number, caller: number): Record<string, unknown> {
  if (tool === 'db.run_query') {
    return {
      sql: `SELECT id, name, plan, status, created_at FROM accounts WHERE region = 'eu-${k % 3}' AND status IN ('active', 'trial') ORDER BY created_at DESC LIMIT 50`,
      timeout_ms: 5000,
      read_replica: true,
    };
  }
  const args: Record<string, unknown> = {
    customer_id: `c-${100000 + ((caller * 31 + k) % 900000)}`,
    fields: ['name', 'plan', 'status', 'owner', 'renewal_date', 'seats'],
    include_history: k % 2 === 0,
    filters: { region: ['eu-west', 'us-east', 'ap-south'][k % 3], since: '2026-01-01', status: ['active', 'trial'] },
    note: NOTES[k % NOTES.length],
    page: { size: 25, cursor: null },
  };
  // One call in eight quotes a contact the redactor masks (so the body is rewritten).
  if (k % 8 === 3) args['contact'] = `please reply to jane.doe${caller % 97}@example.com before the call`;
  return args;
}

export interface Population {
  readonly callers: readonly Caller[];
  /** Pre-encoded tools/call bodies per app (index into APPS by caller). */
  readonly bodies: ReadonlyMap<string, readonly Uint8Array[]>;
  /** The body of the i-th call of caller c. */
  bodyFor(c: Caller, i: number): Uint8Array;
}

/** Build `users` callers with distinct ES256 tokens (signing 10k takes a second or two). */
export async function buildPopulation(users: number, privateKey: CryptoKey | KeyObject): Promise<Population> {
  const callers: Caller[] = [];
  for (let i = 0; i < users; i++) {
    const app = APPS[i % APPS.length]!;
    const tenant = `tenant-${String((i * 7) % TENANTS).padStart(2, '0')}`;
    const user = `u-${String(i).padStart(6, '0')}`;
    const jwt = await new SignJWT({
      azp: app.name,
      agent: `${app.name}-bot-${i % 5}`,
      tenant,
      environment: 'production',
      roles: app.name === 'ops-agent' ? ['sre'] : ['support', 'reader'],
    })
      .setProtectedHeader({ alg: 'ES256' })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setSubject(user)
      .setIssuedAt()
      .setExpirationTime('2h')
      .sign(privateKey);
    callers.push({ user, app: app.name, tenant, authorization: `Bearer ${jwt}` });
  }
  const bodies = new Map<string, Uint8Array[]>();
  for (const app of APPS) {
    const list: Uint8Array[] = [];
    // 16 distinct calls per app: its tools, varied arguments (id 17: the bench answer's id).
    for (let k = 0; k < 16; k++) {
      const tool = app.calls[k % app.calls.length]!;
      list.push(enc.encode(JSON.stringify({ jsonrpc: '2.0', id: 17, method: 'tools/call', params: { name: tool, arguments: argumentsFor(tool, k, k * 13) } })));
    }
    bodies.set(app.name, list);
  }
  return {
    callers,
    bodies,
    bodyFor(c, i) {
      const list = bodies.get(c.app)!;
      return list[i % list.length]!;
    },
  };
}
