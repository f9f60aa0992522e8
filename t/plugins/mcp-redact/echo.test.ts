// Request values the gateway echoes back: a tool name holding a card number or a token must
// not come back verbatim in mcp-authz's 403 answer, nor in mcp-audit's event (`tool`,
// `decision.reason`). Real authz and audit plugins through the real host.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { StopAction, TextEntry } from '../../../runner/protocol/messages.js';
import { redactEcho } from '../../../runner/redact/index.js';
import { IDENTITY_HEADERS, LATER, POLICY, TableChannel, identityHeaders, readEvents, realHost, reqCall, shutdownHosts, tempDir, toolsCall } from '../../../testkit/audit.js';

after(() => shutdownHosts());

const CARD = '4111111111111111';
const TOKEN = 'ghp_R8xk2Lq9Vn4Tb7Wm1Yc5Zd3Fh6Jp0Ks2Ag8Q';

test('a tool name holding a card number or a token is redacted in the 403 answer and in the audit event', async () => {
  const path = join(tempDir(), 'echo.log');
  const entries: TextEntry[] = [
    { name: 'mcp-audit', value: JSON.stringify({ server: 'crm-tools', sink: { type: 'file', path } }) },
    { name: 'mcp-authz', value: JSON.stringify({ server: 'crm-tools', identity: { trusted_headers: IDENTITY_HEADERS }, policy: POLICY, filter_lists: false }) },
  ];
  const h = realHost();
  const chain = h.buildChain(entries, 'echo#1#ext-plugin-pre-req#1');
  const name = `refund ${CARD} with ${TOKEN} ${'x'.repeat(300)}`;
  const body = toolsCall(name, {}, 9);
  const res = await h.onRequest(chain, reqCall(body, identityHeaders()), new TableChannel({}, body), LATER());
  const stop = res.action as StopAction;
  assert.equal(stop.status, 403);
  const answer = new TextDecoder().decode(stop.body);
  assert.ok(!answer.includes(CARD) && !answer.includes(TOKEN), answer);
  assert.match(answer, /\*\*\*\*1111/);
  assert.ok(answer.length < 1200, 'the echo is cut short');

  const [ev] = await readEvents(path, 1);
  const line = await readFile(path, 'utf8');
  assert.ok(ev);
  assert.ok(!line.includes(CARD) && !line.includes(TOKEN), line);
  assert.ok(ev.tool!.length <= 128, ev.tool);
  assert.ok(ev.tool!.startsWith('refund ****1111 with [REDACTED:secret]'), ev.tool);
});

test('redactEcho keeps plain names as they are and cuts long ones', () => {
  assert.equal(redactEcho('crm.lookup_customer'), 'crm.lookup_customer');
  assert.equal(redactEcho(`a${'b'.repeat(200)}`).length, 128);
  assert.equal(redactEcho(`mail jane.doe@example.com`), 'mail [REDACTED:email]');
});
