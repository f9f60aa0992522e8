// mcp-redact on answers beyond plain text content, through the real host: base64 blobs,
// values cut between content items and SSE events, server notifications, error statuses
// with bodies nobody can parse, and a long JWT after access_token=.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Host } from '../../../runner/host/chain.js';
import { PluginRegistry } from '../../../runner/host/registry.js';
import type { HTTPRespCallResp } from '../../../runner/protocol/messages.js';
import { plugin as redact } from '../../../plugins/mcp-redact/index.js';
import { closeSecretWatchers } from '../../../runner/secrets/index.js';
import { TableChannel, carryKeyOf, requestCall, responseChannel } from '../../../testkit/host-kit.js';

const enc = new TextEncoder();
const dec = new TextDecoder();
const registry = new PluginRegistry();
registry.register(redact);
const host = new Host({ registry });
after(async () => {
  await host.shutdown();
  closeSecretWatchers();
});

const TOKEN = 'ghp_R8xk2Lq9Vn4Tb7Wm1Yc5Zd3Fh6Jp0Ks2Ag8Q';
const CARD = '4111 1111 1111 1111';
let route = 0;

async function answer(conf: object, upstream: { status?: number; contentType: string; body: string | Uint8Array }): Promise<HTTPRespCallResp> {
  const chain = host.buildChain(
    [
      { name: 'mcp-route', value: JSON.stringify({ post_resp: true }) },
      { name: 'mcp-redact', value: JSON.stringify(conf) },
    ],
    `answers-${route++}`,
  );
  const body = enc.encode(JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'ops.fetch', arguments: {} } }));
  const request = await host.onRequest(chain, requestCall(body, [{ name: 'accept', value: 'application/json, text/event-stream' }]), new TableChannel({}, body), Date.now() + 5000);
  return host.onResponse(
    chain,
    { id: 1, status: upstream.status ?? 200, headers: [{ name: 'Content-Type', value: upstream.contentType }], confToken: 1 },
    responseChannel(carryKeyOf(request), upstream.body),
    Date.now() + 5000,
  );
}

const json = (result: unknown): { contentType: string; body: string } => ({ contentType: 'application/json', body: JSON.stringify({ jsonrpc: '2.0', id: 7, result }) });
const sse = (...messages: unknown[]): { contentType: string; body: string } => ({
  contentType: 'text/event-stream',
  body: messages.map((m, i) => `event: message\nid: ${i}\ndata: ${JSON.stringify(m)}\n\n`).join(''),
});
const b64 = (s: string | Uint8Array): string => Buffer.from(s).toString('base64');

test('text-like blobs are decoded, redacted and re-encoded; binary blobs pass unless the conf withholds them', async () => {
  const csv = `user,token\njane,${TOKEN}\n`;
  const resp = await answer({}, json({ content: [{ type: 'resource', resource: { uri: 'file:///a.csv', mimeType: 'text/csv', blob: b64(csv) } }] }));
  const out = JSON.parse(dec.decode(resp.body)) as { result: { content: [{ resource: { blob: string } }] } };
  assert.equal(Buffer.from(out.result.content[0].resource.blob, 'base64').toString(), 'user,token\njane,[REDACTED:secret]\n');

  const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]);
  const image = json({ content: [{ type: 'resource', resource: { uri: 'file:///a.png', mimeType: 'image/png', blob: b64(png) } }] });
  assert.equal((await answer({}, image)).body, undefined, 'binary blob passes untouched by default');
  const refused = await answer({ unreadable_blobs: 'withhold' }, image);
  assert.equal(refused.status, 502);

  // Says it is text, is not UTF-8: nobody can tell what it holds, withheld.
  const broken = await answer({}, json({ content: [{ type: 'resource', resource: { uri: 'file:///b.txt', mimeType: 'text/plain', blob: b64(new Uint8Array([0x41, 0xff, 0xfe, 0x42])) } }] }));
  assert.equal(broken.status, 502);
  assert.match(dec.decode(broken.body), /could not decode/);
});

test('a value cut between two content items or two SSE events is masked on both sides', async () => {
  const cut = TOKEN.length - 15;
  const items = await answer({}, json({ content: [{ type: 'text', text: `deploy key ${TOKEN.slice(0, cut)}` }, { type: 'text', text: `${TOKEN.slice(cut)} rotated` }] }));
  const parts = (JSON.parse(dec.decode(items.body)) as { result: { content: { text: string }[] } }).result.content.map((c) => c.text);
  assert.deepEqual(parts, ['deploy key [REDACTED:secret]', ' rotated']);

  const stream = await answer(
    {},
    sse(
      { jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: 1, progress: 1, message: `card ${CARD.slice(0, 7)}` } },
      { jsonrpc: '2.0', method: 'notifications/message', params: { level: 'info', data: `${CARD.slice(7)} charged` } },
      { jsonrpc: '2.0', id: 7, result: { content: [{ type: 'text', text: 'done' }] } },
    ),
  );
  const events = dec.decode(stream.body);
  assert.ok(!events.includes('1111 1111 1111') && !events.includes('4111 11'), events);
  assert.match(events, /charged/);
});

test('notifications on the answer stream are redacted like the result', async () => {
  const resp = await answer({}, sse({ jsonrpc: '2.0', method: 'notifications/message', params: { level: 'debug', data: { env: `GITHUB_TOKEN=${TOKEN}` } } }, { jsonrpc: '2.0', id: 7, result: { content: [] } }));
  const text = dec.decode(resp.body);
  assert.ok(!text.includes(TOKEN), text);
});

test('an error status with a body nobody can parse is withheld; an empty one passes', async () => {
  const html = await answer({}, { status: 500, contentType: 'text/html', body: `<pre>Traceback: password=${TOKEN}</pre>` });
  assert.equal(html.status, 502);
  assert.ok(!dec.decode(html.body).includes(TOKEN));
  const broken = await answer({}, { status: 400, contentType: 'application/json', body: `{"error": "${TOKEN}"` });
  assert.equal(broken.status, 502);
  const empty = await answer({}, { status: 503, contentType: 'text/plain', body: '' });
  assert.equal(empty.body, undefined);
});

test('a long JWT after access_token= is masked whole, never cut short', async () => {
  const payload = Buffer.from(JSON.stringify({ sub: 'u1', groups: Array.from({ length: 40 }, (_, i) => `group-${i}-engineering`) })).toString('base64url');
  const jwt = `eyJhbGciOiJSUzI1NiJ9.${payload}.${'Zk9'.repeat(120)}`;
  assert.ok(jwt.length > 1000);
  const resp = await answer({}, json({ content: [{ type: 'text', text: `callback?access_token=${jwt}&state=xyz` }] }));
  const out = JSON.parse(dec.decode(resp.body)) as { result: { content: [{ text: string }] } };
  assert.equal(out.result.content[0].text, 'callback?access_token=[REDACTED:secret]&state=xyz');
});
