// The layout generator: which calls go to the full route (pre-req + post-resp) and which to
// pre-req-only fast routes, for policies that read answers and for ones that do not; conf
// errors name the field; the committed conf/apisix.yaml and conf/admin/*.json are in sync.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { PACKAGE_ROOT } from '../../runner/host/schema-file.js';
import { CLIENT_METHODS, LayoutError, generateLayout, type ApisixRoute } from '../../runner/layout/generate.js';
import { GatewayError, loadGateway, parseGateway } from '../../runner/layout/gateway.js';
import { renderAdminBodies, renderApisixYaml } from '../../runner/layout/render.js';
import { main } from '../../runner/cli.js';
import { TOOLS, filteringGateway, permissiveGateway } from '../../testkit/layout-fixtures.js';

const byId = (routes: ApisixRoute[], id: string): ApisixRoute => {
  const r = routes.find((x) => x.id === id);
  assert.ok(r, `route ${id} missing (have ${routes.map((x) => x.id).join(', ')})`);
  return r;
};
const settings = (r: ApisixRoute, phase: 'ext-plugin-pre-req' | 'ext-plugin-post-resp' = 'ext-plugin-pre-req'): Record<string, unknown> => {
  const first = r.plugins[phase]!.conf[0]!;
  assert.equal(first.name, 'mcp-route');
  return JSON.parse(first.value) as Record<string, unknown>;
};

test('filtering + redaction: lists and redacted tools stay on the full route, the rest is fast', async () => {
  const { routes, explanation } = await generateLayout(filteringGateway(), { baseDir: PACKAGE_ROOT });
  assert.deepEqual(routes.map((r) => r.id), ['mcp-sample-tools-full', 'mcp-sample-tools-fast-methods', 'mcp-sample-tools-fast-tools', 'mcp-sample-tools-fast-methods-2026', 'mcp-sample-tools-fast-tools-2026', 'mcp-sample-tools-session', 'mcp-sample-tools-prm', 'mcp-sample-tools-approvals']);

  const full = byId(routes, 'mcp-sample-tools-full');
  assert.deepEqual(full.methods, ['POST']);
  assert.equal(full.priority, 0);
  assert.equal(full.vars, undefined, 'the full route is the default: it matches every POST');
  assert.deepEqual(settings(full), { server: 'sample-tools', post_resp: true });
  assert.deepEqual(full.plugins['ext-plugin-pre-req'].conf.map((e) => e.name), ['mcp-route', 'mcp-authz', 'mcp-redact']);
  assert.deepEqual(full.plugins['ext-plugin-post-resp']!.conf.map((e) => e.name), ['mcp-route', 'mcp-authz', 'mcp-redact']);
  assert.equal(full.plugins['ext-plugin-pre-req'].allow_degradation, false);

  const methods = byId(routes, 'mcp-sample-tools-fast-methods');
  assert.equal(methods.priority, 10);
  assert.equal(methods.plugins['ext-plugin-post-resp'], undefined);
  assert.deepEqual(settings(methods), { server: 'sample-tools', post_resp: false, validate_body: true });
  const fastMethods = (methods.vars![0] as [string, string, string[]])[2];
  assert.deepEqual((methods.vars![0] as unknown[]).slice(0, 2), ['post_arg.method', 'in']);
  for (const listMethod of ['tools/list', 'resources/list', 'resources/templates/list', 'prompts/list']) assert.ok(!fastMethods.includes(listMethod), listMethod);
  // initialize takes the full route: mcp-authz learns the session's elicitation capabilities from its answer.
  assert.ok(!fastMethods.includes('initialize'), 'initialize');
  for (const m of ['ping', 'notifications/initialized', 'resources/read', 'prompts/get', 'completion/complete']) assert.ok(fastMethods.includes(m), m);
  assert.ok(!fastMethods.includes('tools/call'), 'tools/call is decided per tool');

  const tools = byId(routes, 'mcp-sample-tools-fast-tools');
  assert.deepEqual(tools.vars, [
    ['post_arg.method', '==', 'tools/call'],
    ['post_arg.params.name', 'in', TOOLS.filter((t) => !t.startsWith('crm.'))],
  ]);
  assert.deepEqual(settings(tools), { server: 'sample-tools', post_resp: false, validate_body: true });

  // 2026-07-28 traffic: the same decisions, matched on the routing headers, above the body routes.
  const modernMethods = byId(routes, 'mcp-sample-tools-fast-methods-2026');
  assert.equal(modernMethods.priority, 20);
  assert.deepEqual(settings(modernMethods), { server: 'sample-tools', post_resp: false, validate_body: true });
  assert.deepEqual(modernMethods.vars![0], ['http_mcp_protocol_version', '==', '2026-07-28']);
  const modernList = (modernMethods.vars![1] as [string, string, string[]])[2];
  for (const m of ['server/discover', 'subscriptions/listen', 'ping', 'resources/read']) assert.ok(modernList.includes(m), m);
  for (const m of ['tools/list', 'prompts/list', 'initialize', 'resources/subscribe']) assert.ok(!modernList.includes(m), m);
  assert.deepEqual(byId(routes, 'mcp-sample-tools-fast-tools-2026').vars, [
    ['http_mcp_protocol_version', '==', '2026-07-28'],
    ['http_mcp_method', '==', 'tools/call'],
    ['http_mcp_name', 'in', TOOLS.filter((t) => !t.startsWith('crm.'))],
  ]);

  const session = byId(routes, 'mcp-sample-tools-session');
  assert.deepEqual(session.methods, ['GET', 'DELETE']);
  assert.equal(session.plugins['ext-plugin-post-resp'], undefined, 'SSE streams must not be buffered by post-resp');
  assert.deepEqual(settings(session), { server: 'sample-tools', post_resp: false });

  const prm = byId(routes, 'mcp-sample-tools-prm');
  assert.equal(prm.uri, '/.well-known/oauth-protected-resource*');
  assert.deepEqual(prm.plugins['ext-plugin-pre-req'].conf.map((e) => e.name), ['mcp-route', 'mcp-authz']);
  const approvals = byId(routes, 'mcp-sample-tools-approvals');
  assert.equal(approvals.uri, '/mcp-approvals/*');
  assert.deepEqual(approvals.methods, ['GET', 'POST']);
  assert.equal(approvals.plugins['ext-plugin-post-resp'], undefined);
  assert.deepEqual(approvals.plugins['ext-plugin-pre-req'].conf.map((e) => e.name), ['mcp-route', 'mcp-authz']);

  assert.ok(explanation.includes('tools/list -> full: mcp-authz needs the response phase (probe: tools/list)'), explanation.join('\n'));
  assert.ok(explanation.includes('tools/call crm.lookup_customer -> full: mcp-redact needs the response phase'));
  assert.ok(explanation.includes('tools/call debug.echo -> fast-tools: no plugin needs the response phase'));
  for (const r of routes) assert.deepEqual(r.upstream, { type: 'roundrobin', nodes: { 'mcp-server:8000': 1 } });
});

test('all-permissive policy: every method and tool is fast; the full route stays the default', async () => {
  const { routes } = await generateLayout(permissiveGateway(), { baseDir: PACKAGE_ROOT });
  const methods = byId(routes, 'mcp-open-tools-fast-methods');
  assert.deepEqual(methods.vars, [['post_arg.method', 'in', CLIENT_METHODS.filter((m) => m !== 'initialize')]]);
  assert.equal(methods.uri, '/tools/mcp');
  assert.deepEqual(methods.hosts, ['mcp.example.test']);
  assert.deepEqual(byId(routes, 'mcp-open-tools-fast-tools').vars, [['post_arg.method', '==', 'tools/call'], ['post_arg.params.name', 'in', TOOLS]]);
  const full = byId(routes, 'mcp-open-tools-full');
  assert.ok(full.plugins['ext-plugin-post-resp'], 'batches, responses and unlisted tools still need a route');
  // Default response chain: the plugins with a response phase, in chain order.
  assert.deepEqual(full.plugins['ext-plugin-post-resp']!.conf.map((e) => e.name), ['mcp-route', 'mcp-audit', 'mcp-authz', 'mcp-ratelimit', 'mcp-redact']);
});

test('a plugin that needs the response phase for every call: no fast route at all', async () => {
  const g = permissiveGateway();
  g.plugins.push({ name: 'mcp-credential', conf: { credential: { type: 'none' }, strip_response_headers: ['set-cookie'] } });
  const { routes, explanation } = await generateLayout(g, { baseDir: PACKAGE_ROOT });
  assert.deepEqual(routes.map((r) => r.id), ['mcp-open-tools-full', 'mcp-open-tools-session', 'mcp-open-tools-prm', 'mcp-open-tools-approvals']);
  assert.ok(byId(routes, 'mcp-open-tools-session').plugins['ext-plugin-post-resp'], 'the session route keeps post-resp rather than refusing every GET');
  assert.ok(explanation.includes('tools/call debug.echo -> full: mcp-credential needs the response phase'));
});

test('concurrency limits keep matching tools on the full route (slots are returned in post-resp)', async () => {
  const g = permissiveGateway();
  g.plugins.find((p) => p.name === 'mcp-ratelimit')!.conf['concurrency'] = [{ name: 'db', max: 2, match: { tools: ['db.*'] } }];
  const { routes } = await generateLayout(g, { baseDir: PACKAGE_ROOT });
  const names = (byId(routes, 'mcp-open-tools-fast-tools').vars![1] as [string, string, string[]])[2];
  assert.deepEqual(names, TOOLS.filter((t) => t !== 'db.run_query'));
});

test('conf errors name the plugin and field; gateway errors name the field', async () => {
  const bad = permissiveGateway();
  bad.plugins[2]!.conf = { limits: [{ name: 'x', requests: 0, per: 'minute' }] };
  await assert.rejects(generateLayout(bad, { baseDir: PACKAGE_ROOT }), (e: Error) => e instanceof LayoutError && /mcp-ratelimit: \/limits\/0\/requests must be >= 1/.test(e.message));
  const unknown = permissiveGateway();
  unknown.plugins.push({ name: 'mcp-nope', conf: {} });
  await assert.rejects(generateLayout(unknown, { baseDir: PACKAGE_ROOT }), /mcp-nope: unknown plugin/);
  const missingPolicy = filteringGateway();
  missingPolicy.plugins[0]!.conf = { policy_file: 'conf/policies/does-not-exist.yaml', identity: { allow_anonymous: true } };
  await assert.rejects(generateLayout(missingPolicy, { baseDir: PACKAGE_ROOT }), (e: Error) => e instanceof LayoutError && /mcp-authz: \/policy_file conf\/policies\/does-not-exist.yaml: cannot read \(ENOENT/.test(e.message));

  assert.throws(() => parseGateway({ server: 'x', upstream: { nodes: {} }, tools: [], plugins: [], allow_degradation: true }), (e: Error) => e instanceof GatewayError && /\/allow_degradation must be equal to constant/.test(e.message) && /\/plugins must NOT have fewer than 1 items/.test(e.message));
  assert.throws(() => parseGateway({ server: 'x', upstream: { nodes: {} }, tools: ['crm.*'], plugins: [{ name: 'mcp-redact' }] }), /\/tools\/0 must match pattern/);
  assert.throws(() => parseGateway({ server: 'x', upstream: { nodes: {} }, tools: [], plugins: [{ name: 'mcp-redact' }], response_plugins: ['mcp-authz'] }), /\/response_plugins\/0 'mcp-authz' is not in \/plugins/);
});

test('committed conf/apisix.yaml and conf/admin/*.json are what conf/gateway.yaml generates', async () => {
  const gateway = await loadGateway(join(PACKAGE_ROOT, 'conf/gateway.yaml'));
  const layout = await generateLayout(gateway, { baseDir: PACKAGE_ROOT });
  const hint = 'regenerate with: npm run build && node dist/runner/cli.js layout --gateway conf/gateway.yaml --out conf';
  assert.equal(await readFile(join(PACKAGE_ROOT, 'conf/apisix.yaml'), 'utf8'), renderApisixYaml(layout, 'conf/gateway.yaml'), hint);
  const bodies = renderAdminBodies(layout);
  const committed = (await readdir(join(PACKAGE_ROOT, 'conf/admin'))).filter((f) => f.startsWith(`mcp-${gateway.server}-`)).sort();
  assert.deepEqual(committed, [...bodies.keys()].sort(), hint);
  for (const [file, text] of bodies) assert.equal(await readFile(join(PACKAGE_ROOT, 'conf/admin', file), 'utf8'), text, `${file}: ${hint}`);
  // The shipped layout keeps filtered lists, redacted crm.* and the concurrency-limited db tool on the full route.
  const tools = (layout.routes.find((r) => r.id === 'mcp-sample-tools-fast-tools')!.vars![1] as [string, string, string[]])[2];
  assert.ok(!tools.includes('crm.lookup_customer') && !tools.includes('db.run_query') && tools.includes('billing.get_subscription_status'));
});

test('cli: layout --out writes both formats; explain and usage errors', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'layout-cli-'));
  try {
    const lines: string[] = [];
    const errs: string[] = [];
    const gw = join(PACKAGE_ROOT, 'conf/gateway.yaml');
    assert.equal(await main(['layout', '--gateway', gw, '--base-dir', PACKAGE_ROOT, '--out', dir], (l) => lines.push(l), (l) => errs.push(l)), 0, errs.join('\n'));
    assert.match(await readFile(join(dir, 'apisix.yaml'), 'utf8'), /^routes:\n[\s\S]*\n#END\n$/m);
    assert.equal((await readdir(join(dir, 'admin'))).length, 8);
    lines.length = 0;
    assert.equal(await main(['layout', `--gateway=${gw}`, '--base-dir', PACKAGE_ROOT, '--format', 'explain'], (l) => lines.push(l)), 0);
    assert.ok(lines.includes('tools/call db.run_query -> full: mcp-ratelimit needs the response phase'), lines.join('\n'));
    assert.equal(await main(['layout', '--format', 'toml', '--gateway', gw], () => undefined, (l) => errs.push(l)), 2);
    assert.equal(await main(['layout'], () => undefined, (l) => errs.push(l)), 2);
    errs.length = 0;
    assert.equal(await main(['layout', '--gateway', join(dir, 'missing.yaml')], () => undefined, (l) => errs.push(l)), 1);
    assert.match(errs.join('\n'), /cannot read/);
    // explain is delegated to mcp-authz's command (exit 3: usage error there).
    assert.equal(await main(['explain'], () => undefined, () => undefined), 3);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
