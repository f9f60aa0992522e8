// The redaction engine: modes, field rules by key and by path, scalars, depth limit, and
// the log-scrubbing entry point.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileRedaction, defaultRedaction, newTally, parsePath, redactText, redactTree, MAX_DEPTH } from '../../../plugins/mcp-redact/redactor.js';
import type { JsonObject, JsonValue } from '../../../runner/mcp/types.js';

const CARD = '4111 1111 1111 1111';
const salt = (value: string) => () => value;

test('mask: cards keep their last 4 digits, everything else names its type', () => {
  assert.equal(redactText(`card ${CARD}, mail a.b@example.com, key AKIA2E0A8F3B244C9986`), 'card ****1111, mail [REDACTED:email], key [REDACTED:secret]');
  assert.equal(redactText('nothing sensitive here, order ORD-2024-000123'), 'nothing sensitive here, order ORD-2024-000123');
});

test('hash: keyed, stable across formatting, different per salt', () => {
  const a = compileRedaction({ mode: 'hash' }, salt('salt-one'));
  const b = compileRedaction({ mode: 'hash' }, salt('salt-two'));
  const spaced = redactText(`card ${CARD}`, a);
  const bare = redactText('card 4111111111111111', a);
  assert.match(spaced, /^card \[payment_card:[0-9a-f]{16}\]$/);
  assert.equal(spaced, bare, 'same card, same pseudonym');
  assert.notEqual(spaced, redactText(`card ${CARD}`, b), 'another salt, another pseudonym');
  assert.equal(redactText('Mail@Example.com', a), redactText('mail@example.com', a), 'emails compare case-insensitively');
  assert.throws(() => compileRedaction({ mode: 'hash' }), /hash_salt: required/);
  assert.throws(() => compileRedaction({ modes: { email: 'hash' } }, salt('')), /hash_salt/);
  // Salt gone at call time: mask rather than hash with an empty key.
  let current: string | undefined = 'k';
  const rotating = compileRedaction({ mode: 'hash' }, () => current);
  current = undefined;
  assert.equal(redactText('a@example.com', rotating), '[REDACTED:email]');
});

test('drop replaces the whole string; block leaves it and reports; per-detector modes', () => {
  const r = compileRedaction({ modes: { email: 'drop', payment_card: 'block' } });
  const tally = newTally();
  const args: JsonObject = { note: 'write to a@example.com please', card: `use ${CARD}`, phone: '+44 20 7946 0958' };
  redactTree(args, ['params', 'arguments'], r, tally);
  assert.equal(args['note'], '[REDACTED]');
  assert.equal(args['card'], `use ${CARD}`, 'block mode does not rewrite: the call is refused');
  assert.equal(args['phone'], '[REDACTED:phone]');
  assert.equal(tally.blocked, true);
  assert.deepEqual([...tally.blockedTypes], ['payment_card']);
  assert.deepEqual(tally.counts, { email: 1, payment_card: 1, phone: 1 });
  // redactText never refuses: blocked types are masked for log lines.
  assert.equal(redactText(`card ${CARD}`, r), 'card ****1111');
});

test('field rules by key: case and separators ignored, any value type, modes', () => {
  const r = compileRedaction({});
  const tally = newTally();
  const args: JsonObject = {
    user: 'bob',
    Password: 'hunter2',
    'API-KEY': 12345,
    nested: { apiKey: { id: 'x', value: 'y' }, list: [{ client_secret: 's' }] },
    tax_id: '123456789',
  };
  redactTree(args, ['params', 'arguments'], r, tally);
  assert.deepEqual(args, {
    user: 'bob',
    Password: '[REDACTED:field]',
    'API-KEY': '[REDACTED:field]',
    nested: { apiKey: '[REDACTED:field]', list: [{ client_secret: '[REDACTED:field]' }] },
    tax_id: '[REDACTED:field]',
  });
  assert.equal(tally.counts['field'], 5);

  // The key list is replaced: `password` is no field rule any more (the secret detector,
  // which reads a secret's name as context, is off here so the field rules alone decide).
  const dropping = compileRedaction({ detectors: ['email'], fields: { keys: ['pin'], mode: 'drop' } });
  const t2 = newTally();
  const a2: JsonObject = { pin: '1234', password: 'kept: not in the replaced key list', keep: 1 };
  redactTree(a2, ['params', 'arguments'], dropping, t2);
  assert.deepEqual(a2, { password: 'kept: not in the replaced key list', keep: 1 });
  // With the secret detector on, a value under a secret's name is a secret whatever the field list.
  const named = compileRedaction({ fields: { keys: ['pin'] } });
  const byName: JsonObject = { db_password: 'Tr0ub4dor&3', password_policy: 'strong', token_count: 'many' };
  redactTree(byName, ['params', 'arguments'], named, newTally());
  assert.deepEqual(byName, { db_password: '[REDACTED:secret]', password_policy: 'strong', token_count: 'many' });

  const hashing = compileRedaction({ fields: { mode: 'hash' } }, salt('s'));
  const a3: JsonObject = { token: { a: 1 } };
  redactTree(a3, ['params', 'arguments'], hashing, newTally());
  assert.match(String(a3['token']), /^\[field:[0-9a-f]{16}\]$/);
});

test('field rules by JSON path from the message root, with wildcards', () => {
  assert.deepEqual(parsePath("$.params.arguments['odd key'][0].x"), ['params', 'arguments', 'odd key', '0', 'x']);
  assert.throws(() => parsePath('params.x'), /must start with "\$"/);
  assert.throws(() => compileRedaction({ fields: { paths: ['$.a..b'] } }), /fields\.paths\[0\]/);

  const r = compileRedaction({ fields: { paths: ['$.params.arguments.card', '$.params.arguments.rows[*].account', '$.result.structuredContent.*.iban'] } });
  const args: JsonObject = { card: 'not a card number at all', rows: [{ account: 'A-1', other: 'kept' }, { account: 7 }], cardholder: 'kept' };
  const tally = newTally();
  redactTree(args, ['params', 'arguments'], r, tally);
  assert.deepEqual(args, { card: '[REDACTED:field]', rows: [{ account: '[REDACTED:field]', other: 'kept' }, { account: '[REDACTED:field]' }], cardholder: 'kept' });
  assert.equal(tally.counts['field'], 3);

  const result: JsonObject = { structuredContent: { a: { iban: 'x', name: 'n' }, b: { iban: 'y' } } };
  redactTree(result, ['result'], r, newTally());
  assert.deepEqual(result, { structuredContent: { a: { iban: '[REDACTED:field]', name: 'n' }, b: { iban: '[REDACTED:field]' } } });

  // A path naming the root selects everything in it.
  const whole = compileRedaction({ fields: { paths: ['$.params.arguments'] } });
  const a2: JsonObject = { x: 'a', y: 2 };
  redactTree(a2, ['params', 'arguments'], whole, newTally());
  assert.deepEqual(a2, { x: '[REDACTED:field]', y: '[REDACTED:field]' });
});

test('large integers are scanned; deep nesting is cut off, fail closed', () => {
  const r = defaultRedaction();
  const args: JsonObject = { n: 4111111111111111, small: 42, pi: 3.14 };
  redactTree(args, ['params', 'arguments'], r, newTally());
  assert.deepEqual(args, { n: '****1111', small: 42, pi: 3.14 });

  let deep: JsonValue = 'a@example.com';
  for (let i = 0; i < MAX_DEPTH + 10; i++) deep = { d: deep };
  const root: JsonObject = { deep };
  const tally = newTally();
  redactTree(root, ['params', 'arguments'], r, tally);
  assert.equal(tally.counts['depth_limit'], 1);
  assert.ok(!JSON.stringify(root).includes('a@example.com'));
});
