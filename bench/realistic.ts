// The five plugins with a realistic policy and population: JWT identity (ES256, static key)
// for 10k distinct users over four apps and 25 tenants (bench/population.ts), the 50-rule
// policy, three limits in memory or in Redis, audit to a file, credential injection,
// redaction on, arguments of a few hundred bytes. Every scenario also has a one-token twin
// (`<name>-1token`, opt-in): one user, one token, one body, as the bench used to send.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exportSPKI, generateKeyPair } from 'jose';
import { startRedis, type RedisInstance } from '../testkit/redis.js';
import type { CallScript } from './protocol-load.js';
import { AUDIENCE, buildPopulation, ISSUER, policyYaml, type Population } from './population.js';
import { callHeaderOf, expectPass, expectResp, reqCallBytes, respCallBytes, type Scenario } from './scenarios.js';

const enc = new TextEncoder();

export interface RealisticSetup {
  list: Scenario[];
  /** Request-phase scripts over the whole population, and over one token (for the floors). */
  reqOnly: Scenario['script'];
  oneToken: Scenario['script'];
  /** Calls that touch every caller once (warm-up: each token verified once, as in steady state). */
  warmup: number;
  env: Record<string, string>;
  close(): Promise<void>;
}

export interface RealisticOptions {
  /** Distinct callers (users, each with their own token); 1 = the one-token figures. */
  users: number;
}

export async function realisticSetup(dir: string, opts: RealisticOptions): Promise<RealisticSetup> {
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  const pem = await exportSPKI(publicKey);
  const policyPath = join(dir, 'policy.yaml');
  writeFileSync(policyPath, policyYaml());
  const population = await buildPopulation(Math.max(1, opts.users), privateKey);
  const redis: RedisInstance = await startRedis();

  const authz = {
    server: 'crm-tools',
    policy_file: policyPath,
    identity: {
      jwt: { keys: ['$env://BENCH_JWT_PUBLIC_KEY'], issuer: ISSUER, audience: AUDIENCE, algorithms: ['ES256'] },
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
  const redactAll = { arguments: true, results: true };

  const chain = (store: Record<string, unknown>, redact: object, postResp: boolean) => [
    { name: 'mcp-route', value: JSON.stringify({ server: 'crm-tools', post_resp: postResp }) },
    { name: 'mcp-audit', value: JSON.stringify(audit) },
    { name: 'mcp-authz', value: JSON.stringify(authz) },
    { name: 'mcp-ratelimit', value: JSON.stringify(limits(store)) },
    { name: 'mcp-redact', value: JSON.stringify(redact) },
    { name: 'mcp-credential', value: JSON.stringify(credential) },
  ];
  const scripts = callScripts(population);
  const reqOnly = scripts.reqOnly(population.callers.length);
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
  const withResp = (users: number, mustRewrite: boolean) => scripts.withResp(users, resultBody, mustRewrite);

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
      script: withResp(population.callers.length, false),
    },
    {
      name: 'five-plugins-resp',
      phases: 'req+resp',
      floorOf: 'floor-resp',
      preConf: chain(memory, redactAll, true),
      postConf: chain(memory, redactAll, true).filter((e) => e.name !== 'mcp-route'),
      script: withResp(population.callers.length, true),
    },
  ];
  // The one-token twins: the same confs, one caller and one body.
  const oneToken = scripts.reqOnly(1);
  const twins = list.map((sc): Scenario => ({
    ...sc,
    name: `${sc.name}-1token`,
    floorOf: sc.floorOf === undefined ? undefined : `${sc.floorOf}-1token`,
    optIn: true,
    script: sc.phases === 'req' ? oneToken : withResp(1, sc.name === 'five-plugins-resp'),
  }));
  return {
    list: [...list, ...twins],
    reqOnly,
    oneToken,
    warmup: population.callers.length,
    env: { BENCH_JWT_PUBLIC_KEY: pem, BENCH_BACKEND_TOKEN: 'backend-secret-token-0123456789' },
    close: () => redis.stop(),
  };
}

/**
 * Pre-encoded frames: two calls per caller (different tools), so a caller's call alternates
 * between them round after round. Call i goes to caller i mod users.
 */
function callScripts(pop: Population) {
  type Frame = { bytes: Uint8Array; body: Uint8Array };
  /** Per route token, the encoded frames of every caller, built once (scripts are asked per run). */
  const built = new Map<string, Frame[][]>();
  const encoded = (token: number, users: number): Frame[][] => {
    const key = `${token}/${users}`;
    let all = built.get(key);
    if (!all) built.set(key, (all = encodeAll(token, users)));
    return all;
  };
  const encodeAll = (token: number, users: number): Frame[][] =>
    Array.from({ length: users }, (_, u) => {
      const c = pop.callers[u]!;
      const auth = [{ name: 'authorization', value: c.authorization }];
      return [u, u + 5].map((k) => {
        const body = pop.bodyFor(c, k);
        return { bytes: reqCallBytes(token, body, auth), body };
      });
    });
  const pick = (all: Frame[][], i: number): Frame => all[i % all.length]![Math.floor(i / all.length) % 2]!;
  return {
    reqOnly: (users: number) => (t: { pre: number }) => {
      const all = encoded(t.pre, users);
      return (i: number): CallScript => {
        const f = pick(all, i);
        return { reqCall: f.bytes, reqData: { reqBody: f.body }, checkReq: expectPass };
      };
    },
    withResp: (users: number, resultBody: Uint8Array, mustRewrite: boolean) => (t: { pre: number; post: number | undefined }) => {
      const all = encoded(t.pre, users);
      const respCall = {
        body: respCallBytes(t.post!, 'application/json'),
        data: (r: Parameters<typeof callHeaderOf>[0]) => ({ vars: { http_x_mcp_gateway_call: callHeaderOf(r) ?? '' }, respBody: resultBody }),
        check: (r: Parameters<typeof expectResp>[0]) => {
          expectResp(r);
          if (mustRewrite && !r.body) throw new Error('result was not redacted');
        },
      };
      return (i: number): CallScript => {
        const f = pick(all, i);
        return { reqCall: f.bytes, reqData: { reqBody: f.body }, checkReq: expectPass, respCall };
      };
    },
  };
}
