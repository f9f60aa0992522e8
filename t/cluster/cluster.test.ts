// The multi-process runner (MCP_RUNNER_WORKERS=2) as APISIX drives it: the real runner process,
// its workers, real Unix sockets. Which process served what is told by the test-pid plugin.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { FrameType } from '../../runner/protocol/messages.js';
import { decodeHTTPRespCallResp } from '../../runner/protocol/codec.js';
import type { ProtocolClient } from '../../testkit/apisix-client.js';
import { PID_CONF, alive, rewriteHeader, startClusterRunner, type ClusterRunner } from '../../testkit/cluster-runner.js';

const REQ_KEY = 'route#1#ext-plugin-pre-req#1';
const RESP_KEY = 'route#1#ext-plugin-post-resp#1';
const CALL = { id: 7, srcIp: undefined, method: 'POST' as const, path: '/mcp', args: [], headers: [] };

interface Served {
  client: ProtocolClient;
  pid: number;
}

/** Request phase on `client`; the process that ran it and the carry key it handed upstream. */
async function requestPhase(client: ProtocolClient, token: number): Promise<{ pid: number; carryKey: string }> {
  const answer = await client.reqCall({ ...CALL, confToken: token }, {});
  const pid = rewriteHeader(answer, 'x-runner-pid');
  const carryKey = rewriteHeader(answer, 'x-mcp-gateway-call');
  assert.ok(pid !== undefined && carryKey !== undefined, `a rewrite with pid and carry key, got ${JSON.stringify(answer)}`);
  return { pid: Number(pid), carryKey };
}

/** Connections until `count` distinct workers each hold one (the primary hands them round-robin). */
async function onDistinctWorkers(runner: ClusterRunner, token: number, count: number): Promise<Served[]> {
  const byPid = new Map<number, Served>();
  for (let i = 0; i < 20 && byPid.size < count; i++) {
    const client = await runner.connect();
    const { pid } = await requestPhase(client, token);
    if (!byPid.has(pid)) byPid.set(pid, { client, pid });
  }
  assert.equal(byPid.size, count, 'connections spread over the workers');
  return [...byPid.values()];
}

/** A two-worker runner, the request and response tokens prepared, a client on each worker. */
async function twoWorkers(): Promise<{ runner: ClusterRunner; reqToken: number; respToken: number; workers: Served[] }> {
  const runner = await startClusterRunner(2);
  const setup = await runner.connect();
  const reqToken = await setup.prepare(PID_CONF, REQ_KEY);
  const respToken = await setup.prepare(PID_CONF, RESP_KEY);
  return { runner, reqToken, respToken, workers: await onDistinctWorkers(runner, reqToken, 2) };
}

async function respAnswer(client: ProtocolClient, token: number, carryKey: string): Promise<{ status: number; body: string; varQuestions: number }> {
  client.sendRespCall({ id: 9, status: 200, headers: [{ name: 'Content-Type', value: 'application/json' }], confToken: token });
  const { frame, questions } = await client.finish((q) => (q.type === 'var' && q.name === 'http_x_mcp_gateway_call' ? Buffer.from(carryKey) : undefined));
  assert.equal(frame.type, FrameType.HTTPRespCall, 'an HTTPRespCall answer, not an error frame');
  const answer = decodeHTTPRespCallResp(frame.body);
  assert.ok(answer.body !== undefined, 'the answer replaces the upstream body');
  const varQuestions = questions.filter((q) => q.type === 'var' && q.name === 'http_x_mcp_gateway_call').length;
  return { status: answer.status, body: Buffer.from(answer.body).toString(), varQuestions };
}

async function respPhase(client: ProtocolClient, token: number, carryKey: string): Promise<{ requestPid: number | null; responsePid: number; varQuestions: number }> {
  const { status, body, varQuestions } = await respAnswer(client, token, carryKey);
  assert.equal(status, 200, body);
  return { ...(JSON.parse(body) as { requestPid: number | null; responsePid: number }), varQuestions };
}

/** A response phase whose request state is gone: withheld (an error in place of the upstream body). */
async function assertWithheld(client: ProtocolClient, token: number, carryKey: string): Promise<void> {
  const { status, body } = await respAnswer(client, token, carryKey);
  assert.ok(status >= 500, `withheld with a 5xx, got ${status}`);
  assert.match(body, /"error"/);
  assert.doesNotMatch(body, /requestPid/);
}

test('a conf token prepared on one process works on another, with no retry', async () => {
  const runner = await startClusterRunner(2);
  const first = await runner.connect();
  const token = await first.prepare(PID_CONF, REQ_KEY);
  const { pid: firstPid } = await requestPhase(first, token);
  // The next connection goes to the other worker, which never saw this PrepareConf.
  const second = await runner.connect();
  const { pid: secondPid } = await requestPhase(second, token);
  assert.notEqual(secondPid, firstPid, 'the two connections are served by two processes');
  // The same key prepared again on the other process gets the same token back.
  assert.equal(await second.prepare(PID_CONF, REQ_KEY), token);
  // An unknown token is still CONF_TOKEN_NOT_FOUND everywhere.
  second.sendReqCall({ confToken: (token ^ 0x5a5a5) >>> 0 || 1 });
  assert.equal(await second.expectError(), 2);
});

test('a response phase arriving on another process than its request phase is answered by the owner', async () => {
  const { reqToken, respToken, workers: [a, b] } = await twoWorkers();
  const carried = await requestPhase(a!.client, reqToken);
  assert.equal(carried.pid, a!.pid);
  // The HTTPRespCall comes on b's connection: b relays it to a, which holds the carry.
  const answered = await respPhase(b!.client, respToken, carried.carryKey);
  assert.equal(answered.requestPid, a!.pid, 'the request-phase state was found');
  assert.equal(answered.responsePid, a!.pid, 'the owner ran the response phase');
  assert.equal(answered.varQuestions, 1, 'the carry key is asked of APISIX once');
  // Same connection, next exchange: b serves its own calls again (the relay ended cleanly).
  const own = await requestPhase(b!.client, reqToken);
  assert.equal(own.pid, b!.pid);
  assert.equal((await respPhase(b!.client, respToken, own.carryKey)).requestPid, b!.pid);
  // A carry key naming no live process: answered here, where no state is found: withheld.
  await assertWithheld(b!.client, respToken, 'p999-0123456789abcdef');
});

test('a worker that dies: the others keep serving, it is replaced, its calls are not mistaken for live ones', async () => {
  const { runner, reqToken, respToken, workers: [victim, survivor] } = await twoWorkers();
  const orphan = await requestPhase(victim!.client, reqToken);
  process.kill(victim!.pid, 'SIGKILL');
  await victim!.client.closed;
  // The survivor serves on: old connections, new connections, the tokens the primary knows.
  assert.equal((await requestPhase(survivor!.client, reqToken)).pid, survivor!.pid);
  // The dead worker's state is gone: its call's answer is withheld, not passed.
  await assertWithheld(survivor!.client, respToken, orphan.carryKey);
  // A replacement appears and serves the same tokens.
  const until = Date.now() + 20_000;
  let replacement: number | undefined;
  while (replacement === undefined && Date.now() < until) {
    const c = await runner.connect();
    const { pid } = await requestPhase(c, reqToken);
    if (pid !== survivor!.pid) replacement = pid;
    c.close();
    if (replacement === undefined) await sleep(100);
  }
  assert.ok(replacement !== undefined && replacement !== victim!.pid, 'a new worker serves');
  assert.ok(!alive(victim!.pid));
});

test('SIGTERM drains every process: response phases served, new request phases refused, all gone within 1 s', async () => {
  const { runner, reqToken, respToken, workers: [a, b] } = await twoWorkers();
  const carried = await requestPhase(a!.client, reqToken);
  const termAt = Date.now();
  runner.child.kill('SIGTERM');
  await sleep(100);
  // A new request phase is refused with a Stop (never an error frame: degradation would pass it).
  const refused = await b!.client.reqCall({ ...CALL, confToken: reqToken }, {});
  assert.equal(refused.action?.type, 'stop');
  assert.equal(refused.action?.type === 'stop' ? refused.action.status : 0, 503);
  // The carried call's response phase is still answered, through the other process.
  const answered = await respPhase(b!.client, respToken, carried.carryKey);
  assert.equal(answered.requestPid, a!.pid);
  const exit = await runner.exited;
  const tookMs = Date.now() - termAt;
  assert.equal(exit.code, 0, runner.output());
  assert.ok(tookMs < 1000, `exited ${tookMs} ms after SIGTERM`);
  assert.ok(!alive(a!.pid) && !alive(b!.pid), 'no worker outlives the primary');
  assert.ok(!existsSync(runner.path), 'the socket is removed');
});
