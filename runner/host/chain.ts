// The host: compiles a route's ext-plugin conf into a chain of prepared plugins, runs the
// chain for each call in conf order, and turns what the plugins decided into one answer.
// It knows the plugin contract and nothing about FlatBuffers (the protocol layer encodes).

import type { CallHost, ExtraInfoChannel } from '../protocol/handler.js';
import type { HTTPReqCallReq, HTTPReqCallResp, HTTPRespCallReq, HTTPRespCallResp, RewriteAction, TextEntry } from '../protocol/messages.js';
import { serializeRequestBody } from '../mcp/parse.js';
import { serializeResponseBody } from '../mcp/response.js';
import { log } from '../log.js';
import { defaultRegistry } from '../observability/metrics.js';
import { CallContextImpl, RequestView, ResponseView, StopError, randomHex16 } from './context.js';
import { carryFull, carryLost, deadlinePassed, finalHeaders, headerRewrite, fastRouteRefusal, misconfigured, pluginFailed, replaceResponse, stopAction } from './answers.js';
import { CALL_HEADER, CALL_VAR, CarryStore, DEFAULT_CARRY_TTL_MS, DEFAULT_MAX_CARRIED, DEFAULT_MAX_CARRIED_BYTES, type CarriedRequest, type CarryLimits } from './carry.js';
import { DeadlineError, withDeadline } from './deadlines.js';
import { chainEntry, isPromiseLike, isReady, ready, type ChainEntry } from './prepare.js';
import { resumptionCheck } from './resumption.js';
import { DEFAULT_ROUTE_SETTINGS, ROUTE_ENTRY, routeSettingsParser } from './route-settings.js';
import { mapRefusal } from './answer-map.js';
import type { Outcome, PhaseResult, Plugin, RouteSettings, StopOutcome } from './plugin.js';
import { formatConfErrors, type PluginRegistry } from './registry.js';
import { enforceRoutingHeaders } from './header-agreement.js';
import { RunnerState } from './state.js';

export { CALL_HEADER } from './carry.js';
export { ROUTE_ENTRY } from './route-settings.js';
export { finalHeaders } from './answers.js';

/** Why the host withheld an answer or refused a call on its own account (a metric label). */
const carryFailures = defaultRegistry.counter({
  name: 'mcp_runner_carry_failures_total',
  help: 'Calls the host failed closed for want of carried request state: lost (answer withheld) or full (call refused)',
  labelNames: ['reason'],
});

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
  /** Limits of the request-phase state awaiting the response phase (see carry.ts). */
  carry?: Partial<CarryLimits>;
  /** Prefix of this process's carry keys: a multi-process runner names the owning process in it. */
  carryKeyPrefix?: string;
}

const decoder = new TextDecoder();
/** rewriteAction's answer when the call needs a carry and the store is full. */
const CARRY_FULL = Symbol('carry-full');

export class Host implements CallHost<CompiledChain> {
  private readonly registry: PluginRegistry;
  /** Runner-wide state of this host's plugins (policies, caches, stores). */
  readonly state: RunnerState;
  private readonly carried: CarryStore;
  private readonly carryKeyPrefix: string;
  private readonly parseRoute: (value: unknown) => RouteSettings | string;
  /** Chains by conf content, so a route's new version with the same conf reuses prepared state. */
  private readonly byContent = new Map<string, CompiledChain>();
  private errorLogBudget = { windowStart: 0, count: 0 };

  constructor(opts: HostOptions) {
    this.registry = opts.registry;
    this.state = opts.state ?? new RunnerState();
    this.carried = new CarryStore({
      ttlMs: opts.carry?.ttlMs ?? DEFAULT_CARRY_TTL_MS,
      maxEntries: opts.carry?.maxEntries ?? DEFAULT_MAX_CARRIED,
      maxBytes: opts.carry?.maxBytes ?? DEFAULT_MAX_CARRIED_BYTES,
    });
    this.parseRoute = routeSettingsParser(opts.registry);
    this.carryKeyPrefix = opts.carryKeyPrefix ?? '';
  }

  get carriedCalls(): number {
    return this.carried.size;
  }

  get carriedBytes(): number {
    return this.carried.bytes;
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
    const env = { routeKey: key, chain: conf.map((e) => e.name).filter((n) => n !== ROUTE_ENTRY), state: this.state };
    const entries: ChainEntry[] = [];
    const errors: string[] = [];
    let route: RouteSettings = DEFAULT_ROUTE_SETTINGS;
    for (const item of conf) {
      let value: unknown;
      try {
        value = item.value === undefined || item.value === '' ? {} : JSON.parse(item.value);
      } catch (err) {
        errors.push(`${item.name}: conf value is not JSON (${(err as Error).message})`);
        continue;
      }
      if (item.name === ROUTE_ENTRY) {
        const parsed = this.parseRoute(value);
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
      // A failed prepare is not a conf error: the entry retries it (a secret or file may appear).
      entries.push(chainEntry(item.name, reg.plugin, value, env));
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
      // Only a POST carries JSON-RPC requests a 200 error can answer; a GET stream or a DELETE keeps its HTTP status.
      if (ctx.request.method === 'POST') stop = mapRefusal(stop, chain.route.answers, stoppedBy);
      answer = { id: call.id, action: await stopAction(ctx, stop) };
      outcome = failed ? 'error' : 'stop';
    } else {
      const rewrite =
        ctx.bodyModified || (chain.route.postResp && chain.hasResponseHandlers)
          ? await this.rewriteAction(chain, ctx, call, request)
          : headerRewrite(ctx, [], undefined);
      if (rewrite === CARRY_FULL) {
        stop = carryFull();
        carryFailures.inc({ reason: 'full' });
        this.logError(chain.key, 'call refused: the carry store is full', new Error(`${this.carried.size} calls carried`));
        answer = { id: call.id, action: await stopAction(ctx, stop) };
        outcome = 'stop';
      } else {
        answer = { id: call.id, action: rewrite };
        outcome = rewrite ? 'rewrite' : 'pass';
      }
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
      if (isPromiseLike(r)) r = await r;
      if (r && r.action === 'stop') return { outcome: r, by: entry.name };
    }
    const resumption = resumptionCheck(ctx, chain.checksResponsePhase);
    if (resumption) return { by: 'host', outcome: resumption };
    const headerCheck = enforceRoutingHeaders(ctx); if (headerCheck) await headerCheck; // routing headers (2026-07-28) must mirror the body the plugins judged
    // A fast route (no post-resp) must not carry a call whose answer policy has to read:
    // a crafted body could otherwise skip list filtering or result redaction.
    if (!chain.route.postResp && chain.checksResponsePhase) {
      const needer = await this.responsePhaseNeededBy(chain, ctx);
      if (needer) {
        ctx.record({ plugin: needer, action: 'deny', rule: 'needs-response-phase', reason: 'call needs response processing; route has no post-resp' });
        return { by: needer, outcome: fastRouteRefusal(needer) };
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
      if (isPromiseLike(needs)) needs = await needs;
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

  /** The request phase's rewrite; CARRY_FULL when the call needs a carry and the store is full. */
  private async rewriteAction(chain: CompiledChain, ctx: CallContextImpl, call: HTTPReqCallReq, request: RequestView): Promise<RewriteAction | undefined | typeof CARRY_FULL> {
    let body: Uint8Array | undefined;
    if (ctx.bodyModified) {
      const parsed = await ctx.mcp();
      if (parsed.ok) body = serializeRequestBody(parsed);
    }
    const headers: TextEntry[] = [];
    if (chain.route.postResp && chain.hasResponseHandlers) {
      const carryKey = this.carryKeyPrefix + randomHex16();
      const held = this.carried.put(carryKey, {
        callId: ctx.callId,
        identity: ctx.identity,
        decisions: ctx.decisions,
        carry: ctx.carry,
        parsed: ctx.mcpParsed,
        startedAt: ctx.startedAt,
        request: call,
        body: body ?? (ctx.mcpParsed ? await request.body() : undefined),
      });
      // Full: refuse the call rather than drop a live carry (that answer would pass unread).
      if (!held) return CARRY_FULL;
      headers.push({ name: CALL_HEADER, value: carryKey });
      // Answers we may read must arrive uncompressed (APISIX does not decompress).
      if (!ctx.hasEdits || !ctx.edits.upstream.has('accept-encoding')) headers.push({ name: 'accept-encoding', value: undefined });
    }
    return headerRewrite(ctx, headers, body);
  }

  async onResponse(chain: CompiledChain, call: HTTPRespCallReq, extra: ExtraInfoChannel, deadline: number): Promise<HTTPRespCallResp> {
    // A chain with a conf error must fail closed here too, whatever its entries.
    if (chain.error === undefined && !chain.hasResponseHandlers) {
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
      answer = await replaceResponse(ctx, call, stop);
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
    let request: RequestView;
    let carried: CarriedRequest | undefined;
    if (carryKey && carryKey.length > 0) {
      carried = this.carried.take(decoder.decode(carryKey));
      // Our request phase carried this call and its state is gone: running the plugins without
      // identity would skip filtering and redaction decisions, so the answer is withheld.
      if (!carried) {
        carryFailures.inc({ reason: 'lost' });
        this.logError(chain.key, 'answer withheld: no carried request state for this call', new Error('carry lost (expired or runner restarted)'));
        throw new StopError(carryLost());
      }
      const r = carried.request;
      request = new RequestView(r.method, r.path, r.srcIp, r.headers, r.args, extra, carried.body);
    } else {
      // No request phase carried this call (a post-resp-only route): describe it from variables.
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
      if (isPromiseLike(needs)) needs = await needs;
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
      if (isPromiseLike(r)) r = await r;
      if (r && r.action === 'stop') return { outcome: r, by: entry.name };
    }
    return undefined;
  }

  private internalError(chain: CompiledChain, ctx: CallContextImpl | undefined, err: unknown): StopOutcome {
    if (err instanceof DeadlineError) {
      ctx?.record({ plugin: 'host', action: 'error', rule: 'deadline', reason: 'call exceeded its deadline' });
      return deadlinePassed();
    }
    this.logError(chain.key, 'plugin failed', err);
    ctx?.record({ plugin: 'host', action: 'error', reason: 'plugin failed' });
    return pluginFailed();
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
