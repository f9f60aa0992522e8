// `npm run demo`: the whole gateway on one machine, no Docker. The sample MCP server, the APISIX
// emulator with the shipped routes (conf/apisix.yaml) and the runner spawned like ext-plugin.cmd;
// then a scripted MCP SDK client session that shows each policy at work and checks that it
// behaved as expected. Exit status 0 only when every step did.
//
// runDemo({ quiet: true }) runs the same steps without printing (t/dev/demo.test.ts).

import { pathToFileURL } from 'node:url';
import { relative } from 'node:path';
import { PACKAGE_ROOT } from '../runner/host/schema-file.js';
import type { AuditEvent } from '../e2e/harness.js';
import { DemoClient, type Refusal } from './demo-client.js';
import { SHIPPED_ROUTES } from '../testkit/shipped-conf.js';
import { DEMO_IDENTITY, startDemoStack, type DemoStack } from './stack.js';

export interface DemoOptions {
  /** Print nothing. */
  quiet?: boolean;
  /** Runner processes (MCP_RUNNER_WORKERS); default 1. */
  runnerWorkers?: number;
  /** Colours; default: only when stdout is a TTY and NO_COLOR is unset. */
  color?: boolean;
  /** Where lines go (default stdout). */
  write?: (line: string) => void;
}

export interface StepOutcome {
  title: string;
  ok: boolean;
  /** What did not behave as expected (empty when ok). */
  problems: string[];
}

/** What each step observed, for the test to assert on. */
export interface DemoFacts {
  serverName?: string;
  serverTools?: string[];
  visibleTools?: string[];
  allowedText?: string;
  denied?: Refusal & { reachedServer: boolean };
  confirmation?: { first: Refusal; retryText: string };
  redaction?: { upstreamText: string; agentText: string; agentResult: string };
  rateLimit?: { allowedBefore: number; refusal: Refusal };
  audit?: AuditEvent[];
  metrics?: string[];
  /** The whole scrape of step 9 (the dashboard test checks every queried metric is in it). */
  metricsText?: string;
  /** The runner's error.log tail, kept only when a step failed. */
  runnerLog?: string[];
}

export interface DemoReport {
  ok: boolean;
  ms: number;
  steps: StepOutcome[];
  facts: DemoFacts;
}

export const DENIED_TOOL = 'account.delete_customer';
export const ALLOWED_TOOL = 'billing.get_subscription_status';
export const CONFIRM_TOOL = 'ticket.create_case';
export const REDACTED_TOOL = 'crm.lookup_customer';
export const BURST_TOOL = 'crm.search_accounts';
/** The sample customer's secrets that must never reach the agent. */
export const CUSTOMER_SECRETS = ['4111 1111 1111 1111', 'jane.doe@example.com'];
const BURST_MAX = 80;
const RUNNER_LOG_LINES = 15;

// ---------------------------------------------------------------- output

interface Style {
  bold(s: string): string;
  dim(s: string): string;
  green(s: string): string;
  red(s: string): string;
  cyan(s: string): string;
  yellow(s: string): string;
}

function style(color: boolean): Style {
  const wrap = (open: number, close: number) => (s: string) => (color ? `\x1b[${open}m${s}\x1b[${close}m` : s);
  return { bold: wrap(1, 22), dim: wrap(2, 22), green: wrap(32, 39), red: wrap(31, 39), cyan: wrap(36, 39), yellow: wrap(33, 39) };
}

class StepRecorder {
  readonly problems: string[] = [];
  constructor(
    private readonly out: (line: string) => void,
    private readonly s: Style,
  ) {}

  info(line: string): void {
    this.out(`    ${line}`);
  }

  /** Records whether an expectation held, with a ✔/✘ line. */
  check(ok: boolean, what: string, why = ''): boolean {
    if (ok) this.out(`  ${this.s.green('✔')} ${what}`);
    else {
      this.problems.push(why === '' ? what : `${what}: ${why}`);
      this.out(`  ${this.s.red('✘')} ${what}${why === '' ? '' : this.s.red(` (${why})`)}`);
    }
    return ok;
  }
}

const quote = (text: string, max = 110): string => {
  const one = text.replace(/\s+/g, ' ').trim();
  return `"${one.length > max ? `${one.slice(0, max - 1)}…` : one}"`;
};

// ---------------------------------------------------------------- the session

export async function runDemo(opts: DemoOptions = {}): Promise<DemoReport> {
  const started = Date.now();
  const write = opts.quiet === true ? () => undefined : (opts.write ?? ((line: string) => void process.stdout.write(`${line}\n`)));
  const s = style(opts.color ?? (process.stdout.isTTY === true && process.env['NO_COLOR'] === undefined));
  const steps: StepOutcome[] = [];
  const facts: DemoFacts = {};

  const step = async (title: string, body: (r: StepRecorder) => Promise<void>): Promise<void> => {
    write('');
    write(s.bold(s.cyan(`▸ ${title}`)));
    const r = new StepRecorder(write, s);
    try {
      await body(r);
    } catch (err) {
      r.check(false, 'step failed', (err as Error).message.split('\n')[0] ?? String(err));
    }
    steps.push({ title, ok: r.problems.length === 0, problems: r.problems });
  };

  write(s.bold('MCP gateway demo: MCP SDK client → APISIX (emulator) → runner + 5 plugins → sample MCP server'));

  let stack: DemoStack | undefined;
  let agent: DemoClient | undefined;
  let direct: DemoClient | undefined;
  try {
    await step('Stack', async (r) => {
      stack = await startDemoStack({ runnerWorkers: opts.runnerWorkers });
      r.check(true, `sample MCP server       ${stack.sample.url}`);
      r.check(true, `APISIX emulator         ${stack.emulator.url}, routes of ${relative(PACKAGE_ROOT, SHIPPED_ROUTES)} (upstream → the sample server)`);
      r.info(s.dim(stack.routeIds.join(', ')));
      r.check(true, `runner                  spawned like ext-plugin.cmd (pid ${stack.emulator.runnerPid() ?? '?'}), unix:${stack.emulator.socketPath}`);
      const who = DEMO_IDENTITY;
      r.check(true, `identity                HS256 JWT from ${stack.tokenIssuer}: user ${who.user}, app ${who.app}, ${who.environment}, tenant ${who.tenant}, roles ${who.roles.join(',')}`);
    });
    if (stack === undefined) throw new Error('the stack did not start');
    const st: DemoStack = stack;

    await step('1. initialize (through the gateway)', async (r) => {
      agent = await DemoClient.connect(st.mcpUrl, { authorization: `Bearer ${st.token}` });
      const v = agent.sdk.getServerVersion();
      facts.serverName = v?.name;
      r.check(v?.name === 'sample-mcp-server', `session initialized with ${v?.name ?? '?'} ${v?.version ?? ''}`.trimEnd(), `server info ${JSON.stringify(v)}`);
    });
    const a = (): DemoClient => {
      if (agent === undefined) throw new Error('no MCP session (initialize failed)');
      return agent;
    };

    await step('2. tools/list: what the server offers vs what this agent sees', async (r) => {
      direct = await DemoClient.connect(st.sample.url);
      const serverTools = (await direct.sdk.listTools()).tools.map((t) => t.name);
      const visibleTools = (await a().sdk.listTools()).tools.map((t) => t.name);
      facts.serverTools = serverTools;
      facts.visibleTools = visibleTools;
      const hidden = serverTools.filter((n) => !visibleTools.includes(n));
      r.info(`server offers (${serverTools.length}): ${s.dim(serverTools.join(', '))}`);
      r.info(`agent sees    (${visibleTools.length}): ${visibleTools.join(', ')}`);
      r.check(hidden.length > 0 && visibleTools.every((n) => serverTools.includes(n)), `filtered by policy: ${hidden.length} tools hidden`, 'nothing was filtered');
      r.check(!visibleTools.includes(DENIED_TOOL) && visibleTools.includes(REDACTED_TOOL), `${DENIED_TOOL} is not listed, ${REDACTED_TOOL} is`);
    });

    await step(`3. allowed call: ${ALLOWED_TOOL}`, async (r) => {
      const text = await a().callText(ALLOWED_TOOL, { customer_id: 'c-1001' });
      facts.allowedText = text;
      r.check(/Subscription of c-1001: active/.test(text), `answered ${quote(text)}`);
    });

    await step(`4. denied tool: ${DENIED_TOOL}`, async (r) => {
      const before = st.sample.seen.length;
      const refusal = await a().refused(() => a().sdk.callTool({ name: DENIED_TOOL, arguments: { customer_id: 'c-1001' } }));
      const reachedServer = st.sample.seen.slice(before).some((x) => JSON.stringify(x.body ?? null).includes(DENIED_TOOL));
      facts.denied = { ...refusal, reachedServer };
      const e = refusal.error;
      r.check(refusal.status === 200 && e?.code === -32003, `HTTP ${refusal.status}, JSON-RPC error ${e?.code ?? '?'}: ${quote(e?.message ?? '')}`);
      r.check(typeof e?.data?.['rule'] === 'string', `rule ${s.yellow(String(e?.data?.['rule']))}`);
      r.check(!reachedServer, 'the MCP server never saw the call');
    });

    await step(`5. confirmation required: ${CONFIRM_TOOL}`, async (r) => {
      const args = { customer_id: 'c-1001', subject: 'Refund for order ORD-2024-000123' };
      const first = await a().refused(() => a().sdk.callTool({ name: CONFIRM_TOOL, arguments: args }));
      const e = first.error;
      const token = e?.data?.['token'];
      const header = typeof e?.data?.['header'] === 'string' ? e.data['header'] : 'mcp-confirmation';
      r.check(e?.code === -32010, `HTTP ${first.status}, JSON-RPC error ${e?.code ?? '?'}: ${quote(e?.message ?? '')}`);
      r.check(typeof token === 'string' && token.length > 20, `confirmation token issued (send it back in the ${header} header)`);
      r.info(s.dim('… the user approves in the agent UI; the agent retries with the token'));
      const retryText = await a()
        .withNextHeaders({ [header]: String(token) })
        .callText(CONFIRM_TOOL, args);
      facts.confirmation = { first, retryText };
      r.check(/Case TCK-\d+ opened/.test(retryText), `approved retry answered ${quote(retryText)}`);
    });

    await step(`6. redacted result: ${REDACTED_TOOL}`, async (r) => {
      const upstreamText = await direct!.callText(REDACTED_TOOL, { customer_id: 'c-1001' });
      const result = await a().sdk.callTool({ name: REDACTED_TOOL, arguments: { customer_id: 'c-1001' } });
      const agentText = ((result as { content?: { text?: string }[] }).content ?? []).map((c) => c.text ?? '').join('\n');
      const agentResult = JSON.stringify(result);
      facts.redaction = { upstreamText, agentText, agentResult };
      r.info(`server sent: ${s.dim(quote(upstreamText, 140))}`);
      r.info(`agent got:   ${quote(agentText, 140)}`);
      r.check(
        CUSTOMER_SECRETS.every((x) => upstreamText.includes(x)) && CUSTOMER_SECRETS.every((x) => !agentResult.includes(x)),
        'card number and email masked (text and structured content)',
        `leaked: ${CUSTOMER_SECRETS.filter((x) => agentResult.includes(x)).join(', ') || 'the server sent no secrets'}`,
      );
    });

    await step(`7. rate limit: a burst of ${BURST_TOOL}`, async (r) => {
      let allowedBefore = 0;
      let refusal: Refusal | undefined;
      for (let i = 0; i < BURST_MAX && refusal === undefined; i++) {
        try {
          await a().callText(BURST_TOOL, { query: `acme ${i}` });
          allowedBefore++;
        } catch (err) {
          refusal = a().refusalOf(err);
        }
      }
      if (refusal === undefined) {
        r.check(false, `${BURST_MAX} calls, none limited`);
        return;
      }
      facts.rateLimit = { allowedBefore, refusal };
      const retryAfter = refusal.headers.get('retry-after');
      const e = refusal.error;
      r.check(allowedBefore > 0, `${allowedBefore} calls allowed, then`);
      r.check(refusal.status === 200 && Number(retryAfter) >= 1, `HTTP ${refusal.status}, Retry-After: ${retryAfter ?? '(none)'} s`);
      r.check(e?.code === -32029, `JSON-RPC error ${e?.code ?? '?'}: ${quote(e?.message ?? '')} (limit ${s.yellow(String(e?.data?.['limit']))})`);
    });

    await step('8. audit events of this session', async (r) => {
      // Events of the calls above: allowed, denied, confirmation (refused + approved), redacted, burst.
      const expected = 5 + (facts.rateLimit !== undefined ? facts.rateLimit.allowedBefore + 1 : 0);
      const events = await waitForEvents(st, expected, 3000);
      facts.audit = events;
      r.info(s.dim(`${st.auditPath} (file sink, JSON lines; consecutive identical lines folded)`));
      for (const line of auditLines(events, s)) r.info(line);
      const toolCalls = events.filter((e) => e['method'] === 'tools/call').length;
      r.check(toolCalls === expected, `${toolCalls} tools/call events for ${expected} tool calls (${events.length} events in all)`);
      const has = (tool: string, result: string): boolean => events.some((e) => e.tool === tool && e.result === result);
      r.check(has(DENIED_TOOL, 'denied') && has(BURST_TOOL, 'limited') && has(REDACTED_TOOL, 'ok'), 'denied, limited and allowed calls are all recorded');
      const text = JSON.stringify(events);
      r.check(!CUSTOMER_SECRETS.some((x) => text.includes(x)) && !text.includes(st.token), 'no secrets or tokens in the audit log');
    });

    await step('9. metrics (runner Prometheus endpoint)', async (r) => {
      // Each runner process counts what it served: a multi-process runner is read on every port.
      const answers = await Promise.all(st.metricsUrls.map((u) => fetch(u, { signal: AbortSignal.timeout(3000) })));
      const text = sumCounters(await Promise.all(answers.map((a) => a.text())));
      const lines = pickMetrics(text);
      facts.metrics = lines;
      facts.metricsText = text;
      r.info(s.dim(st.metricsUrls.join(' ')));
      for (const l of lines) r.info(l);
      r.check(answers.every((a) => a.status === 200) && lines.some((l) => l.startsWith('mcp_gateway_calls_total{')), 'calls counted by tool and result');
    });
  } finally {
    await direct?.close().catch(() => undefined);
    await agent?.close().catch(() => undefined);
    const st = stack as DemoStack | undefined;
    // When something misbehaved, the runner's side of the story (it names the plugin and field).
    if (st !== undefined && steps.some((x) => !x.ok)) facts.runnerLog = st.emulator.runnerLog().split('\n').filter((l) => l.trim() !== '').slice(-RUNNER_LOG_LINES);
    await st?.stop();
  }

  const ok = steps.length > 0 && steps.every((x) => x.ok);
  if (facts.runnerLog !== undefined && facts.runnerLog.length > 0) {
    write('');
    write(s.bold(s.yellow(`runner log (error.log, last ${facts.runnerLog.length} lines)`)));
    for (const l of facts.runnerLog) write(`    ${s.dim(l)}`);
  }
  const ms = Date.now() - started;
  write('');
  if (ok) write(s.bold(s.green(`✔ all ${steps.length} steps behaved as expected (${(ms / 1000).toFixed(1)} s)`)));
  else {
    const failed = steps.filter((x) => !x.ok);
    write(s.bold(s.red(`✘ ${failed.length} of ${steps.length} steps did not behave as expected: ${failed.map((x) => x.title).join('; ')}`)));
  }
  return { ok, ms, steps, facts };
}

async function waitForEvents(st: DemoStack, expected: number, timeoutMs: number): Promise<AuditEvent[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const events = (await st.auditEvents()).filter((e) => e.user === DEMO_IDENTITY.user);
    // Count tool calls only: whether other methods are audited is the audit conf's business.
    const toolCalls = events.filter((e) => e['method'] === 'tools/call').length;
    if (toolCalls >= expected || Date.now() > deadline) return events.sort((x, y) => String(x['timestamp']).localeCompare(String(y['timestamp'])));
    await new Promise((res) => setTimeout(res, 25));
  }
}

/** What decided a call, as `plugin action rule`: the stopping plugin's record first. */
function decisionOf(e: AuditEvent): string {
  const limit = e['limit'] as { action?: string; rule?: string } | undefined;
  if (e['stopped_by'] === 'mcp-ratelimit' && limit !== undefined) return `${limit.action ?? 'limit'} ${limit.rule ?? ''}`.trim();
  const d = e.decision;
  return d === undefined ? '-' : `${d.action ?? '?'} ${d.rule ?? ''}`.trim();
}

/** One line per event: time, user/app, tool, decision/rule, result, latency; runs of identical lines folded. */
export function auditLines(events: readonly AuditEvent[], s: Style = style(false)): string[] {
  const rows = events.map((e) => {
    const who = `${e.user ?? '-'}/${String(e['app'] ?? '-')}`;
    const tool = e.tool ?? `(${String(e['method'] ?? e['kind'] ?? '-')})`;
    const result = e.result ?? '?';
    return {
      key: `${who}|${tool}|${decisionOf(e)}|${result}`,
      cells: [String(e['timestamp'] ?? '').replace(/^.*T/, '').replace(/Z$/, ''), who, tool, decisionOf(e), result],
      latency: Number(e['latency_ms'] ?? 0),
    };
  });
  const header = ['time', 'user/app', 'tool', 'decision / rule', 'result'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r.cells[i]!.length)));
  const pad = (cells: string[]): string[] => cells.map((c, i) => c + ' '.repeat(widths[i]! - c.length));
  const out = [s.dim([...pad(header), 'latency'].join('  '))];
  for (let i = 0; i < rows.length; ) {
    const row = rows[i]!;
    let j = i + 1;
    while (j < rows.length && rows[j]!.key === row.key) j++;
    const latencies = rows.slice(i, j).map((x) => x.latency);
    const latency = j - i === 1 ? `${row.latency.toFixed(1)} ms` : `${Math.min(...latencies).toFixed(1)}–${Math.max(...latencies).toFixed(1)} ms  ×${j - i}`;
    const cells = pad(row.cells);
    const result = row.cells[4]!;
    cells[4] = (result === 'ok' || result === 'forwarded' ? s.green : s.red)(cells[4]!);
    out.push(`${cells.join('  ')}  ${latency}`);
    i = j;
  }
  return out;
}

/** A few telling lines: calls by tool and result, policy decisions, limit hits, audit events. */
/** Several processes' Prometheus texts as one: `_total` samples of the same series added, the rest as the first process said. */
export function sumCounters(texts: readonly string[]): string {
  if (texts.length === 1) return texts[0]!;
  const out = new Map<string, number | string>();
  for (const text of texts) {
    for (const line of text.split('\n')) {
      if (line === '' || line.startsWith('#')) continue;
      const cut = line.lastIndexOf(' ');
      const series = line.slice(0, cut);
      const value = Number(line.slice(cut + 1));
      const known = out.get(series);
      const name = series.split('{')[0]!;
      if (known === undefined) out.set(series, name.endsWith('_total') && Number.isFinite(value) ? value : line.slice(cut + 1));
      else if (typeof known === 'number' && Number.isFinite(value)) out.set(series, known + value);
    }
  }
  return [...out].map(([series, v]) => `${series} ${v}`).join('\n');
}

export function pickMetrics(text: string): string[] {
  const lines = text.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
  const pick = (prefix: string, max: number, keep: (l: string) => boolean = () => true): string[] => lines.filter((l) => l.startsWith(prefix) && keep(l)).slice(0, max);
  return [
    ...pick('mcp_gateway_calls_total{', 8, (l) => l.includes('method="tools/call"')),
    ...pick('mcp_gateway_policy_decisions_total{', 2, (l) => !l.includes('decision="allow"')),
    ...pick('mcp_gateway_ratelimit_hits_total{', 2),
    ...pick('mcp_audit_events_total', 1),
  ];
}

// ---------------------------------------------------------------- CLI

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isMain) {
  // The whole demo takes a few seconds; a hung step must not hang a terminal or CI.
  const watchdog = setTimeout(() => {
    process.stderr.write('demo: gave up after 30 s\n');
    process.exit(2);
  }, 30_000);
  watchdog.unref();
  runDemo()
    .then((report) => process.exit(report.ok ? 0 : 1))
    .catch((err: unknown) => {
      process.stderr.write(`demo: ${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    });
}
