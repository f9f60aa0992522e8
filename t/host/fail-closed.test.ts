// The host's own fail-closed paths, end to end: the real runner (spawned as APISIX spawns it)
// behind the APISIX emulator, in front of the sample MCP server (real SDK).
// - a response phase that lost its carried request state withholds the answer;
// - a full carry store refuses new post-resp calls instead of evicting live ones;
// - a post-resp conf whose plugins are all invalid withholds the answer;
// - a route whose prepare failed (a secret file not there yet) recovers once the file appears.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { load as loadYaml } from 'js-yaml';
import { startSampleMcpServer } from '../../examples/sample-mcp-server.js';
import { startEmulator, type RouteConf } from '../../emulator/index.js';
import { REPO_ROOT, toolCall, type RawAnswer } from '../../e2e/harness.js';
import { DEFAULT_CARRY_TTL_MS } from '../../runner/host/carry.js';

const dir = await mkdtemp(join(tmpdir(), 'host-fail-closed-'));
const saltPath = join(dir, 'salt');
const server = await startSampleMcpServer({ json: true });
const CARRY_TTL_SECONDS = 2;

const upstream = { type: 'roundrobin', nodes: { [`127.0.0.1:${server.port}`]: 1 } };
const entry = (name: string, value: unknown): { name: string; value: string } => ({ name, value: JSON.stringify(value) });
const postResp = entry('mcp-route', { post_resp: true });

/** Routes share the server's path (/mcp) and are told apart by the x-route header. */
function route(id: string, pre: { name: string; value: string }[], post: { name: string; value: string }[]): RouteConf {
  return {
    id,
    uri: '/mcp',
    vars: [['http_x_route', '==', id]],
    plugins: { 'ext-plugin-pre-req': { conf: pre, allow_degradation: false }, 'ext-plugin-post-resp': { conf: post, allow_degradation: false } },
    upstream,
  };
}

const redact = entry('mcp-redact', { tools: ['*'] });
const emulator = await startEmulator({
  routes: [
    route('carried', [postResp, redact], [postResp, redact]),
    // The request phase is valid; the response phase's only plugin conf is not.
    route('bad-post', [postResp], [postResp, entry('mcp-redact', { bogus: 1 })]),
    route('late-secret', [postResp, entry('mcp-redact', { hash_salt: `$file://${saltPath}` })], [postResp, entry('mcp-redact', { hash_salt: `$file://${saltPath}` })]),
  ],
  cmd: [process.execPath, join(REPO_ROOT, 'dist/runner/main.js')],
  envs: {
    MCP_RUNNER_LOG_LEVEL: 'info',
    MCP_RUNNER_CARRY_TTL_SECONDS: String(CARRY_TTL_SECONDS),
    MCP_RUNNER_CARRY_MAX_CALLS: '1',
  },
});
await emulator.waitForRunner(10_000);

after(async () => {
  await emulator.stop();
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

const call = (routeId: string, ms: number): Promise<RawAnswer> => toolCall(`${emulator.url}/mcp`, 'util.slow', { ms }, { 'x-route': routeId });

/** The runner logs asynchronously (and is slower under load): wait for the line to reach error.log. */
async function logged(pattern: RegExp): Promise<boolean> {
  const until = Date.now() + 10_000;
  while (!pattern.test(emulator.runnerLog())) {
    if (Date.now() > until) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
  return true;
}

function rpcError(a: RawAnswer): { code: number; message: string; data?: { reason?: string } } {
  return (a.json as { error: { code: number; message: string; data?: { reason?: string } } }).error;
}

test('the carry outlives the shipped upstream read timeout of every route', async () => {
  const yaml = loadYaml(await readFile(join(REPO_ROOT, 'conf/apisix.yaml'), 'utf8')) as { routes?: { upstream?: { timeout?: { read?: number } } }[] };
  const reads = (yaml.routes ?? []).map((r) => r.upstream?.timeout?.read).filter((v): v is number => typeof v === 'number');
  assert.ok(reads.length > 0, 'the shipped routes set an upstream read timeout');
  for (const read of reads) assert.ok(DEFAULT_CARRY_TTL_MS > read * 1000, `carry lifetime ${DEFAULT_CARRY_TTL_MS} ms outlives read timeout ${read} s`);
});

test('an answer whose carried request state is gone is withheld with a JSON-RPC error and logged (the count: carry.test.ts)', async () => {
  const fast = await call('carried', 10);
  assert.equal(fast.status, 200, fast.text);
  // The upstream answers after the carry's lifetime: the response phase finds nothing.
  const slow = await call('carried', CARRY_TTL_SECONDS * 1000 + 1500);
  assert.equal(slow.status, 502, slow.text);
  assert.equal(rpcError(slow).data?.reason, 'carry-lost');
  assert.match(rpcError(slow).message, /answer withheld/);
  assert.doesNotMatch(slow.text, /slept|result/i, 'nothing of the upstream answer reaches the client');
  assert.ok(await logged(/answer withheld: no carried request state/), `runner log: /answer withheld: no carried request state/`);
});

test('a full carry store refuses new post-resp calls (503) and keeps the live ones', async () => {
  const seen = server.seen.length;
  const first = call('carried', 1500);
  // Once the server has the first call, its carry is held.
  while (server.seen.length === seen) await new Promise((r) => setTimeout(r, 20));
  const second = await call('carried', 10);
  assert.equal(second.status, 503, second.text);
  assert.equal(rpcError(second).data?.reason, 'carry-full');
  assert.equal(second.headers.get('retry-after'), '1');
  const answered = await first;
  assert.equal(answered.status, 200, 'the carried call still gets its (read) answer');
  assert.ok(await logged(/call refused: the carry store is full/), `runner log: /call refused: the carry store is full/`);
  const after = await call('carried', 10);
  assert.equal(after.status, 200, 'room again once the carried call finished');
});

test('a post-resp conf whose plugins are all invalid withholds the upstream answer', async () => {
  const seen = server.seen.length;
  const res = await call('bad-post', 10);
  assert.ok(server.seen.length > seen, 'the request phase let the call through to the server');
  assert.equal(res.status, 500, res.text);
  assert.equal(rpcError(res).code, -32603);
  assert.match(rpcError(res).message, /misconfigured/);
});

test('a route whose secret file appears after PrepareConf recovers (retry with backoff) and says so in the log', async () => {
  const down = await call('late-secret', 10);
  assert.equal(down.status, 500, down.text);
  await writeFile(saltPath, 'a-salt-that-arrived-late\n', { mode: 0o600 });
  let status = down.status;
  const until = Date.now() + 15_000;
  while (status !== 200 && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 250));
    status = (await call('late-secret', 10)).status;
  }
  assert.equal(status, 200, 'the route serves once the secret exists');
  assert.ok(await logged(/route serves again/), `runner log: /route serves again/`);
});
