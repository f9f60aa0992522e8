import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compilePolicy, parsePolicyText, PolicyError, PolicySource } from '../../../runner/policy/index.js';
import { decideMessage, subjectFor } from '../../../plugins/mcp-authz/decide.js';
import { toolCall, who } from '../../../testkit/authz.js';

function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof PolicyError, `expected PolicyError, got ${String(err)}`);
    return err.message;
  }
  assert.fail('expected an error');
}

test('validation errors name the field path and the allowed values', () => {
  const msg = errorOf(() =>
    parsePolicyText(
      `actors:
  - actor: { app: a }
    allowed_tools:
      - crm.lookup
      - name: crm.search
      - name: crm.update
        access: readwrite
`,
      'policy.yaml',
    ),
  );
  assert.equal(msg, 'policy.yaml: /actors/0/allowed_tools/2/access must be equal to one of the allowed values (read, write)');
});

test('unknown properties, missing required fields, bad risk and bad pins are named', () => {
  assert.match(errorOf(() => parsePolicyText('actors:\n  - actor: {}\n    allowed_tool: []\n', 'p.yaml')), /p\.yaml: \/actors\/0 must NOT have additional property 'allowed_tool'/);
  assert.match(errorOf(() => parsePolicyText('actors:\n  - allowed_tools: []\n', 'p.yaml')), /p\.yaml: \/actors\/0 must have required property 'actor'/);
  assert.match(
    errorOf(() => parsePolicyText('actors:\n  - actor: {}\n    allowed_tools: [{ name: x, risk: dangerous }]\n', 'p.yaml')),
    /\/actors\/0\/allowed_tools\/0\/risk must be equal to one of the allowed values \(read-only, write, financial, security-sensitive, production\)/,
  );
  assert.match(errorOf(() => parsePolicyText('pins:\n  crm:\n    t: "md5:abc"\n', 'p.yaml')), /\/pins\/crm\/t must match pattern/);
  assert.match(errorOf(() => parsePolicyText('routes:\n  - match: { server: x }\n    action: block\n', 'p.yaml')), /\/routes\/0\/action must be equal to one of the allowed values \(allow, deny\)/);
});

test('YAML syntax errors, non-mapping documents, bad argument schemas and duplicate names are rejected', () => {
  assert.match(errorOf(() => parsePolicyText('actors: [\n', 'p.yaml')), /^p\.yaml: invalid YAML/);
  assert.match(errorOf(() => parsePolicyText('- a\n- b\n', 'p.yaml')), /p\.yaml: \/ must be a mapping/);
  assert.match(
    errorOf(() => compilePolicy([{ doc: parsePolicyText('actors:\n  - actor: {}\n    allowed_tools: [{ name: q, arguments: { type: nonsense } }]\n', 'p.yaml'), label: 'p.yaml' }])),
    /p\.yaml: \/actors\/0\/allowed_tools\/0\/arguments is not a valid JSON Schema/,
  );
  assert.match(
    errorOf(() => compilePolicy([{ doc: parsePolicyText('actors:\n  - { name: a, actor: {} }\n  - { name: a, actor: {} }\n', 'p.yaml'), label: 'p.yaml' }])),
    /p\.yaml: \/actors\/1\/name 'a' is used twice/,
  );
});

test('the example policies in conf/policies are valid', async () => {
  const { loadPolicyFile } = await import('../../../runner/policy/index.js');
  for (const f of ['support.yaml', 'allow-all-dev.yaml']) {
    const loaded = await loadPolicyFile(join(process.cwd(), 'conf/policies', f));
    assert.ok(compilePolicy([loaded]).ruleCount > 0, f);
  }
});

const V1 = 'actors:\n  - name: a\n    actor: { app: app1 }\n    allowed_tools: [one]\n';
const V2 = 'actors:\n  - name: a\n    actor: { app: app1 }\n    allowed_tools: [two]\n';

async function waitFor(cond: () => boolean, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

function allows(src: PolicySource, tool: string): boolean {
  const doc = src.current.doc;
  assert.ok(doc);
  const policy = compilePolicy([{ doc, label: 'x' }]);
  return decideMessage(policy, subjectFor(policy, who({ app: 'app1' }), undefined), toolCall(tool)).effect === 'allow';
}

test('hot reload: a valid change is applied, an invalid change keeps the last good policy', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'authz-reload-'));
  const file = join(dir, 'policy.yaml');
  await writeFile(file, V1);
  const src = new PolicySource(file, 100, 20);
  try {
    await src.ready;
    assert.equal(src.current.version, 1);
    assert.ok(allows(src, 'one'));
    assert.ok(!allows(src, 'two'));

    // Replace atomically (as editors and config management do).
    await writeFile(file + '.tmp', V2);
    await rename(file + '.tmp', file);
    await waitFor(() => src.current.version === 2);
    assert.ok(allows(src, 'two'));
    assert.ok(!allows(src, 'one'));

    await writeFile(file, V2 + '    allowed_prompts: [{ name: p, bogus: 1 }]\n');
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(src.current.version, 2, 'invalid version must not replace the last good one');
    assert.ok(allows(src, 'two'));

    // A broken arguments schema is also caught before it replaces the good version.
    await writeFile(file, 'actors:\n  - actor: {}\n    allowed_tools: [{ name: x, arguments: { type: 7 } }]\n');
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(src.current.version, 2);

    await writeFile(file, V1);
    await waitFor(() => src.current.version === 3);
    assert.ok(allows(src, 'one'));
  } finally {
    src.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('hot reload: missing at first load fails closed with a clear error, then recovers', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'authz-missing-'));
  const file = join(dir, 'later.yaml');
  const src = new PolicySource(file, 100, 20);
  try {
    await src.ready;
    assert.equal(src.current.doc, undefined);
    assert.match(src.current.error ?? '', /later\.yaml: cannot read .*ENOENT/);
    await writeFile(file, V1);
    await waitFor(() => src.current.doc !== undefined);
    assert.equal(src.current.error, undefined);
    assert.ok(allows(src, 'one'));
  } finally {
    src.close();
    await rm(dir, { recursive: true, force: true });
  }
});
