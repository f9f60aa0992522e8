// npm run bench [-- --seconds 2 --rounds 3 --conns 1,16,64 --only name,name --users 10000 --memory N --workers N]
//
// Drives the real runner over its Unix socket the way APISIX does (one exchange at a time per
// connection, ExtraInfo answered on the same connection), alternating scenarios in rounds, and
// prints decisions/s and p50/p99 per scenario and connection count, against the empty chain.

import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { prepare, runLoad, type LoadResult } from './protocol-load.js';
import { startRunner } from './runner-process.js';
import { scenarios, usersArg, type Scenario } from './scenarios.js';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : dflt;
}

const USAGE = `usage: npm run bench [-- --seconds 2 --rounds 3 --conns 1,16,64 --only name,name --users 10000 --memory N --workers N --cpu-prof --runner-node-args "..."]`;
const VALUED = new Set(['seconds', 'rounds', 'conns', 'only', 'users', 'memory', 'workers', 'runner-node-args']);
const FLAGS = new Set(['cpu-prof']);

/** An unknown flag (or --help) prints the usage instead of silently running every scenario. */
function checkArgs(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const name = a.startsWith('--') ? a.slice(2) : undefined;
    if (name !== undefined && VALUED.has(name) && argv[i + 1] !== undefined) i++;
    else if (name === undefined || !FLAGS.has(name)) return a === '--help' || a === '-h' ? '' : `unknown argument ${JSON.stringify(a)}`;
  }
  return undefined;
}

async function main(): Promise<void> {
  const bad = checkArgs(process.argv.slice(2));
  if (bad !== undefined) {
    if (bad) console.error(bad);
    console.error(USAGE);
    process.exitCode = bad ? 2 : 0;
    return;
  }
  const seconds = Number(arg('seconds', '2'));
  const rounds = Number(arg('rounds', '3'));
  const conns = arg('conns', '1,16,64').split(',').map(Number);
  const only = arg('only', '');
  const memoryCalls = Number(arg('memory', '0'));
  // --workers N: a multi-process runner (MCP_RUNNER_WORKERS); CPU and RSS summed over its processes.
  const workers = Number(arg('workers', '1'));
  const dir = mkdtempSync(join(tmpdir(), 'mcp-bench-'));
  const users = usersArg(process.argv);
  const setup = await scenarios(dir, { users });
  const chosen = setup.list.filter((s) => (only ? only.split(',').includes(s.name) : !s.optIn));
  const unknown = only ? only.split(',').filter((n) => !setup.list.some((s) => s.name === n)) : [];
  if (unknown.length > 0) {
    await setup.close();
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`unknown scenario ${unknown.join(', ')}; known: ${setup.list.map((s) => s.name).join(', ')}`);
  }
  // --cpu-prof: the runner writes a V8 CPU profile into the working directory on exit.
  const nodeArgs = process.argv.includes('--cpu-prof') ? ['--cpu-prof', `--cpu-prof-dir=${process.cwd()}`] : [];
  // --runner-node-args "--max-semi-space-size=16 ...": V8 flags for the runner (what ext-plugin.cmd would pass).
  const runnerNodeArgs = arg('runner-node-args', '');
  if (runnerNodeArgs) nodeArgs.push(...runnerNodeArgs.split(' ').filter(Boolean));
  const runner = await startRunner(join(dir, 'runner.sock'), { ...setup.env, MCP_RUNNER_WORKERS: String(workers) }, nodeArgs);
  try {
    const tokens = new Map<Scenario, { pre: number; post: number | undefined }>();
    for (const s of chosen) {
      const pre = await prepare(runner.socket, s.preConf, `route#${s.name}#ext-plugin-pre-req#1`);
      const post = s.postConf ? await prepare(runner.socket, s.postConf, `route#${s.name}#ext-plugin-post-resp#1`) : undefined;
      tokens.set(s, { pre, post });
    }
    // Warm-up: JIT, caches, Redis connection, and every caller's token verified once (steady
    // state: a token is verified on its first call, then its verified claims are reused).
    for (const s of chosen) {
      await runLoad(runner.socket, 4, 300, s.script(tokens.get(s)!));
      if (s.warmup) await runLoad(runner.socket, 16, 600_000, s.script(tokens.get(s)!), s.warmup);
    }

    const results = new Map<string, LoadResult[]>();
    for (let r = 0; r < rounds; r++) {
      for (const c of conns) {
        for (const s of chosen) {
          // Steady state: every token verified within the last minute (the verify cache's
          // TTL), as when each caller calls every few seconds; alternating scenarios would
          // otherwise let tokens go stale between rounds and measure re-verification.
          if (s.warmup) await runLoad(runner.socket, c, 600_000, s.script(tokens.get(s)!), s.warmup);
          const cpu0 = runner.cpuSeconds();
          const res = await runLoad(runner.socket, c, seconds * 1000, s.script(tokens.get(s)!));
          res.cpuMicros = ((runner.cpuSeconds() - cpu0) * 1e6) / res.calls;
          const k = `${s.name}|${c}`;
          results.set(k, [...(results.get(k) ?? []), res]);
        }
      }
    }
    const rssAfter = runner.rssMiB();

    const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
    const rows: string[][] = [['scenario', 'phases', 'conns', 'decisions/s', 'p50 µs', 'p99 µs', 'runner CPU µs/call', 'floor', 'rate vs floor', 'p99 vs floor']];
    // The performance targets for the five plugins: ≥ 90% of their floor's rate, p99 ≤ 1.3× its p99.
    const verdicts: string[] = [];
    for (const c of conns) {
      for (const s of chosen) {
        const rs = results.get(`${s.name}|${c}`)!;
        const rate = median(rs.map((x) => x.rate));
        const p50 = median(rs.map((x) => x.p50));
        const p99 = median(rs.map((x) => x.p99));
        // req rows against `floor`, req+resp rows against `floor-resp` (each scenario names its floor).
        const floorName = s.floorOf ?? s.name;
        const fl = results.get(`${floorName}|${c}`);
        const frate = fl ? median(fl.map((x) => x.rate)) : NaN;
        const fp99 = fl ? median(fl.map((x) => x.p99)) : NaN;
        const cpu = median(rs.map((x) => x.cpuMicros ?? 0));
        const rateShare = rate / frate;
        const p99Ratio = p99 / fp99;
        rows.push([s.name, s.phases, String(c), rate.toFixed(0), p50.toFixed(0), p99.toFixed(0), cpu.toFixed(1), fl ? floorName : '(not run)', fl ? `${(rateShare * 100).toFixed(0)}%` : '-', fl ? `${p99Ratio.toFixed(2)}×` : '-']);
        if (s.name.startsWith('five-plugins') && fl) {
          const met = rateShare >= 0.9 && p99Ratio <= 1.3;
          verdicts.push(
            `${s.name} @${c}: rate ${(rateShare * 100).toFixed(0)}% of ${floorName} (target ≥ 90%), p99 ${p99Ratio.toFixed(2)}× (target ≤ 1.30×): ${met ? 'MET' : 'NOT MET'}`,
          );
        }
      }
    }
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
    const line = (r: string[]): string => `| ${r.map((x, i) => x.padEnd(widths[i]!)).join(' | ')} |`;
    console.log(
      `\nRunner decisions through its Unix socket (node ${process.version}, ${workers} runner process${workers > 1 ? 'es' : ''}, ${cpus().length} cores shared with this load generator, ${rounds} rounds × ${seconds}s, alternating; median of rounds; ${users} callers, -1token rows: one)`,
    );
    console.log(line(rows[0]!));
    console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
    for (const r of rows.slice(1)) console.log(line(r));
    if (verdicts.length > 0) {
      console.log(`\ntargets (five plugins ≥ 90% of the floor's rate, p99 ≤ 1.3× the floor's):`);
      for (const v of verdicts) console.log(`  ${v}`);
    }
    console.log(`\nrunner RSS after the run: ${rssAfter.toFixed(1)} MiB${workers > 1 ? ` (all ${workers + 1} processes)` : ''}`);
    console.log(
      `reproduce: npm run bench -- --seconds ${seconds} --rounds ${rounds} --conns ${conns.join(',')} --users ${users}${only ? ` --only ${only}` : ''}${runnerNodeArgs ? ` --runner-node-args "${runnerNodeArgs}"` : ''}${workers !== 1 ? ` --workers ${workers}` : ''}`,
    );

    if (memoryCalls > 0) {
      const s = chosen.find((x) => x.name === 'five-plugins-resp') ?? chosen[chosen.length - 1]!;
      const samples: string[] = [];
      let done = 0;
      const step = Math.max(1, Math.floor(memoryCalls / 10));
      while (done < memoryCalls) {
        const t0 = performance.now();
        let n = 0;
        while (n < step) {
          const r = await runLoad(runner.socket, 16, 2_000, s.script(tokens.get(s)!));
          n += r.calls;
        }
        done += n;
        samples.push(`${done.toLocaleString('en-US')} calls: ${runner.rssMiB().toFixed(1)} MiB (${((performance.now() - t0) / 1000).toFixed(1)}s)`);
        console.log(samples[samples.length - 1]);
      }
      console.log(`memory: runner RSS over ${memoryCalls.toLocaleString('en-US')} calls of ${s.name}; reproduce: npm run bench -- --only ${s.name} --memory ${memoryCalls}`);
    }
  } finally {
    await runner.stop();
    await setup.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
