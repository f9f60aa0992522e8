// The per-call context handed to plugins: lazy views of the request and response (ExtraInfo
// only when a plugin asks, cached per call), the MCP body parsed once, mutations collected
// for one answer frame, and the decision record.

import { randomFillSync } from 'node:crypto';
import type { ExtraInfoChannel } from '../protocol/handler.js';
import type { TextEntry } from '../protocol/messages.js';
import type { McpRequestBody, McpResponseBody } from '../mcp/types.js';
import { JsonRpcErrorCode } from '../mcp/types.js';
import { parseRequestBody } from '../mcp/parse.js';
import { parseResponseBody } from '../mcp/response.js';
import type {
  CallContext,
  DecisionRecord,
  HttpRequestView,
  HttpResponseView,
  Identity,
  PhaseResult,
  RequestMutations,
  ResponseMutations,
  RouteSettings,
  StopOutcome,
} from './plugin.js';

/** Thrown inside the host (e.g. by ctx.mcp()) to end the call with a Stop answer. */
export class StopError extends Error {
  constructor(readonly outcome: StopOutcome) {
    super(outcome.rpcError?.message ?? `stop ${outcome.status}`);
  }
}

function findHeader(headers: readonly TextEntry[], lowerName: string): string | undefined {
  for (const h of headers) {
    // APISIX sends lower-case names: the exact test nearly always decides; the length test
    // spares a toLowerCase per header for names that are absent.
    if (h.name === lowerName || (h.name.length === lowerName.length && h.name.toLowerCase() === lowerName)) return h.value;
  }
  return undefined;
}

export function formatIp(bytes: Uint8Array | undefined): string | undefined {
  if (!bytes) return undefined;
  if (bytes.length === 4) return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
  if (bytes.length === 16) {
    const parts: string[] = [];
    for (let i = 0; i < 16; i += 2) parts.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
    return parts.join(':');
  }
  return undefined;
}

const decoder = new TextDecoder();

/** Random bytes fetched 4 KiB at a time: one call id costs a slice to hex, not a syscall. */
const randomPool = Buffer.allocUnsafe(4096);
let randomAt = randomPool.length;

/** 16 random bytes as 32 hex digits (a W3C trace id's shape): call ids and carry keys. */
export function randomHex16(): string {
  if (randomAt + 16 > randomPool.length) {
    randomFillSync(randomPool);
    randomAt = 0;
  }
  const hex = randomPool.toString('hex', randomAt, randomAt + 16);
  randomAt += 16;
  return hex;
}

/** The request as APISIX described it, with ExtraInfo lookups cached for the call. */
export class RequestView implements HttpRequestView {
  private vars: Map<string, Promise<string | undefined>> | undefined;
  private bodyPromise: Promise<Uint8Array | undefined> | undefined;
  private ip: string | undefined | null = null;

  constructor(
    readonly method: string,
    readonly path: string,
    private readonly srcIpBytes: Uint8Array | undefined,
    readonly headers: readonly TextEntry[],
    readonly args: readonly TextEntry[],
    private readonly extra: ExtraInfoChannel,
    /** Body already known (carried from the request phase), if any. */
    knownBody?: Uint8Array | undefined,
  ) {
    if (knownBody) this.bodyPromise = Promise.resolve(knownBody);
  }

  get srcIp(): string | undefined {
    if (this.ip === null) this.ip = formatIp(this.srcIpBytes);
    return this.ip;
  }

  header(name: string): string | undefined {
    return findHeader(this.headers, name.toLowerCase());
  }

  variable(name: string): Promise<string | undefined> {
    this.vars ??= new Map();
    let p = this.vars.get(name);
    if (!p) {
      p = this.extra.ask({ type: 'var', name }).then((r) => (r.result ? decoder.decode(r.result) : undefined));
      this.vars.set(name, p);
    }
    return p;
  }

  body(): Promise<Uint8Array | undefined> {
    this.bodyPromise ??= this.extra.ask({ type: 'reqBody' }).then((r) => r.result);
    return this.bodyPromise;
  }
}

/** The upstream's answer; the body is asked at most once (a second RespBody read fails in APISIX). */
export class ResponseView implements HttpResponseView {
  private bodyPromise: Promise<Uint8Array | undefined> | undefined;

  constructor(
    readonly status: number,
    readonly headers: readonly TextEntry[],
    private readonly extra: ExtraInfoChannel,
  ) {}

  header(name: string): string | undefined {
    return findHeader(this.headers, name.toLowerCase());
  }

  get bodyFetched(): boolean {
    return this.bodyPromise !== undefined;
  }

  body(): Promise<Uint8Array | undefined> {
    this.bodyPromise ??= this.extra.ask({ type: 'respBody' }).then((r) => r.result);
    return this.bodyPromise;
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
