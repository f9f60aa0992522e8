// What a scenario may look at besides the gateway's answers, in pieces a target has or lacks:
// the upstreams' record of what reached them (and their tool definitions), the audit events,
// the runner's process, the metrics endpoint, Redis. A local stack has them in-process; a real
// deployment gives them to the CLI (e2e/cli.ts): the upstreams' control URL (e2e/upstreams.ts),
// an audit file or a command that prints it, a runner pid file or command and a kill command.

import { exec } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import type { SampleServer } from '../examples/sample-mcp-server.js';

const run = promisify(exec);

/** The sample servers behind the e2e routes: SSE answers, JSON answers, the pinning routes' own. */
export type UpstreamName = 'sse' | 'json' | 'pin';
export const UPSTREAM_NAMES: readonly UpstreamName[] = ['sse', 'json', 'pin'];

/** One request as the upstream received it. */
export interface SeenCall {
  headers: Record<string, unknown>;
  body: { params: { name: string; arguments: Record<string, unknown> } };
}

export interface UpstreamAccess {
  /** Requests the upstream received whose JSON-RPC id is `id`. */
  seen(which: UpstreamName, id: number | string): Promise<SeenCall[]>;
  /** How many tools the upstream lists (before any filtering). */
  toolCount(which: UpstreamName): Promise<number>;
  /** Replace a tool's description; resolves to the previous one. */
  setToolDescription(which: UpstreamName, tool: string, description: string): Promise<string>;
}

export interface AuditEventShape {
  [k: string]: unknown;
  tool?: string;
  user?: string;
  jsonrpc_id?: string | number | null;
  decision?: { action?: string; rule?: string; [k: string]: unknown };
  decisions?: unknown;
  result?: string;
}

export interface AuditAccess {
  events(): Promise<AuditEventShape[]>;
}

export interface RunnerAccess {
  /** The runner's current pid (undefined while it is down). */
  pid(): Promise<number | undefined>;
  /** SIGKILL it (APISIX respawns it). */
  kill(pid: number): Promise<void>;
}

/** The in-process sample servers of a local stack. */
export function localUpstreams(servers: Record<UpstreamName, SampleServer>): UpstreamAccess {
  return {
    seen: async (which, id) => servers[which].seen.filter((s) => (s.body as { id?: unknown } | undefined)?.id === id) as unknown as SeenCall[],
    toolCount: async (which) => servers[which].tools.length,
    async setToolDescription(which, tool, description) {
      const def = servers[which].tools.find((t) => t.name === tool);
      if (def === undefined) throw new Error(`${which} has no tool ${tool}`);
      const before = def.description ?? '';
      def.description = description;
      return before;
    },
  };
}

/** The upstreams' control endpoint (e2e/upstreams.ts) of a real deployment. */
export function remoteUpstreams(controlUrl: string): UpstreamAccess {
  const base = controlUrl.replace(/\/$/, '');
  const call = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const res = await fetch(`${base}${path}`, {
      method,
      ...(body !== undefined ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(5000),
    });
    if (!res.ok) throw new Error(`upstream control ${method} ${path}: HTTP ${res.status} ${await res.text()}`);
    return (await res.json()) as T;
  };
  return {
    seen: (which, id) => call<SeenCall[]>('GET', `/upstreams/${which}/seen?id=${encodeURIComponent(JSON.stringify(id))}`),
    toolCount: async (which) => (await call<{ count: number }>('GET', `/upstreams/${which}/tools`)).count,
    setToolDescription: async (which, tool, description) =>
      (await call<{ previous: string }>('PUT', `/upstreams/${which}/tools/${encodeURIComponent(tool)}/description`, { description })).previous,
  };
}

function jsonLines(text: string): AuditEventShape[] {
  const out: AuditEventShape[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      out.push(JSON.parse(line) as AuditEventShape);
    } catch {
      /* a line being written: skipped until complete */
    }
  }
  return out;
}

/** The audit file (JSON lines), read where this process can read it. */
export function auditFile(path: string): AuditAccess {
  return { events: async () => jsonLines(await readFile(path, 'utf8').catch(() => '')) };
}

/** A shell command that prints the audit file (e.g. `docker exec apisix cat /tmp/…/audit.log`). */
export function auditCommand(command: string): AuditAccess {
  return { events: async () => jsonLines((await run(command, { maxBuffer: 256 * 1024 * 1024 })).stdout) };
}

/**
 * The runner process, by a pid file (written by the ext-plugin.cmd wrapper of the e2e config)
 * or a command printing the pid; killed with process.kill or a command (`{pid}` replaced),
 * for a runner in a container.
 */
export function runnerAccess(o: { pidFile?: string; pidCommand?: string; killCommand?: string }): RunnerAccess {
  const alive = (pid: number): boolean => {
    if (o.killCommand !== undefined) return true; // another pid namespace: trust the source
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  return {
    async pid() {
      let text: string;
      if (o.pidFile !== undefined) text = await readFile(o.pidFile, 'utf8').catch(() => '');
      else text = await run(o.pidCommand!).then((r) => r.stdout, () => '');
      const pid = Number(text.trim().split(/\s+/)[0]);
      return Number.isInteger(pid) && pid > 0 && alive(pid) ? pid : undefined;
    },
    async kill(pid) {
      if (o.killCommand !== undefined) await run(o.killCommand.replaceAll('{pid}', String(pid)));
      else process.kill(pid, 'SIGKILL');
    },
  };
}
