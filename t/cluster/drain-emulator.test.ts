// A reload while calls wait for their response phase: APISIX (the emulator, cmd mode) SIGTERMs
// the real runner while a slow upstream still holds a tools/call whose result mcp-redact must
// read. The runner keeps serving that response phase before it exits, so the client gets the
// result redacted, never the upstream's raw body; a new call during the drain is refused
// before it reaches the upstream. For one process and for two.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startEmulator, type RouteConf } from '../../emulator/index.js';
import { request, sleep, startUpstream } from '../../testkit/emulator.js';
import { RUNNER_MAIN } from '../../testkit/cluster-runner.js';
import { tempDir } from '../../testkit/temp.js';

const CARD = '4111 1111 1111 1111';
const UPSTREAM_DELAY_MS = 400;

function callBody(id: number): string {
  return JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'crm.lookup', arguments: { id: 'c-1' } } });
}

for (const workers of [1, 2]) {
  test(`SIGTERM during a slow upstream call (${workers} runner process${workers > 1 ? 'es' : ''}): the result is still redacted`, async (t) => {
    const upstream = await startUpstream((req, res, body) => {
      const id = (JSON.parse(body) as { id: number }).id;
      setTimeout(() => {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ jsonrpc: '2.0', id, result: { content: [{ type: 'text', text: `card ${CARD}` }] } }));
      }, UPSTREAM_DELAY_MS);
    });
    t.after(() => upstream.close());
    const conf = [
      { name: 'mcp-route', value: JSON.stringify({ post_resp: true }) },
      { name: 'mcp-redact', value: JSON.stringify({ tools: ['crm.*'] }) },
    ];
    const routes: RouteConf[] = [
      {
        id: 1,
        uri: '/mcp',
        plugins: { 'ext-plugin-pre-req': { conf }, 'ext-plugin-post-resp': { conf } },
        upstream: { nodes: { [`127.0.0.1:${upstream.port}`]: 1 } },
      },
    ];
    const dir = tempDir('mcp-drain-');
    const emu = await startEmulator({
      routes,
      workDir: dir,
      cmd: [process.execPath, RUNNER_MAIN],
      envs: { MCP_RUNNER_WORKERS: String(workers), MCP_RUNNER_LOG_LEVEL: 'warn', TMPDIR: dir },
      respawnDelayMs: 60_000,
    });
    t.after(() => emu.stop());
    await emu.waitForRunner(20_000);
    const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
    // Warm up: every runner process has prepared the route (a cold PrepareConf is not the point here).
    for (let i = 0; i < 4; i++) assert.equal((await request(`${emu.url}/mcp`, { method: 'POST', headers, body: callBody(100 + i) })).status, 200);

    const pid = emu.runnerPid();
    assert.ok(pid !== undefined);
    const slow = request(`${emu.url}/mcp`, { method: 'POST', headers, body: callBody(1) });
    // The request phase is done and the upstream holds the call: now the reload.
    const upstreamSeen = upstream.seen.length;
    while (upstream.seen.length === upstreamSeen) await sleep(10);
    process.kill(pid, 'SIGTERM');
    await sleep(50);
    const during = await request(`${emu.url}/mcp`, { method: 'POST', headers, body: callBody(2) });
    assert.equal(during.status, 503, 'a new call during the drain is refused');
    assert.equal(upstream.seen.length, upstreamSeen + 1, 'and never reaches the upstream');

    const answer = await slow;
    assert.equal(answer.status, 200, answer.body);
    assert.ok(!answer.body.includes(CARD), `the card number never reaches the client: ${answer.body}`);
    assert.match(answer.body, /1111/); // masked to its last four digits by default
    assert.doesNotMatch(emu.runnerLog(), /still waiting for their response phase/);
  });
}
