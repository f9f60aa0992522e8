// The demo must not rot: run its steps (the shipped routes, the emulator, the spawned runner,
// the sample server, the MCP SDK client) and assert what each step observed, then run the CLI
// the way `npm run demo` does and check its exit status and plain (non-TTY) output.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { isAbsolute, join } from 'node:path';
import { PACKAGE_ROOT } from '../../runner/host/schema-file.js';
import { loadApisixYaml } from '../../emulator/config.js';
import { ALLOWED_TOOL, BURST_TOOL, CONFIRM_TOOL, CUSTOMER_SECRETS, DENIED_TOOL, REDACTED_TOOL, auditLines, pickMetrics, runDemo, sumCounters } from '../../dev/demo.js';
import { SHIPPED_ROUTES, adaptShippedRoutes, jwtSettings, referencedEnvs } from '../../testkit/shipped-conf.js';

test('runDemo: every step behaves as the demo claims', async () => {
  const report = await runDemo({ quiet: true });
  const failed = report.steps.filter((s) => !s.ok).map((s) => `${s.title}: ${s.problems.join('; ')}`);
  assert.deepEqual(failed, []);
  assert.equal(report.ok, true);
  assert.equal(report.steps.length, 10);
  assert.ok(report.ms < 20_000, `took ${report.ms} ms`);
  const f = report.facts;

  assert.equal(f.serverName, 'sample-mcp-server');
  // tools/list: a strict subset, without the denied tools, with the ones the session uses.
  assert.equal(f.serverTools?.length, 11);
  const visible = f.visibleTools ?? [];
  assert.ok(visible.length > 0 && visible.length < 11, visible.join(','));
  for (const t of [ALLOWED_TOOL, CONFIRM_TOOL, REDACTED_TOOL, BURST_TOOL]) assert.ok(visible.includes(t), `${t} listed`);
  for (const t of [DENIED_TOOL, 'billing.update_payment_method', 'debug.echo']) assert.ok(!visible.includes(t), `${t} hidden`);

  assert.match(f.allowedText ?? '', /Subscription of c-1001: active/);

  assert.equal(f.denied?.status, 200);
  assert.equal(f.denied?.error?.code, -32003);
  assert.equal(f.denied?.error?.data?.['rule'], `support-agent/denied_tools/${DENIED_TOOL}`);
  assert.equal(f.denied?.reachedServer, false);

  assert.equal(f.confirmation?.first.status, 200);
  assert.equal(f.confirmation?.first.error?.code, -32010);
  assert.equal(typeof f.confirmation?.first.error?.data?.['token'], 'string');
  assert.match(f.confirmation?.retryText ?? '', /^Case TCK-\d+ opened: Refund/);

  for (const secret of CUSTOMER_SECRETS) {
    assert.ok(f.redaction?.upstreamText.includes(secret), `the server sent ${secret}`);
    assert.ok(!f.redaction?.agentResult.includes(secret), `the agent got ${secret}`);
  }
  assert.match(f.redaction?.agentText ?? '', /\*\*\*\*1111/);

  const limit = f.rateLimit;
  assert.ok(limit !== undefined && limit.allowedBefore > 0);
  assert.equal(limit.refusal.status, 200);
  assert.ok(Number(limit.refusal.headers.get('retry-after')) >= 1, `Retry-After ${limit.refusal.headers.get('retry-after')}`);
  assert.equal(limit.refusal.error?.code, -32029);
  assert.equal(limit.refusal.error?.data?.['limit'], 'per-user');

  // Audit: one event per tools/call of the session, each with identity, decision and latency.
  const events = f.audit ?? [];
  const calls = events.filter((e) => e['method'] === 'tools/call');
  assert.equal(calls.length, 5 + limit.allowedBefore + 1);
  for (const e of calls) {
    assert.equal(e.user, 'alice');
    assert.equal(e['app'], 'support-agent');
    assert.equal(typeof e['latency_ms'], 'number');
  }
  const denied = calls.find((e) => e.tool === DENIED_TOOL);
  assert.equal(denied?.result, 'denied');
  assert.equal(denied?.decision?.rule, `support-agent/denied_tools/${DENIED_TOOL}`);
  const limited = calls.filter((e) => e.result === 'limited');
  assert.equal(limited.length, 1);
  assert.equal(limited[0]?.['stopped_by'], 'mcp-ratelimit');
  assert.deepEqual(
    calls.filter((e) => e.tool === CONFIRM_TOOL).map((e) => `${e.decision?.action}:${e.result}`),
    ['confirm:denied', 'allow:forwarded'],
  );

  // The printed table folds the burst into one line and shows the limit rule.
  const table = auditLines(events);
  assert.ok(table.some((l) => l.includes(BURST_TOOL) && l.includes(`×${limit.allowedBefore}`)), table.join('\n'));
  assert.ok(table.some((l) => l.includes('limit per-user') && l.includes('limited')), table.join('\n'));

  const metrics = f.metrics ?? [];
  assert.ok(metrics.some((l) => l.startsWith('mcp_gateway_calls_total{') && l.includes(`tool="${BURST_TOOL}"`) && l.includes('result="limited"')), metrics.join('\n'));
  assert.ok(metrics.some((l) => l.startsWith('mcp_gateway_ratelimit_hits_total{') && l.includes('rule="per-user"')), metrics.join('\n'));
});

test('runDemo with a two-process runner (MCP_RUNNER_WORKERS=2): every step still behaves', async () => {
  const report = await runDemo({ quiet: true, runnerWorkers: 2 });
  const failed = report.steps.filter((s) => !s.ok).map((s) => `${s.title}: ${s.problems.join('; ')}`);
  assert.deepEqual(failed, []);
  // Both processes' endpoints were read and added up: the session's calls are all counted.
  const searches = (report.facts.metrics ?? []).filter((l) => l.includes(`tool="${BURST_TOOL}"`) && l.startsWith('mcp_gateway_calls_total{'));
  const counted = searches.reduce((n, l) => n + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
  assert.equal(counted, (report.facts.rateLimit?.allowedBefore ?? 0) + 1, searches.join('\n'));
});

test('sumCounters adds _total samples of several processes and keeps the rest from the first', () => {
  const a = ['# HELP x', 'mcp_gateway_calls_total{tool="a"} 2', 'process_start_time_seconds 100', 'up 1'].join('\n');
  const b = ['mcp_gateway_calls_total{tool="a"} 3', 'mcp_gateway_calls_total{tool="b"} 1', 'process_start_time_seconds 200'].join('\n');
  assert.deepEqual(sumCounters([a, b]).split('\n'), ['mcp_gateway_calls_total{tool="a"} 5', 'process_start_time_seconds 100', 'up 1', 'mcp_gateway_calls_total{tool="b"} 1']);
});

test('shipped routes adapted for a local run: only upstream, audit file and policy path change', async () => {
  const shipped = (await loadApisixYaml(SHIPPED_ROUTES)).routes ?? [];
  assert.ok(shipped.length > 0);
  const adapted = adaptShippedRoutes(shipped, { upstream: '127.0.0.1:1234', auditPath: '/tmp/x/audit.log' });
  assert.equal(adapted.length, shipped.length);
  for (const [i, r] of adapted.entries()) {
    assert.deepEqual(r.upstream.nodes, { '127.0.0.1:1234': 1 });
    assert.notDeepEqual(shipped[i]!.upstream.nodes, r.upstream.nodes, 'the shipped route is not mutated');
    for (const e of r.plugins?.['ext-plugin-pre-req']?.conf ?? []) {
      const conf = JSON.parse(e.value) as Record<string, unknown>;
      const original = JSON.parse(shipped[i]!.plugins!['ext-plugin-pre-req']!.conf!.find((x) => x.name === e.name)!.value) as Record<string, unknown>;
      if (e.name === 'mcp-audit') assert.equal((conf['sink'] as { path: string }).path, '/tmp/x/audit.log');
      else if (e.name === 'mcp-authz') {
        assert.ok(isAbsolute(String(conf['policy_file'])));
        assert.equal(conf['policy_file'], join(PACKAGE_ROOT, String(original['policy_file'])));
        assert.deepEqual({ ...conf, policy_file: original['policy_file'] }, original);
      } else assert.deepEqual(conf, original);
    }
  }
  // The secrets the demo must provide, and the JWT it must mint.
  const envs = referencedEnvs(adapted);
  const jwt = jwtSettings(adapted);
  assert.ok(envs.includes(jwt.secretEnv), envs.join(','));
  assert.ok(jwt.issuer.length > 0 && jwt.audience.length > 0);
});

test('npm run demo (the CLI): exit 0, every section, no colours when stdout is not a TTY', async () => {
  const child = spawn(process.execPath, [join(PACKAGE_ROOT, 'dist/dev/demo.js')], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: undefined } });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
  child.stderr.on('data', (c: Buffer) => (err += c.toString('utf8')));
  const code = await new Promise<number | null>((res) => child.on('exit', (c) => res(c)));
  assert.equal(code, 0, `${out}\n${err}`);
  assert.ok(!out.includes('\x1b['), 'no ANSI escapes in piped output');
  assert.ok(!out.includes('✘'), out);
  for (const section of ['▸ Stack', '▸ 2. tools/list', '▸ 4. denied tool', '▸ 7. rate limit', '▸ 8. audit events', '▸ 9. metrics']) assert.ok(out.includes(section), `missing ${section}`);
  assert.match(out, /✔ all 10 steps behaved as expected/);
  for (const secret of CUSTOMER_SECRETS) assert.equal(out.split(secret).length - 1, 1, `${secret} printed only as what the server sent`);
});

test('pickMetrics keeps a few telling lines and no comments', () => {
  const text = [
    '# HELP mcp_gateway_calls_total calls',
    'mcp_gateway_calls_total{method="tools/call",tool="a",result="ok"} 2',
    'mcp_gateway_calls_total{method="unknown",tool="",result="ok"} 1',
    'mcp_gateway_policy_decisions_total{decision="allow",rule="r"} 1',
    'mcp_gateway_policy_decisions_total{decision="deny",rule="d"} 1',
    'mcp_gateway_ratelimit_hits_total{rule="per-user"} 1',
    'mcp_gateway_call_duration_seconds_bucket{le="0.1"} 3',
  ].join('\n');
  assert.deepEqual(pickMetrics(text), [
    'mcp_gateway_calls_total{method="tools/call",tool="a",result="ok"} 2',
    'mcp_gateway_policy_decisions_total{decision="deny",rule="d"} 1',
    'mcp_gateway_ratelimit_hits_total{rule="per-user"} 1',
  ]);
});
