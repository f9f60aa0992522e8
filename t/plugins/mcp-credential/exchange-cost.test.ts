// What a per-user credential costs the runner per call once cached: the request phase through
// the real host with a fixed bearer secret, a cached exchanged token (the local token server
// answers the first call only) and a per-user variable. A stand-in plays mcp-authz's part
// (identity from a verified JWT, an allow record); the real one is measured on its own.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPair, SignJWT } from 'jose';
import type { CallContext, Plugin } from '../../../runner/host/plugin.js';
import type { HTTPReqCallResp } from '../../../runner/protocol/messages.js';
import { plugin as credential } from '../../../plugins/mcp-credential/index.js';
import { hostWith, requestCall, TableChannel, LATER } from '../../../testkit/host-kit.js';
import { startTokenServer } from '../../../testkit/token-server.js';

const ISSUER = 'https://idp.cost.test';
const idpKeys = await generateKeyPair('ES256');
const idp = await startTokenServer({
  clients: [{ id: 'gw', secret: 'cost-client-secret-123', audiences: ['crm-tools'], scopes: [] }],
  subjectIssuer: { issuer: ISSUER, audience: 'gw', key: idpKeys.publicKey },
});
after(() => idp.stop());

const subjectToken = await new SignJWT({ roles: ['support'] }).setProtectedHeader({ alg: 'ES256' }).setIssuer(ISSUER).setAudience('gw').setSubject('alice').setExpirationTime('5m').sign(idpKeys.privateKey);
process.env['COST_CLIENT_SECRET'] = 'cost-client-secret-123';
process.env['COST_STATIC'] = 'static-backend-token-1';
process.env['COST_USER_alice'] = 'alice-backend-token-1';

const authz: Plugin<Record<string, never>, Record<string, never>> = {
  name: 'mcp-authz',
  confSchema: { type: 'object' },
  onRequest(ctx: CallContext) {
    ctx.identity = { user: 'alice', subject: 'alice', roles: ['support'], source: 'jwt', claims: { iss: ISSUER, sub: 'alice', exp: Math.floor(Date.now() / 1000) + 300 } };
    ctx.record({ plugin: 'mcp-authz', action: 'allow', rule: 'test', messageIndex: 0 });
  },
};
const host = hostWith(authz as Plugin<never, unknown>, credential as Plugin<never, unknown>);
after(() => host.shutdown());

const BODY = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'crm.lookup', arguments: {} } });
let route = 0;

function chain(credentialConf: Record<string, unknown>) {
  return host.buildChain([{ name: 'mcp-route', value: '{"server":"crm-tools"}' }, { name: 'mcp-authz', value: '{}' }, { name: 'mcp-credential', value: JSON.stringify({ credential: credentialConf }) }], `cost-${route++}`);
}

function authorizationOf(resp: HTTPReqCallResp): string | undefined {
  return resp.action?.type === 'rewrite' ? resp.action.headers.find((h) => h.name === 'authorization')?.value : undefined;
}

interface Measured {
  micros: number;
  header: string | undefined;
}

/** Per-call µs of each conf: all warmed first (JIT), then measured in turns so load hits each alike. */
async function perCallMicros(confs: ReadonlyArray<Record<string, unknown>>, n: number): Promise<Measured[]> {
  const calls = confs.map((conf) => {
    const c = chain(conf);
    return () => host.onRequest(c, requestCall(BODY, [{ name: 'authorization', value: `Bearer ${subjectToken}` }]), new TableChannel({}, new TextEncoder().encode(BODY)), LATER());
  });
  const out: Measured[] = [];
  for (const call of calls) {
    const header = authorizationOf(await call());
    for (let i = 0; i < 300; i++) await call();
    out.push({ micros: 0, header });
  }
  const rounds = 4;
  for (let r = 0; r < rounds; r++) {
    for (const [i, call] of calls.entries()) {
      const start = performance.now();
      for (let k = 0; k < n / rounds; k++) await call();
      out[i]!.micros += ((performance.now() - start) / n) * 1000;
    }
  }
  return out;
}

test('a cached exchanged token costs about what a fixed secret does; the IdP is asked once', async (t) => {
  const n = 2000;
  const [fixed, exchanged, perUser] = (await perCallMicros(
    [
      { type: 'bearer', token: '$env://COST_STATIC' },
      { type: 'token_exchange', token_endpoint: idp.tokenEndpoint, client: { id: 'gw', secret: '$env://COST_CLIENT_SECRET' } },
      { type: 'per_user', token: '$env://COST_USER_{user}' },
    ],
    n,
  )) as [Measured, Measured, Measured];
  t.diagnostic(`request phase per call (${n} calls): fixed bearer ${fixed.micros.toFixed(1)} µs, cached token exchange ${exchanged.micros.toFixed(1)} µs, per-user variable ${perUser.micros.toFixed(1)} µs`);

  assert.equal(fixed.header, 'Bearer static-backend-token-1');
  assert.equal(perUser.header, 'Bearer alice-backend-token-1');
  assert.ok(exchanged.header?.startsWith('Bearer ey') && !exchanged.header.includes(subjectToken));
  assert.equal(idp.requests.filter((r) => r.outcome === 'issued').length, 1, 'one exchange for all calls');
  // Loose bound: a hit is a few map lookups, never a network round trip (about 1 ms here).
  assert.ok(exchanged.micros < fixed.micros * 5 + 200, `cached exchange ${exchanged.micros.toFixed(1)} µs vs fixed ${fixed.micros.toFixed(1)} µs`);
});
