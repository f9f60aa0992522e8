// MCP conformance: the @modelcontextprotocol/conformance server scenarios, run directly against
// an MCP server and through the gateway (APISIX emulator, pre-req + post-resp, all five plugins
// permissive). No scenario that passes directly may fail through. A second run adds a plugin
// that reads every response body, which is what deadlocks server→client requests (sampling,
// elicitation) under real APISIX: the table shows which scenarios that setup breaks.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startReferenceServer, type ReferenceServer } from '../../testkit/conformance/reference-server.js';
import {
  CONFORMANCE_VERSION,
  REDACTED_TOOLS,
  REPO_ROOT,
  ensureTooling,
  listServerScenarios,
  runScenarios,
  runSuite,
  table,
  type ScenarioResult,
  type Tooling,
} from '../../testkit/conformance/harness.js';
import { startGateway, type Gateway } from '../../testkit/conformance/harness.js';

/** Scenarios whose tool asks the client something mid-call (sampling/elicitation). */
const SERVER_TO_CLIENT = ['tools-call-sampling', 'tools-call-elicitation', 'elicitation-sep1034-defaults', 'elicitation-sep1330-enums'];

const successIds = (r: ScenarioResult): string[] => r.checks.filter((c) => c.status === 'SUCCESS').map((c) => c.id).sort();

describe(`MCP conformance ${CONFORMANCE_VERSION} server scenarios: direct vs through the gateway`, { concurrency: false }, () => {
  let tooling: Tooling;
  let server: ReferenceServer;
  let scenarios: string[];
  let direct: ScenarioResult[];
  const gateways: Gateway[] = [];

  before(async () => {
    // Fails (does not skip) when the registry is unreachable: the message says what is missing.
    tooling = await ensureTooling();
    scenarios = await listServerScenarios(tooling);
    server = await startReferenceServer();
    direct = await runSuite(tooling, server.url, scenarios, 60_000);
  }, { timeout: 300_000 });

  after(async () => {
    for (const g of gateways) await g.stop().catch(() => undefined);
    await server?.close();
  });

  test('every scenario that passes directly passes through (post-resp, five plugins permissive)', { timeout: 150_000 }, async () => {
    const gw = await startGateway(server.port);
    gateways.push(gw);
    const through = await runSuite(tooling, gw.url, scenarios, 100_000);
    console.log(`\nconformance ${CONFORMANCE_VERSION}, ${scenarios.length} server scenarios (✓ successful checks, ✗ failed, ⚠ warnings)\n\n${table({ direct, through })}\n`);

    const passedDirectly = direct.filter((r) => r.verdict === 'pass');
    // The reference server is meant to pass them all; a smaller number means the harness broke.
    assert.ok(passedDirectly.length >= scenarios.length - 2, `only ${passedDirectly.length}/${scenarios.length} pass directly: ${direct.filter((r) => r.verdict !== 'pass').map((r) => `${r.scenario}: ${r.reason}`).join('; ')}`);

    const byName = new Map(through.map((r) => [r.scenario, r]));
    const regressions: string[] = [];
    for (const d of passedDirectly) {
      const t = byName.get(d.scenario)!;
      if (t.verdict !== 'pass') regressions.push(`${d.scenario}: ${t.verdict} (${t.reason ?? ''})`);
      else if (successIds(t).join() !== successIds(d).join()) regressions.push(`${d.scenario}: successful checks differ: direct [${successIds(d).join(', ')}] through [${successIds(t).join(', ')}]`);
    }
    // A scenario that shows nothing working directly (only warnings) must show the same through.
    for (const d of direct.filter((r) => r.verdict === 'inconclusive')) {
      const t = byName.get(d.scenario)!;
      if (t.verdict !== 'inconclusive' && t.verdict !== 'pass') regressions.push(`${d.scenario}: inconclusive directly, ${t.verdict} through (${t.reason ?? ''})`);
    }
    assert.deepEqual(regressions, [], 'scenarios that pass directly but not through the gateway');

    // The run went through the plugins, not around them.
    const c = gw.emulator.counters.exchanges;
    assert.ok(c.httpReqCall >= scenarios.length, `pre-req calls: ${c.httpReqCall}`);
    assert.ok(c.httpRespCall > 0, 'the post-resp phase ran');
    assert.ok(server.authorizations.includes(`Bearer ${gw.backendToken}`), 'mcp-credential attached the backend bearer');
    const audit = (await readFile(gw.auditPath, 'utf8').catch(() => '')).split('\n').filter((l) => l.trim() !== '');
    assert.ok(audit.some((l) => l.includes(REDACTED_TOOLS[0]!)), 'mcp-audit recorded the tool calls');
  });

  test('a chain that reads every response body breaks only the server→client-request scenarios (the known deadlock)', { timeout: 110_000 }, async () => {
    const gw = await startGateway(server.port, {
      extraPluginModules: [join(REPO_ROOT, 'dist/bench/plugins/body-fetch.js')],
      extraEntries: [{ name: 'bench-body-fetch', value: '{}' }],
    });
    gateways.push(gw);
    // One process per scenario with a short kill timer: a deadlocked call would otherwise wait
    // for the client's 60 s request timeout and hold up every scenario after it.
    const bodyRead = await runScenarios(tooling, gw.url, scenarios, { concurrency: 4, timeoutMs: 10_000 });
    console.log(`\nthe same scenarios through a chain that asks for EVERY response body (bench-body-fetch added)\n\n${table({ direct, 'every body read': bodyRead })}\n`);

    const byName = new Map(bodyRead.map((r) => [r.scenario, r]));
    const broken = direct.filter((d) => d.verdict === 'pass' && byName.get(d.scenario)!.verdict !== 'pass').map((d) => d.scenario).sort();
    // Server→client requests sit in the held-back SSE stream: each of those scenarios must break,
    // and nothing else (answers without such requests are merely delayed to the end).
    assert.deepEqual(broken, SERVER_TO_CLIENT.filter((s) => scenarios.includes(s)).sort());
  });
});
