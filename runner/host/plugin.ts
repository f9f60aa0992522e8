// The plugin contract: a plugin is a name, a JSON Schema for its conf, and phase handlers,
// like an APISIX or Kong plugin. Plugins never see frames or FlatBuffers; they read the
// CallContext and answer with an Outcome. The host (chain.ts) runs them in the route's
// conf order and turns the result into one answer frame.

import type { TextEntry } from '../protocol/messages.js';
import type { JsonRpcError, JsonRpcId, McpRequestBody, McpResponseBody } from '../mcp/types.js';
import type { RunnerState } from './state.js';
import type { AnswerSettings } from './answer-map.js';

/** Who is calling. Filled by mcp-authz (or by another plugin that establishes identity). */
export interface Identity {
  user?: string | undefined;
  app?: string | undefined;
  agent?: string | undefined;
  tenant?: string | undefined;
  environment?: string | undefined;
  roles: string[];
  /** Where the identity came from. */
  source: 'jwt' | 'apisix' | 'header' | 'anonymous';
  /** JWT subject or consumer name. */
  subject?: string | undefined;
  /** Verified claims (JWT) for policy conditions; never logged raw. */
  claims?: Readonly<Record<string, unknown>> | undefined;
}

/** One entry of the append-only decision record that mcp-audit turns into an event. */
export interface DecisionRecord {
  plugin: string;
  /** allow | deny | confirm | limit | redact | credential | error | shadow | filter | pin | ... */
  action: string;
  /** The rule, limit or detector that decided (a stable, reviewable name). */
  rule?: string | undefined;
  reason?: string | undefined;
  /** Index of the batch element this is about, when it concerns one message. */
  messageIndex?: number | undefined;
  /** Small, non-sensitive extra facts (counts, key names, limit values). */
  detail?: Readonly<Record<string, unknown>> | undefined;
}

/** The incoming HTTP request, as APISIX described it. Lookups are lazy and cached per call. */
export interface HttpRequestView {
  readonly method: string;
  /** Path as APISIX sent it (decoded $uri, or the encoded $upstream_uri path). */
  readonly path: string;
  /** Dotted IPv4 or IPv6 text; undefined when unknown. */
  readonly srcIp: string | undefined;
  /** Lower-cased names (APISIX lower-cases them), one entry per value. */
  readonly headers: readonly TextEntry[];
  readonly args: readonly TextEntry[];
  /** First value of a header (name is case-insensitive). */
  header(name: string): string | undefined;
  /** APISIX variable through ExtraInfo Var (one round trip, cached per call). */
  variable(name: string): Promise<string | undefined>;
  /** Raw request body through ExtraInfo ReqBody (one round trip, cached). */
  body(): Promise<Uint8Array | undefined>;
}

/** The upstream's answer (response phase only). */
export interface HttpResponseView {
  readonly status: number;
  /** Upstream header names in their original case. */
  readonly headers: readonly TextEntry[];
  header(name: string): string | undefined;
  /**
   * The whole upstream body through ExtraInfo RespBody. Asked at most once per call and
   * only when some plugin's needsResponseBody() said yes: it holds back SSE in APISIX.
   */
  body(): Promise<Uint8Array | undefined>;
}

/** Changes to the request that go upstream (request phase). Later writes win. */
export interface RequestMutations {
  setHeader(name: string, value: string): void;
  deleteHeader(name: string): void;
  /** Add a header to the client's response (vital names are ignored by APISIX). */
  addResponseHeader(name: string, value: string): void;
  /** Mark the parsed MCP body as modified: the host re-serialises it once, after the chain. */
  markBodyModified(): void;
}

/** Changes to the response that goes to the client (response phase). */
export interface ResponseMutations {
  setStatus(status: number): void;
  setHeader(name: string, value: string): void;
  deleteHeader(name: string): void;
  /** Mark the parsed response (mcpResponse()) as modified: re-serialised once by the host. */
  markBodyModified(): void;
}

/**
 * Route-level settings, from the optional `mcp-route` entry of the route's ext-plugin conf
 * (the host handles it; it is not a plugin with handlers).
 */
export interface RouteSettings {
  /** The MCP server behind this route (policies and limits per server use it). */
  readonly server: string | undefined;
  /**
   * Whether this route also has ext-plugin-post-resp. When false (a "fast route"), a call that
   * needs the response phase (list filtering, result redaction, ...) is refused.
   */
  readonly postResp: boolean;
  /** Largest request body the runner will fetch and parse (bytes). */
  readonly maxBodyBytes: number;
  /** Parse and validate every POST body as JSON-RPC even when no plugin reads it. */
  readonly validateBody: boolean;
  /**
   * Pass requests carrying Last-Event-ID (SSE resumption): the server replays answers the
   * plugins never read. When false they are refused on chains that may read answers.
   */
  readonly allowResumption: boolean;
  /** How denials, limits and confirmation requests are answered (runner/host/answer-map.ts). */
  readonly answers: AnswerSettings;
}

/** Per-HTTP-call context shared by the plugins of one chain. */
export interface CallContext {
  readonly phase: 'request' | 'response';
  /** The PrepareConf key of the route (opaque). */
  readonly routeKey: string;
  readonly route: RouteSettings;
  /** A correlation id for this HTTP call (W3C trace id when the client sent traceparent). */
  readonly callId: string;
  readonly request: HttpRequestView;
  /** Set in the response phase only. */
  readonly response: HttpResponseView | undefined;
  /** The request body parsed once into MCP messages; mutate `raw` + markBodyModified to rewrite. */
  mcp(): Promise<McpRequestBody>;
  /** The upstream body parsed once (JSON or SSE); undefined when not JSON/SSE or not fetched. */
  mcpResponse(): Promise<McpResponseBody | undefined>;
  /** Set by the identity plugin; read by the others. Carried to the response phase. */
  identity: Identity | undefined;
  /** Append-only record of what the plugins decided. */
  readonly decisions: DecisionRecord[];
  record(decision: DecisionRecord): void;
  readonly requestMutations: RequestMutations;
  readonly responseMutations: ResponseMutations;
  /**
   * Per-plugin state carried from the request phase to the response phase of the same HTTP
   * call (when the route has post-resp). Keys are plugin names by convention.
   */
  readonly carry: Map<string, unknown>;
  /** Called once the whole chain of this phase has finished, with the answer given. */
  onDone(listener: (result: PhaseResult) => void): void;
  /** High-resolution start of this HTTP call (ms, performance.now() clock). */
  readonly startedAt: number;
}

/** What the host answered for a phase, given to onDone listeners (for audit, metrics, slots). */
export interface PhaseResult {
  phase: 'request' | 'response';
  /** 'pass' (request continues / response unchanged), 'rewrite', 'stop' (we answered), 'error'. */
  outcome: 'pass' | 'rewrite' | 'stop' | 'error';
  /** HTTP status the client gets when known (stop, or the response phase). */
  status?: number | undefined;
  /** JSON-RPC error code when we stopped with one, or when the upstream answered one. */
  rpcErrorCode?: number | undefined;
  /** The plugin that stopped the call, if any. */
  stoppedBy?: string | undefined;
  durationMs: number;
}

/** Stop the call: the client gets this answer and the upstream is not called. */
export interface StopOutcome {
  action: 'stop';
  status: number;
  headers?: Readonly<Record<string, string | readonly string[]>> | undefined;
  /**
   * Either raw bytes/text, or a JSON-RPC error: the host builds the error reply with the
   * request's id (one per request element for a batch) and sets content-type.
   */
  body?: Uint8Array | string | undefined;
  rpcError?: JsonRpcError | undefined;
  /** For batches: the ids to answer with the error (defaults to every request's id). */
  ids?: readonly JsonRpcId[] | undefined;
}

export type Outcome = StopOutcome | { action: 'pass' } | undefined | void;

/** What a plugin receives once per conf (PrepareConf), beyond its own conf. */
export interface PrepareEnv {
  /** The route key of the PrepareConf (opaque). */
  routeKey: string;
  /** The other plugin names in this chain, in order (e.g. audit looks for authz). */
  chain: readonly string[];
  /**
   * This runner's own state: the policy service (`state.policies`) and what plugins keep
   * runner-wide (`state.own(key, create)`). Never module scope: two runners in one process,
   * or a test's hosts, each have theirs.
   */
  state: RunnerState;
}

export type JsonSchema = Readonly<Record<string, unknown>>;

export interface Plugin<Conf = unknown, Prepared = Conf> {
  /** The name operators write in the route's ext-plugin conf list. */
  readonly name: string;
  /** JSON Schema of the conf, validated once per PrepareConf with ajv; errors name the field. */
  readonly confSchema: JsonSchema;
  /** Compile policies, regexes, validators once per conf, never per call. */
  prepare?(conf: Conf, env: PrepareEnv): Prepared | Promise<Prepared>;
  onRequest?(ctx: CallContext, conf: Prepared): Outcome | Promise<Outcome>;
  onResponse?(ctx: CallContext, conf: Prepared): Outcome | Promise<Outcome>;
  /** Response phase: must the upstream body be read for this call? Ask only when policy needs it. */
  needsResponseBody?(ctx: CallContext, conf: Prepared): boolean | Promise<boolean>;
  /**
   * Request phase on a route WITHOUT post-resp ("fast route"): does this call need the
   * response phase? If any plugin says yes, the host refuses the call (it would skip
   * filtering or redaction). See the route layout (runner/layout/).
   */
  needsResponsePhase?(ctx: CallContext, conf: Prepared): boolean | Promise<boolean>;
  /**
   * Flush and release resources on shutdown (SIGTERM), once per runner with that runner's
   * state; the host closes the state itself afterwards.
   */
  shutdown?(state: RunnerState): Promise<void>;
}
