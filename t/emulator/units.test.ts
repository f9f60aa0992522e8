// Pure helpers that encode nginx/Lua behaviour: number formatting, URI escaping, args, config.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RouteTable, loadApisixYaml } from '../../emulator/config.js';
import { binaryAddr } from '../../emulator/reqcall.js';
import { encodeArgs, normalizeUri, parseArgs, uriSafeEncode } from '../../emulator/uri.js';
import { luaNumberToString } from '../../emulator/vars.js';
import { nginxErrorPage } from '../../emulator/responses.js';
import { evalExpr } from '../../emulator/routing.js';
import { HeaderList, ResponseHeaders, type RequestState } from '../../emulator/state.js';

test('Lua tostring of numbers (%.14g)', () => {
  assert.equal(luaNumberToString(7), '7');
  assert.equal(luaNumberToString(-3), '-3');
  assert.equal(luaNumberToString(1.5), '1.5');
  assert.equal(luaNumberToString(0.1), '0.1');
  assert.equal(luaNumberToString(1e15), '1e+15');
  assert.equal(luaNumberToString(123456789012346), '1.2345678901235e+14');
  assert.equal(luaNumberToString(12345678901234), '12345678901234');
  assert.equal(luaNumberToString(0.00001), '1e-05');
  assert.equal(luaNumberToString(0.0001), '0.0001');
});

test('uri_safe_encode, $uri normalisation, args parse/encode', () => {
  assert.equal(uriSafeEncode('/a b?c#d%e'), '/a%20b%3Fc%23d%25e');
  assert.equal(uriSafeEncode('/ü'), '/%C3%BC');
  assert.equal(uriSafeEncode('/keep/-_.~!$&\'()*+,;=:@'), '/keep/-_.~!$&\'()*+,;=:@');
  assert.equal(normalizeUri('/a/%2e%2e/b//c/./d%20e'), '/b/c/d e');
  assert.equal(normalizeUri('/x/'), '/x/');
  assert.deepEqual(parseArgs('a=1&&b&c=&=x&d=%41+b'), [
    { name: 'a', value: '1' },
    { name: 'b', value: undefined },
    { name: 'c', value: '' },
    { name: 'd', value: 'A b' },
  ]);
  assert.equal(encodeArgs([{ name: 'a', value: 'x y' }, { name: 'flag', value: undefined }]), 'a=x%20y&flag');
});

test('$binary_remote_addr: 4 bytes for IPv4 (also v4-mapped), 16 for IPv6', () => {
  assert.deepEqual([...binaryAddr('10.1.2.3')!], [10, 1, 2, 3]);
  assert.deepEqual([...binaryAddr('::ffff:127.0.0.1')!], [127, 0, 0, 1]);
  const v6 = binaryAddr('::1')!;
  assert.equal(v6.length, 16);
  assert.equal(v6[15], 1);
  assert.deepEqual([...binaryAddr('2001:db8::2')!.subarray(0, 4)], [0x20, 0x01, 0x0d, 0xb8]);
  assert.equal(binaryAddr('nonsense'), undefined);
});

test('conf versions: only changed routes get a new version; schema errors name the field', async () => {
  const t = new RouteTable();
  const up = { nodes: { '127.0.0.1:1': 1 } };
  t.set([{ id: 1, uri: '/a', upstream: up }, { id: 2, uri: '/b', upstream: up }]);
  const [v1, v2] = t.routes.map((r) => r.version);
  t.set([{ id: 1, uri: '/a', upstream: up }, { id: 2, uri: '/b2', upstream: up }]);
  assert.equal(t.routes[0]!.version, v1);
  assert.ok(t.routes[1]!.version > v2!);
  assert.throws(() => t.set([{ id: 3, uri: '/c', upstream: up, plugins: { 'ext-plugin-pre-req': { conf: [] } } }]), /plugins\.ext-plugin-pre-req\.conf/);
  assert.throws(() => t.set([{ id: 3, uri: '/c', upstream: up, plugins: { 'ext-plugin-pre-req': { conf: [{ name: 'x', value: 1 as unknown as string }] } } }]), /conf\[0\]\.value/);
  assert.throws(() => t.set([{ id: 4, upstream: up } as never]), /uri or uris/);

  const dir = await mkdtemp(join(tmpdir(), 'emu-yaml-'));
  try {
    const file = join(dir, 'apisix.yaml');
    await writeFile(file, 'routes:\n  - id: mcp\n    uri: /mcp\n    upstream:\n      nodes:\n        - host: 127.0.0.1\n          port: 8000\n          weight: 1\n    plugins:\n      ext-plugin-pre-req:\n        conf:\n          - name: mcp-authz\n            value: \'{"allow":[]}\'\n#END\n');
    const doc = await loadApisixYaml(file);
    t.set(doc.routes!);
    assert.deepEqual(t.routes[0]!.nodes, [{ host: '127.0.0.1', port: 8000, weight: 1 }]);
    assert.equal(t.routes[0]!.conf.plugins!['ext-plugin-pre-req']!.conf![0]!.value, '{"allow":[]}');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('nginx error page shape', () => {
  assert.match(nginxErrorPage(503), /^<html>\r\n<head><title>503 Service Temporarily Unavailable<\/title><\/head>/);
  assert.match(nginxErrorPage(502), /<hr><center>openresty<\/center>/);
});

function stateWith(body: string | undefined, query = '', headers: [string, string][] = [['Content-Type', 'application/json']]): RequestState {
  const t = new RouteTable();
  t.set([{ id: 'r1', uri: '/', upstream: { nodes: { '127.0.0.1:1': 1 } } }]);
  return {
    requestId: '0'.repeat(32), route: t.routes[0]!, method: 'POST', requestUri: '/', uri: '/', query, upstreamUri: undefined,
    upstreamHost: 'h', headers: new HeaderList(headers), body: body === undefined ? undefined : Buffer.from(body),
    remoteAddr: '127.0.0.1', remotePort: 1, serverAddr: '127.0.0.1', serverPort: 2, scheme: 'http', consumerName: undefined,
    respHeaders: new ResponseHeaders(),
  };
}

test('lua-resty-expr operators on ctx.var values with Lua semantics', () => {
  const s = stateWith('{"method":"tools/call","id":5,"tags":["a","b"],"n":null,"params":{"name":"x"}}', 'flag&k=v');
  const ok = (expr: unknown[]): boolean => evalExpr(expr, s);
  assert.equal(ok([['post_arg.method', '==', 'tools/call']]), true);
  assert.equal(ok([['post_arg.method', '~=', 'tools/list']]), true);
  assert.equal(ok([['post_arg.missing', '~=', 'x']]), true, 'nil ~= "x"');
  assert.equal(ok([['post_arg.missing', '==', null]]), true, 'null in config is nil');
  assert.equal(ok([['post_arg.n', '==', null]]), false, 'cjson.null is not nil');
  assert.equal(ok([['post_arg.id', '==', 5], ['post_arg.id', '>', 4], ['post_arg.id', '<', 6]]), true);
  assert.equal(ok([['post_arg.id', '==', '5']]), false, 'number vs string: Lua == is type-strict');
  assert.equal(ok([['post_arg.method', 'in', ['tools/list', 'tools/call']]]), true);
  assert.equal(ok([['post_arg.tags', 'has', 'b']]), true);
  assert.equal(ok([['post_arg.tags', 'has', 'c']]), false);
  assert.equal(ok([['post_arg.method', '~~', '^tools/']]), true);
  assert.equal(ok([['post_arg.method', '~*', '^TOOLS/']]), true);
  assert.equal(ok([['post_arg.method', '!', '~~', '^tools/']]), false);
  assert.equal(ok(['OR', ['post_arg.method', '==', 'nope'], ['arg_k', '==', 'v']]), true);
  assert.equal(ok(['!AND', ['arg_flag', '==', true], ['arg_k', '==', 'v']]), false, '?flag is Lua true');
  assert.equal(ok([['post_arg.params.name', '==', 'x'], ['http_content_type', '~~', 'json']]), true);
  assert.equal(evalExpr([['post_arg.method', '==', 'tools/call']], stateWith('{"method":"tools/call"}', '', [['Content-Type', 'text/plain']])), false);
  assert.equal(evalExpr([['post_arg.method', '==', 'tools/call']], stateWith('[' .repeat(1001) + ']'.repeat(1001))), false, 'too deep for cjson');
});
