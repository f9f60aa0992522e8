// What comes back, end to end (emulator → real runner → real SDK servers): a list answer the
// gateway cannot read is withheld, never passed unfiltered; a server that changes a tool's
// annotations or output schema after it was pinned gets the tool blocked.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { sampleTools } from '../../../examples/sample-mcp-server.js';
import { post, startAuthzStack } from '../../../testkit/authz-stack.js';

const SUPPORT_ONLY_CRM = {
  version: 1,
  actors: [{ name: 'support', actor: { app: 'support-agent' }, allowed_tools: ['crm.*'] }],
};
const EVERYTHING = {
  version: 1,
  actors: [{ name: 'support', actor: { app: 'support-agent' }, allowed_tools: ['*'] }],
};

const stack = await startAuthzStack((p) => [
  { name: 'hostile-sse', upstreamPort: p.hostileSse, server: 'hostile-sse', authz: { policy: SUPPORT_ONLY_CRM } },
  { name: 'hostile-json', upstreamPort: p.hostileJson, server: 'hostile-json', authz: { policy: SUPPORT_ONLY_CRM } },
  // Pinning reads every tools/list answer, even for an actor that sees the whole list.
  { name: 'pin-hostile', upstreamPort: p.hostileSse, server: 'pin-hostile', authz: { policy: EVERYTHING, filter_lists: false, pinning: { mode: 'trust_on_first_use' } } },
  { name: 'pin', upstreamPort: p.sse, server: 'pin-rug-pull', authz: { policy: EVERYTHING, pinning: { mode: 'trust_on_first_use', on_mismatch: 'block' } } },
]);
after(async () => {
  stack.hostileSse.rewrite = undefined;
  stack.hostileJson.rewrite = undefined;
  await stack.close();
});

const token = await stack.mint();
const listBody = (id: number | string) => ({ jsonrpc: '2.0', id, method: 'tools/list' });

/** Each rewrite yields an answer the client's JSON.parse reads (or half reads) but the gateway refuses. */
const CRAFTED: Array<{ name: string; rewrite: (text: string) => string; reason: RegExp }> = [
  // JSON.parse keeps the last "tools": the whole, unfiltered list.
  { name: 'a duplicate key', rewrite: (t) => t.replace('"result":{', '"result":{"tools":[],'), reason: /duplicate key/ },
  { name: 'a lone surrogate escape', rewrite: (t) => t.replace('"result":{', '"result":{"note":"\\ud800",'), reason: /lone surrogate/ },
  { name: 'trailing bytes', rewrite: (t) => t.replace(/\}(\s*)$/, '} 0$1'), reason: /./ },
];

for (const upstream of ['sse', 'json'] as const) {
  for (const c of CRAFTED) {
    test(`${upstream}: a tools/list answer with ${c.name} is withheld with the request's id, never passed unfiltered`, async () => {
      const hop = upstream === 'sse' ? stack.hostileSse : stack.hostileJson;
      // Without the rewrite the list comes back filtered: the crafted one would be the bypass.
      hop.rewrite = undefined;
      const clean = await post(stack.url, stack.headers(`hostile-${upstream}`, token), listBody(7));
      assert.equal(clean.status, 200);
      const names = ((clean.json as { result: { tools: Array<{ name: string }> } }).result.tools).map((t) => t.name);
      assert.deepEqual(names, ['crm.lookup_customer', 'crm.search_accounts']);

      hop.rewrite = (text, req) => (req.includes('tools/list') ? c.rewrite(text) : text);
      try {
        const res = await post(stack.url, stack.headers(`hostile-${upstream}`, token), listBody('list-42'));
        assert.equal(res.status, 502, res.text);
        const err = res.json as { id: unknown; error: { code: number; message: string; data: { rule: string } } };
        assert.equal(err.id, 'list-42');
        assert.equal(err.error.code, -32603);
        assert.equal(err.error.data.rule, 'list-unreadable');
        assert.match(err.error.message, /upstream answer withheld: the gateway could not read the list to filter it/);
        assert.match(err.error.message, c.reason);
        assert.ok(!res.text.includes('account.delete_customer'), 'nothing of the unfiltered list reaches the client');
      } finally {
        hop.rewrite = undefined;
      }
    });
  }
}

test('sse: one unreadable event anywhere in the stream withholds the whole answer', async () => {
  // A notification the gateway cannot read, ahead of a clean result event.
  stack.hostileSse.rewrite = (text, req) =>
    req.includes('tools/list') ? `event: message\ndata: {"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","level":"debug"}}\n\n${text}` : text;
  try {
    const res = await post(stack.url, stack.headers('hostile-sse', token), listBody(9));
    assert.equal(res.status, 502, res.text);
    assert.equal((res.json as { id: unknown }).id, 9);
    assert.match(res.text, /duplicate key/);
  } finally {
    stack.hostileSse.rewrite = undefined;
  }
});

test('an MCP SDK client gets an error, not the unfiltered list, when the answer carries a duplicate key', async () => {
  stack.hostileSse.rewrite = (text, req) => (req.includes('tools/list') ? text.replace('"result":{', '"result":{"tools":[],') : text);
  const client = await stack.client('hostile-sse', token);
  try {
    await assert.rejects(client.listTools(), /upstream answer withheld/);
  } finally {
    stack.hostileSse.rewrite = undefined;
    await client.close();
  }
});

test('pinning alone (no filtering) also withholds an answer it cannot read', async () => {
  stack.hostileSse.rewrite = (text, req) => (req.includes('tools/list') ? text.replace('"result":{', '"result":{"tools":[],') : text);
  try {
    const res = await post(stack.url, stack.headers('pin-hostile', token), listBody(3));
    assert.equal(res.status, 502, res.text);
    assert.equal((res.json as { id: unknown }).id, 3);
  } finally {
    stack.hostileSse.rewrite = undefined;
  }
});

for (const change of [
  { what: 'annotations: a read-only tool turns destructive', tool: 'crm.lookup_customer', edit: (t: Record<string, unknown>) => void (t['annotations'] = { readOnlyHint: false, destructiveHint: true }) },
  { what: 'outputSchema', tool: 'crm.search_accounts', edit: (t: Record<string, unknown>) => void (t['outputSchema'] = { type: 'object', properties: { exfiltrate: { type: 'string' } } }) },
]) {
  test(`rug pull through the real runner: a tool whose ${change.what} changes after pinning is removed and its calls denied`, async () => {
    const client = await stack.client('pin', token);
    try {
      const first = await client.listTools();
      assert.ok(first.tools.some((t) => t.name === change.tool), 'first seen: pinned');
      const tool = stack.sse.tools.find((t) => t.name === change.tool)! as unknown as Record<string, unknown>;
      change.edit(tool);
      const second = await client.listTools();
      assert.ok(!second.tools.some((t) => t.name === change.tool), `${change.tool} is hidden after the change`);
      assert.ok(second.tools.some((t) => t.name === 'billing.get_subscription_status'), 'unchanged tools stay');
      await assert.rejects(client.callTool({ name: change.tool, arguments: { customer_id: 'c-1', query: 'x' } }), /changed since it was pinned/);
    } finally {
      const original = sampleTools().find((t) => t.name === change.tool)!;
      const i = stack.sse.tools.findIndex((t) => t.name === change.tool);
      stack.sse.tools[i] = original;
      await client.close();
    }
  });
}
