// Cacheable results (2026-07-28): tools/list, prompts/list, resources/list,
// resources/templates/list, resources/read and server/discover answers carry `ttlMs` (how long
// the result stays fresh) and `cacheScope`: "public" (any client or shared cache may serve it
// across authorization contexts) or "private" (only within the same authorization context).
// An answer the gateway shaped for one actor (a filtered list) must say "private", whatever
// the server said: the server declared its own full list, not ours.

import type { JsonValue, McpResponseBody } from './types.js';

export const CACHE_SCOPE_PRIVATE = 'private';

export const CACHEABLE_METHODS: ReadonlySet<string> = new Set([
  'tools/list',
  'prompts/list',
  'resources/list',
  'resources/templates/list',
  'resources/read',
  'server/discover',
]);

/**
 * Set cacheScope "private" on the results of the answers `isPerActor(id)` selects. Answers of
 * 2025 requests (`modern(id)` false) are left alone unless they already speak the caching
 * vocabulary. Returns how many results changed; changed SSE events get their text rewritten.
 */
export function narrowCacheScopes(body: McpResponseBody, isPerActor: (id: JsonValue) => boolean, modern: (id: JsonValue) => boolean): number {
  let changed = 0;
  const visit = (msg: JsonValue): boolean => {
    if (msg === null || typeof msg !== 'object' || Array.isArray(msg) || !Object.hasOwn(msg, 'id')) return false;
    const result = msg['result'];
    if (result === null || typeof result !== 'object' || Array.isArray(result)) return false;
    const id = msg['id'] ?? null;
    if (!isPerActor(id) || result['cacheScope'] === CACHE_SCOPE_PRIVATE) return false;
    const speaksCaching = Object.hasOwn(result, 'cacheScope') || Object.hasOwn(result, 'ttlMs');
    if (!speaksCaching && !modern(id)) return false;
    result['cacheScope'] = CACHE_SCOPE_PRIVATE;
    return true;
  };
  for (const ev of body.events) {
    const json = ev.json;
    if (json === undefined) continue;
    let evChanged = false;
    if (Array.isArray(json)) for (const m of json) evChanged = visit(m) || evChanged;
    else evChanged = visit(json);
    if (evChanged) {
      changed++;
      ev.data = JSON.stringify(json);
    }
  }
  return changed;
}
