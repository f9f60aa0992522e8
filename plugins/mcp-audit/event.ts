// Builds audit events from what the chain decided. Per call work: a walk over the (already
// parsed) arguments for canonical JSON + SHA-256, and a pass over the decision records.
// No schema validation here: tests validate against schemas/audit-event.schema.json.

import { randomBytes } from 'node:crypto';
import type { DecisionRecord, Identity, PhaseResult } from '../../runner/host/plugin.js';
import type { JsonObject, JsonValue, McpMessage, McpRequestBody } from '../../runner/mcp/types.js';
import { canonicalJson, sha256Hex } from '../../runner/util/canonical.js';
import { inputRequiredAnswers, roundOf, type RoundBook } from '../../runner/mcp/mrtr.js';
import type { McpResponseBody } from '../../runner/mcp/types.js';
import { echoed } from './echo.js';
import { argumentKeys, decisionEntry, decisionField, isoTimestamp, jsonType, smallDetail, type ArgumentKey, type DecisionEntry, type DecisionField } from './event-parts.js';

export const AUDIT_SCHEMA_VERSION = '1.0';

/** At most this many argument keys are listed (the count is always exact). */
export const MAX_LISTED_KEYS = 64;

export type AuditResult = 'forwarded' | 'ok' | 'error' | 'denied' | 'limited' | 'stopped' | 'no_response';
export type Completion = 'request' | 'response' | 'lease_expired' | 'late_response' | 'shutdown';

export interface ArgumentMetadata {
  key_count: number;
  /** Shared between calls of one argument shape (frozen). */
  keys: readonly ArgumentKey[];
  size_bytes: number;
  sha256: string;
  /** Only with log_argument_values: the arguments as forwarded (after mcp-redact). */
  values?: JsonObject;
  values_omitted?: 'too_large';
}

export interface AuditEvent {
  schema_version: typeof AUDIT_SCHEMA_VERSION;
  event_type: 'mcp.call';
  timestamp: string;
  correlation_id: string;
  call_id: string;
  trace_id?: string;
  span_id?: string;
  route: string;
  server?: string;
  user?: string;
  app?: string;
  agent?: string;
  tenant?: string;
  environment?: string;
  roles?: string[];
  identity_source?: string;
  kind: string;
  method?: string;
  jsonrpc_id?: string | number | null;
  tool?: string;
  resource_uri?: string;
  prompt?: string;
  protocol_version?: string;
  mrtr?: { retry: boolean; round?: number; logical_call?: string; input_required?: boolean };
  batch_index?: number;
  batch_size?: number;
  arguments?: ArgumentMetadata;
  /** Shared between events with the same values (frozen). */
  decision?: DecisionField;
  limit?: { plugin: string; action: string; rule?: string; detail?: Record<string, JsonValue> };
  redactions?: { where: string; counts: Record<string, number> }[];
  credential?: { action: string; detail?: Record<string, JsonValue> };
  /** Entries shared between events (frozen); the list is the event's own. */
  decisions: DecisionEntry[];
  /** A risky call's confirmation: who approved or refused what, when, through which channel. */
  approval?: ApprovalFacts;
  result: AuditResult;
  http_status?: number;
  jsonrpc_error_code?: number;
  stopped_by?: string;
  latency_ms: number;
  completion: Completion;
}

export interface ApprovalFacts {
  outcome: 'approved' | 'refused' | 'requested' | 'not_permitted';
  channel: string;
  approver?: string;
  requester?: string;
  approval_id?: string;
  tool?: string;
  decided_at: string;
}

/** Decision actions of the approval channels (the page's approve/refuse). */
const APPROVAL_ACTIONS = new Set(['approve', 'refuse']);

/** A record of the approval page: a decision, or a sign-in the policy does not let decide. */
function isPageRecord(d: DecisionRecord): boolean {
  return APPROVAL_ACTIONS.has(d.action) || (d.action === 'deny' && typeof d.detail?.['approval_id'] === 'string');
}

export interface EventOptions {
  includeListCalls: boolean;
  includeAllMethods: boolean;
  logArgumentValues: boolean;
  maxArgumentValueBytes: number;
  /** The runner's multi-round-trip book: which logical call and round a retry is. */
  rounds?: RoundBook | undefined;
}

/** Facts known at the end of the request phase, per HTTP call. */
export interface CallFacts {
  routeKey: string;
  server: string | undefined;
  callId: string;
  correlationId: string;
  traceId?: string | undefined;
  spanId?: string | undefined;
  /** ms since epoch of the call start. */
  startedEpochMs: number;
}

const MEANINGFUL = new Set(['tools/call', 'resources/read', 'prompts/get']);
const LIST_KINDS = new Set(['tools/list', 'resources/list', 'resources/templates/list', 'prompts/list']);
const DECISION_ACTIONS = new Set(['allow', 'deny', 'confirm', 'shadow', 'shadow-deny', 'shadow-allow', 'shadow-confirm']);

/** A W3C-shaped trace id for calls that came without a valid traceparent. */
export function generateCorrelationId(): string {
  return randomBytes(16).toString('hex');
}

/** The same arguments always hash the same (shared with mcp-authz's confirmation and pinning hashes). */
export { canonicalJson };

export { jsonType };

export function argumentMetadata(args: JsonObject, opts: EventOptions): ArgumentMetadata {
  const canonical = canonicalJson(args);
  const size = Buffer.byteLength(canonical);
  const names = Object.keys(args);
  const meta: ArgumentMetadata = {
    key_count: names.length,
    keys: argumentKeys(args, names, MAX_LISTED_KEYS),
    size_bytes: size,
    sha256: sha256Hex(canonical),
  };
  if (opts.logArgumentValues) {
    // A deep copy through JSON: later changes to the live object must not alter the event.
    if (size <= opts.maxArgumentValueBytes) meta.values = JSON.parse(canonical) as JsonObject;
    else meta.values_omitted = 'too_large';
  }
  return meta;
}

/** The arguments as they will be forwarded: raw.params.arguments (mcp-redact edits raw). */
function liveArguments(m: McpMessage): JsonObject | undefined {
  const params = m.raw['params'];
  if (params !== null && typeof params === 'object' && !Array.isArray(params)) {
    const a = params['arguments'];
    if (a !== null && typeof a === 'object' && !Array.isArray(a)) return a;
    if (a === undefined) return m.arguments;
  }
  return m.arguments;
}

/** Outcome of the request phase alone, before any response. */
export function requestResult(r: PhaseResult, decisions: readonly DecisionRecord[]): AuditResult {
  if (r.outcome === 'error') return 'error';
  if (r.outcome === 'stop') {
    // What the records say wins over who stopped: a limiter whose store failed is an error.
    if (decisions.some((d) => d.action === 'deny' || d.action === 'confirm')) return 'denied';
    if (decisions.some((d) => d.action === 'limit')) return 'limited';
    if ((r.status ?? 0) >= 500) return 'error';
    if (r.stoppedBy === 'mcp-authz') return 'denied';
    return 'stopped';
  }
  return 'forwarded';
}

/** Outcome once the upstream answered (response phase). */
export function responseResult(r: PhaseResult): AuditResult {
  if (r.outcome === 'error') return 'error';
  if (r.rpcErrorCode !== undefined) return 'error';
  if (r.status !== undefined && r.status >= 400) return 'error';
  return 'ok';
}

function applyDecisions(ev: AuditEvent, records: readonly DecisionRecord[]): void {
  const redactions: { where: string; counts: Record<string, number> }[] = [];
  for (const d of records) {
    ev.decisions.push(decisionEntry(d.plugin, d.action, d.rule));
    const channel = d.detail?.['channel'];
    if (typeof channel === 'string' && (APPROVAL_ACTIONS.has(d.action) || d.detail?.['confirmed'] === true || d.action === 'deny' || d.action === 'confirm')) {
      ev.approval = approvalFacts(d, channel);
    }
    if (APPROVAL_ACTIONS.has(d.action)) {
      ev.decision = decisionField(d.plugin, d.action, d.rule, d.reason);
    } else if (DECISION_ACTIONS.has(d.action)) {
      ev.decision = decisionField(d.plugin, d.action, d.rule, d.reason === undefined ? undefined : echoed(d.reason, 256));
    } else if (d.action === 'limit' || d.action.startsWith('breaker') || d.action.startsWith('circuit')) {
      ev.limit = { plugin: d.plugin, action: d.action };
      if (d.rule !== undefined) ev.limit.rule = d.rule;
      const detail = smallDetail(d.detail);
      if (detail !== undefined) ev.limit.detail = detail;
    } else if (d.action === 'redact') {
      const where = typeof d.detail?.['where'] === 'string' ? (d.detail['where'] as string) : 'unknown';
      const counts: Record<string, number> = {};
      const raw = d.detail?.['counts'];
      if (raw !== null && typeof raw === 'object') {
        for (const [type, c] of Object.entries(raw as Record<string, unknown>)) {
          if (typeof c === 'number') counts[type] = c; // types and counts only, never values
        }
      }
      redactions.push({ where, counts });
    } else if (d.action === 'credential') {
      ev.credential = { action: d.action };
      const detail = smallDetail(d.detail);
      if (detail !== undefined) ev.credential.detail = detail;
    }
  }
  if (redactions.length > 0) ev.redactions = redactions;
}

function approvalFacts(d: DecisionRecord, channel: string): ApprovalFacts {
  const text = (k: string): string | undefined => {
    const v = d.detail?.[k];
    return typeof v === 'string' ? v.slice(0, 200) : undefined;
  };
  const outcome =
    d.action === 'approve' || d.detail?.['confirmed'] === true ? 'approved'
    : d.action === 'confirm' ? 'requested'
    : isPageRecord(d) && d.action === 'deny' ? 'not_permitted'
    : 'refused';
  const facts: ApprovalFacts = { outcome, channel, decided_at: new Date().toISOString() };
  for (const [k, field] of [['approver', 'approver'], ['requester', 'requester'], ['approval_id', 'approval_id'], ['tool', 'tool']] as const) {
    const v = text(k) ?? (k === 'tool' ? text('target') : undefined);
    if (v !== undefined) facts[field] = v;
  }
  return facts;
}

function applyIdentity(ev: AuditEvent, id: Identity | undefined): void {
  if (id === undefined) return;
  if (id.user !== undefined) ev.user = id.user;
  if (id.app !== undefined) ev.app = id.app;
  if (id.agent !== undefined) ev.agent = id.agent;
  if (id.tenant !== undefined) ev.tenant = id.tenant;
  if (id.environment !== undefined) ev.environment = id.environment;
  // A frozen list (a verified token's shared identity) is used as it is: nothing can change it.
  if (id.roles.length > 0) ev.roles = id.roles.length <= 32 && Object.isFrozen(id.roles) ? id.roles : id.roles.slice(0, 32);
  ev.identity_source = id.source;
}

/**
 * The events of one HTTP call at the end of its request phase: one per meaningful message
 * (or per message when the call failed), or one message-less event for an unparseable body
 * that was refused. Result fields are filled by finish().
 */
export function buildEvents(
  facts: CallFacts,
  body: McpRequestBody | undefined,
  identity: Identity | undefined,
  decisions: readonly DecisionRecord[],
  provisional: AuditResult,
  opts: EventOptions,
  /** Emit one message-less event even for a successful call whose body is unknown. */
  whenBodyUnknown = false,
): AuditEvent[] {
  const failed = provisional !== 'forwarded' && provisional !== 'ok';
  const base = (): AuditEvent => {
    const ev: AuditEvent = {
      schema_version: AUDIT_SCHEMA_VERSION,
      event_type: 'mcp.call',
      timestamp: isoTimestamp(facts.startedEpochMs),
      correlation_id: facts.correlationId,
      call_id: facts.callId,
      route: facts.routeKey,
      kind: body === undefined ? 'unknown' : 'invalid',
      decisions: [],
      result: provisional,
      latency_ms: 0,
      completion: 'request',
    };
    if (facts.traceId !== undefined) ev.trace_id = facts.traceId;
    if (facts.spanId !== undefined) ev.span_id = facts.spanId;
    if (facts.server !== undefined) ev.server = facts.server;
    applyIdentity(ev, identity);
    return ev;
  };
  const events: AuditEvent[] = [];
  // A decision on the approval page is a call of its own: one event, whatever the body was.
  if (decisions.some(isPageRecord)) {
    const ev = base();
    ev.kind = 'approval';
    applyDecisions(ev, decisions);
    if (ev.approval?.tool !== undefined) ev.tool = ev.approval.tool;
    events.push(ev);
    return events;
  }
  if (body === undefined || !body.ok) {
    if (failed || (whenBodyUnknown && body === undefined)) {
      const ev = base();
      applyDecisions(ev, decisions);
      events.push(ev);
    }
    return events;
  }
  const size = body.messages.length;
  for (let i = 0; i < size; i++) {
    const m = body.messages[i] as McpMessage;
    if (m.type === 'response') continue; // client answers to server requests are not calls
    const wanted =
      failed || MEANINGFUL.has(m.kind) || opts.includeAllMethods || (opts.includeListCalls && LIST_KINDS.has(m.kind));
    if (!wanted) continue;
    const ev = base();
    ev.kind = m.kind;
    if (m.method !== undefined) ev.method = m.method;
    if (m.id !== undefined) ev.jsonrpc_id = m.id;
    // Request values echoed into the event: redacted and cut short (a "tool name" can hold anything).
    if (m.toolName !== undefined) ev.tool = echoed(m.toolName);
    if (m.resourceUri !== undefined) ev.resource_uri = echoed(m.resourceUri, 512);
    if (m.promptName !== undefined) ev.prompt = echoed(m.promptName);
    if (typeof m.revision === 'string') ev.protocol_version = m.revision;
    const round = roundOf(m, opts.rounds);
    if (round !== undefined) {
      ev.mrtr = { retry: true };
      if (round.round !== undefined) ev.mrtr.round = round.round;
      if (round.logicalCall !== undefined) ev.mrtr.logical_call = round.logicalCall;
    }
    if (body.batch) {
      ev.batch_index = i;
      ev.batch_size = size;
    }
    if (m.kind === 'tools/call') {
      const args = liveArguments(m);
      if (args !== undefined) ev.arguments = argumentMetadata(args, opts);
    }
    applyDecisions(ev, size === 1 && allAbout(decisions, 0) ? decisions : decisions.filter((d) => d.messageIndex === undefined || d.messageIndex === i));
    events.push(ev);
  }
  return events;
}

/** Every record concerns message `index` (or no message in particular). */
function allAbout(decisions: readonly DecisionRecord[], index: number): boolean {
  for (const d of decisions) if (d.messageIndex !== undefined && d.messageIndex !== index) return false;
  return true;
}

/** Fill the final result of events built earlier. */
export function finish(
  events: readonly AuditEvent[],
  result: AuditResult,
  r: PhaseResult | undefined,
  latencyMs: number,
  completion: Completion,
  identity: Identity | undefined,
  later: readonly DecisionRecord[],
): void {
  for (const ev of events) {
    if (ev.identity_source === undefined) applyIdentity(ev, identity);
    if (later.length > 0) {
      const idx = ev.batch_index;
      applyDecisions(ev, later.filter((d) => d.messageIndex === undefined || d.messageIndex === idx || idx === undefined));
    }
    ev.result = result;
    if (r?.status !== undefined) ev.http_status = r.status;
    if (r?.rpcErrorCode !== undefined) ev.jsonrpc_error_code = r.rpcErrorCode;
    if (r?.stoppedBy !== undefined) ev.stopped_by = r.stoppedBy;
    ev.latency_ms = Math.round(latencyMs * 1000) / 1000;
    ev.completion = completion;
  }
}

/** A 2026-07-28+ call whose answer may be input_required. */
export function mayAskForInput(ev: AuditEvent): boolean {
  return ev.protocol_version !== undefined && (ev.kind === 'tools/call' || ev.kind === 'prompts/get' || ev.kind === 'resources/read');
}

/**
 * The answers that asked for input (multi-round-trip requests): mark their events and remember
 * each requestState so the retry that echoes it is audited as the next round of the same call.
 */
export function noteInputRequired(events: readonly AuditEvent[], body: McpResponseBody, book: RoundBook | undefined): void {
  for (const answer of inputRequiredAnswers(body)) {
    const ev = events.find((e) => e.jsonrpc_id === answer.id);
    if (ev === undefined) continue;
    const mrtr = (ev.mrtr ??= { retry: false, round: 1, logical_call: ev.call_id });
    mrtr.input_required = true;
    if (book !== undefined && answer.requestState !== undefined && mrtr.round !== undefined && mrtr.logical_call !== undefined) {
      book.remember(answer.requestState, { logicalCall: mrtr.logical_call, round: mrtr.round });
    }
  }
}
