// The sample server is what the e2e suite and the demo talk to, so its own timing must not make
// a scenario flaky: a server-to-client request (sampling) outside a POST travels on the session's
// GET stream, which the client opens asynchronously after initialize. Through a slow gateway the
// tool call can arrive first; the SDK would drop the request, and the call would time out.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CreateMessageRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { startSampleMcpServer } from '../../examples/sample-mcp-server.js';

test('util.ask_model waits for a GET stream the client opens late, then its sampling request is answered', async () => {
  const server = await startSampleMcpServer({ stateful: true });
  let gets = 0;
  // Holds every GET back 600 ms, as a loaded gateway might.
  const lateGet: typeof fetch = async (input, init) => {
    if ((init?.method ?? 'GET') === 'GET') {
      gets++;
      await new Promise((r) => setTimeout(r, 600));
    }
    return fetch(input, init);
  };
  const client = new Client({ name: 'late-get', version: '1.0.0' }, { capabilities: { sampling: {} } });
  client.setRequestHandler(CreateMessageRequestSchema, () => ({ model: 'test', role: 'assistant', content: { type: 'text', text: 'forty-two' } }));
  try {
    await client.connect(new StreamableHTTPClientTransport(new URL(server.url), { fetch: lateGet }));
    const r = (await client.callTool({ name: 'util.ask_model', arguments: { prompt: 'meaning of life?' } }, undefined, { timeout: 4000 })) as { content: { text: string }[] };
    assert.equal(r.content[0]!.text, 'model said: forty-two');
    assert.equal(gets, 1);
    assert.equal(server.seen.filter((s) => s.method === 'GET').length, 1);
  } finally {
    await client.close();
    await server.close();
  }
});
