// Parts of audit events that repeat call after call, built once and shared, deeply frozen:
// the {plugin, action, rule} entries of `decisions`, the `decision` field of a rule and
// reason, the key list of arguments of one shape, the timestamp text of one millisecond:
// fewer objects per event. Every memo is bounded: ever-new values only cost a rebuild.
// Also the small detail an event carries of a record (limits, credentials).

import type { JsonObject, JsonValue } from '../../runner/mcp/types.js';

export interface DecisionEntry {
  readonly plugin: string;
  readonly action: string;
  readonly rule?: string;
}

export interface DecisionField {
  readonly plugin: string;
  readonly action: string;
  readonly rule?: string;
  readonly reason?: string;
}

export interface ArgumentKey {
  readonly name: string;
  readonly type: string;
}

const MAX_ENTRIES = 4096;
/** Reasons kept per entry (a rule's reasons are few; per-call text is not worth keeping). */
const MAX_REASONS = 64;
const MAX_SHAPES = 1024;

interface EntryMemo {
  readonly entry: DecisionEntry;
  /** `decision` fields of this entry by reason ('' key: no reason). */
  readonly fields: Map<string | undefined, DecisionField>;
}

/** plugin → action → rule → memo. */
const entries = new Map<string, Map<string, Map<string | undefined, EntryMemo>>>();
let entryCount = 0;

function memoOf(plugin: string, action: string, rule: string | undefined): EntryMemo {
  let byAction = entries.get(plugin);
  if (byAction === undefined) entries.set(plugin, (byAction = new Map()));
  let byRule = byAction.get(action);
  if (byRule === undefined) byAction.set(action, (byRule = new Map()));
  let memo = byRule.get(rule);
  if (memo === undefined) {
    const entry: { plugin: string; action: string; rule?: string } = { plugin, action };
    if (rule !== undefined) entry.rule = rule;
    memo = { entry: Object.freeze(entry), fields: new Map() };
    if (entryCount >= MAX_ENTRIES) {
      entries.clear();
      entryCount = 0;
      return memo;
    }
    byRule.set(rule, memo);
    entryCount++;
  }
  return memo;
}

/** The shared `decisions` entry of a record. */
export function decisionEntry(plugin: string, action: string, rule: string | undefined): DecisionEntry {
  return memoOf(plugin, action, rule).entry;
}

/** The shared `decision` field; `reason` is the text as it goes into the event. */
export function decisionField(plugin: string, action: string, rule: string | undefined, reason: string | undefined): DecisionField {
  const memo = memoOf(plugin, action, rule);
  let field = memo.fields.get(reason);
  if (field === undefined) {
    const f: { plugin: string; action: string; rule?: string; reason?: string } = { plugin, action };
    if (rule !== undefined) f.rule = rule;
    if (reason !== undefined) f.reason = reason;
    field = Object.freeze(f);
    if (memo.fields.size < MAX_REASONS) memo.fields.set(reason, field);
  }
  return field;
}

export function jsonType(v: JsonValue | undefined): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

/** Key lists by their first name (a tool's calls share a shape; a few shapes per name). */
const shapes = new Map<string, ArgumentKey[][]>();
const SHAPES_PER_NAME = 4;

/** [{name, type}] of the first `listed` names, shared by every call whose arguments have that shape. */
export function argumentKeys(args: JsonObject, names: readonly string[], listed: number): readonly ArgumentKey[] {
  const n = Math.min(names.length, listed);
  const first = n === 0 ? '' : (names[0] as string);
  const known = shapes.get(first);
  if (known !== undefined) {
    for (const candidate of known) if (sameShape(candidate, args, names, n)) return candidate;
  }
  const keys: ArgumentKey[] = [];
  for (let i = 0; i < n; i++) {
    const name = names[i] as string;
    keys.push(Object.freeze({ name, type: jsonType(args[name]) }));
  }
  Object.freeze(keys);
  if (known === undefined) {
    if (shapes.size >= MAX_SHAPES) shapes.clear();
    shapes.set(first, [keys]);
  } else if (known.length < SHAPES_PER_NAME) {
    known.push(keys);
  } else {
    known[known.length - 1] = keys; // the newest shape replaces the last one kept
  }
  return keys;
}

function sameShape(candidate: readonly ArgumentKey[], args: JsonObject, names: readonly string[], n: number): boolean {
  if (candidate.length !== n) return false;
  for (let i = 0; i < n; i++) {
    const k = candidate[i] as ArgumentKey;
    const name = names[i] as string;
    if (k.name !== name || k.type !== jsonType(args[name])) return false;
  }
  return true;
}

/** The second whose ISO prefix is kept ("2026-05-28T20:26:40."), and the prefix. */
let keptSecond = Number.NaN;
let keptPrefix = '';

/** new Date(epochMs).toISOString(), without a Date and a format per call within one second. */
export function isoTimestamp(epochMs: number): string {
  // Date truncates its time value to whole milliseconds.
  const ms = Math.trunc(epochMs);
  if (!(ms >= 0 && ms < 253402300800000)) return new Date(epochMs).toISOString(); // outside years 1970..9999
  const second = ms - (ms % 1000);
  if (second !== keptSecond) {
    keptPrefix = new Date(second).toISOString().slice(0, 20);
    keptSecond = second;
  }
  const frac = ms - second;
  return keptPrefix + (frac < 10 ? '00' : frac < 100 ? '0' : '') + frac + 'Z';
}

/** A record's detail as events carry it: at most 16 small values, never nested values. */
export function smallDetail(detail: Readonly<Record<string, unknown>> | undefined): Record<string, JsonValue> | undefined {
  if (detail === undefined) return undefined;
  const out: Record<string, JsonValue> = {};
  let n = 0;
  for (const [k, v] of Object.entries(detail)) {
    if (++n > 16) break;
    if (v === null || typeof v === 'number' || typeof v === 'boolean') out[k] = v;
    else if (typeof v === 'string') out[k] = v.length > 200 ? v.slice(0, 200) : v;
    else if (Array.isArray(v)) out[k] = v.filter((x): x is string => typeof x === 'string').slice(0, 16);
    else if (typeof v === 'object') {
      // one level of {name: number|string} (e.g. key dimensions)
      const inner: Record<string, JsonValue> = {};
      for (const [ik, iv] of Object.entries(v as Record<string, unknown>).slice(0, 16)) {
        if (typeof iv === 'number' || typeof iv === 'string' || typeof iv === 'boolean') inner[ik] = iv;
      }
      out[k] = inner;
    }
  }
  return out;
}
