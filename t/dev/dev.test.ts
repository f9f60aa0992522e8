// `npm run dev` as a user meets it: on a busy port it says which port and how to pick another,
// and leaves nothing behind; running, it prints the secret file and a mint command that give a
// working token for another identity, and the e2e command; stopped, it keeps the audit log
// (and says where) and removes the rest. Each run gets its own TMPDIR so its files are visible.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../runner/host/schema-file.js';
import { freePort } from '../../testkit/local-run.js';
import { tempDir } from '../../testkit/temp.js';

const DEV = join(PACKAGE_ROOT, 'dist/dev/dev.js');
const MINT = join(PACKAGE_ROOT, 'dist/dev/mint-token.js');

interface Run {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  exit: Promise<number | null>;
}

function startDev(port: number, tmp: string): Run {
  const child = spawn(process.execPath, [DEV], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, EMULATOR_PORT: String(port), TMPDIR: tmp, MCP_DEV_UPSTREAM: undefined },
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString('utf8')));
  child.stderr!.on('data', (c: Buffer) => (err += c.toString('utf8')));
  const exit = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
  return { child, out: () => out, err: () => err, exit };
}

async function waitFor(run: Run, text: string, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!run.out().includes(text)) {
    if (run.child.exitCode !== null || Date.now() > deadline) throw new Error(`no "${text}" from npm run dev:\n${run.out()}\n${run.err()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function runNode(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
  child.stderr.on('data', (c: Buffer) => (err += c.toString('utf8')));
  return new Promise((res) => child.on('exit', (code) => res({ code, out, err })));
}

test('on a busy port: exit 1 naming the port and EMULATOR_PORT, no stack trace, nothing left in the temp dir', async () => {
  const holder = createServer();
  await new Promise<void>((res) => holder.listen(0, '127.0.0.1', res));
  const port = (holder.address() as AddressInfo).port;
  const tmp = tempDir('dev-busy-');
  try {
    const run = startDev(port, tmp);
    const code = await run.exit;
    assert.equal(code, 1, `${run.out()}\n${run.err()}`);
    assert.match(run.err(), new RegExp(`port ${port} on 127\\.0\\.0\\.1 is taken`));
    assert.match(run.err(), new RegExp(`EMULATOR_PORT=${port + 1} npm run dev`));
    assert.doesNotMatch(run.err(), /\n\s+at /, 'no stack trace');
    assert.deepEqual(readdirSync(tmp), [], 'the temp dir is left empty');
  } finally {
    await new Promise<void>((res) => holder.close(() => res()));
  }
});

test('running: the printed mint command gives a token for another identity; stopping keeps the audit log and says where', { timeout: 60_000 }, async () => {
  const tmp = tempDir('dev-run-');
  const port = await freePort();
  const run = startDev(port, tmp);
  try {
    await waitFor(run, 'This is a development stand-in', 30_000);
    const out = run.out();
    const gateway = `http://127.0.0.1:${port}/mcp`;
    assert.ok(out.includes(`MCP gateway (APISIX emulator) on ${gateway}`), out);
    const secretFile = /^ {2}secret: {3}(\S+)/m.exec(out)?.[1];
    assert.ok(secretFile !== undefined && existsSync(secretFile), `secret file printed and present:\n${out}`);
    assert.equal(readFileSync(secretFile, 'utf8').length, 64);
    const e2e = /^ {2}npm run e2e -- (.+)$/m.exec(out)?.[1] ?? '';
    assert.match(e2e, new RegExp(`--gateway ${gateway} --jwt-secret-file ${secretFile} --issuer \\S+ --audience \\S+$`));

    // The mint command as printed (npm run -s mint -- ARGS is node dist/dev/mint-token.js ARGS), for another user.
    const mintArgs = /npm run -s mint -- (.+)\)$/m.exec(out)?.[1]?.split(' ');
    assert.ok(mintArgs !== undefined, out);
    assert.ok(mintArgs.includes(secretFile));
    const minted = await runNode([MINT, ...mintArgs.map((a) => (a === 'bob' ? 'carol' : a === 'admin' ? 'support' : a))]);
    assert.equal(minted.code, 0, minted.err);
    const token = minted.out.trim();
    assert.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/);

    const call = (bearer: string): Promise<Response> =>
      fetch(gateway, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization: `Bearer ${bearer}` },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'crm.lookup_customer', arguments: { customer_id: 'c-1001' } } }),
      });
    const ok = await call(token);
    const okBody = await ok.text();
    assert.equal(ok.status, 200, okBody);
    const forged = await call(`${token.slice(0, -4)}AAAA`);
    await forged.text();
    assert.equal(forged.status, 401, 'a token not signed with the printed secret is refused');

    const auditPath = /^ {2}audit: {4}(\S+)/m.exec(out)?.[1];
    assert.ok(auditPath !== undefined, out);
    run.child.kill('SIGTERM');
    assert.equal(await run.exit, 0, run.err());
    assert.match(run.out(), new RegExp(`kept the audit log ${auditPath.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    const events = readFileSync(auditPath, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { user?: string; tool?: string });
    assert.ok(events.some((e) => e.user === 'carol'), `an audit event for carol in ${auditPath}`);
    assert.ok(!existsSync(secretFile), 'the run secret is removed on stop');
  } finally {
    if (run.child.exitCode === null) {
      run.child.kill('SIGKILL');
      await run.exit;
    }
  }
});
