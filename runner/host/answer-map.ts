// How refusals reach MCP clients. Policy denials, limits and confirmation requests are answers
// in MCP's own terms: HTTP 200 with a JSON-RPC error (code, a message a person and a model can
// read, `data` with the rule, the plugin and what to do next), so SDK clients raise their
// protocol error (McpError with code and data) instead of a transport error. A route may
// choose the HTTP-native statuses instead (403, 429 with Retry-After, 428), and may answer a
// refused tools/call as a tool result with isError: true, which the model reads and adapts
// to. Authentication answers are never remapped: 401 and 403 insufficient_scope carry
// WWW-Authenticate as the MCP authorization spec asks.
//
// Plugins keep answering with their native status; this is the one place that maps it.

import { JsonRpcErrorCode, type JsonObject, type JsonRpcError, type JsonValue, type McpRequestBody } from '../mcp/types.js';
import type { StopOutcome } from './plugin.js';

export type RefusalClass = 'denied' | 'limited' | 'confirm';

export interface AnswerSettings {
  /** HTTP status of policy denials (200 or 403). */
  readonly denied: number;
  /** HTTP status of limits (200 or 429; Retry-After is sent either way). */
  readonly limited: number;
  /** HTTP status of confirmation-token requests (200, 403 or 428). */
  readonly confirm: number;
  /** A refused (denied or limited) tools/call: a JSON-RPC error, or a tool result with isError. */
  readonly toolCallRefusals: 'error' | 'result';
}

export const DEFAULT_ANSWERS: AnswerSettings = Object.freeze({ denied: 200, limited: 200, confirm: 200, toolCallRefusals: 'error' });

const ALLOWED: Readonly<Record<RefusalClass, readonly number[]>> = { denied: [200, 403], limited: [200, 429], confirm: [200, 403, 428] };

/** The `answers` object of mcp-route, validated; a string names what is wrong. */
export function parseAnswerSettings(v: unknown): AnswerSettings | string {
  if (v === undefined) return DEFAULT_ANSWERS;
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'mcp-route: /answers must be an object';
  const o = v as Record<string, unknown>;
  const out = { ...DEFAULT_ANSWERS };
  for (const k of Object.keys(o)) {
    if (k === 'tool_call_refusals') {
      if (o[k] !== 'error' && o[k] !== 'result') return "mcp-route: /answers/tool_call_refusals must be 'error' or 'result'";
      out.toolCallRefusals = o[k];
      continue;
    }
    if (k !== 'denied' && k !== 'limited' && k !== 'confirm') return `mcp-route: /answers/${k} is not a known setting (denied, limited, confirm, tool_call_refusals)`;
    const status = o[k];
    if (typeof status !== 'number' || !ALLOWED[k].includes(status)) return `mcp-route: /answers/${k} must be one of ${ALLOWED[k].join(', ')}`;
    out[k] = status;
  }
  return Object.freeze(out);
}

/** Which kind of refusal an answer is; undefined for everything the mapping leaves alone. */
export function refusalClass(stop: StopOutcome): RefusalClass | undefined {
  const code = stop.rpcError?.code;
  if (code === undefined) return undefined;
  if (stop.headers !== undefined && Object.keys(stop.headers).some((h) => h.toLowerCase() === 'www-authenticate')) return undefined;
  if (code === JsonRpcErrorCode.Forbidden && stop.status === 403) return 'denied';
  if (code === JsonRpcErrorCode.RateLimited && stop.status === 429) return 'limited';
  if (code === JsonRpcErrorCode.ConfirmationRequired) return 'confirm';
  return undefined;
}

function retryAfter(stop: StopOutcome): string | undefined {
  if (!stop.headers) return undefined;
  for (const [k, v] of Object.entries(stop.headers)) if (k.toLowerCase() === 'retry-after') return typeof v === 'string' ? v : v[0];
  return undefined;
}

function nextStep(kind: RefusalClass, stop: StopOutcome): string {
  if (kind === 'denied') return 'do not retry: the gateway policy does not allow this call; tell the user or choose another tool';
  if (kind === 'limited') {
    const after = retryAfter(stop);
    return after !== undefined ? `retry after ${after} seconds` : 'retry later';
  }
  return 'ask the user to confirm this exact call, then retry it with data.token';
}

/** The answer with the route's status and `data` naming the plugin and the next step. */
export function mapRefusal(stop: StopOutcome, settings: AnswerSettings, plugin: string | undefined): StopOutcome {
  const kind = refusalClass(stop);
  if (kind === undefined) return stop;
  const error = stop.rpcError!;
  const base: JsonObject = error.data !== null && typeof error.data === 'object' && !Array.isArray(error.data) ? error.data : {};
  const data: JsonObject = { ...base };
  if (data['plugin'] === undefined && plugin !== undefined) data['plugin'] = plugin;
  if (data['next'] === undefined) data['next'] = nextStep(kind, stop);
  data['refusal'] = kind;
  return { ...stop, status: settings[kind], rpcError: { code: error.code, message: error.message, data } };
}

/**
 * The refusal as a tool result, when the route asks for it and the call is one tools/call:
 * the model reads the text as the tool's failure instead of a protocol error.
 */
export function toolResultBody(stop: StopOutcome, settings: AnswerSettings, parsed: McpRequestBody | undefined): Uint8Array | undefined {
  if (settings.toolCallRefusals !== 'result' || !stop.rpcError || parsed === undefined || !parsed.ok || parsed.batch) return undefined;
  const kind = (stop.rpcError.data as JsonObject | undefined)?.['refusal'];
  if (kind !== 'denied' && kind !== 'limited') return undefined;
  const m = parsed.messages[0];
  if (parsed.messages.length !== 1 || m === undefined || m.kind !== 'tools/call' || m.id === undefined) return undefined;
  const text = refusalText(stop.rpcError);
  // No structuredContent: it would have to match the tool's own outputSchema.
  const result: JsonObject = { content: [{ type: 'text', text }], isError: true };
  return new TextEncoder().encode(JSON.stringify({ jsonrpc: '2.0', id: m.id, result }));
}

function refusalText(e: JsonRpcError): string {
  const d = (e.data ?? {}) as Record<string, JsonValue>;
  const by = typeof d['plugin'] === 'string' ? ` by ${d['plugin']}` : '';
  const rule = typeof d['rule'] === 'string' ? ` (rule ${d['rule']})` : typeof d['limit'] === 'string' ? ` (limit ${d['limit']})` : '';
  const next = typeof d['next'] === 'string' ? ` Next: ${d['next']}.` : '';
  return `Refused${by}${rule}: ${e.message}.${next}`;
}
