// Our own MCP server for the @modelcontextprotocol/conformance server scenarios (the npm package
// ships the checks, not a server to run them against). It implements what each scenario's
// "Server Implementation Requirements" ask for — the test_* tools, test://* resources, prompts,
// completion, subscriptions, logging, resumable SSE (SEP-1699) and DNS-rebinding protection —
// with the real MCP SDK over Streamable HTTP, stateful sessions, answers as SSE.

import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { EventStore } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import {
  CallToolRequestSchema,
  CompleteRequestSchema,
  CreateMessageResultSchema,
  ElicitResultSchema,
  GetPromptRequestSchema,
  ListPromptsRequestSchema,
  ListResourcesRequestSchema,
  ListResourceTemplatesRequestSchema,
  ListToolsRequestSchema,
  ReadResourceRequestSchema,
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
  type CallToolResult,
  type GetPromptResult,
  type JSONRPCMessage,
  type ReadResourceResult,
  type Tool,
} from '@modelcontextprotocol/sdk/types.js';

export interface ReferenceServer {
  url: string;
  port: number;
  /** Authorization headers of the last requests (bounded): shows what a gateway attached. */
  authorizations: string[];
  close(): Promise<void>;
}

// 1x1 red PNG and a 1-sample silent WAV, enough for content-type checks.
const PNG_1PX = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==';
const WAV_SILENT = Buffer.concat([
  Buffer.from('RIFF'), u32(38), Buffer.from('WAVEfmt '), u32(16), u16(1), u16(1), u32(8000), u32(16000), u16(2), u16(16),
  Buffer.from('data'), u32(2), u16(0),
]).toString('base64');
function u32(n: number): Buffer { const b = Buffer.alloc(4); b.writeUInt32LE(n); return b; }
function u16(n: number): Buffer { const b = Buffer.alloc(2); b.writeUInt16LE(n); return b; }

const noArgs: Tool['inputSchema'] = { type: 'object', properties: {} };
const oneString = (name: string, description: string): Tool['inputSchema'] => ({ type: 'object', properties: { [name]: { type: 'string', description } }, required: [name] });

const TOOLS: Tool[] = [
  { name: 'test_simple_text', description: 'Returns one text block', inputSchema: noArgs },
  { name: 'test_image_content', description: 'Returns a PNG image block', inputSchema: noArgs },
  { name: 'test_audio_content', description: 'Returns a WAV audio block', inputSchema: noArgs },
  { name: 'test_embedded_resource', description: 'Returns an embedded text resource', inputSchema: noArgs },
  { name: 'test_multiple_content_types', description: 'Returns text, image and resource blocks', inputSchema: noArgs },
  { name: 'test_tool_with_logging', description: 'Sends three info log notifications while running', inputSchema: noArgs },
  { name: 'test_tool_with_progress', description: 'Reports progress 0, 50, 100 of 100', inputSchema: noArgs },
  { name: 'test_error_handling', description: 'Always fails with isError', inputSchema: noArgs },
  { name: 'test_sampling', description: 'Asks the client to sample an LLM', inputSchema: oneString('prompt', 'The prompt to send to the LLM') },
  { name: 'test_elicitation', description: 'Asks the user for a username and email', inputSchema: oneString('message', 'The message to show the user') },
  { name: 'test_elicitation_sep1034_defaults', description: 'Elicitation whose fields all carry defaults', inputSchema: noArgs },
  { name: 'test_elicitation_sep1330_enums', description: 'Elicitation with the five enum shapes', inputSchema: noArgs },
  { name: 'test_reconnection', description: 'Closes its SSE stream mid-call; the result arrives after the client resumes', inputSchema: noArgs },
  {
    name: 'json_schema_2020_12_tool',
    description: 'Tool with JSON Schema 2020-12 features',
    inputSchema: {
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      type: 'object',
      $defs: { address: { type: 'object', properties: { street: { type: 'string' }, city: { type: 'string' } } } },
      properties: { name: { type: 'string' }, address: { $ref: '#/$defs/address' } },
      additionalProperties: false,
    },
  },
];

const text = (t: string): CallToolResult => ({ content: [{ type: 'text', text: t }] });
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const ELICIT_DEFAULTS_SCHEMA = {
  type: 'object' as const,
  properties: {
    name: { type: 'string' as const, description: 'User name', default: 'John Doe' },
    age: { type: 'integer' as const, description: 'User age', default: 30 },
    score: { type: 'number' as const, description: 'User score', default: 95.5 },
    status: { type: 'string' as const, description: 'User status', enum: ['active', 'inactive', 'pending'], default: 'active' },
    verified: { type: 'boolean' as const, description: 'Verification status', default: true },
  },
};

const ELICIT_ENUMS_SCHEMA = {
  type: 'object' as const,
  properties: {
    untitledSingle: { type: 'string', enum: ['option1', 'option2', 'option3'] },
    titledSingle: { type: 'string', oneOf: [{ const: 'value1', title: 'First Option' }, { const: 'value2', title: 'Second Option' }, { const: 'value3', title: 'Third Option' }] },
    legacyEnum: { type: 'string', enum: ['opt1', 'opt2', 'opt3'], enumNames: ['Option One', 'Option Two', 'Option Three'] },
    untitledMulti: { type: 'array', items: { type: 'string', enum: ['option1', 'option2', 'option3'] } },
    titledMulti: { type: 'array', items: { anyOf: [{ const: 'value1', title: 'First Choice' }, { const: 'value2', title: 'Second Choice' }, { const: 'value3', title: 'Third Choice' }] } },
  },
};

/** Bounded in-memory event store: SSE resumability (Last-Event-ID) for test_reconnection. */
class BoundedEventStore implements EventStore {
  private readonly events = new Map<string, { streamId: string; message: JSONRPCMessage }>();
  constructor(private readonly max = 2000) {}
  async storeEvent(streamId: string, message: JSONRPCMessage): Promise<string> {
    const id = `${streamId}_${Date.now().toString(36)}_${randomUUID().slice(0, 8)}`;
    this.events.set(id, { streamId, message });
    if (this.events.size > this.max) {
      const oldest = this.events.keys().next().value;
      if (oldest !== undefined) this.events.delete(oldest);
    }
    return id;
  }
  async getStreamIdForEventId(eventId: string): Promise<string | undefined> {
    return this.events.get(eventId)?.streamId;
  }
  async replayEventsAfter(lastEventId: string, { send }: { send: (eventId: string, message: JSONRPCMessage) => Promise<void> }): Promise<string> {
    const last = this.events.get(lastEventId);
    if (last === undefined) return '';
    let after = false;
    for (const [id, e] of this.events) {
      if (id === lastEventId) { after = true; continue; }
      if (after && e.streamId === last.streamId) await send(id, e.message);
    }
    return last.streamId;
  }
}

function buildServer(): Server {
  const server = new Server(
    { name: 'conformance-reference-server', version: '1.0.0' },
    { capabilities: { tools: {}, resources: { subscribe: true }, prompts: {}, logging: {}, completions: {} } },
  );
  const subscriptions = new Set<string>();

  server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: TOOLS }));
  server.setRequestHandler(CallToolRequestSchema, async (req, extra): Promise<CallToolResult> => {
    const args = req.params.arguments ?? {};
    switch (req.params.name) {
      case 'test_simple_text':
        return text('This is a simple text response for testing.');
      case 'test_image_content':
        return { content: [{ type: 'image', data: PNG_1PX, mimeType: 'image/png' }] };
      case 'test_audio_content':
        return { content: [{ type: 'audio', data: WAV_SILENT, mimeType: 'audio/wav' }] };
      case 'test_embedded_resource':
        return { content: [{ type: 'resource', resource: { uri: 'test://embedded-resource', mimeType: 'text/plain', text: 'This is an embedded resource content.' } }] };
      case 'test_multiple_content_types':
        return {
          content: [
            { type: 'text', text: 'Multiple content types test:' },
            { type: 'image', data: PNG_1PX, mimeType: 'image/png' },
            { type: 'resource', resource: { uri: 'test://mixed-content-resource', mimeType: 'application/json', text: JSON.stringify({ test: 'data', value: 123 }) } },
          ],
        };
      case 'test_tool_with_logging':
        for (const [i, msg] of ['Tool execution started', 'Tool processing data', 'Tool execution completed'].entries()) {
          if (i > 0) await sleep(50);
          await extra.sendNotification({ method: 'notifications/message', params: { level: 'info', data: msg } });
        }
        return text('Tool with logging executed successfully');
      case 'test_tool_with_progress': {
        const token = req.params._meta?.progressToken;
        for (const [i, progress] of [0, 50, 100].entries()) {
          if (i > 0) await sleep(50);
          if (token !== undefined) await extra.sendNotification({ method: 'notifications/progress', params: { progressToken: token, progress, total: 100 } });
        }
        return text('Tool with progress executed successfully');
      }
      case 'test_error_handling':
        return { isError: true, content: [{ type: 'text', text: 'This tool intentionally returns an error for testing' }] };
      case 'test_sampling': {
        const prompt = typeof args['prompt'] === 'string' ? args['prompt'] : '';
        const answer = await extra.sendRequest(
          { method: 'sampling/createMessage', params: { messages: [{ role: 'user', content: { type: 'text', text: prompt } }], maxTokens: 100 } },
          CreateMessageResultSchema,
        );
        const content = answer.content;
        const said = !Array.isArray(content) && content.type === 'text' ? content.text : JSON.stringify(content);
        return text(`LLM response: ${said}`);
      }
      case 'test_elicitation': {
        const message = typeof args['message'] === 'string' ? args['message'] : '';
        const answer = await extra.sendRequest(
          {
            method: 'elicitation/create',
            params: {
              message,
              requestedSchema: {
                type: 'object',
                properties: { username: { type: 'string', description: "User's response" }, email: { type: 'string', description: "User's email address" } },
                required: ['username', 'email'],
              },
            },
          },
          ElicitResultSchema,
        );
        return text(`User response: action=${answer.action}, content=${JSON.stringify(answer.content ?? {})}`);
      }
      case 'test_elicitation_sep1034_defaults':
      case 'test_elicitation_sep1330_enums': {
        const requestedSchema = req.params.name === 'test_elicitation_sep1034_defaults' ? ELICIT_DEFAULTS_SCHEMA : ELICIT_ENUMS_SCHEMA;
        const answer = await extra.sendRequest(
          { method: 'elicitation/create', params: { message: 'Conformance elicitation', requestedSchema } } as never,
          ElicitResultSchema,
        );
        return text(`Elicitation completed: action=${answer.action}, content=${JSON.stringify(answer.content ?? {})}`);
      }
      case 'test_reconnection':
        // Close the POST stream after the priming event; the result goes to the event store and
        // reaches the client when it resumes with Last-Event-ID (SEP-1699 polling).
        await sleep(50);
        extra.closeSSEStream?.();
        await sleep(100);
        return text('Reconnection test completed successfully');
      default:
        return { isError: true, content: [{ type: 'text', text: `Unknown tool: ${req.params.name}` }] };
    }
  });

  server.setRequestHandler(ListResourcesRequestSchema, () => ({
    resources: [
      { uri: 'test://static-text', name: 'static-text', description: 'A static text resource', mimeType: 'text/plain' },
      { uri: 'test://static-binary', name: 'static-binary', description: 'A static PNG resource', mimeType: 'image/png' },
      { uri: 'test://watched-resource', name: 'watched-resource', description: 'A resource one can subscribe to', mimeType: 'text/plain' },
    ],
  }));
  server.setRequestHandler(ListResourceTemplatesRequestSchema, () => ({
    resourceTemplates: [{ uriTemplate: 'test://template/{id}/data', name: 'template-data', description: 'Data by id', mimeType: 'application/json' }],
  }));
  server.setRequestHandler(ReadResourceRequestSchema, (req): ReadResourceResult => {
    const uri = req.params.uri;
    if (uri === 'test://static-text') return { contents: [{ uri, mimeType: 'text/plain', text: 'This is the content of the static text resource.' }] };
    if (uri === 'test://static-binary') return { contents: [{ uri, mimeType: 'image/png', blob: PNG_1PX }] };
    if (uri === 'test://watched-resource') return { contents: [{ uri, mimeType: 'text/plain', text: 'Watched resource content.' }] };
    const m = /^test:\/\/template\/([^/]+)\/data$/.exec(uri);
    if (m !== null) {
      const id = m[1] ?? '';
      return { contents: [{ uri, mimeType: 'application/json', text: JSON.stringify({ id, templateTest: true, data: `Data for ID: ${id}` }) }] };
    }
    throw new Error(`Resource not found: ${uri}`);
  });
  server.setRequestHandler(SubscribeRequestSchema, (req) => {
    if (subscriptions.size < 100) subscriptions.add(req.params.uri);
    return {};
  });
  server.setRequestHandler(UnsubscribeRequestSchema, (req) => {
    subscriptions.delete(req.params.uri);
    return {};
  });

  server.setRequestHandler(ListPromptsRequestSchema, () => ({
    prompts: [
      { name: 'test_simple_prompt', description: 'A prompt without arguments' },
      {
        name: 'test_prompt_with_arguments',
        description: 'A prompt with two arguments',
        arguments: [{ name: 'arg1', description: 'First test argument', required: true }, { name: 'arg2', description: 'Second test argument', required: true }],
      },
      { name: 'test_prompt_with_embedded_resource', description: 'A prompt embedding a resource', arguments: [{ name: 'resourceUri', description: 'URI of the resource to embed', required: true }] },
      { name: 'test_prompt_with_image', description: 'A prompt with an image' },
    ],
  }));
  server.setRequestHandler(GetPromptRequestSchema, (req): GetPromptResult => {
    const a = req.params.arguments ?? {};
    switch (req.params.name) {
      case 'test_simple_prompt':
        return { messages: [{ role: 'user', content: { type: 'text', text: 'This is a simple prompt for testing.' } }] };
      case 'test_prompt_with_arguments':
        return { messages: [{ role: 'user', content: { type: 'text', text: `Prompt with arguments: arg1='${a['arg1'] ?? ''}', arg2='${a['arg2'] ?? ''}'` } }] };
      case 'test_prompt_with_embedded_resource':
        return {
          messages: [
            { role: 'user', content: { type: 'resource', resource: { uri: a['resourceUri'] ?? 'test://example-resource', mimeType: 'text/plain', text: 'Embedded resource content for testing.' } } },
            { role: 'user', content: { type: 'text', text: 'Please process the embedded resource above.' } },
          ],
        };
      case 'test_prompt_with_image':
        return {
          messages: [
            { role: 'user', content: { type: 'image', data: PNG_1PX, mimeType: 'image/png' } },
            { role: 'user', content: { type: 'text', text: 'Please analyze the image above.' } },
          ],
        };
      default:
        throw new Error(`Unknown prompt: ${req.params.name}`);
    }
  });
  server.setRequestHandler(CompleteRequestSchema, (req) => {
    const prefix = req.params.argument.value;
    const values = ['paris', 'park', 'party'].filter((v) => v.startsWith(prefix));
    return { completion: { values, total: values.length, hasMore: false } };
  });
  return server;
}

/** Localhost only: reject a Host or Origin naming anything else (DNS rebinding defence). */
function isLocalAuthority(value: string): boolean {
  const host = value.replace(/^[a-z]+:\/\//i, '').replace(/\/.*$/, '');
  const name = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.replace(/:\d+$/, '');
  return name === 'localhost' || name === '127.0.0.1' || name === '[::1]';
}

function reject(res: ServerResponse, status: number, message: string): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32000, message }, id: null }));
}

async function readJson(req: IncomingMessage, limit = 4 * 1024 * 1024): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > limit) throw new Error('body too large');
    chunks.push(c);
  }
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

const isInitialize = (body: unknown): boolean => typeof body === 'object' && body !== null && !Array.isArray(body) && (body as { method?: unknown }).method === 'initialize';

export async function startReferenceServer(opts: { port?: number } = {}): Promise<ReferenceServer> {
  const sessions = new Map<string, StreamableHTTPServerTransport>();
  const MAX_SESSIONS = 200;
  const authorizations: string[] = [];

  const http: HttpServer = createServer((req, res) => {
    void (async () => {
      const auth = req.headers.authorization;
      if (auth !== undefined) {
        authorizations.push(auth);
        if (authorizations.length > 50) authorizations.shift();
      }
      const host = req.headers.host ?? '';
      const origin = req.headers.origin;
      if (!isLocalAuthority(host) || (origin !== undefined && !isLocalAuthority(origin))) return reject(res, 403, 'Forbidden: non-local Host or Origin');
      if (!(req.url ?? '').startsWith('/mcp')) return reject(res, 404, 'Not found');
      const sid = req.headers['mcp-session-id'];
      const existing = typeof sid === 'string' ? sessions.get(sid) : undefined;
      if (req.method === 'POST') {
        let body: unknown;
        try {
          body = await readJson(req);
        } catch {
          return reject(res, 400, 'Parse error');
        }
        if (existing !== undefined) return existing.handleRequest(req, res, body);
        if (sid !== undefined) return reject(res, 404, 'Session not found');
        if (!isInitialize(body)) return reject(res, 400, 'Bad Request: no session');
        if (sessions.size >= MAX_SESSIONS) return reject(res, 503, 'Too many sessions');
        const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
          sessionIdGenerator: () => randomUUID(),
          onsessioninitialized: (id) => void sessions.set(id, transport),
          eventStore: new BoundedEventStore(),
          retryInterval: 200,
        });
        transport.onclose = () => {
          if (transport.sessionId !== undefined) sessions.delete(transport.sessionId);
        };
        await buildServer().connect(transport);
        return transport.handleRequest(req, res, body);
      }
      if (req.method === 'GET' || req.method === 'DELETE') {
        if (existing === undefined) return reject(res, sid === undefined ? 400 : 404, 'Session not found');
        return existing.handleRequest(req, res);
      }
      res.writeHead(405, { allow: 'GET, POST, DELETE' }).end();
    })().catch(() => {
      if (!res.headersSent) reject(res, 500, 'Internal error');
      else res.destroy();
    });
  });
  await new Promise<void>((resolve) => http.listen(opts.port ?? 0, '127.0.0.1', resolve));
  const port = (http.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    port,
    authorizations,
    async close() {
      for (const t of sessions.values()) void t.close();
      http.closeAllConnections();
      await new Promise<void>((r) => http.close(() => r()));
    },
  };
}

// `node dist/testkit/conformance/reference-server.js [port]`: run it alone (e.g. to point the CLI at it).
if (process.argv[1] !== undefined && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  const port = Number(process.argv[2] ?? 3000);
  void startReferenceServer({ port }).then((s) => console.log(`conformance reference server on ${s.url}`));
}
