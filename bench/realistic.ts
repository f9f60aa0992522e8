// The five plugins with a realistic policy: JWT identity (ES256, static key), 50 tool rules,
// limits in memory and in Redis, audit to a file, credential injection, redaction on.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exportSPKI, generateKeyPair, SignJWT } from 'jose';
import { startRedis, type RedisInstance } from '../testkit/redis.js';
import type { CallScript } from './protocol-load.js';
import {
  TOOLS_CALL_BODY,
  callHeaderOf,
  expectPass,
  expectResp,
  reqCallBytes,
  respCallBytes,
  type Scenario,
} from './scenarios.js';

const enc = new TextEncoder();

function policyYaml(): string {
  const tools: string[] = [];
  for (let i = 0; i < 44; i++) tools.push(`      - name: crm.tool_${i}\n        access: read\n        risk: read-only`);
  return `version: 1
description: bench policy, 50 rules
actors:
  - name: support-agent
    actor:
      app: support-agent
      environment: production
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
      - name: db.run_query
        access: read
        arguments:
          type: object
          required: [sql]
          properties:
            sql: { type: string, pattern: "^\\\\s*[Ss][Ee][Ll][Ee][Cc][Tt]\\\\s" }
${tools.join('\n')}
    denied_tools:
      - billing.update_payment_method
      - account.delete_customer
      - "admin.*"
tool_registry:
  - { name: "crm.*", access: read }
  - { name: "billing.get_*", access: read }
  - { name: db.run_query, access: read }
`;
}

export async function realisticSetup(dir: string): Promise<{ list: Scenario[]; env: Record<string, string>; close(): Promise<void> }> {
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  const pem = await exportSPKI(publicKey);
  const policyPath = join(dir, 'policy.yaml');
  writeFileSync(policyPath, policyYaml());
  const jwt = await new SignJWT({ azp: 'support-agent', agent: 'triage-bot', tenant: 'acme', environment: 'production', roles: ['support'] })
    .setProtectedHeader({ alg: 'ES256' })
    .setIssuer('https://idp.example.com')
    .setAudience('https://gateway.example.com/mcp')
    .setSubject('alice')
    .setIssuedAt()
    .setExpirationTime('2h')
    .sign(privateKey);
  const redis: RedisInstance = await startRedis();

  const authz = {
    server: 'crm-tools',
    policy_file: policyPath,
    identity: {
      jwt: { keys: ['$env://BENCH_JWT_PUBLIC_KEY'], issuer: 'https://idp.example.com', audience: 'https://gateway.example.com/mcp', algorithms: ['ES256'] },
      claims: { user: 'sub', app: 'azp', agent: 'agent', tenant: 'tenant', environment: 'environment', roles: 'roles' },
    },
  };
  const limits = (store: Record<string, unknown>) => ({
    server: 'crm-tools',
    store,
    on_store_error: 'fail_closed',
    limits: [
      { name: 'per-user', by: ['user'], requests: 100_000_000, per: 'minute' },
      { name: 'per-tenant-tool', by: ['tenant', 'tool'], requests: 100_000_000, per: 'minute' },
    ],
    budgets: [{ name: 'tenant-daily', by: ['tenant'], quota: 1_000_000_000, period: 'day' }],
  });
  const audit = { server: 'crm-tools', sink: { type: 'file', path: join(dir, 'audit.log') } };
  const credential = { server: 'crm-tools', credential: { type: 'bearer', token: '$env://BENCH_BACKEND_TOKEN' } };
  const redactArgs = { arguments: true, results: false };
  const redactAll = { arguments: true, results: true, tools: ['crm.lookup_customer'] };

  const chain = (store: Record<string, unknown>, redact: object, postResp: boolean) => [
    { name: 'mcp-route', value: JSON.stringify({ server: 'crm-tools', post_resp: postResp }) },
    { name: 'mcp-audit', value: JSON.stringify(audit) },
    { name: 'mcp-authz', value: JSON.stringify(authz) },
    { name: 'mcp-ratelimit', value: JSON.stringify(limits(store)) },
    { name: 'mcp-redact', value: JSON.stringify(redact) },
    { name: 'mcp-credential', value: JSON.stringify(credential) },
  ];
  const auth = [{ name: 'authorization', value: `Bearer ${jwt}` }];
  const reqOnly = (t: { pre: number }) => {
    const bytes = reqCallBytes(t.pre, TOOLS_CALL_BODY, auth);
    return (): CallScript => ({ reqCall: bytes, reqData: { reqBody: TOOLS_CALL_BODY }, checkReq: expectPass });
  };
  const memory = { type: 'memory' };
  // 1 s, not the 50 ms default: on a shared 2-core machine a load spike can stall Redis past
  // 50 ms, and one refused call aborts the bench (it must never measure refusals).
  const redisStore = { type: 'redis', url: redis.url, command_timeout_ms: 1000 };

  const resultBody = enc.encode(
    JSON.stringify({
      jsonrpc: '2.0',
      id: 17,
      result: {
        content: [{ type: 'text', text: 'Customer c-1001: Jane Doe, email jane.doe@example.com, card 4111 1111 1111 1111, order ORD-2024-000123, plan enterprise, status active since 2021-03-04' }],
        structuredContent: { id: 'c-1001', name: 'Jane Doe', email: 'jane.doe@example.com', plan: 'enterprise' },
      },
    }),
  );
  const withResp = (mustRewrite: boolean) => (t: { pre: number; post: number | undefined }) => {
    const req = reqCallBytes(t.pre, TOOLS_CALL_BODY, auth);
    const resp = respCallBytes(t.post!, 'application/json');
    return (): CallScript => ({
      reqCall: req,
      reqData: { reqBody: TOOLS_CALL_BODY },
      checkReq: expectPass,
      respCall: {
        body: resp,
        data: (r) => ({ vars: { http_x_mcp_gateway_call: callHeaderOf(r) ?? '' }, respBody: resultBody }),
        check: (r) => {
          expectResp(r);
          if (mustRewrite && !r.body) throw new Error('result was not redacted');
        },
      },
    });
  };

  // Each plugin alone on the floor's route (opt-in: `--only only-mcp-audit,...`), to see
  // which one costs what; the figures are over the floor's.
  const alone = (name: string, conf: object): Scenario => ({
    name: `only-${name}`,
    phases: 'req',
    floorOf: 'floor',
    optIn: true,
    preConf: [
      { name: 'mcp-route', value: JSON.stringify({ server: 'crm-tools', post_resp: false }) },
      { name: 'bench-body-fetch', value: '{}' },
      { name, value: JSON.stringify(conf) },
    ],
    script: reqOnly,
  });
  const list: Scenario[] = [
    alone('mcp-audit', audit),
    alone('mcp-authz', authz),
    alone('mcp-ratelimit', limits(memory)),
    alone('mcp-redact', redactArgs),
    alone('mcp-credential', { ...credential, allow_without_authz: true }),
    { name: 'five-plugins-memory', phases: 'req', floorOf: 'floor', preConf: chain(memory, redactArgs, false), script: reqOnly },
    { name: 'five-plugins-redis', phases: 'req', floorOf: 'floor', preConf: chain(redisStore, redactArgs, false), script: reqOnly },
    {
      name: 'floor-resp',
      phases: 'req+resp',
      preConf: [{ name: 'mcp-route', value: '{"post_resp":true}' }, { name: 'bench-body-fetch', value: '{}' }],
      postConf: [{ name: 'bench-body-fetch', value: '{}' }],
      script: withResp(false),
    },
    {
      name: 'five-plugins-resp',
      phases: 'req+resp',
      floorOf: 'floor-resp',
      preConf: chain(memory, redactAll, true),
      postConf: chain(memory, redactAll, true).filter((e) => e.name !== 'mcp-route'),
      script: withResp(true),
    },
  ];
  return {
    list,
    env: { BENCH_JWT_PUBLIC_KEY: pem, BENCH_BACKEND_TOKEN: 'backend-secret-token-0123456789' },
    close: () => redis.stop(),
  };
}
