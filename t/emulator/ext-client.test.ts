// The emulator's ext-plugin client against a scripted runner: PrepareConf keys and token
// sharing, the second connection, retries, failure statuses, ExtraInfo answers.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Builder } from 'flatbuffers';
import { encodeFrame } from '../../runner/protocol/frame.js';
import { ErrCode, FrameType } from '../../runner/protocol/messages.js';
import { conf, request, rig, route, sleep } from '../../testkit/emulator.js';

test('PrepareConf key is route#<id>#<plugin>#<version>; 16 parallel requests on 3 workers share one token', async () => {
  const r = await rig((port) => [route(1, port, { 'ext-plugin-pre-req': conf('mcp-authz', '{"allow":["x"]}') })], {}, { workers: 3 });
  try {
    const results = await Promise.all(Array.from({ length: 16 }, () => request(`${r.emu.url}/mcp`)));
    assert.deepEqual(results.map((x) => x.status), new Array(16).fill(200));
    const prepares = r.runner.of('prepareConf');
    assert.equal(prepares.length, 1);
    assert.equal(prepares[0]!.req.key, `route#1#ext-plugin-pre-req#${r.emu.routeVersion(1)}`);
    assert.deepEqual(prepares[0]!.req.conf, [{ name: 'mcp-authz', value: '{"allow":["x"]}' }]);
    const calls = r.runner.of('reqCall');
    assert.equal(calls.length, 16);
    assert.ok(calls.every((c) => c.req.confToken === prepares[0]!.token));
    // ids: (worker << 22) + per-worker counter
    assert.deepEqual(new Set(calls.map((c) => c.req.id >>> 22)), new Set([0, 1, 2]));
    assert.ok(calls.some((c) => c.req.id === 0) && calls.some((c) => c.req.id === 1 << 22));
    assert.equal(r.emu.counters.prepareConf, 1);

    // Changing the route bumps its version: a new key, a new PrepareConf.
    const before = r.emu.routeVersion(1)!;
    r.emu.setRoutes([route(1, r.upstream.port, { 'ext-plugin-pre-req': conf('mcp-authz', '{"allow":["y"]}') })]);
    assert.ok(r.emu.routeVersion(1)! > before);
    assert.equal((await request(`${r.emu.url}/mcp`)).status, 200);
    assert.equal(r.runner.of('prepareConf').length, 2);
    assert.equal(r.runner.of('prepareConf')[1]!.req.key, `route#1#ext-plugin-pre-req#${r.emu.routeVersion(1)}`);
  } finally {
    await r.close();
  }
});

test('PrepareConf goes on a second connection while the call connection is open; connections are pooled', async () => {
  const r = await rig((port) => [route('r', port, { 'ext-plugin-pre-req': {} })]);
  try {
    assert.equal((await request(`${r.emu.url}/a`)).status, 200);
    const prepare = r.runner.of('prepareConf')[0]!;
    const call = r.runner.of('reqCall')[0]!;
    assert.notEqual(prepare.connId, call.connId);
    const acceptOfCall = r.runner.events.findIndex((e) => e.kind === 'accept' && e.connId === call.connId);
    const prepareAt = r.runner.events.indexOf(prepare);
    assert.ok(acceptOfCall < prepareAt, 'the call connection was opened before PrepareConf was sent');
    // `conf` absent → no entries
    assert.deepEqual(prepare.req.conf, []);
    assert.equal(r.runner.of('accept').length, 2);
    // Later requests reuse pooled connections: no new connect, no PrepareConf.
    for (let i = 0; i < 3; i++) assert.equal((await request(`${r.emu.url}/b`)).status, 200);
    assert.equal(r.runner.of('accept').length, 2);
    assert.equal(r.runner.of('prepareConf').length, 1);
    assert.equal(r.emu.counters.runnerConnectionsOpened, 2);
  } finally {
    await r.close();
  }
});

test('CONF_TOKEN_NOT_FOUND: caches flushed, whole exchange retried, 3 attempts then 503 (or degrade)', async () => {
  let failures = 1;
  const r = await rig(
    (port) => [
      route(1, port, { 'ext-plugin-pre-req': conf() }, { uri: '/strict' }),
      route(2, port, { 'ext-plugin-pre-req': { ...conf(), allow_degradation: true } }, { uri: '/lenient' }),
    ],
    {
      reqCall: (req) => (failures-- > 0 ? { errorCode: ErrCode.ConfTokenNotFound } : { id: req.id, action: undefined }),
    },
  );
  try {
    assert.equal((await request(`${r.emu.url}/strict`)).status, 200);
    assert.equal(r.runner.of('reqCall').length, 2);
    assert.equal(r.runner.of('prepareConf').length, 2, 'the flush forces a new PrepareConf');
    assert.match(r.emu.runnerLog(), /refresh cache and try again/);

    failures = 100;
    const res = await request(`${r.emu.url}/strict`);
    assert.equal(res.status, 503);
    assert.match(res.body, /503 Service Temporarily Unavailable/);
    assert.match(String(res.headers['content-type']), /text\/html/);
    assert.equal(r.runner.of('reqCall').length, 5);
    assert.equal(r.upstream.seen.length, 1);

    const lenient = await request(`${r.emu.url}/lenient`);
    assert.equal(lenient.status, 200);
    assert.equal(r.runner.of('reqCall').length, 8);
    assert.equal(r.upstream.seen.length, 2);
    assert.match(r.emu.runnerLog(), /Plugin Runner is wrong, allow degradation/);
  } finally {
    await r.close();
  }
});

test('runner missing → 503 HTML; allow_degradation continues to the upstream', async () => {
  const r = await rig(
    (port) => [
      route(1, port, { 'ext-plugin-pre-req': conf() }, { uri: '/strict' }),
      route(2, port, { 'ext-plugin-post-req': { ...conf(), allow_degradation: true } }, { uri: '/lenient' }),
    ],
    {},
    { noRunner: true },
  );
  try {
    const res = await request(`${r.emu.url}/strict`);
    assert.equal(res.status, 503);
    assert.match(res.body, /<center><h1>503 Service Temporarily Unavailable<\/h1><\/center>/);
    assert.equal(res.headers.server, 'APISIX/3.18.0');
    assert.equal((await request(`${r.emu.url}/lenient`)).status, 200);
    assert.equal(r.upstream.seen.length, 1);
    assert.match(r.emu.runnerLog(), /failed to connect to the unix socket unix:/);
  } finally {
    await r.close();
  }
});

test('error frames, truncated frames, wrong types and timeouts → 503; zero-length body → 500 even when degrading', async () => {
  let mode = '';
  const r = await rig(
    (port) => [
      route(1, port, { 'ext-plugin-pre-req': conf() }, { uri: '/strict' }),
      route(2, port, { 'ext-plugin-pre-req': { ...conf(), allow_degradation: true } }, { uri: '/lenient' }),
    ],
    {
      reqCall: async (req) => {
        switch (mode) {
          case 'service-unavailable': return { errorCode: ErrCode.ServiceUnavailable };
          case 'bad-request': return { errorCode: ErrCode.BadRequest };
          case 'truncated': return { rawFrame: Buffer.from([2, 0, 0, 100, 1, 2, 3]), thenClose: true };
          case 'wrong-type': return { rawFrame: encodeFrame(FrameType.PrepareConf, Buffer.from([12, 0, 0, 0, 0, 0, 6, 0, 8, 0, 4, 0, 6, 0, 0, 0, 1, 0, 0, 0])) };
          case 'zero': return { rawFrame: Buffer.from([2, 0, 0, 0]) };
          case 'hang': await sleep(1000); return { id: req.id, action: undefined };
          default: return { id: req.id, action: undefined };
        }
      },
    },
    { rpcTimeoutMs: 300 },
  );
  try {
    for (const m of ['service-unavailable', 'bad-request', 'wrong-type', 'truncated', 'hang']) {
      mode = m;
      assert.equal((await request(`${r.emu.url}/strict`)).status, 503, m);
      assert.equal((await request(`${r.emu.url}/lenient`)).status, 200, `${m} degraded`);
    }
    mode = 'zero';
    const zero = await request(`${r.emu.url}/strict`);
    assert.equal(zero.status, 500);
    assert.match(zero.body, /500 Internal Server Error/);
    assert.equal((await request(`${r.emu.url}/lenient`)).status, 500);
    assert.equal(r.upstream.seen.length, 5);
  } finally {
    await r.close();
  }
});

/** An ExtraInfo.Req with an info type APISIX does not know (9). */
function unknownInfoFrame(): Buffer {
  const b = new Builder(64);
  b.startObject(0);
  const empty = b.endObject();
  b.startObject(2);
  b.addFieldInt8(0, 9, 0);
  b.addFieldOffset(1, empty, 0);
  b.finish(b.endObject());
  return encodeFrame(FrameType.ExtraInfo, b.asUint8Array());
}

test('ExtraInfo: vars, bodies, nil vs empty, consumer_name only after key-auth, unknown info type → 503', async () => {
  const answers: Record<string, Record<string, string | undefined>> = {};
  const text = (u: Uint8Array | undefined): string | undefined => (u === undefined ? undefined : Buffer.from(u).toString('utf8'));
  let unknownInfo = false;
  const r = await rig(
    (port) => [
      route(1, port, { 'ext-plugin-pre-req': conf('pre'), 'ext-plugin-post-req': conf('post'), 'key-auth': {} }, { uri: '/mcp', name: 'mcp-route' }),
    ],
    {
      reqCall: async (req, ctx) => {
        const phase = req.headers.some((h) => h.name === 'x-phase-post') ? 'post' : 'pre';
        const out: Record<string, string | undefined> = {};
        if (unknownInfo) {
          await ctx.askRaw(unknownInfoFrame()).catch(() => undefined);
          return { id: req.id, action: undefined };
        }
        for (const name of ['request_id', 'route_id', 'route_name', 'remote_addr', 'server_addr', 'server_port', 'scheme', 'uri', 'request_uri', 'host', 'consumer_name', 'http_x_custom', 'arg_x', 'arg_missing', 'cookie_sess', 'post_arg.params.name', 'post_arg.params', 'post_arg.id', 'no_such_var']) {
          out[name] = text((await ctx.ask({ type: 'var', name })).result);
        }
        out.reqBody = text((await ctx.ask({ type: 'reqBody' })).result);
        out.respBody = text((await ctx.ask({ type: 'respBody' })).result);
        answers[phase] = out;
        // mark the request so the post-req call can tell itself apart
        return phase === 'pre' ? { id: req.id, action: { type: 'rewrite', headers: [{ name: 'x-phase-post', value: '1' }], args: [], respHeaders: [], body: undefined } } : { id: req.id, action: undefined };
      },
    },
    { consumers: [{ username: 'alice', plugins: { 'key-auth': { key: 'k-alice' } } }] },
  );
  try {
    const body = JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'search' } });
    const res = await request(`${r.emu.url}/mcp?x=&y=1`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-custom': 'cv', cookie: 'a=1; sess=s1', apikey: 'k-alice', host: 'gw.example:8080' },
      body,
    });
    assert.equal(res.status, 200);
    const pre = answers.pre!;
    const post = answers.post!;
    assert.match(pre.request_id!, /^[0-9a-f]{32}$/);
    assert.equal(post.request_id, pre.request_id, 'one request id for the whole request');
    assert.equal(pre.route_id, '1');
    assert.equal(pre.route_name, 'mcp-route');
    assert.equal(pre.remote_addr, '127.0.0.1');
    assert.equal(pre.server_addr, '127.0.0.1');
    assert.equal(pre.server_port, String(r.emu.port));
    assert.equal(pre.scheme, 'http');
    assert.equal(pre.uri, '/mcp');
    assert.equal(pre.request_uri, '/mcp?x=&y=1');
    assert.equal(pre.host, 'gw.example');
    assert.equal(pre.consumer_name, undefined, 'pre-req runs before key-auth');
    assert.equal(post.consumer_name, 'alice');
    assert.equal(pre.http_x_custom, 'cv');
    assert.equal(pre.arg_x, '', 'empty var: present and empty');
    assert.equal(pre.arg_missing, undefined);
    assert.equal(pre.cookie_sess, 's1');
    assert.equal(pre['post_arg.params.name'], 'search');
    assert.match(pre['post_arg.params']!, /^table: 0x[0-9a-f]+$/);
    assert.equal(pre['post_arg.id'], '7');
    assert.equal(pre.no_such_var, undefined);
    assert.equal(pre.reqBody, body);
    assert.equal(pre.respBody, undefined, 'RespBody in HTTPReqCall: no result');

    // GET without body: ReqBody has no result
    await request(`${r.emu.url}/mcp`, { headers: { apikey: 'k-alice' } });
    assert.equal(answers.pre!.reqBody, undefined);
    assert.equal(answers.pre!['post_arg.id'], undefined);

    // key-auth itself
    const missing = await request(`${r.emu.url}/mcp`);
    assert.equal(missing.status, 401);
    assert.equal(missing.body, '{"message":"Missing API key in request"}\n');
    assert.equal((await request(`${r.emu.url}/mcp`, { headers: { apikey: 'nope' } })).status, 401);

    unknownInfo = true;
    assert.equal((await request(`${r.emu.url}/mcp`, { headers: { apikey: 'k-alice' } })).status, 503);
  } finally {
    await r.close();
  }
});
