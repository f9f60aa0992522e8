// The conf type generator shares a titled definition's type across its uses: a `$ref` with
// a use-site description would otherwise be copied into a new anonymous type at every use.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GENERATED_CONF_TYPES, generateConfType, shareTitledRefs } from '../../runner/docs/conf-types.js';

test('a $ref to a titled definition keeps its description as a doc comment and shares the named type', () => {
  const schema = {
    $defs: { shape: { title: 'Shape', type: 'object' }, plain: { type: 'string' } },
    properties: {
      described: { $ref: '#/$defs/shape', description: 'used here' },
      bare: { $ref: '#/$defs/shape' },
      untitled: { $ref: '#/$defs/plain', description: 'stays as written' },
      constrained: { $ref: '#/$defs/shape', minProperties: 1 },
      nested: { type: 'array', items: { $ref: '#/$defs/shape', $comment: 'note' } },
    },
  };
  const out = shareTitledRefs(schema) as { properties: Record<string, unknown> };
  assert.deepEqual(out.properties['described'], { allOf: [{ $ref: '#/$defs/shape' }], description: 'used here' });
  assert.deepEqual(out.properties['bare'], { $ref: '#/$defs/shape' });
  assert.deepEqual(out.properties['untitled'], { $ref: '#/$defs/plain', description: 'stays as written' });
  // A sibling that constrains is never dropped: the type must still say what ajv checks.
  assert.deepEqual(out.properties['constrained'], { $ref: '#/$defs/shape', minProperties: 1 });
  assert.deepEqual(out.properties['nested'], { type: 'array', items: { $ref: '#/$defs/shape' } });
  assert.deepEqual(schema.properties.described, { $ref: '#/$defs/shape', description: 'used here' }, 'the input is not changed');
});

test('mcp-credential: each shared conf shape is declared once, under its title', async () => {
  const g = GENERATED_CONF_TYPES.find((t) => t.schemaFile === 'mcp-credential.conf.schema.json')!;
  const text = await generateConfType(g);
  const shapes = ['Credential', 'BearerCredential', 'ApiKeyCredential', 'BasicCredential', 'NoCredential', 'TokenExchangeCredential', 'ClientCredentialsCredential', 'PerUserCredential', 'IdentityToken', 'Server', 'Client'];
  for (const name of shapes) {
    assert.equal(text.match(new RegExp(`^export (?:interface|type) ${name} `, 'gm'))?.length, 1, `${name} declared once`);
  }
  assert.doesNotMatch(text, /^export (?:interface|type) \w+\d /m, 'no numbered copies');
  // Shared by the route level and each server entry, with each use's own description.
  assert.equal(text.match(/^ {2}credential\?: Credential;$/gm)?.length, 2);
  assert.equal(text.match(/^ {2}identity_token\?: IdentityToken;$/gm)?.length, 2);
  assert.ok(text.split('\n').length < 450, `${text.split('\n').length} lines`);
});
