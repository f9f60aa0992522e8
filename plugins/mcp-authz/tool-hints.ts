// Read or write: what a tool does, for grants with `access: read`. Two sources: the reviewed
// tool registry in the policy (`tool_registry`), and the tool's own annotations as the server
// listed them in tools/list (readOnlyHint, destructiveHint). Either one marking the tool as
// writing makes it writing; it is read-only only when one of them says so and neither says
// otherwise; a tool neither describes is unknown, and a read grant does not cover it (fail
// closed: an unreviewed tool could do anything).

import type { RunnerState } from '../../runner/host/state.js';
import { LocalSharedState, type ReplicatedMap, type SharedState } from '../../runner/cluster/shared-state.js';
import type { JsonObject } from '../../runner/mcp/types.js';
import type { CompiledPolicy } from '../../runner/policy/index.js';

export interface ToolHints {
  /** readOnlyHint: true (and not destructive). */
  readonly readOnly: boolean;
  /** readOnlyHint: false or destructiveHint: true, said explicitly. */
  readonly writes: boolean;
}

export type ToolAccessClass = 'read' | 'write' | 'unknown';

export interface ToolAccess {
  readonly access: ToolAccessClass;
  /** What decided: the registry, the annotations, or nothing. */
  readonly source: 'registry' | 'annotations' | 'none';
}

/** The hints of one tools/list item; undefined when it has no annotations object. */
export function hintsOf(tool: JsonObject): ToolHints | undefined {
  const a = tool['annotations'];
  if (a === null || typeof a !== 'object' || Array.isArray(a)) return undefined;
  const writes = a['readOnlyHint'] === false || a['destructiveHint'] === true;
  return { readOnly: a['readOnlyHint'] === true && !writes, writes };
}

const UNKNOWN: ToolAccess = { access: 'unknown', source: 'none' };
const REGISTRY_WRITE: ToolAccess = { access: 'write', source: 'registry' };
const REGISTRY_READ: ToolAccess = { access: 'read', source: 'registry' };
const ANNOTATIONS_WRITE: ToolAccess = { access: 'write', source: 'annotations' };
const ANNOTATIONS_READ: ToolAccess = { access: 'read', source: 'annotations' };

/** Classify a tool on a server: write wins over read, either source counts. */
export function classifyTool(policy: CompiledPolicy, server: string | undefined, name: string, hints: ToolHints | undefined): ToolAccess {
  let registry: 'read' | 'write' | undefined;
  const { exact, glob } = policy.toolRegistry.lookup(name);
  for (const list of [exact, glob]) {
    for (const e of list) {
      if (e.servers !== undefined && (server === undefined || !e.servers.has(server))) continue;
      if (e.access === 'write') return REGISTRY_WRITE;
      registry = 'read';
    }
  }
  if (hints?.writes === true) return ANNOTATIONS_WRITE;
  if (registry === 'read') return REGISTRY_READ;
  return hints?.readOnly === true ? ANNOTATIONS_READ : UNKNOWN;
}

/** Why a read grant does not cover this tool (for decisions and explain). */
export function notReadOnlyReason(name: string, a: ToolAccess): string {
  if (a.access === 'write') return `tool '${name}' writes (${a.source === 'registry' ? 'tool_registry' : 'its annotations'}) and access is read-only`;
  return `tool '${name}' is not known to be read-only (no tool_registry entry, no readOnlyHint) and access is read-only`;
}

/** Key for routes without a server name (same namespace as tool pinning). */
export const UNNAMED_SERVER = '(unnamed server)';

/** Hints as one small number (bit 1: read-only, bit 2: writes): cheap to replicate, no object per read. */
const HINTS_BY_CODE: readonly ToolHints[] = [0, 1, 2, 3].map((c) => Object.freeze({ readOnly: (c & 1) !== 0, writes: (c & 2) !== 0 }));
const codeOf = (h: ToolHints): number => (h.readOnly ? 1 : 0) | (h.writes ? 2 : 0);

/**
 * The annotations last seen in tools/list, per server and tool, so a later tools/call (often on
 * another connection, or a pre-req-only route, or another runner process) is judged by them.
 * Replicated to every runner process: reads stay local. Bounded: when full, tools not seen yet
 * stay unknown (denied under read grants) rather than evicting reviewed ones.
 */
export class ToolHintStore {
  private readonly hints: ReplicatedMap<number>;
  constructor(public maxEntries: number, shared: SharedState = new LocalSharedState()) {
    this.hints = shared.replicated<number>('mcp-authz/tool-hints');
  }

  private static key(server: string, tool: string): string {
    return `${server}\u0000${tool}`;
  }

  get(server: string | undefined, tool: string): ToolHints | undefined {
    if (this.hints.size === 0) return undefined;
    const code = this.hints.get(ToolHintStore.key(server ?? UNNAMED_SERVER, tool));
    return code === undefined ? undefined : HINTS_BY_CODE[code];
  }

  /**
   * Remember what a listing said. `changed` (a pin mismatch that was only flagged): keep the
   * more restrictive of the old and new hints, so a flagged change never widens read access.
   * Only a change is written (and so replicated): the same listing again costs nothing.
   */
  remember(server: string | undefined, tool: string, next: ToolHints | undefined, changed: boolean): void {
    const key = ToolHintStore.key(server ?? UNNAMED_SERVER, tool);
    const prevCode = this.hints.get(key);
    const prev = prevCode === undefined ? undefined : HINTS_BY_CODE[prevCode];
    let value = next;
    if (changed && prev !== undefined) value = { readOnly: prev.readOnly && next?.readOnly === true, writes: prev.writes || next?.writes === true };
    if (value === undefined) {
      this.hints.delete(key);
      return;
    }
    if (prev === undefined && this.hints.size >= this.maxEntries) return;
    const code = codeOf(value);
    if (code !== prevCode) this.hints.set(key, code);
  }

  clear(): void {
    this.hints.clear();
  }
}

/**
 * The runner's store: request and response phases have different route keys, and a tools/call
 * may come on another route (or runner process) than the tools/list that described the tool.
 */
export function toolHintsOf(state: RunnerState): ToolHintStore {
  return state.own('mcp-authz/tool-hints', () => new ToolHintStore(10_000, state.shared));
}
