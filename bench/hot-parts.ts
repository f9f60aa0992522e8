// node dist/bench/hot-parts.js [--builds /path/a,/path/b] [--rounds 5] [--calls 100000]
//
// The per-call pieces of the chain that the profile of `host-cpu.js --profile` points at,
// measured alone on the bench population's bodies: steadier than whole-chain figures on a
// shared machine. With --builds, each directory is a copy of the repository (its `dist` and
// `schemas`, a `node_modules` link) and the builds are alternated round by round in this one
// process, so an old and a new build are compared in the same time window (median of rounds).
// Every build must write the same audit events for the same calls (checked before timing).

import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateKeyPair } from 'jose';
import type { Identity } from '../runner/host/plugin.js';
import { buildPopulation } from './population.js';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : dflt;
}

type Json = Record<string, unknown>;
interface Build {
  dir: string;
  canonicalJson(v: unknown): string;
  parseRequestBody(b: Uint8Array): { ok: boolean; messages?: Array<{ toolName?: string }> };
  buildEvents(...a: unknown[]): Json[];
  finish(...a: unknown[]): void;
  recordMetrics(e: Json): void;
}

async function load(dir: string): Promise<Build> {
  const at = (p: string): string => `file://${resolve(dir, 'dist', p)}`;
  const canonical = (await import(at('runner/util/canonical.js'))) as Pick<Build, 'canonicalJson'>;
  const parse = (await import(at('runner/mcp/parse.js'))) as Pick<Build, 'parseRequestBody'>;
  const event = (await import(at('plugins/mcp-audit/event.js'))) as Pick<Build, 'buildEvents' | 'finish'>;
  const instruments = (await import(at('plugins/mcp-audit/instruments.js'))) as Pick<Build, 'recordMetrics'>;
  return { dir, ...canonical, ...parse, ...event, ...instruments };
}

async function main(): Promise<void> {
  const here = resolve(fileURLToPath(new URL('../..', import.meta.url)));
  const dirs = arg('builds', here).split(',');
  const rounds = Number(arg('rounds', '5'));
  const calls = Number(arg('calls', '100000'));
  const builds = await Promise.all(dirs.map(load));
  const { privateKey } = await generateKeyPair('ES256');
  const pop = await buildPopulation(64, privateKey);
  const bodies = pop.callers.map((c, i) => pop.bodyFor(c, i));
  const args = bodies.map((b) => ((JSON.parse(new TextDecoder().decode(b)) as Json)['params'] as Json)['arguments']);
  const identities: Identity[] = pop.callers.map((c, i) =>
    Object.freeze({ user: c.user, app: c.app, agent: `${c.app}-bot-${i % 5}`, tenant: c.tenant, environment: 'production', roles: Object.freeze(['support', 'reader']) as string[], source: 'jwt' as const, subject: c.user }),
  );
  const opts = { includeListCalls: false, includeAllMethods: false, logArgumentValues: false, maxArgumentValueBytes: 4096 };
  const credential = { injected: 'bearer', stripped: ['authorization'], header: 'authorization', server: 'crm-tools' };
  /** What mcp-audit does for one allowed tools/call at the end of its request phase (the body parsed already). */
  const auditCall = (b: Build, body: ReturnType<Build['parseRequestBody']>, i: number): Json[] => {
    const k = i & 63;
    const tool = body.messages?.[0]?.toolName ?? '';
    const rule = `${pop.callers[k]!.app}/allowed_tools/${tool}`;
    const decisions = [
      { plugin: 'mcp-authz', action: 'allow', rule, reason: `allowed by ${rule}`, messageIndex: 0, detail: { kind: 'tool', target: tool } },
      { plugin: 'mcp-credential', action: 'credential', rule: 'route', detail: credential },
    ];
    const facts = { routeKey: 'route#five-plugins-memory#ext-plugin-pre-req#1', server: 'crm-tools', callId: 'ab'.repeat(16), correlationId: 'ab'.repeat(16), startedEpochMs: 1.78e12 + i };
    const events = b.buildEvents(facts, body, identities[k], decisions, 'forwarded', opts);
    b.finish(events, 'forwarded', { phase: 'request', outcome: 'rewrite', durationMs: 1 }, 1.234, 'request', identities[k], []);
    return events;
  };
  const parsed = builds.map((b) => bodies.map((x) => b.parseRequestBody(x)));
  for (let i = 0; i < 64; i++) {
    const texts = builds.map((b, j) => auditCall(b, parsed[j]![i]!, i).map((e) => JSON.stringify(e)).join('\n'));
    if (new Set(texts).size !== 1) throw new Error(`builds write different audit events for call ${i}`);
    if (new Set(builds.map((b) => b.canonicalJson(args[i]))).size !== 1) throw new Error(`builds hash arguments ${i} differently`);
  }
  const parts: Record<string, (b: Build, j: number, i: number) => void> = {
    'canonicalJson (bench arguments)': (b, _j, i) => void b.canonicalJson(args[i & 63]),
    'parseRequestBody (bench bodies)': (b, _j, i) => void b.parseRequestBody(bodies[i & 63]!),
    'mcp-audit recordMetrics': (b, j, i) => void b.recordMetrics(auditEvents[j]![i & 63]!),
    'mcp-audit request-phase work': (b, j, i) => {
      for (const e of auditCall(b, parsed[j]![i & 63]!, i)) {
        b.recordMetrics(e);
        JSON.stringify(e);
      }
    },
  };
  const auditEvents = builds.map((b, j) => parsed[j]!.map((body, i) => auditCall(b, body, i)[0]!));
  const time = (f: (b: Build, j: number, i: number) => void, b: Build, j: number): number => {
    const t0 = process.cpuUsage();
    for (let i = 0; i < calls; i++) f(b, j, i);
    const d = process.cpuUsage(t0);
    return (d.user + d.system) / calls;
  };
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  console.log(`CPU µs per call, median of ${rounds} alternated rounds × ${calls} calls (node ${process.version}); builds: ${dirs.join(', ')}`);
  for (const [name, f] of Object.entries(parts)) {
    builds.forEach((b, j) => time(f, b, j)); // warm-up
    const xs = builds.map(() => [] as number[]);
    for (let r = 0; r < rounds; r++) builds.forEach((b, j) => xs[j]!.push(time(f, b, j)));
    console.log(`${name.padEnd(34)} ${xs.map((x) => `${median(x).toFixed(2).padStart(6)} (${x.map((v) => v.toFixed(2)).join(', ')})`).join('   ')}`);
  }
  console.log(`reproduce: node dist/bench/hot-parts.js --rounds ${rounds} --calls ${calls}${arg('builds', '') ? ` --builds ${dirs.join(',')}` : ''}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
