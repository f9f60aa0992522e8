// node dist/bench/mix.js [--conns 16] [--seconds 3] [--rounds 3]
//
// The mix benchmark through the APISIX emulator: a realistic agent session mix (70%
// tools/call of tools whose results need no redaction, 15% tools/call of a redacted tool, 10%
// tools/list, 5% ping) sent by a fixed number of keep-alive HTTP clients, against three routes
// of one emulator and one spawned runner, alternating in rounds:
//   no-ext-plugin  the sample server behind a plain route (what the gateway costs at least)
//   layout         the routes `npm run layout` generates: fast pre-req-only routes for calls
//                  whose answers policy never reads, the full route for the rest
//   full-route     everything on the full route (pre-req + post-resp)
// The sample MCP server runs in its own process; the load clients share the emulator's.
// The five plugins run with a realistic conf (JWT identity, inline policy, limits in memory,
// audit to a file, credential injection, redaction of crm.* arguments and results). The
// emulator is not APISIX: absolute figures do not transfer; the ratios between routes and the
// share of calls that took the response phase do.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { PACKAGE_ROOT } from '../runner/host/schema-file.js';
import { parseGateway, type GatewayDoc } from '../runner/layout/gateway.js';
import { generateLayout, type ApisixRoute } from '../runner/layout/generate.js';
import { startEmulator, type RouteConf } from '../emulator/index.js';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : dflt;
}

const JWT_SECRET = 'mix-bench-hs256-secret-0123456789abcdef0123456789';
const ISSUER = 'https://idp.example.com';
const AUDIENCE = 'https://gateway.example.com/mcp';

const POLICY = {
  version: 1,
  actors: [
    {
      name: 'support-agent',
      actor: { app: 'support-agent' },
      allowed_tools: ['crm.*', 'billing.get_subscription_status', 'debug.echo'],
      denied_tools: ['account.delete_customer', 'billing.update_payment_method'],
      allowed_resources: ['*'],
      allowed_prompts: ['support.*'],
    },
  ],
};

function gateway(server: string, host: string, auditPath: string): GatewayDoc {
  return parseGateway({
    server,
    hosts: [host],
    upstream: { type: 'roundrobin', nodes: { 'upstream:1': 1 } },
    tools: ['crm.lookup_customer', 'crm.search_accounts', 'billing.get_subscription_status', 'debug.echo'],
    plugins: [
      { name: 'mcp-audit', conf: { server, sink: { type: 'file', path: auditPath } } },
      {
        name: 'mcp-authz',
        conf: {
          server,
          policy: POLICY,
          identity: { jwt: { shared_secret: '$env://MIX_JWT_SECRET', issuer: ISSUER, audience: AUDIENCE }, claims: { user: 'sub', app: 'azp', tenant: 'tenant' } },
        },
      },
      {
        name: 'mcp-ratelimit',
        conf: {
          server,
          store: { type: 'memory' },
          limits: [
            { name: 'per-user', by: ['user'], requests: 100_000_000, per: 'minute' },
            { name: 'per-tenant-tool', by: ['tenant', 'tool'], requests: 100_000_000, per: 'minute' },
          ],
        },
      },
      { name: 'mcp-credential', conf: { server, credential: { type: 'bearer', token: '$env://MIX_BACKEND_TOKEN' } } },
      { name: 'mcp-redact', conf: { tools: ['crm.*'], arguments: true, results: true } },
    ],
  });
}

/** The mix, as a repeating sequence of 20 calls: 14 plain tools/call, 3 redacted, 2 lists, 1 ping. */
function mixBody(i: number): string {
  const slot = i % 20;
  const id = i + 1;
  if (slot < 14) {
    const name = slot % 2 === 0 ? 'billing.get_subscription_status' : 'debug.echo';
    const args = slot % 2 === 0 ? { customer_id: `c-${1000 + (i % 50)}` } : { text: `hello ${i % 100}` };
    return JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } });
  }
  if (slot < 17) return JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'crm.lookup_customer', arguments: { customer_id: 'c-1001' } } });
  if (slot < 19) return JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/list', params: {} });
  return JSON.stringify({ jsonrpc: '2.0', id, method: 'ping' });
}

/** The sample MCP server in its own process (JSON mode), so it does not share a core's time with the emulator. */
async function startUpstream(): Promise<{ port: number; child: ChildProcess }> {
  const port = await new Promise<number>((resolve, reject) => {
    const probe = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (probe.address() as net.AddressInfo).port;
      probe.close(() => resolve(p));
    });
    probe.on('error', reject);
  });
  const child = spawn(process.execPath, [join(PACKAGE_ROOT, 'dist/examples/sample-mcp-server.js'), '--port', String(port), '--json'], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`sample MCP server exited with ${code}`)));
  });
  return { port, child };
}

interface Result {
  calls: number;
  rate: number;
  p50: number;
  p99: number;
  respPhaseShare: number;
}

async function main(): Promise<void> {
  const conns = Number(arg('conns', '16'));
  const seconds = Number(arg('seconds', '3'));
  const rounds = Number(arg('rounds', '3'));
  const dir = mkdtempSync(join(tmpdir(), 'mcp-mix-'));
  const upstream = await startUpstream();
  const node = { [`127.0.0.1:${upstream.port}`]: 1 };
  const toEmulator = (routes: ApisixRoute[]): RouteConf[] =>
    routes.map((r) => ({ ...(structuredClone(r) as unknown as RouteConf), upstream: { type: 'roundrobin', nodes: node } }));

  const layout = await generateLayout(gateway('mix-layout', 'layout.test', join(dir, 'audit.log')), { baseDir: PACKAGE_ROOT });
  const full = await generateLayout(gateway('mix-full', 'full.test', join(dir, 'audit.log')), { baseDir: PACKAGE_ROOT });
  const routes: RouteConf[] = [
    { id: 'plain', uri: '/mcp', hosts: ['plain.test'], methods: ['POST'], upstream: { type: 'roundrobin', nodes: node } } as RouteConf,
    ...toEmulator(layout.routes),
    ...toEmulator(full.routes.filter((r) => r.id.endsWith('-full'))),
  ];
  const emulator = await startEmulator({
    routes,
    cmd: [process.execPath, join(PACKAGE_ROOT, 'dist/runner/main.js')],
    envs: { MIX_JWT_SECRET: JWT_SECRET, MIX_BACKEND_TOKEN: 'backend-secret-token-0123456789', MCP_RUNNER_LOG_LEVEL: 'warn' },
  });
  const jwt = await new SignJWT({ azp: 'support-agent', tenant: 'acme' })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setSubject('alice')
    .setIssuedAt()
    .setExpirationTime('2h')
    .sign(new TextEncoder().encode(JWT_SECRET));
  const agent = new http.Agent({ keepAlive: true, maxSockets: conns });

  const post = (host: string, body: string): Promise<{ status: number; text: string }> =>
    new Promise((resolve, reject) => {
      const req = http.request(
        `${emulator.url}/mcp`,
        {
          method: 'POST',
          agent,
          headers: {
            host,
            'content-type': 'application/json',
            accept: 'application/json, text/event-stream',
            'mcp-protocol-version': '2025-06-18',
            authorization: `Bearer ${jwt}`,
            'content-length': Buffer.byteLength(body),
          },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (text += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(body);
    });

  const run = async (host: string, ms: number): Promise<Result> => {
    const latencies: number[] = [];
    const resp0 = emulator.counters.exchanges.httpRespCall;
    let i = 0;
    const start = performance.now();
    const end = start + ms;
    await Promise.all(
      Array.from({ length: conns }, async () => {
        while (performance.now() < end) {
          const body = mixBody(i++);
          const t0 = performance.now();
          const r = await post(host, body);
          // A bench that measures refusals is wrong: every call of the mix must succeed.
          if (r.status !== 200 || r.text.includes('"error"')) throw new Error(`${host}: ${body} answered ${r.status}: ${r.text.slice(0, 300)}`);
          if (host !== 'plain.test' && body.includes('crm.lookup_customer') && r.text.includes('jane.doe@example.com')) throw new Error(`${host}: result not redacted`);
          latencies.push((performance.now() - t0) * 1000);
        }
      }),
    );
    const secs = (performance.now() - start) / 1000;
    latencies.sort((a, b) => a - b);
    const pct = (p: number): number => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] ?? 0;
    const calls = latencies.length;
    return { calls, rate: calls / secs, p50: pct(0.5), p99: pct(0.99), respPhaseShare: (emulator.counters.exchanges.httpRespCall - resp0) / calls };
  };

  const variants = [
    { name: 'no-ext-plugin', host: 'plain.test' },
    { name: 'layout', host: 'layout.test' },
    { name: 'full-route', host: 'full.test' },
  ];
  try {
    await emulator.waitForRunner(10_000);
    for (const v of variants) await run(v.host, 1000); // warm-up: JIT, conf tokens, connections
    const results = new Map<string, Result[]>();
    for (let r = 0; r < rounds; r++) {
      for (const v of variants) results.set(v.name, [...(results.get(v.name) ?? []), await run(v.host, seconds * 1000)]);
    }
    const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
    const base = median(results.get('no-ext-plugin')!.map((x) => x.rate));
    const rows = [['route', 'req/s', 'p50 µs', 'p99 µs', 'calls through post-resp', 'rate vs no-ext-plugin']];
    for (const v of variants) {
      const rs = results.get(v.name)!;
      const rate = median(rs.map((x) => x.rate));
      rows.push([
        v.name,
        rate.toFixed(0),
        median(rs.map((x) => x.p50)).toFixed(0),
        median(rs.map((x) => x.p99)).toFixed(0),
        `${(median(rs.map((x) => x.respPhaseShare)) * 100).toFixed(1)}%`,
        `${((rate / base) * 100).toFixed(0)}%`,
      ]);
    }
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
    const line = (r: string[]): string => `| ${r.map((x, i) => x.padEnd(widths[i]!)).join(' | ')} |`;
    console.log(
      `\nMix through the APISIX emulator (70% plain tools/call, 15% redacted tools/call, 10% tools/list, 5% ping; ${conns} keep-alive clients; node ${process.version}; ${rounds} rounds × ${seconds}s alternating, median)`,
    );
    console.log('The emulator is not APISIX: compare the ratios and the post-resp share, not the absolute rates.');
    console.log(line(rows[0]!));
    console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
    for (const r of rows.slice(1)) console.log(line(r));
    console.log(`reproduce: npm run build && node dist/bench/mix.js --conns ${conns} --seconds ${seconds} --rounds ${rounds}`);
  } finally {
    agent.destroy();
    await emulator.stop();
    upstream.child.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
