// Rules end to end (emulator → real runner → real MCP SDK servers and client): every matching
// rule applies, an actor without a grant on a server gets nothing from it, and read access
// only reaches tools known to be read-only.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { sampleTools } from '../../../examples/sample-mcp-server.js';
import { post, startAuthzStack } from '../../../testkit/authz-stack.js';

const CONFIRMATION = { allow_literal_secrets: true, confirmation: { secret: 'c'.repeat(64) } };

const COMPOSE = {
  version: 1,
  risk: { confirm: ['financial'] },
  actors: [{ name: 'support', actor: { app: 'support-agent' }, allowed_tools: ['debug.echo'] }],
  routes: [
    {
      name: 'debug-guard',
      match: { tools: ['debug.*'] },
      requires_user_confirmation: true,
      risk: 'financial',
      arguments: { type: 'object', properties: { amount: { type: 'number', maximum: 100 } } },
    },
  ],
};
const SCOPED = { version: 1, actors: [{ name: 'support', actor: { app: 'support-agent' }, servers: ['grant-a'], allowed_tools: ['crm.*'] }] };
const READER = {
  version: 1,
  actors: [{ name: 'reader', actor: { app: 'support-agent' }, access: 'read', allowed_tools: ['*'] }],
  tool_registry: [{ name: 'db.run_query', access: 'write' }],
};

const stack = await startAuthzStack((p) => [
  { name: 'compose', upstreamPort: p.sse, server: 'compose-tools', authz: { policy: COMPOSE, ...CONFIRMATION } },
  { name: 'grant-a', upstreamPort: p.json, server: 'grant-a', authz: { policy: SCOPED } },
  { name: 'grant-b', upstreamPort: p.json, server: 'grant-b', authz: { policy: SCOPED } },
  { name: 'reader', upstreamPort: p.sse, server: 'ro-tools', authz: { policy: READER } },
]);
after(() => stack.close());

const support = await stack.mint();
const stranger = await stack.mint({ azp: 'other-app', sub: 'mallory' });
const rpc = (id: number | string, method: string, params?: Record<string, unknown>) => ({ jsonrpc: '2.0', id, method, ...(params ? { params } : {}) });
type RpcError = { id: unknown; error: { code: number; message: string; data?: { rule?: string; token?: string } } };

test('a route rule on debug.* applies next to an exact actor grant: limits, confirmation, both', async () => {
  const calls = () => stack.sse.seen.filter((s) => (s.body as { method?: string } | undefined)?.method === 'tools/call').length;
  const before = calls();
  const huge = await post(stack.url, stack.headers('compose', support), rpc('big', 'tools/call', { name: 'debug.echo', arguments: { amount: 1e6 } }));
  assert.equal(huge.status, 200, huge.text);
  const err = huge.json as RpcError;
  assert.equal(err.id, 'big');
  assert.equal(err.error.data?.rule, 'routes/debug-guard');
  assert.match(err.error.message, /arguments\/amount must be <= 100/);
  assert.equal(calls(), before, 'the server never saw it');

  const small = await post(stack.url, stack.headers('compose', support), rpc('small', 'tools/call', { name: 'debug.echo', arguments: { amount: 50 } }));
  assert.equal(small.status, 200, small.text);
  assert.equal((small.json as RpcError).error.code, -32010);
  const token = (small.json as RpcError).error.data?.token;
  assert.ok(token);
  const confirmed = await post(stack.url, { ...stack.headers('compose', support), 'mcp-confirmation': token! }, rpc('small', 'tools/call', { name: 'debug.echo', arguments: { amount: 50 } }));
  assert.equal(confirmed.status, 200, confirmed.text);
  assert.equal(calls(), before + 1);
});

test('an authenticated actor without a grant on this server gets -32003 for every method, with the request id', async () => {
  for (const [route, token] of [['grant-a', stranger], ['grant-b', stranger], ['grant-b', support]] as const) {
    for (const [id, method, params] of [
      ['init', 'initialize', { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '1' } }],
      ['p', 'ping', undefined],
      ['l', 'tools/list', undefined],
      ['r', 'resources/list', undefined],
    ] as const) {
      const res = await post(stack.url, stack.headers(route, token), rpc(id, method, params));
      assert.equal(res.status, 200, `${route} ${method}: ${res.text}`);
      const err = res.json as RpcError;
      assert.equal(err.error.code, -32003);
      assert.equal(err.id, id);
      assert.equal(err.error.data?.rule, 'no-grant');
      assert.match(err.error.message, new RegExp(`no grant on server '${route}'`));
    }
  }
  // The MCP SDK client cannot even connect; the actor with a grant can, and sees its tools.
  await assert.rejects(stack.client('grant-b', support), /no grant on server/);
  const client = await stack.client('grant-a', support);
  try {
    const tools = await client.listTools();
    assert.deepEqual(tools.tools.map((t) => t.name), ['crm.lookup_customer', 'crm.search_accounts']);
  } finally {
    await client.close();
  }
});

test('read access: only tools marked read-only are listed and callable; writing and unknown tools are not', async () => {
  // Before any tools/list, only the registry speaks: a tool it does not describe is unknown.
  const early = await post(stack.url, stack.headers('reader', support), rpc('e', 'tools/call', { name: 'crm.lookup_customer', arguments: { customer_id: 'c-1001' } }));
  assert.equal(early.status, 200, early.text);
  assert.match((early.json as RpcError).error.message, /not known to be read-only/);

  const client = await stack.client('reader', support);
  try {
    const listed = (await client.listTools()).tools.map((t) => t.name);
    // readOnlyHint: true in the sample server; the rest write (destructiveHint, registry) or say nothing.
    assert.deepEqual(listed, ['crm.lookup_customer', 'crm.search_accounts', 'billing.get_subscription_status']);
    const ok = (await client.callTool({ name: 'crm.lookup_customer', arguments: { customer_id: 'c-1001' } })) as { content: Array<{ text: string }> };
    assert.match(ok.content[0]!.text, /Customer c-1001/);
    await assert.rejects(client.callTool({ name: 'account.delete_customer', arguments: { customer_id: 'c-1' } }), /writes \(its annotations\)/);
    await assert.rejects(client.callTool({ name: 'db.run_query', arguments: { sql: 'select 1' } }), /writes \(tool_registry\)/);
    await assert.rejects(client.callTool({ name: 'ticket.create_case', arguments: { subject: 's' } }), /not known to be read-only/);

    // The server turns a read-only tool destructive: the next listing hides it and calls stop.
    const search = stack.sse.tools.find((t) => t.name === 'crm.search_accounts')!;
    search.annotations = { readOnlyHint: false, destructiveHint: true };
    try {
      assert.ok(!(await client.listTools()).tools.some((t) => t.name === 'crm.search_accounts'));
      await assert.rejects(client.callTool({ name: 'crm.search_accounts', arguments: { query: 'x' } }), /writes \(its annotations\)/);
    } finally {
      search.annotations = sampleTools().find((t) => t.name === 'crm.search_accounts')!.annotations!;
    }
  } finally {
    await client.close();
  }
});
