// The helm chart's own templates, parsed (no helm renderer is installable from npm): the routes
// Job outlives its success so its log can be read, the routes' upstream comes from a value the
// chart refuses to render without, and the Dockerfile's Debian release matches the APISIX image.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { load as loadYaml } from 'js-yaml';
import { PACKAGE_ROOT } from '../../runner/host/schema-file.js';

const root = PACKAGE_ROOT;
const read = (p: string): string => readFileSync(join(root, p), 'utf8');
type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A template with its `{{ ... }}` actions blanked, so the YAML around them parses. */
function templateYaml(path: string): Obj {
  const text = read(path)
    .split('\n')
    .filter((l) => !/^\s*\{\{-?[^}]*-?\}\}\s*$/.test(l))
    .join('\n')
    .replace(/\{\{[^}]*\}\}/g, 'TEMPLATED');
  const v = loadYaml(text);
  assert.ok(isObj(v), `${path} parses as YAML`);
  return v;
}

test('chart: the routes Job is kept after success (its log is readable) and replaced on the next upgrade', () => {
  const job = templateYaml('charts/apisix-mcp/templates/routes-job.yaml');
  const annotations = (job['metadata'] as Obj)['annotations'] as Obj;
  assert.equal(annotations['helm.sh/hook'], 'post-install,post-upgrade');
  const policies = String(annotations['helm.sh/hook-delete-policy']).split(',');
  assert.ok(!policies.includes('hook-succeeded'), 'a succeeded Job must stay for kubectl logs');
  assert.deepEqual(policies, ['before-hook-creation']);
  assert.equal((job['spec'] as Obj)['ttlSecondsAfterFinished'], undefined, 'no TTL deletes it either');
  // The documented command names the Job the template creates (release "mcp").
  assert.match(read('charts/apisix-mcp/templates/routes-job.yaml'), /name: \{\{ \.Release\.Name \}\}-mcp-routes/);
  assert.match(read('docs/deployment.md'), /kubectl -n mcp-gateway logs job\/mcp-mcp-routes/);
  assert.match(read('docs/deployment.md'), /helm install mcp charts\/apisix-mcp/);
});

test('chart: the routes upstream is a required value that replaces the generated mcp-server:8000', () => {
  const values = loadYaml(read('charts/apisix-mcp/values.yaml')) as Obj;
  const routes = values['routes'] as Obj;
  const upstream = routes['upstream'] as Obj;
  assert.ok(isObj(upstream) && isObj(upstream['nodes']), 'routes.upstream.nodes is a map');
  assert.deepEqual(upstream['nodes'], {}, 'no default upstream: the chart deploys no MCP server');
  const tpl = read('charts/apisix-mcp/templates/routes-configmap.yaml');
  assert.match(tpl, /\$upstream := \.Values\.routes\.upstream/);
  assert.match(tpl, /if not \$upstream\.nodes \}\}\n\{\{- fail "set routes\.upstream\.nodes/);
  // Each route body is parsed, its upstream keys replaced by the value's (set, not a deep merge,
  // so the generated node is gone), and re-serialised.
  assert.match(tpl, /\$route := \$\.Files\.Get \$path \| fromJson/);
  assert.match(tpl, /set \$routeUpstream \$key \$value/);
  assert.match(tpl, /toPrettyJson \$route/);
  assert.doesNotMatch(tpl, /\$\.Files\.Get \$path \| indent/, 'route files are not copied verbatim');
  // The routes the chart carries all have an upstream object to replace.
  const dir = join(root, 'charts/apisix-mcp/files/routes');
  const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
  assert.ok(files.length > 0);
  for (const f of files) {
    const route = JSON.parse(readFileSync(join(dir, f), 'utf8')) as Obj;
    assert.ok(isObj(route['upstream']) && isObj((route['upstream'] as Obj)['nodes']), `${f} has upstream.nodes`);
  }
  assert.match(read('docs/deployment.md'), /--set-json 'routes\.upstream\.nodes=/);
});

test('Dockerfile: node comes from the Debian release the APISIX image is built on (apache/apisix-docker debian/Dockerfile, 3.18.0: bookworm)', () => {
  const dockerfile = read('Dockerfile');
  const apisix = /^ARG APISIX_IMAGE=apache\/apisix:(\S+)$/m.exec(dockerfile)?.[1];
  const node = /^ARG NODE_IMAGE=node:(\S+)$/m.exec(dockerfile)?.[1];
  // The release the upstream image uses, by its tag (checked against its Dockerfile by hand:
  // update this table with the image).
  const IMAGE_DEBIAN: Record<string, string> = { '3.18.0-debian': 'bookworm' };
  assert.ok(apisix !== undefined && apisix in IMAGE_DEBIAN, `APISIX image tag ${apisix} has a known Debian release`);
  const release = IMAGE_DEBIAN[apisix]!;
  assert.ok(node?.endsWith(`-${release}-slim`), `node image ${node} is ${release}`);
  assert.match(dockerfile, new RegExp(`FROM node:\\d+-${release} AS build`));
  for (const doc of ['Dockerfile', 'docs/deployment.md']) {
    for (const named of read(doc).matchAll(/\b(bullseye|bookworm|trixie|buster)\b/g)) assert.equal(named[1], release, `${doc} names ${named[1]}`);
  }
});
