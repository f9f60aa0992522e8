// The demo's MCP client: the real MCP SDK client over Streamable HTTP, with a fetch wrapper
// that remembers the last POST's HTTP status, headers and (for refusals) body, and can add
// headers to the next POST only (the confirmation token on the approved retry).

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { sseMessages } from '../e2e/harness.js';

export interface HttpExchange {
  status: number;
  headers: Headers;
  /** The body of a refused (non-2xx) POST; undefined for answers the SDK reads itself. */
  body: string | undefined;
}

export interface JsonRpcErrorShape {
  code: number;
  message: string;
  data?: Record<string, unknown>;
}

export interface Refusal {
  status: number;
  headers: Headers;
  error: JsonRpcErrorShape | undefined;
}

export class DemoClient {
  readonly sdk: Client;
  last: HttpExchange | undefined;
  private nextHeaders: Record<string, string> = {};

  private constructor() {
    this.sdk = new Client({ name: 'mcp-gateway-demo', version: '1.0.0' });
  }

  static async connect(url: string, headers: Record<string, string> = {}): Promise<DemoClient> {
    const c = new DemoClient();
    const transport = new StreamableHTTPClientTransport(new URL(url), {
      requestInit: { headers },
      fetch: async (input, init) => {
        const isPost = init?.method === 'POST';
        const merged = new Headers(init?.headers);
        if (isPost) {
          for (const [k, v] of Object.entries(c.nextHeaders)) merged.set(k, v);
          c.nextHeaders = {};
        }
        const res = await fetch(input, { ...init, headers: merged });
        if (isPost) c.last = { status: res.status, headers: res.headers, body: res.ok ? undefined : await res.clone().text() };
        return res;
      },
    });
    await c.sdk.connect(transport);
    return c;
  }

  /** Headers sent with the next POST only. */
  withNextHeaders(h: Record<string, string>): this {
    this.nextHeaders = { ...h };
    return this;
  }

  async callText(name: string, args: Record<string, unknown>): Promise<string> {
    const r = (await this.sdk.callTool({ name, arguments: args })) as { content?: { type: string; text?: string }[]; isError?: boolean };
    if (r.isError === true) throw new Error(`${name} answered isError`);
    return (r.content ?? []).map((c) => (c.type === 'text' ? c.text ?? '' : `[${c.type}]`)).join('\n');
  }

  /** Runs a call that the gateway must refuse; resolves with the HTTP status and JSON-RPC error. */
  async refused(call: () => Promise<unknown>): Promise<Refusal> {
    this.last = undefined;
    try {
      await call();
    } catch (err) {
      return this.refusalOf(err);
    }
    throw new Error('the gateway let the call through');
  }

  /**
   * The gateway's refusal behind an SDK error: the SDK's own protocol error (McpError, with
   * code and data, for answers in MCP's terms), else an HTTP refusal; rethrows anything else.
   */
  refusalOf(err: unknown): Refusal {
    const last = this.last;
    if (err instanceof McpError && last !== undefined) {
      const prefix = `MCP error ${err.code}: `;
      const message = err.message.startsWith(prefix) ? err.message.slice(prefix.length) : err.message;
      const data = typeof err.data === 'object' && err.data !== null ? (err.data as Record<string, unknown>) : undefined;
      return { status: last.status, headers: last.headers, error: { code: err.code, message, ...(data ? { data } : {}) } };
    }
    if (last === undefined || last.status < 400) throw err;
    return { status: last.status, headers: last.headers, error: jsonRpcError(last) };
  }

  close(): Promise<void> {
    return this.sdk.close();
  }
}

function jsonRpcError(x: HttpExchange): JsonRpcErrorShape | undefined {
  if (x.body === undefined) return undefined;
  let msg: unknown;
  if ((x.headers.get('content-type') ?? '').includes('text/event-stream')) msg = sseMessages(x.body)[0];
  else {
    try {
      msg = JSON.parse(x.body);
    } catch {
      return undefined;
    }
  }
  const error = (msg as { error?: unknown } | undefined)?.error;
  if (typeof error !== 'object' || error === null) return undefined;
  const e = error as { code?: unknown; message?: unknown; data?: unknown };
  if (typeof e.code !== 'number' || typeof e.message !== 'string') return undefined;
  return { code: e.code, message: e.message, ...(typeof e.data === 'object' && e.data !== null ? { data: e.data as Record<string, unknown> } : {}) };
}
