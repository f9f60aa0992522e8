// Every conf has a JSON Schema, its TypeScript type is generated from that schema the same
// way for all five plugins and the route settings, and the reference lists them all.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BUILTIN_PLUGINS } from '../../runner/host/registry.js';
import { PACKAGE_ROOT } from '../../runner/host/schema-file.js';
import { GENERATED_CONF_TYPES, generateConfType } from '../../runner/docs/conf-types.js';
import { generateReference, REFERENCE_PATH } from '../../runner/docs/reference.js';
import { hostWith } from '../../testkit/host-kit.js';
import { Host } from '../../runner/host/chain.js';
import { PluginRegistry } from '../../runner/host/registry.js';

const read = (path: string): Promise<string> => readFile(join(PACKAGE_ROOT, path), 'utf8');

test('each generated conf type is what its schema generates today (run npm run docs after a schema change)', async () => {
  assert.equal(GENERATED_CONF_TYPES.length, BUILTIN_PLUGINS.length + 1, 'the five plugins and mcp-route');
  for (const g of GENERATED_CONF_TYPES) {
    assert.equal(await read(g.target), await generateConfType(g), `${g.target} is stale`);
  }
});

test('each plugin conf.ts takes its conf type and schema the same way: generated type, confSchema from the schema file', async () => {
  for (const name of BUILTIN_PLUGINS) {
    const conf = await read(`plugins/${name}/conf.ts`);
    assert.match(conf, /from '\.\/conf\.generated\.js'/, `${name}: conf type from the generated file`);
    assert.match(conf, new RegExp(`CONF_SCHEMA_FILE = '${name}\\.conf\\.schema\\.json'`), `${name}: names its schema`);
    assert.match(conf, /export const confSchema: JsonSchema = loadSchema\(CONF_SCHEMA_FILE\)/, `${name}: loads it`);
    // The plugin's conf type is the generated one, not a hand-written copy.
    const generated = GENERATED_CONF_TYPES.find((g) => g.schemaFile === `${name}.conf.schema.json`)!;
    assert.match(conf, new RegExp(`export type \\w+Conf = ${generated.typeName};`), `${name}: conf type is ${generated.typeName}`);
    const index = await read(`plugins/${name}/index.ts`);
    assert.doesNotMatch(index, /loadSchema\(/, `${name}: index.ts takes the schema from conf.ts`);
    const plugin = ((await import(`../../plugins/${name}/index.js`)) as { plugin: { confSchema: unknown } }).plugin;
    assert.deepEqual(plugin.confSchema, JSON.parse(await read(`schemas/${name}.conf.schema.json`)), `${name}: the plugin validates with that schema`);
  }
});

test(`${REFERENCE_PATH} lists every conf, mcp-route included, and is current`, async () => {
  const generated = await generateReference();
  assert.equal(await read(REFERENCE_PATH), generated, 'run npm run docs');
  for (const g of GENERATED_CONF_TYPES) assert.ok(generated.includes(`schemas/${g.schemaFile}`), g.schemaFile);
  for (const key of ['server', 'post_resp', 'max_body_bytes', 'validate_body']) assert.ok(generated.includes(`| \`${key}\` |`), key);
});

test('mcp-route is validated by its schema: errors name the field, defaults apply', () => {
  const h = hostWith();
  const error = (value: unknown): string | undefined => h.buildChain([{ name: 'mcp-route', value: JSON.stringify(value) }], `k${JSON.stringify(value)}`).error;
  assert.match(error({ max_body_bytes: 0 }) ?? '', /^mcp-route: \/max_body_bytes must be >= 1/);
  assert.match(error({ post_resp: 'yes' }) ?? '', /^mcp-route: \/post_resp must be boolean/);
  assert.match(error({ server: '' }) ?? '', /^mcp-route: \/server must NOT have fewer than 1 characters/);
  assert.match(error({ bogus: true }) ?? '', /^mcp-route: \/ must NOT have additional properties 'bogus'/);
  assert.match(error([]) ?? '', /^mcp-route: \/ must be object/);
  const chain = h.buildChain([{ name: 'mcp-route', value: '{"server":"crm"}' }], 'ok');
  assert.equal(chain.error, undefined);
  assert.deepEqual(chain.route, { server: 'crm', postResp: false, maxBodyBytes: 8 * 1024 * 1024, validateBody: false });
  // A second host on the same registry compiles the route schema without a duplicate-$id error.
  const registry = new PluginRegistry();
  new Host({ registry }).shutdown().catch(() => undefined);
  assert.doesNotThrow(() => new Host({ registry }));
});
