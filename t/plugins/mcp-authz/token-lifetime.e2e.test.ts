// Tokens must expire, end to end (emulator → real runner → real SDK server): a JWT without `exp`
// is refused by default; a conf may bound token age by `iat` instead (max_token_age_seconds),
// and then a token without `iat`, or older than the bound, is refused.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Host } from '../../../runner/host/chain.js';
import { PluginRegistry } from '../../../runner/host/registry.js';
import { plugin as authz } from '../../../plugins/mcp-authz/index.js';
import { post, startAuthzStack } from '../../../testkit/authz-stack.js';

const POLICY = { version: 1, actors: [{ name: 'support', actor: { app: 'support-agent' }, allowed_tools: ['crm.*'] }] };

const stack = await startAuthzStack((p) => [
  { name: 'default', upstreamPort: p.json, server: 'lifetime', authz: { policy: POLICY } },
  { name: 'max-age', upstreamPort: p.json, server: 'lifetime', authz: { policy: POLICY }, jwt: { max_token_age_seconds: 600 } },
]);
after(() => stack.close());

const call = { jsonrpc: '2.0', id: 'c-1', method: 'tools/call', params: { name: 'crm.lookup_customer', arguments: { customer_id: 'c-1001' } } };

test('a token without exp is refused by default: 401 invalid_token with the request id', async () => {
  const res = await post(stack.url, stack.headers('default', await stack.mint({}, { exp: false })), call);
  assert.equal(res.status, 401, res.text);
  const body = res.json as { id: unknown; error: { message: string } };
  assert.equal(body.id, 'c-1');
  assert.match(body.error.message, /invalid token: token has no exp claim/);
  // The same claims with exp pass.
  const ok = await post(stack.url, stack.headers('default', await stack.mint()), call);
  assert.equal(ok.status, 200, ok.text);
});

test('max_token_age_seconds: a token without exp passes while young, and is refused when old or without iat', async () => {
  const young = await post(stack.url, stack.headers('max-age', await stack.mint({}, { exp: false })), call);
  assert.equal(young.status, 200, young.text);
  const old = await post(stack.url, stack.headers('max-age', await stack.mint({}, { exp: false, iat: Math.floor(Date.now() / 1000) - 3600 })), call);
  assert.equal(old.status, 401, old.text);
  assert.match(old.text, /token expired/);
  const noIat = await post(stack.url, stack.headers('max-age', await stack.mint({}, { exp: false, iat: false })), call);
  assert.equal(noIat.status, 401, noIat.text);
  assert.match(noIat.text, /iat/);
});

test('the conf schema bounds max_token_age_seconds (at most a day)', () => {
  const registry = new PluginRegistry();
  registry.register(authz);
  const host = new Host({ registry });
  const conf = (seconds: number) => [{ name: 'mcp-authz', value: JSON.stringify({ policy: POLICY, identity: { jwt: { keys: ['k'], issuer: 'i', audience: 'a', max_token_age_seconds: seconds } } }) }];
  assert.match(host.buildChain(conf(86_401), 'route#age#ext-plugin-pre-req#1').error ?? '', /max_token_age_seconds must be <= 86400/);
  assert.equal(host.buildChain(conf(86_400), 'route#age#ext-plugin-pre-req#2').error, undefined);
});
