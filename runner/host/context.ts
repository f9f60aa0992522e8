// The per-call context handed to plugins: the request and response views, the MCP body
// parsed once, mutations collected for one answer frame, and the decision record.

import type { TextEntry } from '../protocol/messages.js';
import type { McpRequestBody, McpResponseBody } from '../mcp/types.js';
import { JsonRpcErrorCode } from '../mcp/types.js';
import { parseRequestBody } from '../mcp/parse.js';
import { parseResponseBody } from '../mcp/response.js';
import type {
  CallContext,
  DecisionRecord,
  Identity,
  PhaseResult,
  RequestMutations,
  ResponseMutations,
  RouteSettings,
  StopOutcome,
} from './plugin.js';
import { RequestView, ResponseView, randomHex16 } from './views.js';

export { RequestView, ResponseView, formatIp, randomHex16 } from './views.js';

/** Thrown inside the host (e.g. by ctx.mcp()) to end the call with a Stop answer. */
export class StopError extends Error {
  constructor(readonly outcome: StopOutcome) {
    super(outcome.rpcError?.message ?? `stop ${outcome.status}`);
  }
}

/** Header changes in order; later writes to the same name win. */
export class HeaderEdits {
  /** lower-cased name → value (undefined = delete). */
  readonly upstream = new Map<string, string | undefined>();
  readonly clientAdds: TextEntry[] = [];
  get empty(): boolean {
    return this.upstream.size === 0 && this.clientAdds.length === 0;
  }
}

export class CallContextImpl implements CallContext {
  identity: Identity | undefined;
  readonly decisions: DecisionRecord[];
  readonly carry: Map<string, unknown>;
  private reqMutations: RequestMutations | undefined;
  private respMutations: ResponseMutations | undefined;
  private headerEdits: HeaderEdits | undefined;
  bodyModified = false;
  responseBodyModified = false;
  responseStatus = 0;
  /** Set when the response body may be read (some plugin's needsResponseBody said yes). */
  responseBodyAllowed = false;
  private listeners: Array<(r: PhaseResult) => void> | undefined;
  private parsed: Promise<McpRequestBody> | undefined;
  private parsedResponse: Promise<McpResponseBody | undefined> | undefined;
  private ownCallId: string | undefined;

  constructor(
    readonly phase: 'request' | 'response',
    readonly routeKey: string,
    readonly route: RouteSettings,
    readonly request: RequestView,
    readonly response: ResponseView | undefined,
    readonly startedAt: number,
    carried?: CarriedCall,
  ) {
    this.decisions = carried ? carried.decisions : [];
    this.carry = carried ? carried.carry : new Map();
    this.identity = carried?.identity;
    if (carried) {
      this.ownCallId = carried.callId;
      this.parsed = carried.parsed;
    }
  }

  /** Header changes, created on first use (most calls of a plain chain change nothing). */
  get edits(): HeaderEdits {
    return (this.headerEdits ??= new HeaderEdits());
  }

  /** True when some plugin changed headers (without creating the edits). */
  get hasEdits(): boolean {
    return this.headerEdits !== undefined && !this.headerEdits.empty;
  }

  // Mutation objects are made on first use. Arrow functions close over `this`, so handlers
  // may destructure them.
  get requestMutations(): RequestMutations {
    return (this.reqMutations ??= {
      setHeader: (name, value) => void this.edits.upstream.set(name.toLowerCase(), value),
      deleteHeader: (name) => void this.edits.upstream.set(name.toLowerCase(), undefined),
      addResponseHeader: (name, value) => void this.edits.clientAdds.push({ name, value }),
      markBodyModified: () => void (this.bodyModified = true),
    });
  }

  get responseMutations(): ResponseMutations {
    return (this.respMutations ??= {
      setStatus: (status) => void (this.responseStatus = status),
      setHeader: (name, value) => void this.edits.upstream.set(name.toLowerCase(), value),
      deleteHeader: (name) => void this.edits.upstream.set(name.toLowerCase(), undefined),
      markBodyModified: () => void (this.responseBodyModified = true),
    });
  }

  /** W3C trace id of the client's traceparent when valid, else a random id. */
  get callId(): string {
    if (this.ownCallId === undefined) {
      const tp = this.request.header('traceparent');
      const m = tp ? /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/.exec(tp) : null;
      this.ownCallId = m && m[1] !== '00000000000000000000000000000000' ? m[1]! : randomHex16();
    }
    return this.ownCallId;
  }

  record(decision: DecisionRecord): void {
    this.decisions.push(decision);
  }

  onDone(listener: (result: PhaseResult) => void): void {
    (this.listeners ??= []).push(listener);
  }

  /** Called by the host once per phase. Listener failures never change the answer. */
  finish(result: PhaseResult, onListenerError: (err: unknown) => void): void {
    const listeners = this.listeners;
    if (!listeners) return;
    this.listeners = undefined;
    for (const l of listeners) {
      try {
        l(result);
      } catch (err) {
        onListenerError(err);
      }
    }
  }

  /** True once the body was parsed (so the host knows the request ids for error replies). */
  get mcpParsed(): Promise<McpRequestBody> | undefined {
    return this.parsed;
  }

  mcp(): Promise<McpRequestBody> {
    this.parsed ??= this.parseRequest();
    return this.parsed;
  }

  private async parseRequest(): Promise<McpRequestBody> {
    const req = this.request;
    if (req.method !== 'POST') return { ok: true, batch: false, messages: [] };
    const declared = req.header('content-length');
    if (declared !== undefined && Number(declared) > this.route.maxBodyBytes) {
      throw tooLarge(this.route.maxBodyBytes);
    }
    // The gateway must read exactly the bytes the server will read: no compressed or
    // non-UTF-8 bodies (the server could decode them differently than we did).
    const encoding = req.header('content-encoding');
    if (encoding !== undefined && encoding.trim().toLowerCase() !== 'identity') {
      throw parseStop(JsonRpcErrorCode.ParseError, 'compressed request bodies are not accepted');
    }
    const contentType = req.header('content-type');
    if (contentType !== undefined) {
      const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(contentType);
      if (charset && charset[1]!.toLowerCase() !== 'utf-8' && charset[1]!.toLowerCase() !== 'utf8') {
        throw parseStop(JsonRpcErrorCode.ParseError, 'request body must be UTF-8 JSON');
      }
    }
    const bytes = await req.body();
    if (!bytes || bytes.length === 0) throw parseStop(JsonRpcErrorCode.InvalidRequest, 'empty request body');
    if (bytes.length > this.route.maxBodyBytes) {
      throw tooLarge(this.route.maxBodyBytes);
    }
    const parsed = parseRequestBody(bytes);
    if (!parsed.ok) {
      throw new StopError({ action: 'stop', status: 400, rpcError: { code: parsed.code, message: parsed.message }, ids: [parsed.id] });
    }
    return parsed;
  }

  mcpResponse(): Promise<McpResponseBody | undefined> {
    const res = this.response;
    if (!res || !this.responseBodyAllowed) return Promise.resolve(undefined);
    this.parsedResponse ??= res.body().then((bytes) => (bytes ? parseResponseBody(res.header('content-type'), bytes) : undefined));
    return this.parsedResponse;
  }
}

function tooLarge(maxBodyBytes: number): StopError {
  return new StopError({
    action: 'stop',
    status: 413,
    rpcError: { code: JsonRpcErrorCode.PayloadTooLarge, message: `request body larger than ${maxBodyBytes} bytes` },
  });
}

function parseStop(code: number, message: string): StopError {
  return new StopError({ action: 'stop', status: 400, rpcError: { code, message }, ids: [null] });
}

/** What the request phase hands to the response phase of the same HTTP call. */
export interface CarriedCall {
  callId: string;
  identity: Identity | undefined;
  decisions: DecisionRecord[];
  carry: Map<string, unknown>;
  parsed: Promise<McpRequestBody> | undefined;
  startedAt: number;
}
