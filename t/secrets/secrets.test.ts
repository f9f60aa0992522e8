import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, rename, symlink, unlink, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  closeSecretWatchers,
  isSecretRef,
  parseSecretRef,
  resolveSecretRef,
  secretFromConf,
  setSecretsLogger,
  type SecretsLogger,
} from '../../runner/secrets/index.js';

const logged: string[] = [];
const captureLogger: SecretsLogger = {
  warn: (obj, msg) => void logged.push(JSON.stringify({ ...obj, msg })),
  error: (obj, msg) => void logged.push(JSON.stringify({ ...obj, msg })),
  info: (obj, msg) => void logged.push(JSON.stringify({ ...obj, msg })),
};
setSecretsLogger(captureLogger);

const dir = await mkdtemp(join(tmpdir(), 'secrets-test-'));
after(async () => {
  closeSecretWatchers();
  await rm(dir, { recursive: true, force: true });
});

/** Wait until check() is true; file watching is asynchronous. */
async function eventually(check: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('parses $env:// and $file:// references and rejects other schemes', () => {
  assert.deepEqual(parseSecretRef('$env://CRM_TOKEN'), { kind: 'env', name: 'CRM_TOKEN' });
  assert.deepEqual(parseSecretRef('$file:///run/secrets/token'), { kind: 'file', path: '/run/secrets/token' });
  assert.equal((parseSecretRef('$file://conf/token') as { path: string }).path, join(process.cwd(), 'conf/token'));
  assert.throws(() => parseSecretRef('$env://bad-name'), /invalid secret reference \$env:\/\/bad-name/);
  assert.throws(() => parseSecretRef('$env://'), /invalid secret reference/);
  assert.throws(() => parseSecretRef('$vault://kv/x'), /unknown secret reference scheme \$vault:\/\//);
  assert.equal(isSecretRef('$secret://x/y'), true);
  assert.equal(isSecretRef('sk-live-123'), false);
});

test('$env:// reads the variable; missing and empty read undefined with a reason', () => {
  process.env['SECRETS_TEST_PRESENT'] = 'env-secret-value';
  delete process.env['SECRETS_TEST_MISSING'];
  process.env['SECRETS_TEST_EMPTY'] = '';
  const present = resolveSecretRef('$env://SECRETS_TEST_PRESENT');
  assert.equal(present.value(), 'env-secret-value');
  assert.equal(present.problem(), undefined);
  assert.equal(present.describe(), '$env://SECRETS_TEST_PRESENT');
  const missing = resolveSecretRef('$env://SECRETS_TEST_MISSING');
  assert.equal(missing.value(), undefined);
  assert.equal(missing.problem(), 'not set');
  const empty = resolveSecretRef('$env://SECRETS_TEST_EMPTY');
  assert.equal(empty.value(), undefined);
  assert.equal(empty.problem(), 'empty');
  // Set later: picked up without re-resolving.
  process.env['SECRETS_TEST_MISSING'] = 'late';
  assert.equal(missing.value(), 'late');
  delete process.env['SECRETS_TEST_MISSING'];
});

test('$file:// trims trailing newlines and picks up a change without restart', async () => {
  const path = join(dir, 'token');
  await writeFile(path, 'first-file-secret\r\n\n');
  const h = resolveSecretRef(`$file://${path}`);
  await h.ready();
  assert.equal(h.value(), 'first-file-secret');
  await writeFile(path, 'second-file-secret\n');
  await eventually(() => h.value() === 'second-file-secret');
  // A second handle on the same path shares the cached value.
  const again = resolveSecretRef(`$file://${path}`);
  await again.ready();
  assert.equal(again.value(), 'second-file-secret');
});

test('$file:// follows a Kubernetes-style ..data symlink swap', async () => {
  const mount = join(dir, 'mount');
  await mkdir(join(mount, 'v1'), { recursive: true });
  await mkdir(join(mount, 'v2'), { recursive: true });
  await writeFile(join(mount, 'v1', 'password'), 'kube-secret-v1\n');
  await writeFile(join(mount, 'v2', 'password'), 'kube-secret-v2\n');
  await symlink('v1', join(mount, '..data'));
  await symlink('..data/password', join(mount, 'password'));
  const h = resolveSecretRef(`$file://${join(mount, 'password')}`);
  await h.ready();
  assert.equal(h.value(), 'kube-secret-v1');
  // The kubelet writes a new ..data_tmp link and renames it over ..data (atomic).
  await symlink('v2', join(mount, '..data_tmp'));
  await rename(join(mount, '..data_tmp'), join(mount, '..data'));
  await eventually(() => h.value() === 'kube-secret-v2');
});

test('$file:// missing file reads undefined, is logged without value, and recovers when created', async () => {
  const path = join(dir, 'late-token');
  logged.length = 0;
  const h = resolveSecretRef(`$file://${path}`);
  await h.ready();
  assert.equal(h.value(), undefined);
  assert.equal(h.problem(), 'ENOENT');
  assert.ok(logged.some((l) => l.includes(path) && l.includes('cannot be resolved')), 'a log line names the reference');
  await writeFile(path, 'late-file-secret');
  await eventually(() => h.value() === 'late-file-secret');
  await unlink(path);
  await eventually(() => h.value() === undefined);
  assert.equal(h.problem(), 'ENOENT');
  assert.ok(!logged.some((l) => l.includes('late-file-secret')), 'no log line carries the secret');
});

test('literal secrets are refused unless allowed; the error names the field, not the value', () => {
  assert.throws(
    () => secretFromConf('sk-live-literal-123', { field: 'credential.token', allowLiteral: false }),
    (err: Error) => err.message.startsWith('credential.token: a literal secret is not allowed') && !err.message.includes('sk-live-literal-123'),
  );
  logged.length = 0;
  const h = secretFromConf('sk-live-literal-123', { field: 'credential.token', allowLiteral: true });
  assert.equal(h.value(), 'sk-live-literal-123');
  assert.equal(h.literal, true);
  assert.ok(!h.describe().includes('sk-live-literal-123'));
  assert.ok(logged.some((l) => l.includes('literal secret') && l.includes('credential.token')));
  assert.ok(!logged.some((l) => l.includes('sk-live-literal-123')));
  // A malformed reference is never taken as a literal.
  assert.throws(() => secretFromConf('$env://not valid', { field: 'x.y', allowLiteral: true }), /^Error: x\.y: invalid secret reference/);
});
