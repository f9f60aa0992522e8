// The optimised scanner against the one it replaced (frozen in ./previous/): on text dense
// with look-alikes (numbers shaped like cards, IBANs, phones and tax ids that mostly fail
// their checks, names of secrets, token prefixes, base64 runs of about 40 characters, gated
// leads like Bearer or -----BEGIN), with and without a JSON key and for several confs, both
// must return the same findings: detector, kind, start and end.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { compileDetectors, DETECTOR_NAMES, TAX_ID_KINDS, type DetectorName, type TaxIdKind } from '../../../runner/redact/index.js';
import { CATEGORIES, makeItem, Rng } from '../../../testkit/redact-corpus/values.js';
import { compileDetectors as compilePrevious } from './previous/detectors.js';
import { CARD } from '../../../runner/redact/national.js';
import { CARD as PREVIOUS_CARD } from './previous/national.js';

const CONFS: [DetectorName[], TaxIdKind[]][] = [
  [[...DETECTOR_NAMES], [...TAX_ID_KINDS]],
  [['payment_card', 'phone', 'tax_id'], ['us_ssn', 'ca_sin']],
  [['secret'], []],
  [['iban', 'tax_id', 'email'], ['uk_nino', 'us_ein']],
];
const scanners = CONFS.map(([d, t]) => ({ now: compileDetectors(d, t), before: compilePrevious(d, t) }));

const digits = (n: number): fc.Arbitrary<string> => fc.string({ unit: fc.constantFrom(...'0123456789'), minLength: n, maxLength: n });
const b64 = (min: number, max: number): fc.Arbitrary<string> =>
  fc.string({ unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'), minLength: min, maxLength: max });
const grouped = (sizes: number[], sep: string): fc.Arbitrary<string> => fc.tuple(...sizes.map(digits)).map((g) => g.join(sep));

const numberLike = fc.oneof(
  digits(16),
  fc.constantFrom(' ', '-').chain((sep) => grouped([4, 4, 4, 4], sep)),
  grouped([3, 2, 4], '-'),
  grouped([3, 3, 3], ' '),
  grouped([2, 7], '-'),
  digits(9),
  fc.tuple(fc.constantFrom('DE', 'GB', 'FR', 'de', 'NL'), digits(2), b64(12, 24)).map(([c, d, r]) => c + d + r.toUpperCase().replace(/[+/]/g, '0')),
  fc.tuple(fc.constantFrom('+1 ', '+44 ', '+49-', '+33.', '+91 '), grouped([3, 3, 4], ' ')).map(([c, n]) => c + n),
  // E.164 numbers of 8 digits, the fewest a number finding holds.
  fc.tuple(fc.constantFrom('+1', '+7', '+1 ', '+44 '), fc.constantFrom(' ', '-', '')).chain(([c, sep]) => grouped(c.replace(/\D/g, '').length === 1 ? [3, 4] : [3, 3], sep).map((n) => c + n)),
  grouped([3, 3, 4], '.'),
  grouped([3, 4], '-').map((n) => `(415) ${n}`),
  fc.tuple(fc.constantFrom('020 ', '0161 ', '030 ', '01 ', '09876 '), grouped([4, 4], ' ')).map(([a, n]) => a + n),
  // Card-shaped but too short for a card: the card candidate is rejected, a UK number at the same index is not.
  grouped([3, 3, 4], ' ').map((n) => `0${n}`),
  fc.tuple(fc.constantFrom('AB', 'QQ', 'ce', 'ZZ'), digits(6), fc.constantFrom('A', 'D', 'c')).map(([a, n, b]) => a + n + b),
  fc.float({ noNaN: true, noDefaultInfinity: true }).map((x) => `+${x.toFixed(4)}-148.6395/`),
);
const keyLike = fc.tuple(
  fc.constantFrom('pass', 'password', 'DB_PASSWORD', 'pwd', 'secret', 'client_secret', 'token', 'TWILIO_AUTH_TOKEN', 'api_key', 'x-api-key', 'key', 'keys', 'monkey', 'credential', 'authorization', 'Authorization', 'sig', 'AccountKey', 'passwordless', 'PASSWORD_FILE', 'bypass'),
  fc.constantFrom('=', ': ', '":"', ' is ', ' ', '=\\"', ' -> ', ''),
  fc.oneof(b64(3, 24), fc.constantFrom('true', 'changeme', '${SECRET}', 'Token abc123def456', 'Bearer eyJhbGciOi.x', 'hunter2!', '')),
).map(([k, s, v]) => k + s + v);
const tokenLike = fc.tuple(
  fc.constantFrom('eyJ', 'AKIA', 'ASIA', 'AIza', 'ghp_', 'github_pat_', 'glpat-', 'xoxb-', 'xapp-1-', 'sk_live_', 'rk_test_', 'whsec_', 'sk-', 'sk-proj-', 'SG.', 'hf_', 'npm_', 'SK', 'shpat_', 'pypi-', 'dop_v1_', 'lin_api_', 'ops_eyJ', 'FwoGZXIvYXdz', 'https://hooks.slack.com/services/'),
  b64(8, 70),
  fc.constantFrom('', '.', '.eyJ', '_', '-', '='),
  b64(0, 30),
).map((p) => p.join(''));
const gatedLike = fc.tuple(
  fc.constantFrom('Bearer ', 'bearer\t', 'BEARER ', 'Basic ', 'basic ', 'curl -u admin:', 'curl -s --user=bob:', 'redis-cli -h db -a ', 'REDIS-CLI -a', '-----BEGIN PRIVATE KEY-----\n', '-----BEGIN RSA PRIVATE KEY-----\\n', '-----BEGIN CERTIFICATE-----\n'),
  b64(4, 64),
  fc.constantFrom('', '\n-----END PRIVATE KEY-----', '==', ':x'),
).map((p) => p.join(''));
const blob = fc.oneof(b64(40, 40), b64(39, 41), b64(20, 90), fc.constantFrom('d085b8cf8d6ab84300fda099bf4fac9d2f89263d', 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY'));
const corpusValue = fc.tuple(fc.integer({ min: 1, max: 2 ** 31 }), fc.constantFrom(...CATEGORIES), fc.boolean()).map(([seed, category, sensitive]) => makeItem(new Rng(seed), category, sensitive).text);
// Addresses with odd local parts and domains: dots at the ends or doubled, dashed labels,
// labels of 63/64 characters, top-level domains of 1/2/24/25 letters or file extensions.
const label = fc.constantFrom('a', 'ex-ample', '-a', 'a-', 'x1', '1x', '', 'co', 'PNG', 'js', 'c0m', 'a'.repeat(63), 'b'.repeat(64), 'z'.repeat(24), 'y'.repeat(25));
const addressLike = fc
  .tuple(fc.constantFrom('jane', 'j.doe', '.j', 'j.', 'j..d', 'a+b', '"j d"', 'x://u:p', 'git', ''), fc.constantFrom('@', '%40'), fc.array(label, { minLength: 1, maxLength: 4 }), fc.constantFrom('', ':org/x', '.', '-', ' '))
  .map(([local, at, labels, tail]) => local + at + labels.join('.') + tail);
const piece = fc.oneof(numberLike, numberLike, keyLike, tokenLike, gatedLike, blob, corpusValue, addressLike, fc.constantFrom('@', 'a@b.co', 'user:pw@10.0.0.5', 'kind: Secret\ndata:\n  k: dmFsdWU=\n', '%40example.com'));
const separator = fc.constantFrom(' ', '\n', ', ', '=', ': ', '"', '\\"', '\t', '/', '', '-', '.', '_', 'x', '1', ' ssn ', ',', ';', '&', '?');
const text = fc.array(fc.tuple(separator, piece), { minLength: 1, maxLength: 12 }).map((parts) => parts.map(([s, p]) => s + p).join(''));

test('the optimised scanner finds exactly what the previous one found on look-alike-dense text', () => {
  fc.assert(
    fc.property(text, fc.constantFrom(undefined, 'note', 'password', 'ssn', 'aws_secret'), fc.nat(CONFS.length - 1), (t, key, c) => {
      const { now, before } = scanners[c]!;
      assert.deepEqual(now.scan(t, key), before.scan(t, key), JSON.stringify({ t, key, conf: CONFS[c] }));
    }),
    { numRuns: 3000, seed: Number(process.env['REDACT_PREVIOUS_SEED'] ?? 20261203) },
  );
});

// Card candidates as the card regex yields them (and odder ones): IINs of every scheme,
// 12-20 digits, bare or grouped by ' ' or '-' (mixed, doubled, leading, trailing), with the
// Luhn check digit fixed or not.
const iin = fc.constantFrom('4', '5', '50', '500000', '51', '55', '2221', '2720', '34', '37', '6011', '644', '65', '622126', '622925', '3528', '3589', '300', '36', '39', '62', '5018', '6763', '1', '0');
/** Digits cut into groups of the given sizes (the rest in a last group), joined by `sep`. */
function groupedBy(digits: string, sizes: number[], sep: string): string {
  const groups: string[] = [];
  let at = 0;
  for (const size of sizes) {
    if (at >= digits.length) break;
    groups.push(digits.slice(at, at + size));
    at += size;
  }
  if (at < digits.length) groups.push(digits.slice(at));
  return groups.join(sep);
}
const cardLike = fc
  .tuple(
    iin,
    fc.integer({ min: 12, max: 20 }),
    fc.array(fc.nat(9), { minLength: 20, maxLength: 20 }),
    fc.boolean(),
    fc.oneof(
      fc.constant({ sizes: [] as number[], sep: '' }),
      fc.record({ sizes: fc.array(fc.integer({ min: 2, max: 8 }), { minLength: 1, maxLength: 5 }), sep: fc.constantFrom(' ', '-', 'x', '.') }),
    ),
    fc.array(fc.tuple(fc.nat(24), fc.constantFrom(' ', '-', '--', ' -', 'x')), { maxLength: 2 }),
  )
  .map(([prefix, n, fill, fix, grouping, odd]) => {
    let digits = (prefix + fill.join('')).slice(0, n);
    if (fix) {
      // Set the last digit so that the Luhn sum is a multiple of 10.
      let sum = 0;
      for (let i = digits.length - 2, dbl = true; i >= 0; i--, dbl = !dbl) {
        let d = Number(digits[i]) * (dbl ? 2 : 1);
        if (d > 9) d -= 9;
        sum += d;
      }
      digits = digits.slice(0, -1) + String((10 - (sum % 10)) % 10);
    }
    let out = grouping.sizes.length === 0 ? digits : groupedBy(digits, grouping.sizes, grouping.sep);
    for (const [at, sep] of [...odd].sort((a, b) => b[0] - a[0])) out = out.slice(0, at) + sep + out.slice(at);
    return out;
  });

test('card candidates: the one-pass validator accepts exactly what the previous one accepted', () => {
  const grouped = ['4111 1111 1111 1111', '4111-1111-1111-1111', '3782 822463 10005', '4111 111 1111 11111', '4111 1111-1111 1111', '411 11111 1111 1111'];
  for (const m of grouped) assert.equal(CARD.validate!(m, 3, m, undefined), PREVIOUS_CARD.validate!(m, 3, m, undefined), m);
  let accepted = 0;
  fc.assert(
    fc.property(cardLike, (m) => {
      const now = CARD.validate!(m, 5, m, undefined);
      assert.equal(now, PREVIOUS_CARD.validate!(m, 5, m, undefined), m);
      if (now !== -1) accepted++;
    }),
    { numRuns: 20000, seed: Number(process.env['REDACT_PREVIOUS_SEED'] ?? 20261203) },
  );
  // The candidates reach acceptance, not only the early rejections.
  assert.ok(accepted > 500, `${accepted} accepted`);
});

// Prose without '_' or '-' (where the prefixed families are skipped unless one of their
// literal leads occurs) around the tokens that hold neither: JWTs, SendGrid keys, Slack
// webhooks, AWS session tokens and key ids, Google API keys, Twilio keys.
const alnum = (n: number): fc.Arbitrary<string> => fc.string({ unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'), minLength: n, maxLength: n });
const hex = (n: number): fc.Arbitrary<string> => fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: n, maxLength: n });
const bareToken = fc.oneof(
  fc.tuple(alnum(10), alnum(12), alnum(20)).map(([a, b, c]) => `eyJ${a}.eyJ${b}.${c}`),
  fc.tuple(alnum(22), alnum(43)).map(([a, b]) => `SG.${a}.${b}`),
  fc.tuple(alnum(9), alnum(9), alnum(24)).map(([a, b, c]) => `https://hooks.slack.com/services/${a}/${b}/${c}`),
  fc.tuple(fc.constantFrom('FwoGZXIvYXdz', 'IQoJb3JpZ2lu'), b64(40, 60)).map(([lead, body]) => lead + body),
  fc.tuple(fc.constantFrom('AKIA', 'ASIA'), fc.string({ unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'), minLength: 16, maxLength: 16 })).map(([lead, body]) => lead + body),
  alnum(35).map((body) => `AIza${body}`),
  hex(32).map((body) => `SK${body}`),
);
const proseWord = fc.constantFrom('the', 'key', 'is', 'Customer', 'token:', 'see', 'Friday.', 'workspaces;', 'value', '(new)', '42', 'for');
const proseWithToken = fc
  .tuple(fc.array(proseWord, { maxLength: 30 }), bareToken, fc.array(proseWord, { maxLength: 30 }))
  .map(([before, token, after]) => [...before, token, ...after].join(' '));

test('tokens whose lead holds no _ or - are found in prose that holds neither, short or long', () => {
  const { now, before } = scanners[0]!;
  fc.assert(
    fc.property(proseWithToken, (t) => {
      const found = now.scan(t);
      assert.deepEqual(found, before.scan(t), JSON.stringify(t));
      assert.ok(found.some((h) => h.detector === 'secret'), JSON.stringify(t));
    }),
    { numRuns: 2000, seed: Number(process.env['REDACT_PREVIOUS_SEED'] ?? 20261203) },
  );
});
