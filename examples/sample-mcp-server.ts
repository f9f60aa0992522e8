// A sample MCP server (real MCP SDK, Streamable HTTP on POST /mcp) with the tool families of
// the requirements doc: crm.*, billing.*, ticket.*, account.*, db.*, plus debug tools that
// let tests see what reached the server (headers, arguments). Used by the tests, the demo
// and the docker-compose stack. Answers as SSE by default, JSON with --json.

import { createServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StreamableHTTPServerTransport, type EventStore } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import {
  CallToolRequestSchema,
  GetPromptRequestSchema,
  ListPromptsRequestSchema,
  ListResourcesRequestSchema,
  ListToolsRequestSchema,
  ReadResourceRequestSchema,
  CreateMessageResultSchema,
  type CallToolResult,
  type Tool,
} from '@modelcontextprotocol/sdk/types.js';

export interface SampleServerOptions {
  port?: number;
  host?: string;
  /** Answer with application/json instead of an SSE stream. */
  json?: boolean;
  /** Keep sessions (Mcp-Session-Id) instead of one server per request. */
  stateful?: boolean;
  /** Stateful only: keep every SSE event so a client can resume a stream (Last-Event-ID). */
  eventStore?: EventStore;
}

export interface SeenRequest {
  method: string | undefined;
  headers: IncomingMessage['headers'];
  body: unknown;
}

export interface SampleServer {
  url: string;
  port: number;
  /** Every HTTP request the server received, newest last (bounded to 500). */
  seen: SeenRequest[];
  /** Mutable tool definitions: tests change one to exercise pinning. */
  tools: Tool[];
  close(): Promise<void>;
}

const obj = (properties: Record<string, unknown>, required: string[] = []): Tool['inputSchema'] => ({
  type: 'object',
  properties: properties as Record<string, object>,
  required,
});

export function sampleTools(): Tool[] {
  return [
    { name: 'crm.lookup_customer', description: 'Look up a customer by id', inputSchema: obj({ customer_id: { type: 'string' } }, ['customer_id']), annotations: { readOnlyHint: true } },
    { name: 'crm.search_accounts', description: 'Search accounts by name', inputSchema: obj({ query: { type: 'string' } }, ['query']), annotations: { readOnlyHint: true } },
    { name: 'billing.get_subscription_status', description: 'Subscription status of a customer', inputSchema: obj({ customer_id: { type: 'string' } }, ['customer_id']), annotations: { readOnlyHint: true } },
    { name: 'billing.update_payment_method', description: 'Replace the card on file', inputSchema: obj({ customer_id: { type: 'string' }, card_number: { type: 'string' } }, ['customer_id', 'card_number']) },
    { name: 'ticket.create_case', description: 'Open a support case', inputSchema: obj({ customer_id: { type: 'string' }, subject: { type: 'string' }, body: { type: 'string' } }, ['subject']) },
    { name: 'account.delete_customer', description: 'Delete a customer account', inputSchema: obj({ customer_id: { type: 'string' } }, ['customer_id']), annotations: { destructiveHint: true } },
    { name: 'db.run_query', description: 'Run a SQL query', inputSchema: obj({ sql: { type: 'string' }, readonly: { type: 'boolean' } }, ['sql']) },
    { name: 'debug.echo', description: 'Echo the arguments and the request headers the server received', inputSchema: obj({}) },
    { name: 'util.fail', description: 'Always fails', inputSchema: obj({ mode: { type: 'string', enum: ['tool', 'protocol'] } }) },
    { name: 'util.slow', description: 'Answers after a delay', inputSchema: obj({ ms: { type: 'number' } }) },
    { name: 'util.ask_model', description: 'Asks the client to sample a message (server-to-client request)', inputSchema: obj({ prompt: { type: 'string' } }) },
  ];
}

const CUSTOMER = {
  id: 'c-1001',
  name: 'Jane Doe',
  email: 'jane.doe@example.com',
  phone: '+1 415 555 0100',
  card: '4111 1111 1111 1111',
  ssn: '123-45-6789',
  order_id: 'ORD-2024-000123',
};

function text(t: string, structured?: Record<string, unknown>): CallToolResult {
  return structured ? { content: [{ type: 'text', text: t }], structuredContent: structured } : { content: [{ type: 'text', text: t }] };
}

/**
 * `clientStream` resolves once the session's GET stream is open (or after a bounded wait): a
 * server-to-client request outside a POST travels on that stream, and the SDK drops it silently
 * when the client has not opened it yet, which a slow gateway path makes likely.
 */
function buildServer(tools: Tool[], headers: IncomingMessage['headers'], clientStream: () => Promise<void> = () => Promise.resolve()): Server {
  const server = new Server({ name: 'sample-mcp-server', version: '1.0.0' }, { capabilities: { tools: { listChanged: true }, resources: {}, prompts: {} } });
  server.setRequestHandler(ListToolsRequestSchema, () => ({ tools }));
  server.setRequestHandler(CallToolRequestSchema, async (req) => {
    const args = (req.params.arguments ?? {}) as Record<string, unknown>;
    switch (req.params.name) {
      case 'crm.lookup_customer':
        return text(
          `Customer ${String(args['customer_id'])}: ${CUSTOMER.name}, email ${CUSTOMER.email}, phone ${CUSTOMER.phone}, card ${CUSTOMER.card}, order ${CUSTOMER.order_id}`,
          { ...CUSTOMER, id: String(args['customer_id'] ?? CUSTOMER.id) },
        );
      case 'crm.search_accounts':
        return text(`2 accounts match "${String(args['query'])}": Acme Corp (ORD-2024-000123), Globex`);
      case 'billing.get_subscription_status':
        return text(`Subscription of ${String(args['customer_id'])}: active, renews 2027-01-01`);
      case 'billing.update_payment_method':
        return text(`Card on file updated for ${String(args['customer_id'])}`);
      case 'ticket.create_case':
        return text(`Case TCK-${Math.floor(Math.random() * 1e6)} opened: ${String(args['subject'])}`);
      case 'account.delete_customer':
        return text(`Customer ${String(args['customer_id'])} deleted`);
      case 'db.run_query':
        return text(`Query ran: ${String(args['sql'])}`);
      case 'debug.echo':
        return text(JSON.stringify({ arguments: args, headers }), { arguments: args, headers: headers as Record<string, unknown> });
      case 'util.fail':
        if (args['mode'] === 'protocol') throw new Error('util.fail failed on purpose');
        return { content: [{ type: 'text', text: 'tool failed on purpose' }], isError: true };
      case 'util.slow': {
        const ms = Math.min(Number(args['ms'] ?? 100), 30_000);
        await new Promise((r) => setTimeout(r, ms));
        return text(`slept ${ms} ms`);
      }
      case 'util.ask_model': {
        await clientStream();
        const answer = await server.request(
          { method: 'sampling/createMessage', params: { messages: [{ role: 'user', content: { type: 'text', text: String(args['prompt'] ?? 'hi') } }], maxTokens: 50 } },
          CreateMessageResultSchema,
        );
        const content = answer.content as { type: string; text?: string };
        return text(`model said: ${content.type === 'text' ? content.text ?? '' : content.type}`);
      }
      default:
        throw new Error(`unknown tool ${req.params.name}`);
    }
  });
  server.setRequestHandler(ListResourcesRequestSchema, () => ({
    resources: [
      { uri: 'crm://customers/c-1001', name: 'Customer c-1001', mimeType: 'application/json' },
      { uri: 'secrets://vault/root', name: 'Root credentials', mimeType: 'text/plain' },
    ],
  }));
  server.setRequestHandler(ReadResourceRequestSchema, (req) => ({
    contents: [{ uri: req.params.uri, mimeType: 'application/json', text: JSON.stringify(CUSTOMER) }],
  }));
  server.setRequestHandler(ListPromptsRequestSchema, () => ({
    prompts: [
      { name: 'support.greeting', description: 'Greet a customer' },
      { name: 'admin.reset_password', description: 'Reset a password' },
    ],
  }));
  server.setRequestHandler(GetPromptRequestSchema, (req) => ({
    messages: [{ role: 'user', content: { type: 'text', text: `Prompt ${req.params.name}` } }],
  }));
  return server;
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  if (chunks.length === 0) return undefined;
  const text = Buffer.concat(chunks).toString('utf8');
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export async function startSampleMcpServer(opts: SampleServerOptions = {}): Promise<SampleServer> {
  const tools = sampleTools();
  const seen: SeenRequest[] = [];
  const sessions = new Map<string, StreamableHTTPServerTransport>();
  // Sessions whose client holds a GET stream open, and who waits for one to open.
  const getStreams = new Set<string>();
  const streamWaiters = new Map<string, Array<() => void>>();
  const streamOpened = (sid: string): void => {
    getStreams.add(sid);
    for (const wake of streamWaiters.get(sid) ?? []) wake();
    streamWaiters.delete(sid);
  };
  const waitForStream = (sid: string | undefined): Promise<void> => {
    if (sid === undefined || getStreams.has(sid)) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 5000).unref();
      const list = streamWaiters.get(sid) ?? [];
      list.push(() => {
        clearTimeout(timer);
        resolve();
      });
      streamWaiters.set(sid, list);
    });
  };
  const http: HttpServer = createServer((req, res) => {
    void (async () => {
      const body = req.method === 'POST' ? await readJson(req) : undefined;
      seen.push({ method: req.method, headers: req.headers, body });
      if (seen.length > 500) seen.shift();
      if (!req.url?.startsWith('/mcp')) {
        res.writeHead(404).end('not found');
        return;
      }
      if (opts.stateful) {
        const sid = req.headers['mcp-session-id'];
        let transport = typeof sid === 'string' ? sessions.get(sid) : undefined;
        if (!transport) {
          if (typeof sid === 'string') {
            res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32001, message: 'session not found' } }));
            return;
          }
          const t: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
            sessionIdGenerator: () => randomUUID(),
            enableJsonResponse: opts.json ?? false,
            ...(opts.eventStore ? { eventStore: opts.eventStore } : {}),
            onsessioninitialized: (id) => void sessions.set(id, t),
          });
          t.onclose = () => {
            if (t.sessionId) sessions.delete(t.sessionId);
          };
          await buildServer(tools, req.headers, () => waitForStream(t.sessionId)).connect(t);
          transport = t;
        }
        if (req.method === 'GET' && typeof sid === 'string') {
          // The SDK registers the GET stream before it writes the head, and handleRequest only
          // returns when the stream ends: a 200 head is the moment the stream is open.
          const writeHead = res.writeHead.bind(res) as (...a: unknown[]) => typeof res;
          res.writeHead = ((...a: unknown[]) => {
            const out = writeHead(...a);
            if (res.statusCode === 200) streamOpened(sid);
            return out;
          }) as typeof res.writeHead;
          res.on('close', () => getStreams.delete(sid));
        }
        await transport.handleRequest(req, res, body);
        return;
      }
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: opts.json ?? false });
      const server = buildServer(tools, req.headers);
      res.on('close', () => {
        void transport.close();
        void server.close();
      });
      await server.connect(transport);
      await transport.handleRequest(req, res, body);
    })().catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(String(err));
    });
  });
  await new Promise<void>((resolve) => http.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', resolve));
  const port = (http.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    port,
    seen,
    tools,
    close: () =>
      new Promise<void>((resolve) => {
        for (const t of sessions.values()) void t.close();
        http.closeAllConnections();
        http.close(() => resolve());
      }),
  };
}

// CLI: node dist/examples/sample-mcp-server.js [--port 8000] [--host 0.0.0.0] [--json] [--stateful]
if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/^.*\/dist\//, '/dist/'))) {
  const argv = process.argv.slice(2);
  const port = Number(argv[argv.indexOf('--port') + 1] ?? 8000) || 8000;
  const host = argv.includes('--host') ? argv[argv.indexOf('--host') + 1] : '127.0.0.1';
  void startSampleMcpServer({ port, host, json: argv.includes('--json'), stateful: argv.includes('--stateful') }).then((s) => {
    process.stdout.write(`sample MCP server on ${host}:${s.port}/mcp\n`);
  });
}
