// node dist/bench/host-cpu.js [--calls 20000] [--rounds 3] [--conc 16] [--only name,name] [--users 10000] [--profile out.cpuprofile] [--builds /a,/b]
//
// The host and plugins alone, in process, without the socket, frames or a load generator:
// the CPU µs one call costs in JavaScript (process.cpuUsage over many calls). On a shared
// machine this is the steadiest figure for judging a change to the chain or a plugin; the
// socket figures of `npm run bench` stay the ones that count. Alternates scenarios in rounds.
// --builds /path/old,/path/new: each directory a copy of the repository (its `dist` and
// `schemas`, a `node_modules` link); each build's host and plugins run the same calls, the
// builds alternated scenario by scenario in every round, so an old and a new build are
// compared in the same time window (rows are labelled with the directory's name).

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { basename, resolve } from 'node:path';
import * as chainModule from '../runner/host/chain.js';
import * as logModule from '../runner/log.js';
import * as registryModule from '../runner/host/registry.js';
import type { ExtraInfoChannel } from '../runner/protocol/handler.js';
import * as codecModule from '../runner/protocol/codec.js';
import type { ExtraInfoReq, ExtraInfoResp } from '../runner/protocol/messages.js';
import type { CallData } from '../testkit/apisix-client.js';
import type { CallScript } from './protocol-load.js';
import { scenarios, usersArg } from './scenarios.js';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : dflt;
}

/** Answers ExtraInfo like APISIX, from the script's data, without a round trip. */
class DataChannel implements ExtraInfoChannel {
  constructor(private readonly data: CallData) {}
  ask(q: ExtraInfoReq): Promise<ExtraInfoResp> {
    if (q.type === 'var') {
      const v = this.data.vars?.[q.name];
      return Promise.resolve({ result: v === undefined ? undefined : Buffer.from(v) });
    }
    return Promise.resolve({ result: q.type === 'reqBody' ? this.data.reqBody : this.data.respBody });
  }
}

/** One build's host, plugin registry, frame codec and logger (this build's, or a copy's). */
interface Build {
  label: string;
  chain: typeof chainModule;
  registry: typeof registryModule;
  codec: typeof codecModule;
  log: typeof logModule;
}

async function loadBuild(dir: string): Promise<Build> {
  const at = (p: string): string => `file://${resolve(dir, 'dist', p)}`;
  return {
    label: basename(resolve(dir)),
    chain: (await import(at('runner/host/chain.js'))) as typeof chainModule,
    registry: (await import(at('runner/host/registry.js'))) as typeof registryModule,
    codec: (await import(at('runner/protocol/codec.js'))) as typeof codecModule,
    log: (await import(at('runner/log.js'))) as typeof logModule,
  };
}

const { log } = logModule;

async function main(): Promise<void> {
  // The plugins run in this process: their info lines (policy loaded, ...) would land in the
  // table. The runner process of `npm run bench` is quiet the same way.
  log.level = process.env['MCP_RUNNER_LOG_LEVEL'] ?? 'warn';
  const calls = Number(arg('calls', '20000'));
  const rounds = Number(arg('rounds', '3'));
  const conc = Number(arg('conc', '16'));
  const only = arg('only', 'floor,five-plugins-memory,floor-resp,five-plugins-resp');
  const users = usersArg(process.argv);
  const dir = mkdtempSync(join(tmpdir(), 'mcp-bench-'));
  const setup = await scenarios(dir, { users });
  Object.assign(process.env, setup.env);
  const buildDirs = arg('builds', '').split(',').filter(Boolean);
  const builds: Build[] = buildDirs.length === 0 ? [{ label: '', chain: chainModule, registry: registryModule, codec: codecModule, log: logModule }] : await Promise.all(buildDirs.map(loadBuild));
  const hosts: Array<InstanceType<Build['chain']['Host']>> = [];
  for (const b of builds) {
    b.log.log.level = log.level;
    const registry = new b.registry.PluginRegistry();
    await b.registry.loadPlugins(registry, setup.env['MCP_RUNNER_PLUGINS']?.split(',') ?? []);
    hosts.push(new b.chain.Host({ registry }));
  }
  const chosen = setup.list.filter((s) => only.split(',').includes(s.name));
  const later = (): number => Date.now() + 50_000;
  try {
    const runs = chosen.flatMap((s) => builds.map((b, bi) => {
      const host = hosts[bi]!;
      const { decodeHTTPReqCallReq, decodeHTTPRespCallReq } = b.codec;
      const pre = host.buildChain(s.preConf, `route#${s.name}#ext-plugin-pre-req#1`);
      const post = s.postConf ? host.buildChain(s.postConf, `route#${s.name}#ext-plugin-post-resp#1`) : undefined;
      const script = s.script({ pre: 1, post: post ? 2 : undefined });
      const one = async (i: number): Promise<void> => {
        const c: CallScript = script(i);
        const r = await host.onRequest(pre, decodeHTTPReqCallReq(c.reqCall), new DataChannel(c.reqData), later());
        c.checkReq(r);
        if (c.respCall && post) {
          const rr = await host.onResponse(post, decodeHTTPRespCallReq(c.respCall.body), new DataChannel(c.respCall.data(r)), later());
          c.respCall.check(rr);
        }
      };
      return { name: b.label ? `${s.name}@${b.label}` : s.name, one, warmup: s.warmup ?? 0 };
    }));
    const run = async (one: (i: number) => Promise<void>, n: number): Promise<number> => {
      const cpu0 = process.cpuUsage();
      let next = 0;
      await Promise.all(
        Array.from({ length: conc }, async () => {
          while (next < n) await one(next++);
        }),
      );
      const d = process.cpuUsage(cpu0);
      // Let the audit writer and timers of this batch run before the next measurement.
      await new Promise((r) => setTimeout(r, 50));
      return (d.user + d.system) / n;
    };
    // Warm-up: JIT, and every caller's token verified once (steady state).
    for (const r of runs) await run(r.one, Math.max(Math.min(2000, calls), r.warmup));
    // --profile: a V8 CPU profile of the measured rounds only (not setup or warm-up).
    const profileTo = arg('profile', '');
    const session = profileTo ? new Session() : undefined;
    if (session) {
      session.connect();
      await session.post('Profiler.enable');
      await session.post('Profiler.start');
    }
    const results = new Map<string, number[]>();
    for (let round = 0; round < rounds; round++) {
      for (const r of runs) {
        // Steady state: every token verified within the last minute (the verify cache's TTL),
        // as when each caller calls every few seconds. Alternating scenarios would otherwise
        // let the tokens go stale between rounds and measure re-verification instead.
        if (r.warmup) await run(r.one, r.warmup);
        results.set(r.name, [...(results.get(r.name) ?? []), await run(r.one, calls)]);
      }
    }
    if (session) {
      const { profile } = await session.post('Profiler.stop');
      writeFileSync(profileTo, JSON.stringify(profile));
      session.disconnect();
    }
    console.log(`\nHost + plugins in process, no socket (node ${process.version}, ${rounds} rounds × ${calls} calls, ${conc} concurrent; median; ${users} callers, -1token rows: one)`);
    for (const [name, xs] of results) {
      const sorted = [...xs].sort((a, b) => a - b);
      console.log(`${name.padEnd(30)} ${sorted[Math.floor(sorted.length / 2)]!.toFixed(1).padStart(7)} CPU µs/call   (rounds: ${xs.map((x) => x.toFixed(1)).join(', ')})`);
    }
    console.log(`reproduce: node dist/bench/host-cpu.js --calls ${calls} --rounds ${rounds} --conc ${conc} --users ${users} --only ${only}${buildDirs.length > 0 ? ` --builds ${buildDirs.join(',')}` : ''}`);
  } finally {
    for (const host of hosts) await host.shutdown();
    await setup.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
