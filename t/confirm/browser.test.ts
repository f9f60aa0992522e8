// The approval page in a real headless browser (Debian's Chromium, driven by playwright-core):
// a stock v1 SDK client with URL-mode elicitation gets -32042; the person opens the link,
// signs in on the form, sees who asks to run which tool with which (masked) arguments and
// why, and clicks Approve; the client's retry passes. The decision is in the audit file.
// UPDATE_SCREENSHOTS=1 writes the review page to docs/images/approval-page.png.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UrlElicitationRequiredError } from '@modelcontextprotocol/sdk/types.js';
import { PACKAGE_ROOT } from '../../runner/host/schema-file.js';
import { startConfirmGateway } from '../../testkit/confirm-gateway.js';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
// CI installs Chromium (.ci/run): there a missing browser is a failure, not a skip.
const skip = !existsSync(CHROMIUM) && process.env['CI'] === undefined ? `${CHROMIUM} is missing: apt-get install -y chromium to run the approval page in a browser` : false;

test('a person approves a risky call in a real browser; the client\'s retry passes', { skip }, async () => {
  const gw = await startConfirmGateway();
  const profile = await mkdtemp(join(tmpdir(), 'chromium-profile-'));
  const client = new Client({ name: 'stock-v1-client', version: '1.0.0' }, { capabilities: { elicitation: { url: {} } } });
  after(async () => {
    await client.close().catch(() => undefined);
    await gw.close();
    await rm(profile, { recursive: true, force: true });
  });
  await client.connect(new StreamableHTTPClientTransport(new URL(gw.legacyUrl), { requestInit: { headers: await gw.authOf('alice') } }));
  const call = { name: 'billing.update_payment_method', arguments: { customer_id: 'c-1001', card_number: '4111 1111 1111 1111' } };
  const error = await client.callTool(call).then(() => assert.fail('ran without approval'), (err: unknown) => err);
  assert.ok(error instanceof UrlElicitationRequiredError, String(error));
  const { url, elicitationId } = error.elicitations[0] as { url: string; elicitationId: string };

  const browser = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ARGS, viewport: { width: 860, height: 600 }, deviceScaleFactor: 1 });
  try {
    const page = await browser.newPage();
    const opened = await page.goto(url);
    assert.equal(opened?.status(), 401, 'a stranger sees the sign-in form');
    await page.getByLabel('Access token').fill(await gw.tokenOf('alice'));
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Approve this tool call?' }).waitFor();
    const text = await page.locator('main').innerText();
    assert.match(text, /billing\.update_payment_method/);
    assert.match(text, /alice \(acme\)/);
    assert.match(text, /c-1001/);
    assert.doesNotMatch(text, /4111 1111 1111 1111/, 'the card number is masked');
    assert.match(text, /confirmation/i, 'the reason is shown');
    if (process.env['UPDATE_SCREENSHOTS'] === '1') {
      await page.screenshot({ path: join(PACKAGE_ROOT, 'docs/images/approval-page.png'), fullPage: true });
    }
    await page.getByRole('button', { name: 'Approve' }).click();
    await page.getByRole('heading', { name: 'Tool call approved' }).waitFor();
  } finally {
    await browser.close();
  }

  const result = await client.callTool(call);
  assert.match(JSON.stringify(result), /Card on file updated for c-1001/);
  const [event] = await gw.waitForEvents((e) => e['kind'] === 'approval' && (e['approval'] as { approval_id?: string }).approval_id === elicitationId);
  assert.equal((event!['approval'] as { outcome: string; approver: string }).outcome, 'approved');
  assert.equal((event!['approval'] as { approver: string }).approver, 'alice (acme)');
});
