import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileGlobs, globToRegExp, globsToRegExp } from '../../runner/util/glob.js';
import { PatternIndex } from '../../runner/util/patterns.js';
import { compileGlobs as redactGlobs } from '../../plugins/mcp-redact/index.js';

const cases: Array<[string, string, boolean]> = [
  ['crm.*', 'crm.lookup_customer', true],
  ['crm.*', 'crm.', true],
  ['crm.*', 'crmXlookup', false],
  ['crm.*', 'billing.crm.x', false],
  ['crm.*', 'CRM.lookup', false],
  ['crm.?', 'crm.a', true],
  ['crm.?', 'crm.ab', false],
  ['a+b(c)', 'a+b(c)', true],
  ['a+b(c)', 'aab(c)', false],
  ['kb://articles/*', 'kb://articles/x/y', true],
  ['*', 'anything\nat all', true],
  ['x*', 'x\ny', true],
];

test('a glob selects the same names in mcp-authz, mcp-ratelimit and mcp-redact', () => {
  for (const [glob, name, expected] of cases) {
    const index = new PatternIndex<number>();
    index.add(glob, 1);
    const authz = index.lookup(name).glob.length + index.lookup(name).exact.length > 0;
    assert.equal(globToRegExp(glob).test(name), expected, `${glob} vs ${JSON.stringify(name)}`);
    assert.equal(compileGlobs([glob])(name), expected);
    assert.equal(authz, expected, `authz ${glob}`);
    assert.equal(globsToRegExp([glob]).test(name), expected, `ratelimit ${glob}`);
    assert.equal(redactGlobs([glob])(name), expected, `redact ${glob}`);
  }
});
