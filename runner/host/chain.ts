// The host: compiles a route's ext-plugin conf into a chain of prepared plugins, runs the
// chain for each call in conf order, and turns what the plugins decided into one answer.
// It knows the plugin contract and nothing about FlatBuffers (the protocol layer encodes).

import type { CallHost, ExtraInfoChannel } from '../protocol/handler.js';
import type {
  HTTPReqCallReq,
  HTTPReqCallResp,
  HTTPRespCallReq,
  HTTPRespCallResp,
  RewriteAction,
  StopAction,
  TextEntry,
} from '../protocol/messages.js';
import { JsonRpcErrorCode, type JsonRpcId } from '../mcp/types.js';
import { jsonRpcErrorBody } from '../mcp/errors.js';
import { requestIdsOf, serializeRequestBody } from '../mcp/parse.js';
import { serializeResponseBody } from '../mcp/response.js';
import { log } from '../log.js';
import { CallContextImpl, RequestView, ResponseView, StopError, randomHex16, type CarriedCall } from './context.js';
import type { Outcome, PhaseResult, Plugin, RouteSettings, StopOutcome } from './plugin.js';
import { formatConfErrors, type PluginRegistry } from './registry.js';
import { RunnerState } from './state.js';

/** Header the host adds upstream to tie the response phase to the request phase of one call. */
export const CALL_HEADER = 'x-mcp-gateway-call';
/** The APISIX variable under which the response phase reads CALL_HEADER back. */
export const CALL_VAR = 'http_x_mcp_gateway_call';
/** The route-settings entry of a conf list; handled here, not a plugin. */
export const ROUTE_ENTRY = 'mcp-route';

const DEFAULT_MAX_BODY = 8 * 1024 * 1024;

interface ChainEntry {
  readonly name: string;
  readonly plugin: Plugin<unknown, unknown>;
  prepared: unknown;
  /** Set while an async prepare() is running. */
  pending: Promise<unknown> | undefined;
  error: string | undefined;
}

export interface CompiledChain {
  readonly key: string;
  readonly entries: readonly ChainEntry[];
  readonly route: RouteSettings;
  /** Conf error: the route fails closed at call time (docs/ext-plugin-protocol.md §4.1.5). */
  readonly error: string | undefined;
  readonly hasResponseHandlers: boolean;
  readonly checksResponsePhase: boolean;
}

export interface HostOptions {
  registry: PluginRegistry;
  /** The runner's state handed to every prepare (default: a fresh one this host owns). */
  state?: RunnerState;
  /** How long request-phase state waits for its response phase (ms). */
  carryTtlMs?: number;
  maxCarried?: number;
  /** Prefix of this process's carry keys: a multi-process runner names the owning process in it. */
  carryKeyPrefix?: string;
}

/** Bounded, expiring store of request-phase state awaiting the response phase. */
class CarryStore {
  private readonly map = new Map<string, { call: CarriedRequest; expires: number }>();
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly ttlMs: number, private readonly max: number) {
    this.timer = setInterval(() => this.sweep(), Math.min(ttlMs, 10_000));
    this.timer.unref();
  }

  put(key: string, call: CarriedRequest): void {
    if (this.map.size >= this.max) {
      const oldest = this.map.keys().next();
      if (!oldest.done) this.map.delete(oldest.value);
    }
    this.map.set(key, { call, expires: Date.now() + this.ttlMs });
  }

  take(key: string): CarriedRequest | undefined {
    const e = this.map.get(key);
    if (!e) return undefined;
    this.map.delete(key);
    return e.expires >= Date.now() ? e.call : undefined;
  }

  get size(): number {
    return this.map.size;
  }

  private sweep(): void {
    const now = Date.now();
    for (const [k, e] of this.map) if (e.expires < now) this.map.delete(k);
  }

  close(): void {
    clearInterval(this.timer);
    this.map.clear();
  }
}

interface CarriedRequest extends CarriedCall {
  request: HTTPReqCallReq;
  body: Uint8Array | undefined;
}

const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'transfer-encoding', 'te', 'trailer', 'upgrade',
  'proxy-authenticate', 'proxy-authorization', 'proxy-connection', 'content-length',
]);

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class Host implements CallHost<CompiledChain> {
  private readonly registry: PluginRegistry;
  /** Runner-wide state of this host's plugins (policies, caches, stores). */
  readonly state: RunnerState;
  private readonly carried: CarryStore;
  /** Chains by conf content, so a route's new version with the same conf reuses prepared state. */
  private readonly byContent = new Map<string, CompiledChain>();
  private errorLogBudget = { windowStart: 0, count: 0 };
  private readonly carryKeyPrefix: string;

  constructor(opts: HostOptions) {
    this.registry = opts.registry;
    this.state = opts.state ?? new RunnerState();
    this.carried = new CarryStore(opts.carryTtlMs ?? 120_000, opts.maxCarried ?? 100_000);
    this.carryKeyPrefix = opts.carryKeyPrefix ?? '';
  }

  get carriedCalls(): number {
    return this.carried.size;
  }

  buildChain(conf: readonly TextEntry[], key: string): CompiledChain {
    // Unambiguous key (no separator a conf value could contain): the whole list as JSON.
    const contentKey = JSON.stringify(conf.map((e) => [e.name, e.value ?? null]));
    const cached = this.byContent.get(contentKey);
    if (cached) {
      // refresh LRU position
      this.byContent.delete(contentKey);
      this.byContent.set(contentKey, cached);
      // Same prepared plugins, but each route keeps its own key (audit and metrics name it).
      return cached.key === key ? cached : { ...cached, key };
    }
    const chain = this.compile(conf, key);
    if (this.byContent.size >= 512) {
      const oldest = this.byContent.keys().next();
      if (!oldest.done) this.byContent.delete(oldest.value);
    }
    this.byContent.set(contentKey, chain);
    return chain;
  }

  private compile(conf: readonly TextEntry[], key: string): CompiledChain {
    const names = conf.map((e) => e.name);
    const entries: ChainEntry[] = [];
    const errors: string[] = [];
    let route: RouteSettings = { server: undefined, postResp: false, maxBodyBytes: DEFAULT_MAX_BODY, validateBody: false };
    for (const item of conf) {
      let value: unknown;
      try {
        value = item.value === undefined || item.value === '' ? {} : JSON.parse(item.value);
      } catch (err) {
        errors.push(`${item.name}: conf value is not JSON (${(err as Error).message})`);
        continue;
      }
      if (item.name === ROUTE_ENTRY) {
        const parsed = parseRouteSettings(value);
        if (typeof parsed === 'string') errors.push(parsed);
        else route = parsed;
        continue;
      }
      const reg = this.registry.get(item.name);
      if (!reg) {
        errors.push(`${item.name}: unknown plugin (known: ${[ROUTE_ENTRY, ...this.registry.names()].join(', ')})`);
        continue;
      }
      if (!reg.validate(value)) {
        errors.push(formatConfErrors(item.name, reg.validate.errors));
        continue;
      }
      const entry: ChainEntry = { name: item.name, plugin: reg.plugin, prepared: value, pending: undefined, error: undefined };
      if (reg.plugin.prepare) {
        try {
          const p = reg.plugin.prepare(value, { routeKey: key, chain: names.filter((n) => n !== ROUTE_ENTRY), state: this.state });
          if (isPromise(p)) {
            entry.pending = p.then(
              (v) => {
                entry.prepared = v;
                entry.pending = undefined;
                return v;
              },
              (err: unknown) => {
                entry.error = `${item.name}: ${(err as Error).message}`;
                entry.pending = undefined;
                log.error({ route: key, plugin: item.name, err: (err as Error).message }, 'plugin conf rejected');
                throw err;
              },
            );
            entry.pending.catch(() => undefined);
          } else {
            entry.prepared = p;
          }
        } catch (err) {
          errors.push(`${item.name}: ${(err as Error).message}`);
          continue;
        }
      }
      entries.push(entry);
    }
    const error = errors.length > 0 ? errors.join('; ') : undefined;
    if (error) log.error({ route: key, error }, 'route conf rejected: calls on this route fail closed');
    return {
      key,
      entries,
      route,
      error,
      hasResponseHandlers: entries.some((e) => e.plugin.onResponse !== undefined),
      checksResponsePhase: entries.some((e) => e.plugin.needsResponsePhase !== undefined),
    };
  }

  async onRequest(chain: CompiledChain, call: HTTPReqCallReq, extra: ExtraInfoChannel, deadline: number): Promise<HTTPReqCallResp> {
    if (chain.entries.length === 0 && chain.error === undefined && !chain.route.validateBody) return { id: call.id, action: undefined };
    const startedAt = performance.now();
    const request = new RequestView(call.method, call.path, call.srcIp, call.headers, call.args, extra);
    const ctx = new CallContextImpl('request', chain.key, chain.route, request, undefined, startedAt);
    let stop: StopOutcome | undefined;
    let stoppedBy: string | undefined;
    let failed = false;
    try {
      const r = await withDeadline(this.runRequestChain(chain, ctx), deadline);
      if (r) {
        stop = r.outcome;
        stoppedBy = r.by;
      }
    } catch (err) {
      if (err instanceof StopError) {
        stop = err.outcome;
      } else {
        failed = true;
        stop = this.internalError(chain, ctx, err);
      }
    }

    let answer: HTTPReqCallResp;
    let outcome: PhaseResult['outcome'];
    if (stop) {
      answer = { id: call.id, action: await this.stopAction(ctx, stop) };
      outcome = failed ? 'error' : 'stop';
    } else {
      const rewrite =
        ctx.bodyModified || (chain.route.postResp && chain.hasResponseHandlers)
          ? await this.rewriteAction(chain, ctx, call, request)
          : headerRewrite(ctx, [], undefined);
      answer = { id: call.id, action: rewrite };
      outcome = rewrite ? 'rewrite' : 'pass';
    }
    ctx.finish(
      {
        phase: 'request',
        outcome,
        status: stop?.status,
        rpcErrorCode: stop?.rpcError?.code,
        stoppedBy,
        durationMs: performance.now() - startedAt,
      },
      (err) => this.logError(chain.key, 'onDone listener failed', err),
    );
    return answer;
  }

  private async runRequestChain(chain: CompiledChain, ctx: CallContextImpl): Promise<{ outcome: StopOutcome; by: string } | undefined> {
    if (chain.error !== undefined) throw new StopError(misconfigured());
    // Strict routes refuse malformed JSON-RPC before it reaches the server, whatever the plugins read.
    if (chain.route.validateBody) await ctx.mcp();
    for (const entry of chain.entries) {
      const prepared = isReady(entry) ? entry.prepared : await ready(entry);
      const handler = entry.plugin.onRequest;
      if (!handler) continue;
      let r: Outcome | Promise<Outcome> = handler.call(entry.plugin, ctx, prepared);
      if (isPromise(r)) r = await r;
      if (r && r.action === 'stop') return { outcome: r, by: entry.name };
    }
    // A fast route (no post-resp) must not carry a call whose answer policy has to read:
    // a crafted body could otherwise skip list filtering or result redaction.
    if (!chain.route.postResp && chain.checksResponsePhase) {
      const needer = await this.responsePhaseNeededBy(chain, ctx);
      if (needer) {
        ctx.record({ plugin: needer, action: 'deny', rule: 'needs-response-phase', reason: 'call needs response processing; route has no post-resp' });
        return {
          by: needer,
          outcome: {
            action: 'stop',
            status: 403,
            rpcError: {
              code: JsonRpcErrorCode.Forbidden,
              message: 'this call needs response processing and is not allowed on this route',
              data: { rule: 'needs-response-phase', plugin: needer },
            },
          },
        };
      }
    }
    return undefined;
  }

  /** The first plugin that needs the response phase for this call, if any. */
  private async responsePhaseNeededBy(chain: CompiledChain, ctx: CallContextImpl): Promise<string | undefined> {
    for (const entry of chain.entries) {
      const check = entry.plugin.needsResponsePhase;
      if (!check) continue;
      let needs: boolean | Promise<boolean> = check.call(entry.plugin, ctx, isReady(entry) ? entry.prepared : await ready(entry));
      if (isPromise(needs)) needs = await needs;
      if (needs) return entry.name;
    }
    return undefined;
  }

  /**
   * Would this call need the response phase? The same check the fast route applies at run
   * time, for tools (the route layout command) that decide which calls may take a fast route.
   */
  async needsResponsePhase(chain: CompiledChain, call: HTTPReqCallReq, extra: ExtraInfoChannel): Promise<string | undefined> {
    const request = new RequestView(call.method, call.path, call.srcIp, call.headers, call.args, extra);
    const ctx = new CallContextImpl('request', chain.key, chain.route, request, undefined, performance.now());
    return this.responsePhaseNeededBy(chain, ctx);
  }

  private async rewriteAction(chain: CompiledChain, ctx: CallContextImpl, call: HTTPReqCallReq, request: RequestView): Promise<RewriteAction | undefined> {
    let body: Uint8Array | undefined;
    if (ctx.bodyModified) {
      const parsed = await ctx.mcp();
      if (parsed.ok) body = serializeRequestBody(parsed);
    }
    const headers: TextEntry[] = [];
    if (chain.route.postResp && chain.hasResponseHandlers) {
      const carryKey = this.carryKeyPrefix + randomHex16();
      this.carried.put(carryKey, {
        callId: ctx.callId,
        identity: ctx.identity,
        decisions: ctx.decisions,
        carry: ctx.carry,
        parsed: ctx.mcpParsed,
        startedAt: ctx.startedAt,
        request: call,
        body: body ?? (ctx.mcpParsed ? await request.body() : undefined),
      });
      headers.push({ name: CALL_HEADER, value: carryKey });
      // Answers we may read must arrive uncompressed (APISIX does not decompress).
      if (!ctx.hasEdits || !ctx.edits.upstream.has('accept-encoding')) headers.push({ name: 'accept-encoding', value: undefined });
    }
    return headerRewrite(ctx, headers, body);
  }

  private async stopAction(ctx: CallContextImpl, stop: StopOutcome): Promise<StopAction> {
    const headers: TextEntry[] = [];
    let body: Uint8Array | undefined;
    if (stop.rpcError) {
      const { ids, batch } = await this.replyIds(ctx, stop);
      body = jsonRpcErrorBody(ids, batch, stop.rpcError);
      headers.push({ name: 'content-type', value: 'application/json' });
    } else if (stop.body !== undefined) {
      body = typeof stop.body === 'string' ? encoder.encode(stop.body) : stop.body;
    }
    pushHeaders(headers, stop.headers);
    return { type: 'stop', status: stop.status, headers, body: body && body.length > 0 ? body : undefined };
  }

  /** The ids an error reply must carry: every request's id, or null when unknown. */
  private async replyIds(ctx: CallContextImpl, stop: StopOutcome): Promise<{ ids: readonly JsonRpcId[]; batch: boolean }> {
    let parsedPromise = ctx.mcpParsed;
    if (!parsedPromise && !stop.ids && ctx.request.method === 'POST') parsedPromise = ctx.mcp();
    let batch = false;
    let ids: readonly JsonRpcId[] = [];
    if (parsedPromise) {
      try {
        const parsed = await parsedPromise;
        if (parsed.ok) {
          batch = parsed.batch;
          ids = requestIdsOf(parsed);
        }
      } catch {
        // unparseable body: answer with id null
      }
    }
    // No id left: jsonRpcErrorBody answers with id null.
    return { ids: stop.ids ?? ids, batch };
  }

  async onResponse(chain: CompiledChain, call: HTTPRespCallReq, extra: ExtraInfoChannel, deadline: number): Promise<HTTPRespCallResp> {
    if ((!chain.hasResponseHandlers && chain.error === undefined) || chain.entries.length === 0) {
      return { id: call.id, status: 0, headers: finalHeaders(call.headers, undefined, false), body: undefined };
    }
    const startedAt = performance.now();
    let ctx: CallContextImpl | undefined;
    let stop: StopOutcome | undefined;
    let stoppedBy: string | undefined;
    let failed = false;
    try {
      const r = await withDeadline(
        (async () => {
          if (chain.error !== undefined) throw new StopError(misconfigured());
          ctx = await this.responseContext(chain, call, extra, startedAt);
          return this.runResponseChain(chain, ctx);
        })(),
        deadline,
      );
      if (r) {
        stop = r.outcome;
        stoppedBy = r.by;
      }
    } catch (err) {
      if (err instanceof StopError) stop = err.outcome;
      else {
        failed = true;
        stop = this.internalError(chain, ctx, err);
      }
    }

    let answer: HTTPRespCallResp;
    if (stop) {
      answer = await this.replaceResponse(ctx, call, stop);
    } else {
      const c = ctx!;
      let body: Uint8Array | undefined;
      if (c.responseBodyModified) {
        const parsed = await c.mcpResponse();
        if (parsed) body = serializeResponseBody(parsed);
      }
      answer = { id: call.id, status: c.responseStatus, headers: finalHeaders(call.headers, c.edits.upstream, body !== undefined), body };
    }
    ctx?.finish(
      {
        phase: 'response',
        outcome: stop ? (failed ? 'error' : 'stop') : answer.body ? 'rewrite' : 'pass',
        status: answer.status || call.status,
        rpcErrorCode: stop?.rpcError?.code,
        stoppedBy,
        durationMs: performance.now() - startedAt,
      },
      (err) => this.logError(chain.key, 'onDone listener failed', err),
    );
    return answer;
  }

  private async responseContext(chain: CompiledChain, call: HTTPRespCallReq, extra: ExtraInfoChannel, now: number): Promise<CallContextImpl> {
    const carryKey = (await extra.ask({ type: 'var', name: CALL_VAR })).result;
    const carried = carryKey ? this.carried.take(decoder.decode(carryKey)) : undefined;
    let request: RequestView;
    if (carried) {
      const r = carried.request;
      request = new RequestView(r.method, r.path, r.srcIp, r.headers, r.args, extra, carried.body);
    } else {
      // No request phase on this route (or it expired): describe the request from variables.
      const [method, uri] = await Promise.all([
        extra.ask({ type: 'var', name: 'request_method' }),
        extra.ask({ type: 'var', name: 'uri' }),
      ]);
      const dec = decoder;
      request = new RequestView(method.result ? dec.decode(method.result) : 'POST', uri.result ? dec.decode(uri.result) : '/', undefined, [], [], extra);
    }
    const response = new ResponseView(call.status, call.headers, extra);
    return new CallContextImpl('response', chain.key, chain.route, request, response, carried ? carried.startedAt : now, carried);
  }

  private async runResponseChain(chain: CompiledChain, ctx: CallContextImpl): Promise<{ outcome: StopOutcome; by: string } | undefined> {
    for (const entry of chain.entries) {
      const check = entry.plugin.needsResponseBody;
      if (!check) continue;
      const prepared = isReady(entry) ? entry.prepared : await ready(entry);
      let needs: boolean | Promise<boolean> = check.call(entry.plugin, ctx, prepared);
      if (isPromise(needs)) needs = await needs;
      if (needs) {
        ctx.responseBodyAllowed = true;
        break;
      }
    }
    for (const entry of chain.entries) {
      const prepared = isReady(entry) ? entry.prepared : await ready(entry);
      const handler = entry.plugin.onResponse;
      if (!handler) continue;
      let r: Outcome | Promise<Outcome> = handler.call(entry.plugin, ctx, prepared);
      if (isPromise(r)) r = await r;
      if (r && r.action === 'stop') return { outcome: r, by: entry.name };
    }
    return undefined;
  }

  /** A plugin refused the answer: the client gets our error instead of the upstream body. */
  private async replaceResponse(ctx: CallContextImpl | undefined, call: HTTPRespCallReq, stop: StopOutcome): Promise<HTTPRespCallResp> {
    const headers: TextEntry[] = [];
    for (const h of call.headers) {
      const lower = h.name.toLowerCase();
      if (HOP_BY_HOP.has(lower) || lower === 'content-type' || lower === 'content-encoding') continue;
      headers.push(h);
    }
    let body: Uint8Array;
    if (stop.rpcError) {
      let ids: readonly JsonRpcId[] = stop.ids ?? [];
      let batch = false;
      if (!stop.ids && ctx) {
        const r = await this.replyIds(ctx, stop);
        ids = r.ids;
        batch = r.batch;
      }
      body = jsonRpcErrorBody(ids, batch, stop.rpcError);
      headers.push({ name: 'content-type', value: 'application/json' });
    } else {
      body = typeof stop.body === 'string' ? encoder.encode(stop.body) : (stop.body ?? encoder.encode('{}'));
    }
    pushHeaders(headers, stop.headers);
    // An empty body cannot be expressed (it would stream the upstream body): send at least one byte.
    if (body.length === 0) body = encoder.encode('{}');
    return { id: call.id, status: stop.status, headers, body };
  }

  private internalError(chain: CompiledChain, ctx: CallContextImpl | undefined, err: unknown): StopOutcome {
    if (err instanceof DeadlineError) {
      ctx?.record({ plugin: 'host', action: 'error', rule: 'deadline', reason: 'call exceeded its deadline' });
      return { action: 'stop', status: 504, rpcError: { code: JsonRpcErrorCode.GatewayUnavailable, message: 'gateway policy check timed out' } };
    }
    this.logError(chain.key, 'plugin failed', err);
    ctx?.record({ plugin: 'host', action: 'error', reason: 'plugin failed' });
    return { action: 'stop', status: 500, rpcError: { code: JsonRpcErrorCode.InternalError, message: 'gateway policy error' } };
  }

  private logError(route: string, msg: string, err: unknown): void {
    // At most 20 lines a second: a hostile request pattern must not flood the log.
    const now = Date.now();
    if (now - this.errorLogBudget.windowStart > 1000) this.errorLogBudget = { windowStart: now, count: 0 };
    if (++this.errorLogBudget.count > 20) return;
    log.error({ route, err: err instanceof Error ? { message: err.message, stack: err.stack } : String(err) }, msg);
  }

  async shutdown(): Promise<void> {
    this.carried.close();
    const seen = new Set<Plugin<unknown, unknown>>();
    for (const reg of this.registry.all()) {
      if (seen.has(reg.plugin) || !reg.plugin.shutdown) continue;
      seen.add(reg.plugin);
      try {
        await reg.plugin.shutdown(this.state);
      } catch (err) {
        log.error({ plugin: reg.plugin.name, err: (err as Error).message }, 'plugin shutdown failed');
      }
    }
    await this.state.close().catch((err: unknown) => log.error({ err: (err as Error).message }, 'runner state close failed'));
  }
}

/** The rewrite answer from the plugins' header edits (synchronous: most calls need nothing else). */
function headerRewrite(ctx: CallContextImpl, headers: TextEntry[], body: Uint8Array | undefined): RewriteAction | undefined {
  if (!ctx.hasEdits) return headers.length === 0 && !body ? undefined : { type: 'rewrite', path: undefined, headers, args: [], respHeaders: [], body };
  const edits = ctx.edits;
  for (const [name, value] of edits.upstream) {
    if (name === CALL_HEADER) continue;
    headers.push({ name, value });
  }
  if (headers.length === 0 && edits.clientAdds.length === 0 && !body) return undefined;
  return { type: 'rewrite', path: undefined, headers, args: [], respHeaders: edits.clientAdds, body };
}

function misconfigured(): StopOutcome {
  return {
    action: 'stop',
    status: 500,
    rpcError: { code: JsonRpcErrorCode.InternalError, message: 'gateway route is misconfigured (see the runner log)' },
  };
}

function parseRouteSettings(value: unknown): RouteSettings | string {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return `${ROUTE_ENTRY}: conf must be an object`;
  const v = value as Record<string, unknown>;
  for (const k of Object.keys(v)) {
    if (!ROUTE_KEYS.has(k)) return `${ROUTE_ENTRY}: /${k} is not a known setting (${[...ROUTE_KEYS].join(', ')})`;
  }
  if (v['server'] !== undefined && (typeof v['server'] !== 'string' || v['server'] === '')) return `${ROUTE_ENTRY}: /server must be a non-empty string`;
  for (const flag of ['post_resp', 'validate_body']) {
    if (v[flag] !== undefined && typeof v[flag] !== 'boolean') return `${ROUTE_ENTRY}: /${flag} must be boolean`;
  }
  const max = v['max_body_bytes'];
  if (max !== undefined && (typeof max !== 'number' || !Number.isInteger(max) || max < 1 || max > 16_000_000)) {
    return `${ROUTE_ENTRY}: /max_body_bytes must be an integer from 1 to 16000000`;
  }
  return {
    server: v['server'] as string | undefined,
    postResp: (v['post_resp'] as boolean | undefined) ?? false,
    maxBodyBytes: (max as number | undefined) ?? DEFAULT_MAX_BODY,
    validateBody: (v['validate_body'] as boolean | undefined) ?? false,
  };
}

const ROUTE_KEYS = new Set(['server', 'post_resp', 'max_body_bytes', 'validate_body']);

/** Upstream headers as the client should get them: APISIX replaces all headers with this list. */
export function finalHeaders(upstream: readonly TextEntry[], edits: ReadonlyMap<string, string | undefined> | undefined, bodyReplaced: boolean): TextEntry[] {
  const out: TextEntry[] = [];
  for (const h of upstream) {
    const lower = h.name.toLowerCase();
    if (HOP_BY_HOP.has(lower)) continue;
    if (bodyReplaced && lower === 'content-encoding') continue;
    if (edits && edits.has(lower)) continue;
    out.push(h);
  }
  if (edits) for (const [name, value] of edits) if (value !== undefined) out.push({ name, value });
  return out;
}

function pushHeaders(out: TextEntry[], headers: StopOutcome['headers']): void {
  if (!headers) return;
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase();
    if (typeof value === 'string') {
      const i = out.findIndex((h) => h.name === lower);
      if (i >= 0) out.splice(i, 1);
      out.push({ name: lower, value });
    } else {
      for (const v of value) out.push({ name: lower, value: v });
    }
  }
}

function isPromise<T>(v: T | Promise<T>): v is Promise<T> {
  return typeof (v as { then?: unknown } | null | undefined)?.then === 'function';
}

/** Prepared and usable: the per-call path then skips the await (one microtask less per plugin). */
function isReady(entry: ChainEntry): boolean {
  return entry.pending === undefined && entry.error === undefined;
}

async function ready(entry: ChainEntry): Promise<unknown> {
  if (entry.pending) await entry.pending;
  if (entry.error !== undefined) throw new StopError(misconfigured());
  return entry.prepared;
}

class DeadlineError extends Error {}

/**
 * Deadlines of all calls in flight behind one timer, armed for the earliest one: a call costs
 * a Set insert and delete instead of a setTimeout/clearTimeout pair.
 */
class Deadlines {
  private readonly waiting = new Set<{ deadline: number; reject: (e: unknown) => void }>();
  private timer: NodeJS.Timeout | undefined;
  private armedFor = Infinity;

  race<T>(work: Promise<T>, deadline: number): Promise<T> {
    if (deadline - Date.now() <= 0) return Promise.reject(new DeadlineError('deadline passed'));
    return new Promise<T>((resolve, reject) => {
      const waiter = { deadline, reject };
      if (this.waiting.size === 0) this.timer?.ref();
      this.waiting.add(waiter);
      if (deadline < this.armedFor) this.arm(deadline);
      work.then(
        (v) => {
          this.done(waiter);
          resolve(v);
        },
        (e: unknown) => {
          this.done(waiter);
          reject(e);
        },
      );
    });
  }

  private done(waiter: { deadline: number; reject: (e: unknown) => void }): void {
    this.waiting.delete(waiter);
    // Nothing in flight: the timer must not keep the process alive (it stays armed, cheaply).
    if (this.waiting.size === 0) this.timer?.unref();
  }

  private arm(at: number): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.armedFor = at;
    this.timer = setTimeout(this.fire, Math.max(0, at - Date.now()));
  }

  private readonly fire = (): void => {
    this.timer = undefined;
    this.armedFor = Infinity;
    const now = Date.now();
    let next = Infinity;
    for (const w of this.waiting) {
      if (w.deadline <= now) {
        this.waiting.delete(w);
        w.reject(new DeadlineError('deadline passed'));
      } else if (w.deadline < next) next = w.deadline;
    }
    if (next !== Infinity) this.arm(next);
    else this.timer = undefined;
  };
}

const deadlines = new Deadlines();

function withDeadline<T>(work: Promise<T>, deadline: number): Promise<T> {
  return deadlines.race(work, deadline);
}
