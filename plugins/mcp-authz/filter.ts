// List filtering in the response phase: remove from tools/list, resources/list,
// resources/templates/list and prompts/list answers what the actor may not use, so agents are
// never offered tools they would be refused (and never see their descriptions). Works on
// JSON and SSE answers alike: both are a list of parsed JSON payloads.

import type { CallContext } from '../../runner/host/plugin.js';
import type { JsonObject, JsonValue, McpMessage, McpResponseBody } from '../../runner/mcp/types.js';
import type { UseKind } from '../../runner/policy/index.js';

export type ListKind = 'tools' | 'resources' | 'resourceTemplates' | 'prompts';

export const LIST_METHODS: Readonly<Record<string, ListKind>> = {
  'tools/list': 'tools',
  'resources/list': 'resources',
  'resources/templates/list': 'resourceTemplates',
  'prompts/list': 'prompts',
};

/** Which item field names the thing, and which policy kind decides it. */
const ITEM: Record<ListKind, { field: string; kind: UseKind }> = {
  tools: { field: 'name', kind: 'tool' },
  resources: { field: 'uri', kind: 'resource' },
  resourceTemplates: { field: 'uriTemplate', kind: 'resource' },
  prompts: { field: 'name', kind: 'prompt' },
};

export function idKey(id: JsonValue | undefined): string {
  return JSON.stringify(id ?? null);
}

/** The list requests of a body, by id, or undefined when there are none. */
export function listRequests(messages: readonly McpMessage[]): Map<string, ListKind> | undefined {
  let out: Map<string, ListKind> | undefined;
  for (const m of messages) {
    if (m.type !== 'request' || m.method === undefined) continue;
    const kind = LIST_METHODS[m.method];
    if (kind) (out ??= new Map()).set(idKey(m.id), kind);
  }
  return out;
}

/**
 * Why a list answer cannot be filtered or pinned, or undefined when every event was read. The
 * strict parser refuses what two JSON readers could read differently (a duplicate key, a lone
 * surrogate escape, trailing bytes, bad UTF-8); the client's own parser may still read such an
 * answer, unfiltered, so it is withheld. In SSE every event counts: one unreadable event is
 * enough (empty keep-alive and priming events carry nothing).
 */
export function unreadableListAnswer(body: McpResponseBody): string | undefined {
  for (const ev of body.events) {
    if (ev.json !== undefined) continue;
    if (body.format === 'sse' && ev.data.trim() === '') continue;
    return ev.jsonError ?? (ev.data.trim() === '' ? 'empty body' : 'not JSON');
  }
  return undefined;
}

/**
 * The same question for the call's answer as the host parsed it (`body` undefined: not JSON or
 * SSE). An empty answer (202, 204, no bytes) carries no list and passes.
 */
export async function listAnswerProblem(ctx: CallContext, body: McpResponseBody | undefined): Promise<string | undefined> {
  if (body !== undefined) return unreadableListAnswer(body);
  const response = ctx.response;
  if (response === undefined) return undefined;
  // A 202 or 204 should carry no body; one that does anyway is read like any other answer.
  const bytes = await response.body();
  return bytes !== undefined && bytes.length > 0 ? 'answer is neither JSON nor an SSE stream' : undefined;
}

export interface FilterStats {
  removed: number;
  kept: number;
}

/**
 * Filter list results in place. `keep(kind, name, item)` decides each item; items without a
 * name are removed (they cannot be authorised). Returns what happened per list kind.
 */
export function filterListResponse(
  body: McpResponseBody,
  lists: ReadonlyMap<string, ListKind>,
  keep: (listKind: ListKind, kind: UseKind, name: string, item: JsonObject) => boolean,
): Map<ListKind, FilterStats> {
  const stats = new Map<ListKind, FilterStats>();
  const visit = (msg: JsonValue): boolean => {
    if (msg === null || typeof msg !== 'object' || Array.isArray(msg)) return false;
    const listKind = lists.get(idKey(msg['id']));
    const result = msg['result'];
    if (!listKind || result === null || typeof result !== 'object' || Array.isArray(result)) return false;
    const items = result[listKind];
    if (!Array.isArray(items)) return false;
    const { field, kind } = ITEM[listKind];
    const s = stats.get(listKind) ?? { removed: 0, kept: 0 };
    stats.set(listKind, s);
    const kept: JsonValue[] = [];
    for (const item of items) {
      const ok =
        item !== null && typeof item === 'object' && !Array.isArray(item) && typeof item[field] === 'string' && keep(listKind, kind, item[field] as string, item);
      if (ok) kept.push(item);
    }
    s.kept += kept.length;
    s.removed += items.length - kept.length;
    if (kept.length === items.length) return false;
    result[listKind] = kept;
    return true;
  };
  for (const ev of body.events) {
    const json = ev.json;
    // Unreadable events never get here: the caller withholds the answer first.
    if (json === undefined) continue;
    let changed = false;
    if (Array.isArray(json)) for (const m of json) changed = visit(m) || changed;
    else changed = visit(json);
    // Keep the event's text in step with its JSON for serialisers that write `data`.
    if (changed) ev.data = JSON.stringify(json);
  }
  return stats;
}
