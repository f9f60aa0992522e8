// HTTPReqCall input and Stop/Rewrite application (docs/ext-plugin-protocol.md §4.2), and APISIX routing.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { HTTPReqCallReq, HTTPReqCallResp, RewriteAction } from '../../runner/protocol/messages.js';
import { conf, request, rig, route } from '../../testkit/emulator.js';

const rewrite = (r: Partial<RewriteAction>): RewriteAction => ({ type: 'rewrite', headers: [], args: [], respHeaders: [], body: undefined, ...r });

test('HTTPReqCall input: method enum, decoded path, args (?z absent, y= empty, repeats), lower-case headers, host = upstream host, src_ip', async () => {
  let seen: HTTPReqCallReq | undefined;
  const r = await rig((port) => [route(1, port, { 'ext-plugin-pre-req': conf() })], {
    reqCall: (req) => {
      seen = req;
      return { id: req.id, action: undefined };
    },
  });
  try {
    const res = await request(`${r.emu.url}/a%20b//c/./d?xx=y&xx=z&&y=&&z`, {
      method: 'PUT',
      headers: { 'X-Req': ['one', 'two'], 'X-Resp': 'r', Host: 'client.example' },
    });
    assert.equal(res.status, 200);
    const req = seen!;
    assert.equal(req.method, 'PUT');
    assert.equal(req.path, '/a b/c/d');
    const args = req.args.map((a) => [a.name, a.value]).sort();
    assert.deepEqual(args, [['xx', 'y'], ['xx', 'z'], ['y', ''], ['z', undefined]]);
    assert.ok(req.headers.every((h) => h.name === h.name.toLowerCase()));
    assert.deepEqual(req.headers.filter((h) => h.name === 'x-req').map((h) => h.value), ['one', 'two']);
    assert.deepEqual(req.headers.find((h) => h.name === 'host')?.value, 'client.example');
    assert.deepEqual([...req.srcIp!], [127, 0, 0, 1]);

    // an unmapped method never reaches the runner: 500
    const calls = r.runner.of('reqCall').length;
    const bad = await request(`${r.emu.url}/x`, { method: 'PURGE' });
    assert.equal(bad.status, 500);
    assert.equal(r.runner.of('reqCall').length, calls);

    // more than 100 header lines: only 100 reach the runner
    const many: Record<string, string> = {};
    for (let i = 0; i < 120; i++) many[`x-h${i}`] = String(i);
    await request(`${r.emu.url}/x`, { headers: many });
    assert.equal(seen!.headers.length, 100);
  } finally {
    await r.close();
  }
});

test('Stop: status 0 → 200, lower-cased headers (first sets, repeats add), body; no body → nginx page; _meta.error_response', async () => {
  let answer: HTTPReqCallResp['action'];
  const r = await rig(
    (port) => [
      route(1, port, { 'ext-plugin-pre-req': conf() }, { uri: '/plain' }),
      route(2, port, { 'ext-plugin-pre-req': { ...conf(), _meta: { error_response: { error: 'denied' } } } }, { uri: '/meta' }),
    ],
    { reqCall: (req) => ({ id: req.id, action: answer }) },
  );
  try {
    answer = { type: 'stop', status: 0, headers: [{ name: 'X-Same', value: 'one' }, { name: 'x-same', value: 'two' }, { name: 'Content-Type', value: 'application/json' }], body: Buffer.from('{"ok":1}') };
    const ok = await request(`${r.emu.url}/plain`);
    assert.equal(ok.status, 200);
    assert.equal(ok.body, '{"ok":1}');
    assert.equal(ok.headers['x-same'], 'one, two');
    assert.equal(ok.headers['content-type'], 'application/json');
    assert.ok(ok.rawHeaders.includes('x-same'), 'names are lower-cased');
    assert.equal(r.upstream.seen.length, 0, 'the upstream is not called');

    answer = { type: 'stop', status: 403, headers: [], body: undefined };
    const page = await request(`${r.emu.url}/plain`);
    assert.equal(page.status, 403);
    assert.match(page.body, /<h1>403 Forbidden<\/h1>/);

    answer = { type: 'stop', status: 403, headers: [{ name: 'content-type', value: 'application/json' }], body: Buffer.from('{"jsonrpc":"2.0"}') };
    const meta = await request(`${r.emu.url}/meta`);
    assert.equal(meta.status, 403);
    assert.equal(meta.body, '{"error":"denied"}\n', 'error_response replaces the Stop body');
  } finally {
    await r.close();
  }
});

test('Rewrite: headers set/delete/host, path encoding, args merge, body, vital resp_headers ignored, path-only keeps the query', async () => {
  let answer: HTTPReqCallResp['action'];
  const r = await rig((port) => [route(1, port, { 'ext-plugin-pre-req': conf() })], { reqCall: (req) => ({ id: req.id, action: answer }) });
  try {
    answer = rewrite({
      headers: [
        { name: 'X-Delete', value: undefined },
        { name: 'X-Change', value: 'a' },
        { name: 'X-Change', value: 'b' },
        { name: 'X-Add', value: 'new' },
        { name: 'Host', value: 'upstream.example' },
      ],
      respHeaders: [
        { name: 'X-Resp', value: '1' },
        { name: 'X-Resp', value: '2' },
        { name: 'Content-Type', value: 'text/evil' },
        { name: 'Location', value: '/evil' },
        { name: 'WWW-Authenticate', value: 'Bearer evil' },
      ],
    });
    const res = await request(`${r.emu.url}/orig?keep=1`, { headers: { 'x-delete': 'gone', 'x-change': 'old' } });
    assert.equal(res.status, 200);
    const up = r.upstream.seen.at(-1)!;
    assert.equal(up.headers['x-delete'], undefined);
    assert.equal(up.headers['x-change'], 'b', 'request headers: last wins');
    assert.equal(up.headers['x-add'], 'new');
    assert.equal(up.headers.host, 'upstream.example');
    assert.equal(up.url, '/orig?keep=1');
    assert.equal(res.headers['x-resp'], '1, 2');
    assert.equal(res.headers['content-type'], 'application/json', 'the upstream content-type, not the ignored vital one');
    assert.equal(res.headers.location, undefined);
    assert.equal(res.headers['www-authenticate'], undefined);
    assert.equal(res.headers['x-up'], 'yes');

    answer = rewrite({ path: '/new path?x=%41' });
    await request(`${r.emu.url}/p?keep=1`);
    assert.equal(r.upstream.seen.at(-1)!.url, '/new%20path%3Fx=%2541?keep=1', 'uri-safe encoding; path-only keeps the query (3.16+)');

    answer = rewrite({ path: '/args', args: [{ name: 'a', value: 'foo' }, { name: 'a', value: 'bar' }, { name: 'drop', value: undefined }, { name: 'one', value: 'x y' }] });
    await request(`${r.emu.url}/p?a=old&a=older&drop=1&keep=k`);
    const url = new URL(r.upstream.seen.at(-1)!.url, 'http://x');
    assert.equal(url.pathname, '/args');
    assert.deepEqual(url.searchParams.getAll('a'), ['foo', 'bar']);
    assert.equal(url.searchParams.get('drop'), null);
    assert.equal(url.searchParams.get('keep'), 'k');
    assert.equal(url.searchParams.get('one'), 'x y');

    answer = rewrite({ args: [{ name: 'only', value: '1' }] });
    await request(`${r.emu.url}/argsonly?k=v`);
    assert.equal(r.upstream.seen.at(-1)!.url, '/argsonly?k=v&only=1');

    answer = rewrite({ body: Buffer.from('{"replaced":true}') });
    await request(`${r.emu.url}/body`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"original":true, "longer": "yes"}' });
    const withBody = r.upstream.seen.at(-1)!;
    assert.equal(withBody.body, '{"replaced":true}');
    assert.equal(withBody.headers['content-length'], String('{"replaced":true}'.length));
  } finally {
    await r.close();
  }
});

test('post-req sees pre-req rewrites: path from $upstream_uri, args from its query, current headers', async () => {
  const seen: HTTPReqCallReq[] = [];
  const r = await rig((port) => [route(1, port, { 'ext-plugin-pre-req': conf('pre'), 'ext-plugin-post-req': conf('post') })], {
    reqCall: (req) => {
      seen.push(req);
      if (seen.length === 1) return { id: req.id, action: rewrite({ path: '/re written', headers: [{ name: 'x-from-pre', value: '1' }], args: [{ name: 'n', value: '2' }] }) };
      return { id: req.id, action: undefined };
    },
  });
  try {
    await request(`${r.emu.url}/start?n=1`);
    const post = seen[1]!;
    assert.equal(post.path, '/re%20written');
    assert.deepEqual(post.args, [{ name: 'n', value: '2' }]);
    assert.equal(post.headers.find((h) => h.name === 'x-from-pre')?.value, '1');
    assert.equal(r.upstream.seen[0]!.url, '/re%20written?n=2');
    assert.equal(post.id, seen[0]!.id + 1);
  } finally {
    await r.close();
  }
});

test('routing: exact before prefix, priority, methods, vars with post_arg (cjson: last duplicate key wins, non-JSON → nil), 404', async () => {
  const pre = { 'ext-plugin-pre-req': conf() };
  const r = await rig((port) => [
    route('catch-all', port, pre, { uri: '/*' }),
    route('mcp', port, pre, { uri: '/mcp', methods: ['POST', 'GET'] }),
    route('danger', port, pre, { uri: '/mcp', methods: ['POST'], priority: 10, vars: [['post_arg.method', '==', 'tools/call'], ['post_arg.params.name', '~~', '^danger']] }),
    route('not-danger', port, pre, { uri: '/mcp', methods: ['POST'], priority: 5, vars: [['post_arg.method', '==', 'tools/call'], ['post_arg.params.name', '!', '~~', '^danger']] }),
    route('by-id', port, pre, { uri: '/mcp', priority: 20, vars: [['post_arg.id', '==', 42], ['http_x_flag', 'in', ['a', 'b']]] }),
    route('api', port, pre, { uri: '/api/*', priority: -1 }),
    route('api-v2', port, pre, { uri: '/api/v2/*', priority: -5 }),
  ]);
  /** The matched route, read back from the PrepareConf key of the token the call carried. */
  const which = async (path: string, method = 'GET', body?: string, headers: Record<string, string> = {}): Promise<string> => {
    const res = await request(`${r.emu.url}${path}`, { method, body, headers: { 'content-type': 'application/json', ...headers } });
    if (res.status === 404) return '404';
    const token = r.runner.of('reqCall').at(-1)!.req.confToken;
    const key = [...r.runner.tokensByKey].find(([, t]) => t === token)![0];
    return key.split('#')[1]!;
  };
  try {
    const call = (name: string, id: unknown = 1): string => JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name } });
    assert.equal(await which('/mcp', 'GET'), 'mcp');
    assert.equal(await which('/mcp', 'POST', call('danger_tool')), 'danger');
    assert.equal(await which('/mcp', 'POST', call('search')), 'not-danger');
    assert.equal(await which('/mcp', 'POST', '{"method":"tools/list","method":"tools/call","params":{"name":"dangerous"}}'), 'danger', 'last duplicate key wins');
    assert.equal(await which('/mcp', 'POST', 'not json {"method":"tools/call"}'), 'mcp', 'non-JSON body: post_arg is nil');
    assert.equal(await which('/mcp', 'POST', call('danger_x'), { 'content-type': 'text/plain' }), 'mcp', 'non-JSON content type: nil');
    assert.equal(await which('/mcp', 'POST', call('x', 42), { 'x-flag': 'b' }), 'by-id');
    assert.equal(await which('/mcp', 'POST', call('x', '42'), { 'x-flag': 'b' }), 'by-id', 'number comparison uses tonumber');
    assert.equal(await which('/mcp', 'POST', call('x', 42), { 'x-flag': 'c' }), 'not-danger');
    assert.equal(await which('/mcp', 'PUT'), 'catch-all', 'method mismatch falls to the prefix route');
    assert.equal(await which('/api/v2/x'), 'api-v2', 'longest prefix first, whatever the priority');
    assert.equal(await which('/api/v1'), 'api');
    assert.equal(await which('/mcp/'), 'catch-all');

    r.emu.setRoutes([route('only', r.upstream.port, pre, { uri: '/only' })]);
    assert.equal(await which('/only'), 'only');
    const notFound = await request(`${r.emu.url}/nothing`);
    assert.equal(notFound.status, 404);
    assert.equal(notFound.body, '{"error_msg":"404 Route Not Found"}\n');
  } finally {
    await r.close();
  }
});
