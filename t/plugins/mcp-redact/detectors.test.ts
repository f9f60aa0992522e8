// Detector units: validators (Luhn, IIN, mod-97, SSN ranges), each detector on real shapes,
// overlap merging, and linear time on 1 MB adversarial strings.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cardBrand, compileDetectors, DETECTOR_NAMES, ibanChecksumValid, luhnValid, type Hit } from '../../../plugins/mcp-redact/detectors.js';
import { defaultRedaction, redactText } from '../../../plugins/mcp-redact/redactor.js';

const all = compileDetectors(DETECTOR_NAMES);

function found(text: string, detectors = all): Array<[string, string]> {
  return detectors.scan(text).map((h: Hit) => [h.kind, text.slice(h.start, h.end)]);
}

test('Luhn, IIN and IBAN mod-97 validators', () => {
  assert.equal(luhnValid('4111111111111111'), true);
  assert.equal(luhnValid('4111111111111112'), false);
  assert.equal(luhnValid('79927398713'), true);
  assert.equal(cardBrand('4111111111111111'), 'visa');
  assert.equal(cardBrand('378282246310005'), 'amex');
  assert.equal(cardBrand('37828224631000'), undefined, 'amex must have 15 digits');
  assert.equal(cardBrand('2223003122003222'), 'mastercard');
  assert.equal(cardBrand('1234567812345670'), undefined, 'no scheme issues IIN 1');
  assert.equal(ibanChecksumValid('DE89370400440532013000'), true);
  assert.equal(ibanChecksumValid('DE89370400440532013001'), false);
  assert.equal(ibanChecksumValid('GB82WEST12345698765432'), true);
});

test('payment cards: separators, Luhn, IIN, boundaries', () => {
  assert.deepEqual(found('pay 4111 1111 1111 1111 now'), [['payment_card', '4111 1111 1111 1111']]);
  assert.deepEqual(found('pay 4111-1111-1111-1111.'), [['payment_card', '4111-1111-1111-1111']]);
  assert.deepEqual(found('amex 3782 822463 10005'), [['payment_card', '3782 822463 10005']]);
  assert.deepEqual(found('4111111111111111,5555555555554444'), [['payment_card', '4111111111111111'], ['payment_card', '5555555555554444']]);
  assert.deepEqual(found('4111111111111112'), [], 'Luhn failure');
  assert.deepEqual(found('9999999999999995'), [], 'Luhn-valid, no issuer');
  assert.deepEqual(found('4111 1111-1111 1111'), [], 'mixed separators');
  assert.deepEqual(found('41 1111 1111 1111 11'), [], 'not printed in card groups');
  assert.deepEqual(found('x0.4111111111111111'), [], 'fraction of a decimal');
  assert.deepEqual(found('14111111111111111'), [], 'inside a longer number');
});

test('tax ids: SSN invalid ranges, EIN prefixes, NINO prefixes, SIN Luhn', () => {
  assert.deepEqual(found('ssn 123-45-6789'), [['us_ssn', '123-45-6789']]);
  assert.deepEqual(found('ssn 536 22 8726'), [['us_ssn', '536 22 8726']]);
  for (const bad of ['000-12-3456', '666-12-3456', '912-34-5678', '123-00-4567', '123-45-0000', '123-45 6789']) {
    assert.deepEqual(found(`ssn ${bad}`), [], bad);
  }
  assert.deepEqual(found('EIN 12-3456789'), [['us_ein', '12-3456789']]);
  assert.deepEqual(found('EIN 07-1234567'), []);
  assert.deepEqual(found('NI AB123456C'), [['uk_nino', 'AB123456C']]);
  assert.deepEqual(found('NI JK 12 34 56 A'), [['uk_nino', 'JK 12 34 56 A']]);
  assert.deepEqual(found('NI GB123456A'), []);
  assert.deepEqual(found('SIN 130 692 544'), [['ca_sin', '130 692 544']]);
  assert.deepEqual(found('SIN 123 456 789'), []);
  // The configurable set: only SSN.
  const ssnOnly = compileDetectors(['tax_id'], ['us_ssn']);
  assert.deepEqual(found('12-3456789 AB123456C 123-45-6789', ssnOnly), [['us_ssn', '123-45-6789']]);
});

test('IBAN: country length table cuts trailing words, checksum decides', () => {
  assert.deepEqual(found('to DE89 3704 0044 0532 0130 00 EUR'), [['iban', 'DE89 3704 0044 0532 0130 00']]);
  assert.deepEqual(found('GB82WEST12345698765432'), [['iban', 'GB82WEST12345698765432']]);
  assert.deepEqual(found('DE89370400440532013001'), [], 'bad checksum');
  assert.deepEqual(found('XX89370400440532013000'), [], 'unknown country');
  assert.deepEqual(found('DE893704004405320130001'), [], 'longer than the DE length');
});

test('emails and phones', () => {
  assert.deepEqual(found('mail Jane.Doe+x@Mail.Example.co.uk.'), [['email', 'Jane.Doe+x@Mail.Example.co.uk']]);
  assert.deepEqual(found('npm i @scope/pkg@1.2.3 user@localhost'), []);
  assert.deepEqual(found('+44 20 7946 0958'), [['e164', '+44 20 7946 0958']]);
  assert.deepEqual(found('(415) 555-0132 and 212-555-0147 and 1-800-555-0199'), [
    ['nanp', '(415) 555-0132'],
    ['nanp', '212-555-0147'],
    ['nanp', '1-800-555-0199'],
  ]);
  assert.deepEqual(found('ticket 123-456-7890, id 415-155-0132, score +12, ORD-2024-000123'), []);
});

test('secrets: provider keys, context-bound secrets, PEM, JWT; only the value is covered', () => {
  const cases: Array<[string, string, string]> = [
    ['AKIA2E0A8F3B244C9986', 'aws_access_key_id', 'AKIA2E0A8F3B244C9986'],
    ['aws_secret_access_key = Tq8vK2mP/xR4nW7bY1cZ5dF9gH3jL6sA0eU8iO2p', 'aws_secret_access_key', 'Tq8vK2mP/xR4nW7bY1cZ5dF9gH3jL6sA0eU8iO2p'],
    [`ghp_${'A1b2'.repeat(9)}`, 'github_token', `ghp_${'A1b2'.repeat(9)}`],
    [`github_pat_11ABC${'x9'.repeat(20)}`, 'github_token', `github_pat_11ABC${'x9'.repeat(20)}`],
    ['xoxb-2048193712-4097213879-AbCdEfGh', 'slack_token', 'xoxb-2048193712-4097213879-AbCdEfGh'],
    ['sk_live_51H8fKpLmNoPqRsTuVwXyZ', 'stripe_key', 'sk_live_51H8fKpLmNoPqRsTuVwXyZ'],
    ['AIzaSyDaGmWKa4JsXZ-HjGw7ISLn_3namBGewQe', 'google_api_key', 'AIzaSyDaGmWKa4JsXZ-HjGw7ISLn_3namBGewQe'],
    ['Authorization: Bearer 8f14e45fceea167a5a36dedd', 'bearer_token', '8f14e45fceea167a5a36dedd'],
    ['Authorization: Basic YWxhZGRpbjpvcGVuc2VzYW1l', 'basic_auth', 'YWxhZGRpbjpvcGVuc2VzYW1l'],
    ['password=Hunter2!xyz', 'named_secret', 'Hunter2!xyz'],
  ];
  for (const [text, kind, value] of cases) assert.deepEqual(found(text), [[kind, value]], text);
  const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U';
  assert.deepEqual(found(`t=${jwt};`), [['jwt', jwt]]);
  const pem = '-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIIrYSSNQFaA2Hwf1duRSxKtLYX5CB04fSeQ6tF1aY/PuoAoGCCqGSM49\n-----END EC PRIVATE KEY-----';
  assert.deepEqual(found(`key:\n${pem}\nnext`), [['private_key', pem]]);
  // A truncated key is still covered up to the end.
  assert.deepEqual(found('-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0B'), [['private_key', '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0B']]);
  // Documented example values stay (the AWS docs' keys, Slack's template).
  for (const example of ['AKIAIOSFODNN7EXAMPLE', 'aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', 'SLACK_BOT_TOKEN=xoxb-your-token-here']) {
    assert.deepEqual(found(example), [], example);
  }
  for (const prose of ['Bearer authentication-is-required', 'the Basic plan has 5 seats', 'password: required', 'AKIA is a prefix', '-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----']) {
    assert.deepEqual(found(prose), [], prose);
  }
});

test('overlapping findings merge into one span (every sensitive character covered)', () => {
  // An email whose local part is a phone number: one span, reported once.
  const text = 'x 212-555-0147@example.com y';
  const hits = all.scan(text);
  assert.equal(hits.length, 1);
  assert.equal(text.slice(hits[0]!.start, hits[0]!.end), '212-555-0147@example.com');
});

test('1 MB adversarial strings finish in linear time', () => {
  const mb = 1 << 20;
  const inputs: Record<string, string> = {
    digits: '1'.repeat(mb),
    spacedDigits: '1 '.repeat(mb / 2),
    dashedGroups: '4111-'.repeat(mb / 5),
    letters: 'a'.repeat(mb),
    upper: 'A'.repeat(mb),
    ats: 'a@'.repeat(mb / 2),
    domainDashes: `x@${'a-'.repeat(mb / 2)}`,
    pemBegins: '-----BEGIN PRIVATE KEY-----'.repeat(mb / 27),
    jwtish: 'eyJaaaaaaaaa.'.repeat(mb / 13),
    bearers: 'Bearer '.repeat(mb / 7),
    ibanish: 'DE89 '.repeat(mb / 5),
    ssnish: '123-45-'.repeat(mb / 7),
    plus: '+1 '.repeat(mb / 3),
    parens: '(415) '.repeat(mb / 6),
    assignments: 'password='.repeat(mb / 9),
    keyNames: 'password: '.repeat(mb / 10),
    jsonKeys: '"password": "'.repeat(mb / 13),
    encodedAts: 'a%40'.repeat(mb / 4),
    userinfo: `${'a://b:'.repeat(mb / 6)}@`,
    quotedLocal: `${'"a'.repeat(mb / 2)}"@x.com`,
    kubernetes: `kind: Secret\ndata:\n${'  k: v\n'.repeat(mb / 7)}`,
    sasSigs: 'sig='.repeat(mb / 4),
    labelled: `${'ssn '.repeat(mb / 8)}123456789`,
  };
  const r = defaultRedaction();
  for (const [name, text] of Object.entries(inputs)) {
    // CPU time of this process: on a shared, loaded machine wall time measures the neighbours.
    const t0 = process.cpuUsage();
    redactText(text, r);
    const used = process.cpuUsage(t0);
    const ms = (used.user + used.system) / 1000;
    // Linear scans take ~10-200 ms here; a quadratic one would take minutes.
    assert.ok(ms < 2000, `${name}: ${ms.toFixed(0)} ms`);
  }
});

test('a typical 3 KB tool result is scanned in tens of microseconds', () => {
  const para =
    'Order ORD-2024-000123 shipped on 2024-05-01T12:30:45Z to customer 88213 (v1.4.2, id 550e8400-e29b-41d4-a716-446655440000). Total 1234.56 EUR. ';
  let text = '';
  while (text.length < 3000) text += para;
  text += 'Contact jane@example.com, card 4111-1111-1111-1111.';
  const r = defaultRedaction();
  assert.equal(redactText(text, r).endsWith('Contact [REDACTED:email], card ****1111.'), true);
  let best = Infinity;
  for (let round = 0; round < 10; round++) {
    const t0 = process.cpuUsage();
    for (let i = 0; i < 200; i++) redactText(text, r);
    const used = process.cpuUsage(t0);
    best = Math.min(best, (used.user + used.system) / 200);
  }
  console.log(`3 KB scan: ${best.toFixed(1)} us of CPU (best of 10 rounds)`);
  // Generous bound; typical is ~35 us of CPU.
  assert.ok(best < 250, `${best.toFixed(1)} us`);
});
