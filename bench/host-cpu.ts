// node dist/bench/host-cpu.js [--calls 20000] [--rounds 3] [--conc 16] [--only name,name]
//
// The host and plugins alone, in process, without the socket, frames or a load generator:
// the CPU µs one call costs in JavaScript (process.cpuUsage over many calls). On a shared
// machine this is the steadiest figure for judging a change to the chain or a plugin; the
// socket figures of `npm run bench` stay the ones that count. Alternates scenarios in rounds.

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Host } from '../runner/host/chain.js';
import { log } from '../runner/log.js';
import { PluginRegistry, loadPlugins } from '../runner/host/registry.js';
import type { ExtraInfoChannel } from '../runner/protocol/handler.js';
import { decodeHTTPReqCallReq, decodeHTTPRespCallReq } from '../runner/protocol/codec.js';
import type { ExtraInfoReq, ExtraInfoResp } from '../runner/protocol/messages.js';
import type { CallData } from '../testkit/apisix-client.js';
import type { CallScript } from './protocol-load.js';
import { scenarios } from './scenarios.js';

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

async function main(): Promise<void> {
  // The plugins run in this process: their info lines (policy loaded, ...) would land in the
  // table. The runner process of `npm run bench` is quiet the same way.
  log.level = process.env['MCP_RUNNER_LOG_LEVEL'] ?? 'warn';
  const calls = Number(arg('calls', '20000'));
  const rounds = Number(arg('rounds', '3'));
  const conc = Number(arg('conc', '16'));
  const only = arg('only', 'floor,five-plugins-memory,floor-resp,five-plugins-resp');
  const setup = await scenarios(mkdtempSync(join(tmpdir(), 'mcp-bench-')));
  Object.assign(process.env, setup.env);
  const registry = new PluginRegistry();
  await loadPlugins(registry, setup.env['MCP_RUNNER_PLUGINS']?.split(',') ?? []);
  const host = new Host({ registry });
  const chosen = setup.list.filter((s) => only.split(',').includes(s.name));
  const later = (): number => Date.now() + 50_000;
  try {
    const runs = chosen.map((s) => {
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
      return { name: s.name, one };
    });
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
    for (const r of runs) await run(r.one, Math.min(2000, calls));
    const results = new Map<string, number[]>();
    for (let round = 0; round < rounds; round++) {
      for (const r of runs) results.set(r.name, [...(results.get(r.name) ?? []), await run(r.one, calls)]);
    }
    console.log(`\nHost + plugins in process, no socket (node ${process.version}, ${rounds} rounds × ${calls} calls, ${conc} concurrent; median)`);
    for (const [name, xs] of results) {
      const sorted = [...xs].sort((a, b) => a - b);
      console.log(`${name.padEnd(22)} ${sorted[Math.floor(sorted.length / 2)]!.toFixed(1).padStart(7)} CPU µs/call   (rounds: ${xs.map((x) => x.toFixed(1)).join(', ')})`);
    }
    console.log(`reproduce: node dist/bench/host-cpu.js --calls ${calls} --rounds ${rounds} --conc ${conc} --only ${only}`);
  } finally {
    await host.shutdown();
    await setup.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
