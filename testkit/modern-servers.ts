// MCP servers of both SDK generations for the 2026-07-28 tests, with the same tools, resources
// and prompts, each recording every HTTP request it received (so a test can assert that a
// refused call never reached it):
// - v2 (@modelcontextprotocol/server): createMcpHandler serves 2026-07-28 statelessly and
//   2025 traffic through its stateless legacy fallback, mounted on node:http.
// - v1 (@modelcontextprotocol/sdk): the sessionful 2025 sample server (examples/).

import http, { type IncomingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import * as z from 'zod';
import { createMcpHandler, inputRequired, inputResponse, McpServer } from '@modelcontextprotocol/server';

export interface SeenRequest {
  method: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface RecordingServer {
  port: number;
  url: string;
  seen: SeenRequest[];
  /** JSON-RPC methods (and tools/call tool names as "tools/call name") the server received. */
  rpcSeen(): string[];
  /** Tool descriptions the next requests see (a changed definition, for pinning). */
  descriptions: Map<string, string>;
  close(): Promise<void>;
}

export const CUSTOMER_TEXT = 'Customer c-1001: Jane Doe, card 4111 1111 1111 1111, email jane.doe@example.com';
/** A signed-looking state (a JWT shape), which a token detector would mask if it read it. */
export const REQUEST_STATE = 'eyJhbGciOiJIUzI1NiJ9.eyJyb3VuZCI6MSwiY3VzdG9tZXIiOiJjLTEwMDEifQ.c2lnbmF0dXJlLW9mLXRoZS1zZXJ2ZXItMDEyMzQ1Njc4OQ';

const customerArgs = z.object({ customer_id: z.string() });

/** One server instance per request (createMcpHandler's factory). */
function buildServer(descriptions: ReadonlyMap<string, string>): McpServer {
  const server = new McpServer(
    { name: 'modern-sample', version: '2.0.0' },
    { cacheHints: { 'tools/list': { ttlMs: 60_000, cacheScope: 'public' }, 'resources/list': { ttlMs: 60_000, cacheScope: 'public' } } },
  );
  server.registerTool('crm.lookup_customer', { description: 'Look up a customer', inputSchema: customerArgs }, async ({ customer_id }) => ({
    content: [{ type: 'text', text: customer_id === 'c-1001' ? CUSTOMER_TEXT : `no customer ${customer_id}` }],
  }));
  server.registerTool('billing.get_subscription_status', { description: descriptions.get('billing.get_subscription_status') ?? 'Subscription status', inputSchema: customerArgs }, async ({ customer_id }) => ({
    content: [{ type: 'text', text: `Subscription of ${customer_id}: active` }],
  }));
  server.registerTool('account.delete_customer', { description: 'Delete a customer (denied by policy)', inputSchema: customerArgs }, async ({ customer_id }) => ({
    content: [{ type: 'text', text: `deleted ${customer_id}` }],
  }));
  // A multi-round-trip tool: asks the user (elicitation) and the client's model (sampling), and
  // quotes sensitive data in both embedded requests.
  server.registerTool('crm.confirm_refund', { description: 'Refund after the user confirms', inputSchema: customerArgs }, async ({ customer_id }, ctx) => {
    const answer = inputResponse(ctx.mcpReq.inputResponses, 'confirm');
    const summary = inputResponse(ctx.mcpReq.inputResponses, 'summary');
    if (answer.kind !== 'elicit' || summary.kind !== 'sampling') {
      return inputRequired({
        inputRequests: {
          confirm: inputRequired.elicit({
            message: `Refund the last charge of ${customer_id} to card 4111 1111 1111 1111 (jane.doe@example.com)?`,
            requestedSchema: { type: 'object', properties: { confirm: { type: 'boolean' } }, required: ['confirm'] },
          }),
          summary: inputRequired.createMessage({
            messages: [{ role: 'user', content: { type: 'text', text: `Summarise the refund for jane.doe@example.com, card 4111 1111 1111 1111` } }],
            maxTokens: 50,
          }),
        },
        requestState: REQUEST_STATE,
      });
    }
    const state = ctx.mcpReq.requestState();
    const content = summary.result.content;
    const first = Array.isArray(content) ? content[0] : content;
    const text = first !== undefined && first.type === 'text' ? first.text : '(no text)';
    return {
      content: [
        {
          type: 'text',
          text: `refund ${answer.action === 'accept' && answer.content?.['confirm'] === true ? 'done' : 'cancelled'}; summary: ${text}; state intact: ${state === REQUEST_STATE}`,
        },
      ],
    };
  });
  server.registerResource('readme', 'docs://public/readme', { description: 'public' }, async (uri) => ({ contents: [{ uri: uri.href, text: 'read me' }] }));
  server.registerResource('plan', 'docs://secret/plan', { description: 'secret' }, async (uri) => ({ contents: [{ uri: uri.href, text: 'the plan' }] }));
  server.registerPrompt('support.greeting', { description: 'greeting' }, async () => ({ messages: [{ role: 'user', content: { type: 'text', text: 'hello' } }] }));
  server.registerPrompt('admin.reset', { description: 'admin only' }, async () => ({ messages: [{ role: 'user', content: { type: 'text', text: 'reset' } }] }));
  return server;
}

function rpcNames(seen: readonly SeenRequest[]): string[] {
  const out: string[] = [];
  for (const s of seen) {
    try {
      const v = JSON.parse(s.body) as unknown;
      for (const m of Array.isArray(v) ? v : [v]) {
        const msg = m as { method?: unknown; params?: { name?: unknown } };
        if (typeof msg.method !== 'string') continue;
        out.push(msg.method === 'tools/call' && typeof msg.params?.name === 'string' ? `tools/call ${msg.params.name}` : msg.method);
      }
    } catch {
      // not JSON (GET, DELETE)
    }
  }
  return out;
}

/** The v2 SDK's handler (both eras on one endpoint) on node:http. */
export async function startModernServer(): Promise<RecordingServer> {
  const descriptions = new Map<string, string>();
  const handler = createMcpHandler(() => buildServer(descriptions), { keepAliveMs: 0 });
  const seen: SeenRequest[] = [];
  const sockets = new Set<Socket>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      seen.push({ method: req.method ?? '', headers: req.headers, body: body.toString('utf8') });
      const headers = new Headers();
      for (const [name, value] of Object.entries(req.headers)) {
        if (value === undefined) continue;
        for (const v of Array.isArray(value) ? value : [value]) headers.append(name, v);
      }
      const request = new Request(`http://127.0.0.1${req.url ?? '/'}`, {
        method: req.method ?? 'GET',
        headers,
        body: req.method === 'GET' || req.method === 'HEAD' ? undefined : body,
      });
      void handler.fetch(request).then(
        (response) => {
          res.writeHead(response.status, Object.fromEntries(response.headers.entries()));
          if (response.body === null) return void res.end();
          const stream = Readable.fromWeb(response.body as import('node:stream/web').ReadableStream<Uint8Array>);
          res.on('close', () => stream.destroy());
          stream.on('error', () => res.destroy());
          stream.pipe(res);
        },
        (err: unknown) => {
          res.writeHead(500, { 'content-type': 'text/plain' });
          res.end(String(err));
        },
      );
    });
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    url: `http://127.0.0.1:${port}/mcp`,
    seen,
    rpcSeen: () => rpcNames(seen),
    descriptions,
    async close() {
      await handler.close();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
