// ext-plugin-post-resp re-proxying (docs/ext-plugin-protocol.md §4.4, §2.7) and the plain proxy path.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { HTTPRespCallReq, HTTPRespCallResp } from '../../runner/protocol/messages.js';
import { conf, request, rig, route, sleep, type UpstreamHandler } from '../../testkit/emulator.js';

/** Upstream that answers with mixed-case headers, including vital ones. */
const mixedCase: UpstreamHandler = (req, res, body) => {
  res.writeHead(201, [
    'Content-Type', 'application/json',
    'X-Mixed-Case', 'm',
    'X-Multi', 'a',
    'x-multi', 'b',
    'WWW-Authenticate', 'Bearer realm="mcp"',
    'Mcp-Session-Id', 'sess-1',
  ]);
  res.end(JSON.stringify({ url: req.url, host: req.headers.host, injected: req.headers['x-injected'], body }));
};

test('post-resp: HTTPRespCall input, a new upstream connection per call, client headers incl. pre-req rewrites and client Host', async () => {
  let input: HTTPRespCallReq | undefined;
  const r = await rig(
    (port) => [
      route(1, port, { 'ext-plugin-pre-req': conf('pre'), 'ext-plugin-post-resp': conf('post') }, { uri: '/mcp' }),
      route(2, port, {}, { uri: '/plain' }),
    ],
    {
      reqCall: (req) => ({ id: req.id, action: { type: 'rewrite', headers: [{ name: 'x-injected', value: 'secret' }, { name: 'host', value: 'changed.example' }], args: [], respHeaders: [], body: undefined } }),
      respCall: (req) => {
        input = req;
        return { id: req.id, status: 0, headers: [], body: undefined };
      },
    },
    { upstream: mixedCase },
  );
  try {
    for (let i = 0; i < 3; i++) {
      const res = await request(`${r.emu.url}/mcp?q=1`, { method: 'POST', headers: { host: 'client.example' }, body: '{"a":1}' });
      assert.equal(res.status, 201);
      const echoed = JSON.parse(res.body) as { url: string; host: string; injected: string; body: string };
      assert.equal(echoed.url, '/mcp?q=1');
      assert.equal(echoed.injected, 'secret');
      assert.equal(echoed.host, 'changed.example', 'the current Host header (set_header host), no pass_host');
      assert.equal(echoed.body, '{"a":1}');
    }
    assert.equal(r.upstream.connections, 3, 'one new upstream connection per call');
    assert.equal(new Set(r.upstream.seen.map((s) => s.remotePort)).size, 3);

    assert.equal(input!.status, 201);
    const names = input!.headers.map((h) => h.name);
    assert.ok(names.includes('X-Mixed-Case') && names.includes('Content-Type') && names.includes('WWW-Authenticate'), 'original case');
    assert.deepEqual(input!.headers.filter((h) => h.name.toLowerCase() === 'x-multi'), [{ name: 'X-Multi', value: 'a' }, { name: 'X-Multi', value: 'b' }], 'first spelling, one entry per value');
    const postKey = r.runner.of('prepareConf').find((p) => p.req.key.includes('ext-plugin-post-resp'))!;
    assert.equal(postKey.req.key, `route#1#ext-plugin-post-resp#${r.emu.routeVersion(1)}`);
    assert.equal(input!.confToken, postKey.token);

    // Without post-resp, nginx's keepalive pool is used.
    const before = r.upstream.connections;
    for (let i = 0; i < 3; i++) await request(`${r.emu.url}/plain`);
    assert.equal(r.upstream.connections, before + 1);
  } finally {
    await r.close();
  }
});

test('post-resp answers: empty headers copy upstream minus vital (content-type too); non-empty replace all; body and status', async () => {
  let answer: (req: HTTPRespCallReq) => HTTPRespCallResp = (req) => ({ id: req.id, status: 0, headers: [], body: undefined });
  const r = await rig((port) => [route(1, port, { 'ext-plugin-post-resp': conf() })], { respCall: (req) => answer(req) }, { upstream: mixedCase });
  try {
    const copied = await request(`${r.emu.url}/x`);
    assert.equal(copied.status, 201);
    assert.equal(copied.headers['x-mixed-case'], 'm');
    assert.equal(copied.headers['x-multi'], 'a, b');
    assert.equal(copied.headers['mcp-session-id'], 'sess-1');
    assert.equal(copied.headers['www-authenticate'], undefined, 'vital: dropped');
    assert.match(String(copied.headers['content-type']), /^text\/plain/, 'content-type dropped: nginx default type');
    assert.match(copied.body, /"url":"\/x"/, 'body streamed');

    answer = (req) => ({ id: req.id, status: 0, headers: [{ name: 'Content-Type', value: 'application/json' }, { name: 'X-A', value: '1' }, { name: 'x-a', value: '2' }, { name: 'WWW-Authenticate', value: 'Bearer x' }], body: undefined });
    const replaced = await request(`${r.emu.url}/x`);
    assert.equal(replaced.status, 201);
    assert.equal(replaced.headers['content-type'], 'application/json');
    assert.equal(replaced.headers['x-a'], '1, 2');
    assert.equal(replaced.headers['www-authenticate'], 'Bearer x', 'no filtering when the runner sends headers');
    assert.equal(replaced.headers['x-mixed-case'], undefined, 'upstream headers not copied');
    assert.equal(replaced.headers['mcp-session-id'], undefined);

    answer = (req) => ({ id: req.id, status: 304, headers: [{ name: 'x-s', value: '1' }], body: undefined });
    assert.equal((await request(`${r.emu.url}/x`)).status, 304, 'status overrides even when streaming');

    answer = (req) => ({ id: req.id, status: 0, headers: [{ name: 'content-type', value: 'application/json' }], body: Buffer.from('{"redacted":true}') });
    const body = await request(`${r.emu.url}/x`);
    assert.equal(body.status, 201);
    assert.equal(body.body, '{"redacted":true}');
  } finally {
    await r.close();
  }
});

/** Upstream SSE answer: first event now, the rest (and the end) when the test releases it. */
function sseUpstream(): { handler: UpstreamHandler; release: () => void } {
  let release: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => (release = resolve));
  return {
    release: () => release(),
    handler: async (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/event-stream' });
      res.write('event: message\ndata: {"n":1}\n\n');
      await gate;
      res.end('event: message\ndata: {"n":2}\n\n');
    },
  };
}

/** Streams a response and records when the first body byte and the end arrived. */
function streamTimes(url: string): Promise<{ status: number; firstByteAt: number; endAt: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false }, (res) => {
        let firstByteAt = 0;
        let body = '';
        res.on('data', (c: Buffer) => {
          if (firstByteAt === 0) firstByteAt = Date.now();
          body += c.toString('utf8');
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, firstByteAt, endAt: Date.now(), body }));
      })
      .on('error', reject);
  });
}

test('post-resp SSE: streamed when RespBody is not asked; held back until the upstream closes when it is', async () => {
  for (const askBody of [false, true]) {
    const sse = sseUpstream();
    let fetched: string | undefined;
    const r = await rig(
      (port) => [route(1, port, { 'ext-plugin-post-resp': conf() })],
      {
        respCall: async (req, ctx) => {
          if (askBody) {
            const got = await ctx.ask({ type: 'respBody' });
            fetched = got.result === undefined ? undefined : Buffer.from(got.result).toString('utf8');
            const again = await ctx.ask({ type: 'respBody' });
            assert.equal(again.result, undefined, 'a second RespBody finds the reader exhausted');
          }
          return { id: req.id, status: 0, headers: [{ name: 'content-type', value: 'text/event-stream' }], body: undefined };
        },
      },
      { upstream: sse.handler },
    );
    try {
      const pending = streamTimes(`${r.emu.url}/sse`);
      await sleep(300);
      const releasedAt = Date.now();
      sse.release();
      const t = await pending;
      assert.equal(t.status, 200);
      assert.match(t.body, /"n":1[\s\S]*"n":2/);
      if (askBody) {
        assert.ok(t.firstByteAt >= releasedAt, 'nothing reaches the client before the upstream closes');
        assert.match(fetched!, /"n":1[\s\S]*"n":2/, 'RespBody is the whole body');
      } else {
        assert.ok(t.firstByteAt > 0 && t.firstByteAt < releasedAt, 'the first event arrives while the upstream is still open');
      }
    } finally {
      await r.close();
    }
  }
});

test('plain proxy streams SSE too, and maps upstream failures to 502 / timeouts to 504', async () => {
  const sse = sseUpstream();
  const r = await rig(
    (port) => [
      route(1, port, {}, { uri: '/sse' }),
      route(2, 1, {}, { uri: '/down' }),
      route(3, port, {}, { uri: '/slow', upstream: { nodes: { [`127.0.0.1:${port}`]: 1 }, timeout: { connect: 1, send: 1, read: 0.2 } } }),
    ],
    {},
    {
      upstream: async (req, res, body) => {
        if (req.url === '/slow') {
          await sleep(1000);
          res.end('late');
          return;
        }
        await sse.handler(req, res, body);
      },
    },
  );
  try {
    const pending = streamTimes(`${r.emu.url}/sse`);
    await sleep(300);
    const releasedAt = Date.now();
    sse.release();
    const t = await pending;
    assert.ok(t.firstByteAt < releasedAt);
    const down = await request(`${r.emu.url}/down`);
    assert.equal(down.status, 502);
    assert.match(down.body, /502 Bad Gateway/);
    assert.equal((await request(`${r.emu.url}/slow`)).status, 504);
  } finally {
    await r.close();
  }
});

test('post-resp failures: upstream down → 502 without the runner; runner down → 503 with the upstream body and no upstream headers', async () => {
  const r = await rig(
    (port) => [
      route(1, port, { 'ext-plugin-post-resp': conf() }, { uri: '/strict' }),
      route(2, port, { 'ext-plugin-post-resp': { ...conf(), allow_degradation: true } }, { uri: '/lenient' }),
      route(3, 1, { 'ext-plugin-post-resp': conf() }, { uri: '/down' }),
    ],
    {},
    { upstream: mixedCase, noRunner: true },
  );
  try {
    const down = await request(`${r.emu.url}/down`);
    assert.equal(down.status, 502);
    assert.equal(r.emu.counters.exchanges.httpRespCall, 0);
    assert.equal(r.emu.counters.runnerConnectionsOpened, 0);

    const strict = await request(`${r.emu.url}/strict`);
    assert.equal(strict.status, 503);
    assert.match(strict.body, /"url":"\/strict"/, 'the unmodified upstream body leaks (docs/ext-plugin-protocol.md §2.7)');
    assert.equal(strict.headers['x-mixed-case'], undefined);
    assert.equal(strict.headers['mcp-session-id'], undefined);
    assert.match(String(strict.headers['content-type']), /^text\/plain/);
    assert.equal(r.upstream.seen.length, 1, 'the upstream was called (side effects happened)');

    const lenient = await request(`${r.emu.url}/lenient`);
    assert.equal(lenient.status, 201, 'degradation: the upstream status');
    assert.match(lenient.body, /"url":"\/lenient"/);
    assert.equal(lenient.headers['x-mixed-case'], undefined);
  } finally {
    await r.close();
  }
});

test('post-resp with a bodiless upstream answer (204/HEAD): nginx proxies again, the upstream is called twice (inferred)', async () => {
  let deletes = 0;
  const r = await rig((port) => [route(1, port, { 'ext-plugin-post-resp': conf() })], {}, {
    upstream: (req, res) => {
      if (req.method === 'DELETE') {
        deletes++;
        res.writeHead(deletes === 1 ? 204 : 404, { 'Content-Type': 'application/json' });
        res.end(deletes === 1 ? undefined : '{"error":"session gone"}');
        return;
      }
      res.writeHead(202, { 'Content-Length': '0' });
      res.end();
    },
  });
  try {
    const del = await request(`${r.emu.url}/mcp`, { method: 'DELETE' });
    assert.equal(deletes, 2);
    assert.equal(del.status, 404, 'the client sees the second call');
    assert.equal(r.emu.counters.exchanges.httpRespCall, 1);
    // 202 with Content-Length: 0 has a (empty) body reader: a single call.
    const accepted = await request(`${r.emu.url}/mcp`, { method: 'POST', body: '{}' });
    assert.equal(accepted.status, 202);
    assert.equal(r.upstream.seen.filter((s) => s.method === 'POST').length, 1);
  } finally {
    await r.close();
  }
});
