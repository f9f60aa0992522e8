// mcp-redact through the real host (runner/host/chain.ts + context.ts) and the real MCP
// body code (runner/mcp): conf lists as APISIX sends them, ExtraInfo answered like APISIX
// (request body, response body, the call variable), answers as the protocol layer encodes them.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Host } from '../../../runner/host/chain.js';
import { PluginRegistry } from '../../../runner/host/registry.js';
import type { HTTPReqCallReq, HTTPReqCallResp, HTTPRespCallResp, RewriteAction } from '../../../runner/protocol/messages.js';
import { JsonRpcErrorCode } from '../../../runner/mcp/types.js';
import { plugin as redact } from '../../../plugins/mcp-redact/index.js';
import { closeSecretWatchers } from '../../../runner/secrets/index.js';
import { TableChannel, carryKeyOf, decisionProbe, requestCall as mcpPost, responseChannel } from '../../../testkit/host-kit.js';

const CARD = '4111 1111 1111 1111';
const EMAIL = 'jane.doe@example.com';
const SSN = '123-45-6789';
const IBAN = 'DE89370400440532013000';
const SECRETS = [CARD, '4111111111111111', EMAIL, SSN, IBAN];
const enc = new TextEncoder();
const dec = new TextDecoder();

/**
 * Stand-in for mcp-audit: keeps every call's decision record. It runs first,
 * so it also sees what mcp-redact appends when it stops the chain.
 */
const audit = decisionProbe('mcp-audit', { responsePhase: true });
const registry = new PluginRegistry();
registry.register(redact);
registry.register(audit.plugin);
const host = new Host({ registry });
after(async () => {
  await host.shutdown();
  closeSecretWatchers();
});

let nextId = 1;
type Conf = Record<string, unknown>;

function chainOf(redactConf: Conf, postResp: boolean) {
  const entries: Array<[string, Conf]> = [
    ['mcp-route', { post_resp: postResp }],
    ['mcp-audit', {}],
    ['mcp-redact', redactConf],
  ];
  return host.buildChain(
    entries.map(([name, conf]) => ({ name, value: JSON.stringify(conf) })),
    `route-${nextId++}`,
  );
}

function toolCall(name: string, args: Record<string, unknown>, id: number | string = 7): Uint8Array {
  return enc.encode(JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } }));
}

function requestCall(body: Uint8Array): HTTPReqCallReq {
  return mcpPost(body, [{ name: 'accept', value: 'application/json, text/event-stream' }], { id: nextId++, srcIp: new Uint8Array([10, 0, 0, 1]) });
}

function rewriteOf(resp: HTTPReqCallResp): RewriteAction {
  const action = resp.action as RewriteAction | undefined;
  assert.equal(action?.type, 'rewrite', `expected a rewrite, got ${JSON.stringify(resp.action)}`);
  return action!;
}

function stopOf(resp: HTTPReqCallResp): { status: number; body: { id: unknown; error: { code: number; message: string; data?: unknown } } } {
  const action = resp.action as { type: string; status: number; body?: Uint8Array } | undefined;
  assert.equal(action?.type, 'stop', `expected a stop, got ${JSON.stringify(resp.action)}`);
  return { status: action!.status, body: JSON.parse(dec.decode(action!.body)) };
}

function assertNoValues(what: unknown): void {
  const text = JSON.stringify(what);
  for (const s of SECRETS) assert.ok(!text.includes(s), `leaked ${s} in ${text}`);
}

/** Runs the request phase then the response phase of one call, like APISIX with post-resp. */
async function roundTrip(
  conf: Conf,
  body: Uint8Array,
  upstream: { status?: number; contentType: string; body: string },
): Promise<{ request: HTTPReqCallResp; response: HTTPRespCallResp; respChannel: TableChannel }> {
  const chain = chainOf(conf, true);
  const request = await host.onRequest(chain, requestCall(body), new TableChannel({}, body), Date.now() + 5000);
  rewriteOf(request); // names the action it got instead
  const carryKey = carryKeyOf(request);
  assert.ok(carryKey, 'the host ties the response phase to the request phase');
  const respChannel = responseChannel(carryKey, upstream.body);
  const response = await host.onResponse(
    chain,
    { id: nextId++, status: upstream.status ?? 200, headers: [{ name: 'Content-Type', value: upstream.contentType }], confToken: 1 },
    respChannel,
    Date.now() + 5000,
  );
  return { request, response, respChannel };
}

test('arguments are redacted in place before they go upstream; audit gets types and counts only', async () => {
  const body = toolCall('crm.update', { note: `card ${CARD}, mail ${EMAIL}`, nested: { ssn: SSN, ok: 'fine' }, password: 'hunter2' });
  const chain = chainOf({ results: false }, false);
  const resp = await host.onRequest(chain, requestCall(body), new TableChannel({}, body), Date.now() + 5000);
  const sent = JSON.parse(dec.decode(rewriteOf(resp).body)) as { id: number; params: { name: string; arguments: Record<string, unknown> } };
  assert.equal(sent.id, 7);
  assert.equal(sent.params.name, 'crm.update');
  assert.deepEqual(sent.params.arguments, {
    note: 'card ****1111, mail [REDACTED:email]',
    nested: { ssn: '[REDACTED:field]', ok: 'fine' },
    password: '[REDACTED:field]',
  });
  const record = audit.last().filter((d) => d.plugin === 'mcp-redact');
  assert.deepEqual(record, [{ plugin: 'mcp-redact', action: 'redact', detail: { where: 'arguments', counts: { payment_card: 1, email: 1, field: 2 } } }]);
  assertNoValues(audit.last());
});

test('clean arguments pass untouched: no body rewrite, no record', async () => {
  const body = toolCall('crm.search', { query: 'open tickets for ORD-2024-000123', limit: 20 });
  const resp = await host.onRequest(chainOf({ results: false }, false), requestCall(body), new TableChannel({}, body), Date.now() + 5000);
  assert.equal(resp.action, undefined);
  assert.equal(audit.last().some((d) => d.plugin === 'mcp-redact'), false);
});

test('block mode refuses arguments with HTTP 400 and a JSON-RPC error naming types, not values', async () => {
  const body = toolCall('billing.charge', { card: `pay with ${CARD}` }, 'req-9');
  const resp = await host.onRequest(chainOf({ results: false, modes: { payment_card: 'block' } }, false), requestCall(body), new TableChannel({}, body), Date.now() + 5000);
  const stop = stopOf(resp);
  assert.equal(stop.status, 400);
  assert.equal(stop.body.id, 'req-9');
  assert.equal(stop.body.error.code, JsonRpcErrorCode.InvalidParams);
  assert.match(stop.body.error.message, /sensitive data .*\(payment_card\)/);
  assertNoValues(stop.body);
  assert.deepEqual(
    audit.last().filter((x) => x.plugin === 'mcp-redact'),
    [{ plugin: 'mcp-redact', action: 'deny', rule: 'redact-block', reason: 'sensitive data in arguments', detail: { where: 'arguments', counts: { payment_card: 1 }, blocked: ['payment_card'] } }],
  );
});

test('tool scope: only matching tools are redacted; a fast route refuses calls whose results need redaction', async () => {
  const body = toolCall('billing.get_invoice', { note: EMAIL });
  const inScope = await host.onRequest(chainOf({ tools: ['crm.*'], results: false }, false), requestCall(body), new TableChannel({}, body), Date.now() + 5000);
  assert.equal(inScope.action, undefined, 'billing.* is out of scope: untouched');

  const fast = await host.onRequest(chainOf({ tools: ['billing.*'] }, false), requestCall(body), new TableChannel({}, body), Date.now() + 5000);
  const stop = stopOf(fast);
  assert.equal(stop.status, 403);
  assert.equal((stop.body.error.data as { rule: string }).rule, 'needs-response-phase');
});

test('JSON result: text content, structuredContent and resource text are redacted; blobs are not scanned', async () => {
  const image = Buffer.from(`AKIAIOSFODNN7EXAMPLE ${CARD}`).toString('base64');
  const upstreamBody = JSON.stringify({
    jsonrpc: '2.0',
    id: 7,
    result: {
      content: [
        { type: 'text', text: `Customer ${EMAIL} pays from ${IBAN}` },
        { type: 'image', data: image, mimeType: 'image/png' },
        { type: 'resource', resource: { uri: 'file:///x', text: `ssn ${SSN}` } },
      ],
      structuredContent: { customer: { email: EMAIL, card: CARD, api_key: 'k-1' } },
      isError: false,
    },
  });
  const { response } = await roundTrip({}, toolCall('crm.lookup', { id: 1 }), { contentType: 'application/json', body: upstreamBody });
  assert.ok(response.body, 'the body is replaced');
  const out = JSON.parse(dec.decode(response.body)) as { id: number; result: { content: Array<Record<string, unknown>>; structuredContent: unknown } };
  assert.equal(out.id, 7);
  assert.equal(out.result.content[0]!['text'], 'Customer [REDACTED:email] pays from [REDACTED:iban]');
  assert.equal(out.result.content[1]!['data'], image, 'image data untouched');
  assert.deepEqual(out.result.content[2]!['resource'], { uri: 'file:///x', text: 'ssn [REDACTED:tax_id]' });
  assert.deepEqual(out.result.structuredContent, { customer: { email: '[REDACTED:email]', card: '****1111', api_key: '[REDACTED:field]' } });
  assert.ok(response.headers.some((h) => h.name.toLowerCase() === 'content-type' && h.value === 'application/json'));
  const rec = audit.last().filter((d) => d.plugin === 'mcp-redact');
  assert.deepEqual(rec, [{ plugin: 'mcp-redact', action: 'redact', detail: { where: 'result', counts: { email: 2, iban: 1, tax_id: 1, payment_card: 1, field: 1 } } }]);
  assertNoValues(audit.last());
});

test('SSE result: the response event is redacted, other events kept byte for byte', async () => {
  const progress = 'event: message\ndata: {"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":1,"progress":1}}\n\n';
  const result = `event: message\nid: 42\ndata: ${JSON.stringify({ jsonrpc: '2.0', id: 7, result: { content: [{ type: 'text', text: `call +44 20 7946 0958 or ${EMAIL}` }] } })}\n\n`;
  const { response } = await roundTrip({}, toolCall('crm.lookup', {}), { contentType: 'text/event-stream', body: progress + result });
  const text = dec.decode(response.body);
  assert.ok(text.startsWith(progress), text);
  assert.match(text, /id: 42\n/);
  const dataLine = text.split('\n').find((l) => l.startsWith('data: {"jsonrpc":"2.0","id":7'))!;
  const message = JSON.parse(dataLine.slice(6)) as { result: { content: Array<{ text: string }> } };
  assert.equal(message.result.content[0]!.text, 'call [REDACTED:phone] or [REDACTED:email]');
});

test('SSE events the gateway cannot read are withheld, and server notifications in the stream are redacted too', async () => {
  // duplicate keys: a strict reader refuses the event, a lenient client would take the last value
  const sneaky = `event: message\ndata: {"jsonrpc":"2.0","id":7,"result":{"content":[]},"result":{"content":[{"type":"text","text":"${EMAIL}"}]}}\n\n`;
  const { response } = await roundTrip({}, toolCall('crm.lookup', {}), { contentType: 'text/event-stream', body: sneaky });
  assert.equal(response.status, 502);
  assert.ok(!dec.decode(response.body).includes(EMAIL));

  const note = `event: message\ndata: ${JSON.stringify({ jsonrpc: '2.0', method: 'notifications/message', params: { level: 'info', data: `looked up ${EMAIL}` } })}\n\n`;
  const result = `event: message\ndata: ${JSON.stringify({ jsonrpc: '2.0', id: 7, result: { content: [{ type: 'text', text: 'ok' }] } })}\n\n`;
  const second = await roundTrip({}, toolCall('crm.lookup', {}), { contentType: 'text/event-stream', body: note + result });
  const text = dec.decode(second.response.body);
  assert.ok(!text.includes(EMAIL), text);
  assert.match(text, /looked up \[REDACTED:email\]/);
});

test('clean results pass: the body is read (policy needs it) but not replaced', async () => {
  const upstreamBody = JSON.stringify({ jsonrpc: '2.0', id: 7, result: { content: [{ type: 'text', text: 'all good' }] } });
  const { response, respChannel } = await roundTrip({}, toolCall('crm.lookup', {}), { contentType: 'application/json', body: upstreamBody });
  assert.equal(response.body, undefined);
  assert.equal(respChannel.asked.filter((q) => q.type === 'respBody').length, 1);
});

test('results of out-of-scope calls are not read at all (no RespBody: SSE is not held back)', async () => {
  const upstreamBody = JSON.stringify({ jsonrpc: '2.0', id: 7, result: { content: [{ type: 'text', text: EMAIL }] } });
  const { response, respChannel } = await roundTrip({ tools: ['crm.*'] }, toolCall('search.web', {}), { contentType: 'application/json', body: upstreamBody });
  assert.equal(response.body, undefined);
  assert.equal(respChannel.asked.some((q) => q.type === 'respBody'), false);
});

test('block mode on results: HTTP 502 with a JSON-RPC error replacing the result', async () => {
  const upstreamBody = JSON.stringify({ jsonrpc: '2.0', id: 7, result: { content: [{ type: 'text', text: `key AKIA2E0A8F3B244C9986, ${EMAIL}` }] } });
  const { response } = await roundTrip({ modes: { secret: 'block' } }, toolCall('ops.env', {}), { contentType: 'application/json', body: upstreamBody });
  assert.equal(response.status, 502);
  const out = JSON.parse(dec.decode(response.body)) as { id: number; error: { code: number; message: string }; result?: unknown };
  assert.equal(out.id, 7);
  assert.equal(out.result, undefined);
  assert.equal(out.error.code, JsonRpcErrorCode.InternalError);
  assert.match(out.error.message, /\(secret\)/);
  assert.ok(!dec.decode(response.body).includes('AKIA'));
  const rec = audit.last().filter((d) => d.plugin === 'mcp-redact');
  assert.deepEqual(rec.map((d) => [d.action, d.detail?.['where']]), [['deny', 'result']]);
  assertNoValues(rec);
});

test('an unparseable success body for a call that needs redaction fails closed (502)', async () => {
  const { response } = await roundTrip({}, toolCall('crm.lookup', {}), { contentType: 'application/json', body: `{"jsonrpc":"2.0","id":7,"result":{"text":"${EMAIL}"` });
  assert.equal(response.status, 502);
  assert.ok(!dec.decode(response.body).includes(EMAIL));
});

test('hash mode reads its salt from a secret ref; a missing salt rejects the conf naming the field', async () => {
  process.env['REDACT_TEST_SALT'] = 'pepper-1';
  const body = toolCall('crm.update', { email: EMAIL });
  const resp = await host.onRequest(chainOf({ results: false, mode: 'hash', hash_salt: '$env://REDACT_TEST_SALT' }, false), requestCall(body), new TableChannel({}, body), Date.now() + 5000);
  const sent = JSON.parse(dec.decode(rewriteOf(resp).body)) as { params: { arguments: { email: string } } };
  assert.match(sent.params.arguments.email, /^\[email:[0-9a-f]{16}\]$/);

  delete process.env['REDACT_TEST_MISSING'];
  const bad = await host.onRequest(chainOf({ results: false, mode: 'hash', hash_salt: '$env://REDACT_TEST_MISSING' }, false), requestCall(body), new TableChannel({}, body), Date.now() + 5000);
  assert.equal(stopOf(bad).status, 500, 'a route with a rejected conf fails closed');
  await assert.rejects(Promise.resolve(redact.prepare!({ mode: 'hash', hash_salt: '$env://REDACT_TEST_MISSING' }, { routeKey: 'r', chain: [], state: host.state })), /hash_salt/);
  await assert.rejects(Promise.resolve(redact.prepare!({ mode: 'hash' }, { routeKey: 'r', chain: [], state: host.state })), /hash_salt: required/);
});

test('conf schema: errors name the field; every property is described', () => {
  const validate = registry.get('mcp-redact')!.validate;
  assert.equal(validate({ modes: { email: 'explode' } }), false);
  assert.match(JSON.stringify(validate.errors), /\/modes\/email/);
  assert.equal(validate({ detectors: ['payment_card', 'credit_card'] }), false);
  assert.equal(validate({ unknown: 1 }), false);
  const conf: Record<string, unknown> = {};
  assert.equal(validate(conf), true);
  assert.deepEqual(conf['methods'], ['tools/call'], 'defaults are filled in');

  const missing: string[] = [];
  const walk = (schema: Record<string, unknown>, at: string): void => {
    const props = schema['properties'] as Record<string, Record<string, unknown>> | undefined;
    for (const [k, v] of Object.entries(props ?? {})) {
      if (typeof v['description'] !== 'string' || v['description'] === '') missing.push(`${at}/${k}`);
      walk(v, `${at}/${k}`);
    }
  };
  walk(redact.confSchema as Record<string, unknown>, '');
  assert.deepEqual(missing, []);
});
