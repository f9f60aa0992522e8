// Applying a compiled redaction in place to a JSON tree: field rules (by key name and JSON
// path) and the detectors on every string, with the key a string sits under as its label.

import type { JsonObject, JsonValue } from '../mcp/types.js';
import { bump, FIELD_RULE, hashToken, isFieldKey, redactString, type Redaction, type Tally } from './engine.js';

/** A path pattern split into segments; '*' matches any key or index. */
export type PathPattern = readonly string[];

/**
 * Parse `$.params.arguments.card`, `$.result.items[*].iban`, `$['odd key'][0]` into segments.
 * Throws with a readable message on anything else.
 */
export function parsePath(path: string): PathPattern {
  if (!path.startsWith('$')) throw new Error(`path "${path}" must start with "$"`);
  const segments: string[] = [];
  let i = 1;
  while (i < path.length) {
    const ch = path[i];
    if (ch === '.') {
      const m = /^[^.[\]]+/.exec(path.slice(i + 1));
      if (!m) throw new Error(`path "${path}": empty segment at ${i}`);
      segments.push(m[0]);
      i += 1 + m[0].length;
    } else if (ch === '[') {
      const rest = path.slice(i);
      const m = /^\[(?:(\d+|\*)|'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)")\]/.exec(rest);
      if (!m) throw new Error(`path "${path}": bad bracket segment at ${i}`);
      segments.push(m[1] ?? (m[2] ?? m[3] ?? '').replace(/\\(.)/g, '$1'));
      i += m[0].length;
    } else {
      throw new Error(`path "${path}": unexpected "${ch}" at ${i}`);
    }
  }
  if (segments.length === 0) throw new Error(`path "${path}" selects the whole message`);
  return segments;
}

/** Deeper JSON than this is replaced wholesale: fail closed rather than recurse without bound. */
export const MAX_DEPTH = 128;

type Container = JsonObject | JsonValue[];

/** Patterns still alive at a node: index into fieldPaths and how many segments matched. */
type Live = readonly (readonly [number, number])[];

function advance(r: Redaction, live: Live, key: string): { next: Live; hit: boolean } {
  if (live.length === 0) return { next: live, hit: false };
  const next: (readonly [number, number])[] = [];
  let hit = false;
  for (const [p, pos] of live) {
    const pattern = r.fieldPaths[p]!;
    const seg = pattern[pos];
    if (seg === '*' || seg === key) {
      if (pos + 1 === pattern.length) hit = true;
      else next.push([p, pos + 1]);
    }
  }
  return { next, hit };
}

/** Path prefix state for a root at the given absolute path (e.g. ['params', 'arguments']). */
export function rootLive(r: Redaction, rootPath: readonly string[]): Live | undefined {
  let live: Live = r.fieldPaths.map((_, i) => [i, 0] as const);
  for (const key of rootPath) {
    const step = advance(r, live, key);
    // A path that ends at the root itself selects everything below it.
    if (step.hit) return undefined;
    live = step.next;
  }
  return live;
}

/** Marker returned by a field rule in drop mode: delete the key. */
const DROP = Symbol('drop');

function redactFieldValue(value: JsonValue, r: Redaction, tally: Tally): JsonValue | typeof DROP {
  bump(tally, FIELD_RULE);
  switch (r.fieldMode) {
    case 'block':
      tally.blocked = true;
      tally.blockedTypes.add(FIELD_RULE);
      return value;
    case 'drop':
      tally.changed = true;
      return DROP;
    case 'hash':
      tally.changed = true;
      return hashToken(r, FIELD_RULE, typeof value === 'string' ? value : JSON.stringify(value));
    case 'mask':
      tally.changed = true;
      return `[REDACTED:${FIELD_RULE}]`;
  }
}


/**
 * Redact every value below `root` in place. `rootPath` is the absolute JSON path of root
 * inside the message (for field path rules). `skip(key, parent)` lets callers skip blobs.
 */
export function redactTree(root: Container, rootPath: readonly string[], r: Redaction, tally: Tally, skip?: (parent: JsonObject, key: string) => boolean): void {
  const live = rootLive(r, rootPath);
  if (live === undefined) {
    // The whole root is selected by a path rule.
    for (const key of Array.isArray(root) ? root.map((_, i) => String(i)) : Object.keys(root)) applyField(root, key, r, tally);
    return;
  }
  walk(root, live, r, tally, 0, skip);
}

function applyField(parent: Container, key: string, r: Redaction, tally: Tally): void {
  if (Array.isArray(parent)) {
    const i = Number(key);
    const out = redactFieldValue(parent[i]!, r, tally);
    parent[i] = out === DROP ? '[REDACTED]' : out;
  } else {
    const out = redactFieldValue(parent[key]!, r, tally);
    if (out === DROP) delete parent[key];
    else parent[key] = out;
  }
}

function redactNumber(n: number, r: Redaction, tally: Tally): JsonValue {
  // Only large integers can be card numbers or ids the detectors know.
  if (!Number.isInteger(n) || Math.abs(n) < 1e12) return n;
  const text = String(n);
  const out = redactString(text, r, tally);
  return out === text ? n : out;
}

function walk(node: Container, live: Live, r: Redaction, tally: Tally, depth: number, skip?: (parent: JsonObject, key: string) => boolean): void {
  // No path pattern alive below here (the usual case): no path steps to take per key.
  const paths = live.length > 0;
  if (Array.isArray(node)) {
    for (let i = 0; i < node.length; i++) {
      let next = live;
      if (paths) {
        const key = String(i);
        const step = advance(r, live, key);
        if (step.hit) {
          applyField(node, key, r, tally);
          continue;
        }
        next = step.next;
      }
      node[i] = visit(node[i]!, next, r, tally, depth, skip);
    }
    return;
  }
  // A Kubernetes Secret's data values are secrets whatever their names (base64 of anything).
  const kubernetesSecret = node['kind'] === 'Secret';
  for (const key of Object.keys(node)) {
    let next = live;
    let hit = false;
    if (paths) {
      const step = advance(r, live, key);
      next = step.next;
      hit = step.hit;
    }
    const value = node[key];
    if (kubernetesSecret && (key === 'data' || key === 'stringData') && typeof value === 'object' && value !== null && !Array.isArray(value)) {
      for (const k of Object.keys(value)) {
        const v = value[k];
        if (typeof v === 'string') value[k] = redactString(v, r, tally, 'secret');
      }
      continue;
    }
    if (hit || isFieldKey(r, key)) {
      applyField(node, key, r, tally);
      continue;
    }
    if (skip?.(node, key)) continue;
    node[key] = visit(value!, next, r, tally, depth, skip, key);
  }
}

function visit(value: JsonValue, live: Live, r: Redaction, tally: Tally, depth: number, skip?: (parent: JsonObject, key: string) => boolean, key?: string): JsonValue {
  if (typeof value === 'string') return redactString(value, r, tally, key);
  if (typeof value === 'number') return redactNumber(value, r, tally);
  if (value === null || typeof value !== 'object') return value;
  if (depth + 1 >= MAX_DEPTH) {
    bump(tally, 'depth_limit');
    tally.changed = true;
    return '[REDACTED:depth_limit]';
  }
  walk(value, live, r, tally, depth + 1, skip);
  return value;
}
