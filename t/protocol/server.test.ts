// The runner's protocol server against real Unix sockets, playing APISIX (docs/ext-plugin-protocol.md §8.1 cases
// that concern the runner side).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, statSync, writeFileSync, unlinkSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  decodeHTTPReqCallResp,
  decodeHTTPRespCallResp,
  decodePrepareConfResp,
  encodeExtraInfoResp,
  encodeHTTPReqCallReq,
  encodePrepareConfReq,
} from '../../runner/protocol/codec.js';
import { encodeFrame } from '../../runner/protocol/frame.js';
import { ErrCode, FrameType } from '../../runner/protocol/messages.js';
import { parseListenAddress, startServer, type RunnerServer, type ServerOptions } from '../../runner/protocol/server.js';
import { ProtocolClient, reqCall, tempSocketPath } from '../../testkit/apisix-client.js';
import { TestHost, type TestChain } from '../../testkit/test-host.js';

async function withServer(
  fn: (ctx: { server: RunnerServer<TestChain>; host: TestHost; path: string; connect: () => Promise<ProtocolClient> }) => Promise<void>,
  opts: Partial<ServerOptions<TestChain>> = {},
): Promise<void> {
  const path = tempSocketPath();
  const host = new TestHost();
  const server = await startServer<TestChain>({ address: `unix:${path}`, host, ...opts });
  const conns: ProtocolClient[] = [];
  try {
    await fn({
      server,
      host,
      path,
      connect: async () => {
        const c = await ProtocolClient.open(path);
        conns.push(c);
        return c;
      },
    });
  } finally {
    for (const c of conns) c.close();
    await server.close({ drainMs: 50 });
  }
}

const stopBody = (frameBody: Uint8Array): string => {
  const a = decodeHTTPReqCallResp(frameBody).action;
  assert.equal(a?.type, 'stop');
  return Buffer.from(a.type === 'stop' && a.body ? a.body : []).toString();
};

test('listen address must carry the unix: prefix', () => {
  assert.equal(parseListenAddress('unix:/tmp/a.sock'), '/tmp/a.sock');
  assert.throws(() => parseListenAddress('/tmp/a.sock'), /unix:\/path/);
  assert.throws(() => parseListenAddress('unix:'), /unix:\/path/);
  assert.throws(() => parseListenAddress(undefined), /not set/);
});

test('PrepareConf then HTTPReqCall and HTTPRespCall; absent conf = no plugins', async () => {
  await withServer(async ({ connect, server, host }) => {
    const c = await connect();
    const token = await c.prepare([], 'route#1#ext-plugin-pre-req#1');
    assert.notEqual(token, 0);
    c.sendReqCall({ id: 41, confToken: token });
    const { frame } = await c.finish();
    assert.equal(frame.type, FrameType.HTTPReqCall);
    assert.deepEqual(decodeHTTPReqCallResp(frame.body), { id: 41, action: undefined });

    const stopToken = await c.prepare([{ name: 'stop', value: '403' }], 'route#1#ext-plugin-post-req#1');
    c.sendReqCall({ id: 42, confToken: stopToken });
    const stopped = decodeHTTPReqCallResp((await c.finish()).frame.body);
    assert.equal(stopped.action?.type, 'stop');
    assert.equal(stopped.action.type === 'stop' && stopped.action.status, 403);

    const respToken = await c.prepare([{ name: 'stop', value: '304' }], 'route#1#ext-plugin-post-resp#1');
    c.sendRespCall({ id: 43, confToken: respToken, headers: [{ name: 'Content-Type', value: 'application/json' }] });
    const resp = await c.finish();
    assert.equal(resp.frame.type, FrameType.HTTPRespCall);
    const r = decodeHTTPRespCallResp(resp.frame.body);
    assert.equal(r.id, 43);
    assert.equal(r.status, 304);
    assert.equal(r.headers[0]?.name, 'Content-Type');
    assert.equal(server.counters.prepareConf, 3);
    assert.equal(server.counters.httpReqCalls, 2);
    assert.equal(server.counters.httpRespCalls, 1);
    assert.equal(host.builds, 3);
    // Deadline passed to the host: absolute, ~50 s ahead (below APISIX's 60 s).
    const d = host.deadlines[0]! - Date.now();
    assert.ok(d > 45_000 && d <= 50_000, `deadline ${d} ms ahead`);
  });
});

test('unknown token → CONF_TOKEN_NOT_FOUND, checked before anything else; the connection stays usable', async () => {
  await withServer(async ({ connect, server, host }) => {
    const c = await connect();
    c.sendReqCall({ confToken: 12345 });
    assert.equal(await c.expectError(), ErrCode.ConfTokenNotFound);
    c.sendRespCall({ confToken: 12345 });
    assert.equal(await c.expectError(), ErrCode.ConfTokenNotFound);
    assert.equal(host.deadlines.length, 0, 'the host never ran');
    const token = await c.prepare([{ name: 'var', value: 'x' }], 'k');
    c.sendReqCall({ confToken: token });
    assert.equal((await c.finish(() => Buffer.from('1'))).frame.type, FrameType.HTTPReqCall);
    assert.equal(server.counters.tokenNotFound, 2);
  });
});

test('PrepareConf is idempotent by key: same token, chain built once', async () => {
  await withServer(async ({ connect, host }) => {
    const [a, b] = await Promise.all([connect(), connect()]);
    const t1 = await a.prepare([{ name: 'stop', value: '401' }], 'route#9#ext-plugin-pre-req#3');
    const t2 = await b.prepare([{ name: 'stop', value: '401' }], 'route#9#ext-plugin-pre-req#3');
    assert.equal(t1, t2);
    assert.equal(host.builds, 1);
    const t3 = await b.prepare([{ name: 'stop', value: '401' }], 'route#9#ext-plugin-pre-req#4');
    assert.notEqual(t3, t1);
  });
});

test('one connection carries many exchanges of mixed types', async () => {
  await withServer(async ({ connect, server }) => {
    const c = await connect();
    const plain = await c.prepare([], 'plain');
    const withVar = await c.prepare([{ name: 'var', value: 'route_id' }], 'var');
    for (let i = 0; i < 60; i++) {
      switch (i % 4) {
        case 0:
          c.sendReqCall({ id: i, confToken: plain });
          assert.deepEqual(decodeHTTPReqCallResp((await c.finish()).frame.body), { id: i, action: undefined });
          break;
        case 1: {
          c.sendReqCall({ id: i, confToken: withVar });
          const { frame, questions } = await c.finish(() => Buffer.from(`r${i}`));
          assert.deepEqual(questions, [{ type: 'var', name: 'route_id' }]);
          assert.equal(stopBody(frame.body), `r${i}`);
          break;
        }
        case 2:
          c.sendRespCall({ id: i, confToken: plain });
          assert.equal(decodeHTTPRespCallResp((await c.finish()).frame.body).id, i);
          break;
        default:
          assert.equal(await c.prepare([], `k${i}`) !== 0, true);
      }
    }
    assert.equal(server.counters.connectionsAccepted, 1);
  });
});

test('PrepareConf on a second connection while the first sits idle (docs/ext-plugin-protocol.md §2.5)', async () => {
  await withServer(async ({ connect }) => {
    const c1 = await connect(); // opened by the call, no frame yet
    const c2 = await connect(); // the token lookup's own connection
    const token = await c2.prepare([{ name: 'stop', value: '429' }], 'route#2#ext-plugin-pre-req#1');
    c1.sendReqCall({ confToken: token });
    const r = decodeHTTPReqCallResp((await c1.finish()).frame.body);
    assert.equal(r.action?.type === 'stop' && r.action.status, 429);
  });
});

test('ExtraInfo: Var, ReqBody, RespBody round trips and answers without result', async () => {
  await withServer(async ({ connect, server }) => {
    const c = await connect();
    const v = await c.prepare([{ name: 'var', value: 'remote_addr' }], 'v');
    c.sendReqCall({ confToken: v });
    let r = await c.finish((q) => (q.type === 'var' && q.name === 'remote_addr' ? Buffer.from('10.0.0.7') : undefined));
    assert.equal(stopBody(r.frame.body), '10.0.0.7');

    c.sendReqCall({ confToken: v });
    r = await c.finish(() => undefined); // nil variable: no result field
    assert.equal(stopBody(r.frame.body), '<absent>');

    c.sendReqCall({ confToken: v });
    r = await c.finish(() => new Uint8Array(0)); // empty variable: present, length 0
    assert.equal(stopBody(r.frame.body), '');

    const rb = await c.prepare([{ name: 'reqbody' }], 'rb');
    c.sendReqCall({ confToken: rb });
    r = await c.finish((q) => (q.type === 'reqBody' ? Buffer.from('{"jsonrpc":"2.0"}') : undefined));
    assert.deepEqual(r.questions, [{ type: 'reqBody' }]);
    assert.equal(stopBody(r.frame.body), '{"jsonrpc":"2.0"}');

    const resp = await c.prepare([{ name: 'respbody' }], 'resp');
    c.sendRespCall({ confToken: resp });
    r = await c.finish((q) => (q.type === 'respBody' ? Buffer.from('upstream body') : undefined));
    assert.deepEqual(r.questions, [{ type: 'respBody' }]);
    assert.equal(Buffer.from(decodeHTTPRespCallResp(r.frame.body).body ?? []).toString(), 'upstream body');

    // Two questions asked at once go out one at a time, in order.
    const two = await c.prepare([{ name: 'two-vars', value: 'a,b' }], 'two');
    c.sendReqCall({ confToken: two });
    r = await c.finish((q) => Buffer.from(q.type === 'var' ? q.name.toUpperCase() : '?'));
    assert.deepEqual(r.questions, [{ type: 'var', name: 'a' }, { type: 'var', name: 'b' }]);
    assert.equal(stopBody(r.frame.body), 'a=A;b=B');
    assert.equal(server.counters.extraInfoQuestions, 7);
  });
});

test('EOF while the runner waits for ExtraInfo drops the call; the runner keeps serving', async () => {
  await withServer(async ({ connect, server, host }) => {
    const c = await connect();
    const v = await c.prepare([{ name: 'var', value: 'x' }], 'v');
    c.sendReqCall({ confToken: v });
    const q = await c.next();
    assert.equal(q.type, FrameType.ExtraInfo);
    c.close();
    await c.closed;
    for (let i = 0; i < 50 && host.askErrors.length === 0; i++) await sleep(10);
    assert.match(host.askErrors[0]?.message ?? '', /connection closed/);
    assert.equal(server.counters.droppedCalls, 1);
    assert.equal(server.inFlight(), 0);
    // A stale channel cannot ask into a later call.
    await assert.rejects(host.lastChannel!.ask({ type: 'reqBody' }), /outside its call/);

    const d = await connect();
    d.sendReqCall({ confToken: v });
    assert.equal(stopBody((await d.finish(() => Buffer.from('ok'))).frame.body), 'ok');
  });
});

test('truncated header and truncated body: the runner waits, then drops the connection at EOF', async () => {
  await withServer(async ({ connect, server }) => {
    const a = await connect();
    a.socket.write(Buffer.from([1, 0])); // header cut at 2 bytes
    a.end();
    await a.closed;
    const b = await connect();
    const frame = encodeFrame(FrameType.PrepareConf, encodePrepareConfReq({ conf: [], key: 'k' }));
    b.socket.write(frame.subarray(0, frame.length - 3)); // body cut short
    await assert.rejects(b.next(150), /timed out/, 'no answer to a partial frame');
    b.end();
    await b.closed;
    const c = await connect();
    assert.notEqual(await c.prepare([], 'k'), 0);
    assert.equal(server.counters.truncatedFrames, 2);
  });
});

test('frames split into 1-byte chunks', async () => {
  await withServer(async ({ connect }) => {
    const c = await connect();
    await c.sendInPieces(encodeFrame(FrameType.PrepareConf, encodePrepareConfReq({ conf: [{ name: 'var', value: 'y' }], key: 'k' })));
    const prepared = await c.next();
    assert.equal(prepared.type, FrameType.PrepareConf);
    const token = decodePrepareConfResp(prepared.body).confToken;
    assert.notEqual(token, 0);
    await c.sendInPieces(encodeFrame(FrameType.HTTPReqCall, encodeHTTPReqCallReq(reqCall({ confToken: token }))));
    const q = await c.next();
    assert.equal(q.type, FrameType.ExtraInfo);
    await c.sendInPieces(encodeFrame(FrameType.ExtraInfo, encodeExtraInfoResp({ result: Buffer.from('split') })));
    assert.equal(stopBody((await c.next()).body), 'split');
  });
});

test('unknown frame type → BAD_REQUEST; a frame out of turn while busy closes the connection', async () => {
  await withServer(async ({ connect, server }) => {
    const c = await connect();
    c.send(7, Uint8Array.of(1, 2, 3));
    assert.equal(await c.expectError(), ErrCode.BadRequest);
    c.send(FrameType.ExtraInfo, Uint8Array.of(0)); // an answer nobody asked for, while idle
    assert.equal(await c.expectError(), ErrCode.BadRequest);
    const v = await c.prepare([{ name: 'var', value: 'x' }], 'v');
    c.sendReqCall({ confToken: v });
    assert.equal((await c.next()).type, FrameType.ExtraInfo);
    c.sendReqCall({ confToken: v }); // APISIX never does this: protocol violation
    await c.closed;
    assert.equal(server.counters.protocolErrors, 1);
    assert.equal(server.counters.droppedCalls, 1);
    // Malformed bodies also close only that connection.
    const d = await connect();
    d.send(FrameType.PrepareConf, Uint8Array.of(1, 2));
    await d.closed;
    const e = await connect();
    assert.notEqual(await e.prepare([], 'still-serving'), 0);
  });
});

test('an answer over 16 MiB becomes Err SERVICE_UNAVAILABLE; a host failure too', async () => {
  await withServer(async ({ connect, server }) => {
    const c = await connect();
    const big = await c.prepare([{ name: 'big', value: String(16 * 1024 * 1024) }], 'big');
    c.sendReqCall({ confToken: big });
    assert.equal(await c.expectError(), ErrCode.ServiceUnavailable);
    const boom = await c.prepare([{ name: 'throw' }], 'throw');
    c.sendReqCall({ confToken: boom });
    assert.equal(await c.expectError(), ErrCode.ServiceUnavailable);
    assert.equal(server.counters.serviceUnavailable, 2);
    // Just under the limit still goes through (large write, back-pressure path).
    const ok = await c.prepare([{ name: 'big', value: String(8 * 1024 * 1024) }], 'ok');
    c.sendReqCall({ confToken: ok });
    const f = await c.next(10_000);
    assert.equal(f.type, FrameType.HTTPReqCall);
    assert.equal(stopBody(f.body).length, 8 * 1024 * 1024);
  });
});

test('200 concurrent connections', async () => {
  await withServer(async ({ connect, server }) => {
    const conns = await Promise.all(Array.from({ length: 200 }, () => connect()));
    const results = await Promise.all(
      conns.map(async (c, i) => {
        const token = await c.prepare([{ name: 'var', value: `v${i % 7}` }], `route#${i % 7}#ext-plugin-pre-req#1`);
        c.sendReqCall({ id: i, confToken: token });
        const { frame } = await c.finish((q) => Buffer.from(q.type === 'var' ? `${q.name}@${i}` : ''));
        return stopBody(frame.body);
      }),
    );
    results.forEach((body, i) => assert.equal(body, `v${i % 7}@${i}`));
    assert.equal(server.counters.connectionsOpen, 200);
    assert.equal(server.store.size, 7);
  });
});

test('socket: stale file replaced, mode 0766, non-socket refused, cleanup only of our own inode', async () => {
  const path = tempSocketPath();
  // A stale socket file left by a runner that was SIGKILLed.
  const crashed = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(path)}, () => console.log('up'))`]);
  await new Promise<void>((r) => crashed.stdout.once('data', () => r()));
  crashed.kill('SIGKILL');
  await new Promise<void>((r) => crashed.once('exit', () => r()));
  assert.ok(statSync(path).isSocket());
  await assert.rejects(ProtocolClient.open(path), /ECONNREFUSED/);
  const hostA = new TestHost();
  const a = await startServer<TestChain>({ address: `unix:${path}`, host: hostA });
  assert.equal(statSync(path).mode & 0o777, 0o766);

  // A successor starts on the same path before A has exited (reload race, docs/ext-plugin-protocol.md §2.4).
  const hostB = new TestHost();
  const b = await startServer<TestChain>({ address: `unix:${path}`, host: hostB });
  await a.close();
  assert.ok(existsSync(path), "A must not delete B's socket");
  assert.equal(hostA.shutdowns, 1);
  const c = await ProtocolClient.open(path);
  assert.notEqual(await c.prepare([], 'k'), 0);
  c.close();
  await b.close();
  assert.ok(!existsSync(path), 'B removes its own socket');

  writeFileSync(path, 'not a socket');
  await assert.rejects(startServer<TestChain>({ address: `unix:${path}`, host: new TestHost() }), /not a socket/);
  unlinkSync(path);
  await assert.rejects(startServer<TestChain>({ address: path, host: new TestHost() }), /unix:/);
  await assert.rejects(
    startServer<TestChain>({ address: 'unix:/nonexistent-dir/runner.sock', host: new TestHost() }),
    /cannot listen on unix:\/nonexistent-dir\/runner\.sock/,
  );
  await assert.rejects(
    startServer<TestChain>({ address: `unix:${path}`, host: new TestHost(), callTimeoutMs: 58_000 }),
    /60000/,
  );
});

test('close() lets an in-flight call finish, closes idle connections, stops accepting', async () => {
  const path = tempSocketPath();
  const host = new TestHost();
  const server = await startServer<TestChain>({ address: `unix:${path}`, host });
  const busy = await ProtocolClient.open(path);
  const idle = await ProtocolClient.open(path);
  const token = await busy.prepare([{ name: 'sleep', value: '200' }], 'slow');
  busy.sendReqCall({ id: 9, confToken: token });
  await sleep(20);
  const started = Date.now();
  const closing = server.close({ drainMs: 800 });
  await idle.closed;
  await assert.rejects(ProtocolClient.open(path));
  const answer = await busy.next();
  assert.deepEqual(decodeHTTPReqCallResp(answer.body), { id: 9, action: undefined });
  await busy.closed;
  await closing;
  assert.ok(Date.now() - started < 700, 'close returned once the call drained');
  assert.equal(host.shutdowns, 1);
  assert.ok(!existsSync(path));
});

test('close() is bounded: a call slower than drainMs is cut off', async () => {
  const path = tempSocketPath();
  const host = new TestHost();
  const server = await startServer<TestChain>({ address: `unix:${path}`, host });
  const c = await ProtocolClient.open(path);
  const token = await c.prepare([{ name: 'hang' }], 'hang');
  c.sendReqCall({ confToken: token });
  await sleep(20);
  const started = Date.now();
  await server.close({ drainMs: 100 });
  assert.ok(Date.now() - started < 600);
  await c.closed;
  assert.equal(server.counters.droppedCalls, 1);
});

test('a call that overruns deadline + grace loses its connection; others are unaffected', async () => {
  await withServer(
    async ({ connect, server, host }) => {
      const c = await connect();
      const hang = await c.prepare([{ name: 'hang' }], 'hang');
      c.sendReqCall({ confToken: hang });
      const other = await connect();
      const fine = await other.prepare([], 'fine');
      await c.closed;
      assert.equal(server.counters.callTimeouts, 1);
      assert.ok(host.deadlines[0]! - Date.now() < 0);
      other.sendReqCall({ confToken: fine });
      assert.equal((await other.finish()).frame.type, FrameType.HTTPReqCall);
    },
    { callTimeoutMs: 150, callGraceMs: 100 },
  );
});

test('tokens from two runner instances differ (per-process generation)', async () => {
  const tokens: number[] = [];
  for (let i = 0; i < 2; i++) {
    await withServer(async ({ connect }) => {
      const c = await connect();
      tokens.push(await c.prepare([], 'route#1#ext-plugin-pre-req#1'));
    });
  }
  assert.notEqual(tokens[0], tokens[1]);
});
