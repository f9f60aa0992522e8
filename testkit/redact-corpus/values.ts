// Value makers for the tool-output corpus: sensitive values (what must be masked) and
// look-alikes (what must survive), each tagged with a category. Deterministic for a seed.
// The look-alikes are the hard cases real output is full of: documented placeholders,
// checksum failures, hashes, ids, coordinates, password-less DSNs, git remotes.

export type Category = 'card' | 'tax_id' | 'iban' | 'email' | 'phone' | 'token' | 'cloud' | 'private_key' | 'assignment' | 'url_credential';

export const CATEGORIES: readonly Category[] = ['card', 'tax_id', 'iban', 'email', 'phone', 'token', 'cloud', 'private_key', 'assignment', 'url_credential'];

/** mulberry32: small, fast, deterministic. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.next() * xs.length)]!;
  }
  chars(alphabet: string, n: number): string {
    let out = '';
    for (let i = 0; i < n; i++) out += alphabet[Math.floor(this.next() * alphabet.length)];
    return out;
  }
  digits(n: number): string {
    return this.chars('0123456789', n);
  }
}

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const UPPER_ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const LOWER_ALNUM = 'abcdefghijklmnopqrstuvwxyz0123456789';
const HEX = '0123456789abcdef';
const B64 = ALNUM + '+/';
const B64URL = ALNUM + '-_';

/**
 * One labelled value placed in a document. `text` is what the document holds; `secret` the
 * part that must not survive (for a sensitive value; often text itself, or the password of
 * a URL); for a look-alike, `text` must survive verbatim.
 */
export interface Item {
  category: Category;
  sensitive: boolean;
  text: string;
  secret: string;
  /** A field name that fits the value, for JSON/CSV/YAML/.env shapes. */
  key: string;
}

function luhnComplete(prefix: string, length: number, rng: Rng): string {
  let body = prefix + rng.digits(length - prefix.length - 1);
  for (let d = 0; d < 10; d++) {
    const candidate = body + d;
    let sum = 0;
    for (let i = 0; i < candidate.length; i++) {
      let n = candidate.charCodeAt(candidate.length - 1 - i) - 48;
      if (i % 2 === 1) {
        n *= 2;
        if (n > 9) n -= 9;
      }
      sum += n;
    }
    if (sum % 10 === 0) return candidate;
  }
  return body;
}

function ibanOf(country: string, bban: string): string {
  const rearranged = bban + country + '00';
  let rem = 0;
  for (const ch of rearranged) {
    const code = ch.charCodeAt(0);
    rem = code >= 65 ? (rem * 100 + code - 55) % 97 : (rem * 10 + code - 48) % 97;
  }
  const check = String(98 - rem).padStart(2, '0');
  return country + check + bban;
}

function group(s: string, size: number, sep: string): string {
  const out: string[] = [];
  for (let i = 0; i < s.length; i += size) out.push(s.slice(i, i + size));
  return out.join(sep);
}

const item = (category: Category, text: string, key: string, secret = text): Item => ({ category, sensitive: true, text, secret, key });
const look = (category: Category, text: string, key: string): Item => ({ category, sensitive: false, text, secret: text, key });

// ---------- sensitive values ----------

function card(rng: Rng): Item {
  const [prefix, len] = rng.pick<[string, number]>([['4', 16], ['51', 16], ['55', 16], ['2221', 16], ['34', 15], ['37', 15], ['6011', 16], ['3530', 16], ['4', 19]]);
  const digits = luhnComplete(prefix + rng.digits(Math.max(0, 6 - prefix.length)), len, rng);
  const form = rng.int(0, 3);
  const text = len === 15 && form > 0 ? `${digits.slice(0, 4)} ${digits.slice(4, 10)} ${digits.slice(10)}` : form === 1 ? group(digits, 4, ' ') : form === 2 && len === 16 ? group(digits, 4, '-') : digits;
  return item('card', text, rng.pick(['card_number', 'pan', 'cc', 'payment_card', 'cardNumber']));
}

function ssnDigits(rng: Rng): string {
  return `${rng.int(1, 665).toString().padStart(3, '0')}${rng.int(1, 99).toString().padStart(2, '0')}${rng.int(1, 9999).toString().padStart(4, '0')}`;
}

function sinDigits(rng: Rng): string {
  return luhnComplete(String(rng.pick([1, 2, 3, 4, 5, 6, 7, 9])), 9, rng);
}

function taxId(rng: Rng): Item {
  switch (rng.int(0, 7)) {
    case 0: {
      const d = ssnDigits(rng);
      return item('tax_id', `${d.slice(0, 3)}-${d.slice(3, 5)}-${d.slice(5)}`, 'ssn');
    }
    case 1: {
      const d = ssnDigits(rng);
      // Bare: only the context (key or label) says it is an SSN.
      return item('tax_id', d, rng.pick(['ssn', 'social_security_number', 'SSN']));
    }
    case 2: {
      const d = `${rng.pick(['12', '27', '45', '84', '91', '35'])}${rng.digits(7)}`;
      return item('tax_id', rng.next() < 0.5 ? `${d.slice(0, 2)}-${d.slice(2)}` : d, rng.pick(['ein', 'employer_id', 'EIN', 'fein']));
    }
    case 3: {
      const d = sinDigits(rng);
      return item('tax_id', rng.next() < 0.5 ? `${d.slice(0, 3)} ${d.slice(3, 6)} ${d.slice(6)}` : d, rng.pick(['sin', 'social_insurance_number', 'SIN']));
    }
    case 4:
    case 5: {
      const nino = `${rng.pick(['AB', 'JT', 'CE', 'PR', 'SZ', 'WL'])}${rng.digits(6)}${rng.pick(['A', 'B', 'C', 'D'])}`;
      const spaced = `${nino.slice(0, 2)} ${nino.slice(2, 4)} ${nino.slice(4, 6)} ${nino.slice(6, 8)} ${nino.slice(8)}`;
      const text = rng.pick([nino, nino.toLowerCase(), spaced]);
      return item('tax_id', text, rng.pick(['nino', 'ni_number', 'national_insurance']));
    }
    default: {
      const d = ssnDigits(rng);
      return item('tax_id', `${d.slice(0, 3)} ${d.slice(3, 5)} ${d.slice(5)}`, 'tax_id');
    }
  }
}

function iban(rng: Rng): Item {
  const [country, bban] = rng.pick<[string, () => string]>([
    ['DE', () => rng.digits(18)],
    ['GB', () => rng.pick(['NWBK', 'BARC', 'MIDL', 'LOYD']) + rng.digits(14)],
    ['FR', () => rng.digits(10) + rng.chars(UPPER_ALNUM, 11) + rng.digits(2)],
    ['NL', () => rng.pick(['ABNA', 'INGB', 'RABO']) + rng.digits(10)],
    ['ES', () => rng.digits(20)],
    ['IT', () => 'X' + rng.digits(10) + rng.chars(UPPER_ALNUM, 12)],
    ['CH', () => rng.digits(17)],
  ]);
  const value = ibanOf(country, bban());
  const form = rng.int(0, 3);
  const text = form === 1 ? group(value, 4, ' ') : form === 2 ? value.toLowerCase() : value;
  return item('iban', text, rng.pick(['iban', 'account', 'payout_account', 'bank_account']));
}

const FIRST = ['jane', 'john', 'maria', 'wei', 'olu', 'sven', 'priya', 'lucas', 'amelie', 'kenji', 'fatima', 'noah'];
const LAST = ['doe', 'smith', 'garcia', 'chen', 'adeyemi', 'larsen', 'patel', 'moreau', 'tanaka', 'haddad', 'kowalski'];
const DOMAINS = ['example.com', 'acme-corp.io', 'mail.contoso.net', 'fabrikam.co.uk', 'globex.de', 'initech.fr', 'umbrella.org', 'hooli.dev'];

function email(rng: Rng): Item {
  const local = `${rng.pick(FIRST)}${rng.pick(['.', '_', '', '-'])}${rng.pick(LAST)}${rng.next() < 0.4 ? rng.int(1, 99) : ''}`;
  const domain = rng.next() < 0.5 ? rng.pick(DOMAINS) : `${rng.chars('abcdefghijklmnopqrstuvwxyz', rng.int(4, 9))}.${rng.pick(['com', 'net', 'io', 'co', 'org'])}`;
  const key = rng.pick(['email', 'contact', 'owner', 'reporter', 'to', 'customer_email']);
  switch (rng.int(0, 5)) {
    case 0:
      return item('email', `${local}+${rng.pick(['billing', 'test', 'news'])}@${domain}`, key);
    case 1:
      return item('email', `${local}%40${domain}`, key);
    case 2:
      return item('email', `"${rng.pick(FIRST)} ${rng.pick(LAST)}"@${domain}`, key);
    case 3:
      return item('email', `${local.toUpperCase()}@${domain.toUpperCase()}`, key);
    default:
      return item('email', `${local}@${domain}`, key);
  }
}

function phone(rng: Rng): Item {
  const key = rng.pick(['phone', 'mobile', 'tel', 'contact_number', 'phone_number']);
  switch (rng.int(0, 10)) {
    case 0:
      return item('phone', `020 7946 0${rng.digits(3)}`, key);
    case 1:
      return item('phone', `07700 900${rng.digits(3)}`, key);
    case 2:
      return item('phone', `+44 20 7946 0${rng.digits(3)}`, key);
    case 3:
      return item('phone', `030 ${rng.int(2, 9)}${rng.digits(7)}`, key);
    case 4:
      return item('phone', `+49 ${rng.pick(['151', '160', '170', '176'])} ${rng.int(2, 9)}${rng.digits(7)}`, key);
    case 5:
      return item('phone', `0${rng.int(1, 5)} ${rng.digits(2)} ${rng.digits(2)} ${rng.digits(2)} ${rng.digits(2)}`, key);
    case 6:
      return item('phone', `+33 ${rng.int(1, 7)} ${rng.digits(2)} ${rng.digits(2)} ${rng.digits(2)} ${rng.digits(2)}`, key);
    case 7:
      return item('phone', `+91 ${rng.pick(['98', '97', '91', '88', '70'])}${rng.digits(3)} ${rng.digits(5)}`, key);
    case 8:
      return item('phone', `${rng.int(2, 9)}${rng.digits(2)} 555 01${rng.digits(2)}`, key);
    case 9:
      return item('phone', `(${rng.int(2, 9)}${rng.digits(2)}) 555-01${rng.digits(2)}`, key);
    default:
      return item('phone', `+1 ${rng.int(2, 9)}${rng.digits(2)}-555-01${rng.digits(2)}`, key);
  }
}

function jwt(rng: Rng, long: boolean): string {
  const header = Buffer.from(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid: rng.chars(HEX, 8) })).toString('base64url');
  const claims: Record<string, unknown> = { sub: rng.chars(LOWER_ALNUM, 12), iss: 'https://idp.example.net', exp: 1_900_000_000 + rng.int(0, 1e6) };
  if (long) claims['groups'] = Array.from({ length: 24 }, () => rng.chars(LOWER_ALNUM, 10));
  const payload = Buffer.from(JSON.stringify(claims)).toString('base64url');
  return `${header}.${payload}.${rng.chars(B64URL, long ? 342 : 43)}`;
}

function token(rng: Rng): Item {
  switch (rng.int(0, 17)) {
    case 0:
      return item('token', `ghp_${rng.chars(ALNUM, 36)}`, 'github_token');
    case 1:
      return item('token', `github_pat_${rng.chars(ALNUM, 22)}_${rng.chars(ALNUM, 59)}`, 'GH_TOKEN');
    case 2:
      return item('token', `xoxb-${rng.digits(12)}-${rng.digits(13)}-${rng.chars(ALNUM, 24)}`, 'slack_bot_token');
    case 3:
      return item('token', `xapp-1-A${rng.chars(UPPER_ALNUM, 10)}-${rng.digits(13)}-${rng.chars(HEX, 64)}`, 'SLACK_APP_TOKEN');
    case 4:
      return item('token', `sk_live_${rng.chars(ALNUM, 24)}`, 'stripe_key');
    case 5:
      return item('token', `whsec_${rng.chars(ALNUM, 32)}`, 'STRIPE_WEBHOOK_SECRET');
    case 6:
      return item('token', `sk-proj-${rng.chars(B64URL, 48)}T3BlbkFJ${rng.chars(B64URL, 48)}`, 'openai');
    case 7:
      return item('token', `sk-ant-api03-${rng.chars(B64URL, 93)}AA`, 'anthropic_key');
    case 8:
      return item('token', `SG.${rng.chars(B64URL, 22)}.${rng.chars(B64URL, 43)}`, 'sendgrid');
    case 9:
      return item('token', `hf_${rng.chars('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ', 34)}`, 'HF_TOKEN');
    case 10:
      return item('token', `npm_${rng.chars(ALNUM, 36)}`, 'NPM_TOKEN');
    case 11:
      return item('token', `AKIA${rng.chars('ABCDEFGHIJKLMNOPQRSTUVWXYZ234567', 16)}`, 'access_key_id');
    case 12:
      return item('token', `AIza${rng.chars(B64URL, 35)}`, 'google_api_key');
    case 13:
      return item('token', jwt(rng, rng.next() < 0.4), 'id_token');
    case 14:
      return item('token', `glpat-${rng.chars(B64URL, 20)}`, 'gitlab_token');
    case 15:
      return item('token', `rk_live_${rng.chars(ALNUM, 24)}`, 'restricted_key');
    case 16:
      return item('token', `sk-${rng.chars(ALNUM, 20)}T3BlbkFJ${rng.chars(ALNUM, 20)}`, 'OPENAI_KEY');
    default:
      return item('token', `SK${rng.chars(HEX, 32)}`, 'twilio_api_key');
  }
}

function awsSecret(rng: Rng): string {
  // Real secret access keys: 40 chars of base64 alphabet, nearly always with a '/' or '+'.
  let s = rng.chars(ALNUM, 40);
  const at = rng.int(3, 36);
  s = s.slice(0, at) + rng.pick(['/', '+']) + s.slice(at + 1);
  return s;
}

function cloud(rng: Rng): Item {
  switch (rng.int(0, 4)) {
    case 0:
    case 1:
      return item('cloud', awsSecret(rng), rng.pick(['aws_secret_access_key', 'SecretAccessKey', 'secret', 'value', 'Secret access key', 'key']));
    case 2: {
      const key = rng.chars(B64, 86) + '==';
      return item('cloud', `DefaultEndpointsProtocol=https;AccountName=${rng.chars('abcdefghijklmnopqrstuvwxyz', 10)};AccountKey=${key};EndpointSuffix=core.windows.net`, 'connection_string', key);
    }
    case 3: {
      const sig = encodeURIComponent(rng.chars(B64, 43) + '=');
      return item('cloud', `https://${rng.chars('abcdefghijklmnopqrstuvwxyz', 9)}.blob.core.windows.net/exports/report.csv?sv=2022-11-02&ss=b&srt=o&sp=r&se=2026-12-31T23:59:59Z&st=2026-01-01T00:00:00Z&spr=https&sig=${sig}`, 'download_url', sig);
    }
    default:
      return item('cloud', `FwoGZXIvYXdzE${rng.chars(B64, 300)}`, 'AWS_SESSION_TOKEN');
  }
}

function pemBody(rng: Rng, lines: number): string {
  return Array.from({ length: lines }, () => rng.chars(B64, 64)).join('\n');
}

function privateKey(rng: Rng): Item {
  const kind = rng.int(0, 3);
  if (kind === 3) {
    const body = pemBody(rng, 6);
    return item('private_key', `-----BEGIN PGP PRIVATE KEY BLOCK-----\n\n${body}\n=${rng.chars(B64, 4)}\n-----END PGP PRIVATE KEY BLOCK-----`, 'signing_key', body);
  }
  const label = ['RSA PRIVATE KEY', 'PRIVATE KEY', 'EC PRIVATE KEY', 'OPENSSH PRIVATE KEY'][kind]!;
  const body = pemBody(rng, rng.int(3, 8));
  return item('private_key', `-----BEGIN ${label}-----\n${body}\n-----END ${label}-----`, 'private_key', body);
}

/** A password that people actually use: mixed, sometimes with symbols, sometimes words. */
export function password(rng: Rng): string {
  switch (rng.int(0, 4)) {
    case 0:
      return rng.chars(ALNUM, rng.int(12, 24));
    case 1:
      return `${rng.pick(['Summer', 'Winter', 'Tr0ub4dor', 'Correct', 'Blue', 'Maple'])}${rng.pick(['!', '#', '&', '$', '@', '_'])}${rng.digits(rng.int(2, 4))}`;
    case 2:
      return rng.chars(ALNUM + '!#%^*-_', rng.int(16, 32));
    case 3:
      return `${rng.pick(['sunflower', 'riverstone', 'quietharbor', 'bluemeadow'])}${rng.pick(['Lamp', 'Fox', 'Rain'])}${rng.int(10, 99)}`;
    default:
      return rng.chars(HEX, 32);
  }
}

/** Assignments: the whole "KEY=value" text, the value is the secret. */
function assignment(rng: Rng): Item {
  const value = password(rng);
  const key = rng.pick([
    'REDIS_PASSWORD', 'POSTGRES_PASSWORD', 'PGPASSWORD', 'DB_PASSWORD', 'SMTP_PASS', 'MYSQL_ROOT_PASSWORD', 'OPENAI_API_KEY', 'X_API_KEY',
    'TWILIO_AUTH_TOKEN', 'DATADOG_API_KEY', 'admin_password', 'dbPassword', 'smtp_password', 'api_secret', 'client_secret', 'pass',
    'JWT_SIGNING_SECRET', 'encryption_key', 'webhook_secret', 'app_secret',
  ]);
  switch (rng.int(0, 9)) {
    case 0:
      return item('assignment', `${key}=${value}`, key, value);
    case 1:
      return item('assignment', `${key}: ${value}`, key, value);
    case 2:
      return item('assignment', `"${key}": "${value}"`, key, value);
    case 3:
      return item('assignment', `export ${key}="${value}"`, key, value);
    case 4:
      return item('assignment', `aws configure set aws_secret_access_key ${awsSecretValue(rng, value)}`, 'cmd', awsSecretValue(rng, value));
    case 5:
      return item('assignment', `Authorization: ${rng.pick(['Token', 'Bearer'])} ${rng.chars(HEX, 40)}`, 'header', '');
    case 6:
      return item('assignment', `${rng.pick(['Your temporary password is', 'The new password is', 'password reset to', 'use the passphrase'])} ${value}`, 'note', value);
    case 7:
      return item('assignment', rng.pick([`mysql -u root --password=${value} orders`, `pg_dump --password ${value} -h db`, `redis-cli -h cache -a ${value} ping`, `curl -u admin:${value} https://nexus/api`]), 'cmd', value);
    case 8:
      return item('assignment', `pass=${value}`, 'pass', value);
    default:
      return item('assignment', `${key} = '${value}'`, key, value);
  }
}

const AWS_SECRET_MEMO = new WeakMap<Rng, Map<string, string>>();
function awsSecretValue(rng: Rng, seedValue: string): string {
  let m = AWS_SECRET_MEMO.get(rng);
  if (!m) AWS_SECRET_MEMO.set(rng, (m = new Map()));
  let v = m.get(seedValue);
  if (!v) m.set(seedValue, (v = awsSecret(rng)));
  return v;
}

function urlCredential(rng: Rng): Item {
  const pw = password(rng).replace(/[@/:#?%^]/g, 'x');
  const user = rng.pick(['admin', 'app', 'svc_etl', 'deploy', 'root', 'guest', 'readonly']);
  const host = rng.pick([`10.${rng.int(0, 255)}.${rng.int(0, 255)}.${rng.int(1, 254)}`, 'nexus:8081', 'db', 'redis', `db-${rng.int(1, 9)}.internal`, 'rabbitmq:5672', 'localhost:5432', 'pg.prod.example.net']);
  const scheme = rng.pick(['postgres', 'postgresql', 'mysql', 'redis', 'amqp', 'mongodb', 'https', 'ftp']);
  const path = rng.pick(['/app', '/0', '', '/orders?sslmode=require', '/repository/maven-releases/']);
  const userPart = scheme === 'redis' && rng.next() < 0.4 ? '' : user;
  return item('url_credential', `${scheme}://${userPart}:${pw}@${host}${path}`, rng.pick(['DATABASE_URL', 'url', 'dsn', 'broker_url', 'REDIS_URL']), pw);
}

// ---------- look-alikes ----------

function cardLook(rng: Rng): Item {
  const d = luhnComplete('4' + rng.digits(5), 16, rng);
  switch (rng.int(0, 5)) {
    case 0: {
      const last = (Number(d[15]) + 1) % 10;
      return look('card', group(d.slice(0, 15) + last, 4, ' '), 'card_number');
    }
    case 1:
      return look('card', String(1_600_000_000_000 + rng.int(0, 1e11)), 'timestamp_ms');
    case 2:
      return look('card', `ORD-${rng.digits(4)}-${rng.digits(4)}-${rng.digits(4)}`, 'order_id');
    case 3:
      return look('card', `1Z${rng.chars(UPPER_ALNUM, 16)}`, 'tracking');
    case 4:
      return look('card', luhnComplete('99' + rng.digits(4), 16, rng), 'account_ref');
    default:
      return look('card', `${rng.int(1, 9)}.${rng.digits(15)}`, 'ratio');
  }
}

function taxLook(rng: Rng): Item {
  switch (rng.int(0, 5)) {
    case 0:
      return look('tax_id', `${rng.pick(['000', '666', '912'])}-${rng.digits(2)}-${rng.digits(4)}`, 'ref');
    case 1:
      return look('tax_id', `${rng.int(1, 9)}${rng.digits(8)}`, rng.pick(['order_id', 'invoice', 'row_id', 'build']));
    case 2:
      return look('tax_id', `${rng.pick(['2024', '2025'])}-${rng.int(10, 12)}-${rng.int(10, 28)}`, 'date');
    case 3:
      return look('tax_id', `${rng.pick(['BG', 'GB', 'NK', 'TN', 'ZZ'])}${rng.digits(6)}A`, 'ref');
    case 4:
      return look('tax_id', `${rng.int(10000, 99999)}-${rng.digits(4)}`, 'zip');
    default:
      return look('tax_id', `v${rng.int(1, 9)}.${rng.int(0, 30)}.${rng.int(0, 99)}-build.${rng.digits(6)}`, 'version');
  }
}

function ibanLook(rng: Rng): Item {
  const real = ibanOf('DE', rng.digits(18));
  switch (rng.int(0, 3)) {
    case 0:
      return look('iban', real.slice(0, 2) + String((Number(real.slice(2, 4)) + 1) % 100).padStart(2, '0') + real.slice(4), 'iban');
    case 1:
      return look('iban', `${rng.pick(['SKU', 'INV', 'REQ'])}${rng.digits(2)}${rng.chars(UPPER_ALNUM, 14)}`, 'sku');
    case 2:
      // A card-valid digit run inside an IBAN-shaped, checksum-failing string.
      return look('iban', `GB${rng.digits(2)}ZZZZ${luhnComplete('4111', 16, rng)}`, 'ref');
    default:
      return look('iban', `${rng.chars('ABCDEFGHIJKLMNOPQRSTUVWXYZ', 2)}${rng.digits(2)}-${rng.chars(UPPER_ALNUM, 6)}`, 'code');
  }
}

function emailLook(rng: Rng): Item {
  switch (rng.int(0, 6)) {
    case 0:
      return look('email', `git@github.com:${rng.pick(['acme', 'org', 'platform'])}/${rng.pick(['api', 'infra', 'web'])}.git`, 'remote');
    case 1:
      return look('email', `postgres://app@db.internal/${rng.pick(['app', 'orders'])}`, 'dsn');
    case 2:
      return look('email', `@${rng.pick(['types', 'babel', 'aws-sdk'])}/${rng.pick(['node', 'core', 'client-s3'])}@${rng.int(1, 20)}.${rng.int(0, 9)}.${rng.int(0, 9)}`, 'dependency');
    case 3:
      return look('email', `icon@${rng.int(2, 3)}x.png`, 'asset');
    case 4:
      return look('email', `ssh://git@gitlab.${rng.pick(['internal', 'corp'])}:2222/team/repo.git`, 'remote');
    case 5:
      return look('email', `user@localhost`, 'user');
    default:
      return look('email', `nginx@sha256:${rng.chars(HEX, 64)}`, 'image');
  }
}

function phoneLook(rng: Rng): Item {
  switch (rng.int(0, 7)) {
    case 0:
      return look('phone', `${rng.pick(['+', '-'])}${rng.int(10, 60)}.${rng.digits(4)}${rng.pick(['+', '-'])}${rng.int(100, 170)}.${rng.digits(4)}/`, 'location');
    case 1:
      return look('phone', `10.${rng.int(0, 255)}.${rng.int(0, 255)}.${rng.int(0, 255)}`, 'ip');
    case 2:
      return look('phone', `${rng.pick(['2024', '2025'])}-${rng.int(10, 12)}-${rng.int(10, 28)} ${rng.int(10, 23)}:${rng.int(10, 59)}:${rng.int(10, 59)}`, 'ts');
    case 3:
      return look('phone', `${rng.int(1, 9)}.${rng.int(0, 40)}.${rng.int(0, 200)}`, 'version');
    case 4:
      return look('phone', `${rng.int(100, 999)} ${rng.int(100, 999)} ${rng.int(100, 999)} bytes`, 'size');
    case 5:
      return look('phone', `${rng.int(1, 9)}${rng.digits(2)}ms ${rng.int(1, 9)}${rng.digits(2)}ms ${rng.int(1, 9)}${rng.digits(2)}ms`, 'latencies');
    case 6:
      return look('phone', `#${rng.int(1000, 99999)}`, 'pr');
    default:
      return look('phone', `${rng.int(1, 9)}${rng.digits(3)} ${rng.digits(4)} ${rng.digits(4)}`, 'reference');
  }
}

function tokenLook(rng: Rng): Item {
  switch (rng.int(0, 13)) {
    case 0:
      return look('token', 'AKIAIOSFODNN7EXAMPLE', 'access_key_id');
    case 1:
      return look('token', rng.pick(['xoxb-your-token-here', 'xoxb-XXXXXXXXXXXX-XXXXXXXXXXXXX-XXXXXXXXXXXXXXXXXXXXXXXX', 'xoxp-your-token']), 'slack_token');
    case 2:
      return look('token', rng.pick(['sk_test_4eC39HqLyjWDarjtT1zdp7dc', 'sk_test_BQokikJOvBiI2HlWgH4olfQ2', 'pk_test_TYooMQauvdEDq54NiTphI7jx']), 'stripe_key');
    case 3:
      return look('token', `ghp_${'x'.repeat(36)}`, 'GITHUB_TOKEN');
    case 4:
      return look('token', rng.chars(HEX, 40), rng.pick(['commit', 'sha', 'revision']));
    case 5:
      return look('token', `sha256:${rng.chars(HEX, 64)}`, 'digest');
    case 6:
      return look('token', `${rng.chars(HEX, 8)}-${rng.chars(HEX, 4)}-4${rng.chars(HEX, 3)}-a${rng.chars(HEX, 3)}-${rng.chars(HEX, 12)}`, 'request_id');
    case 7:
      return look('token', rng.pick(['sk-proj-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx', 'sk-ant-api03-XXXXXXXXXXXXXXXX', '<YOUR_OPENAI_API_KEY>', 'hf_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx']), 'api_key_example');
    case 8:
      return look('token', `npm_package_${rng.pick(['version', 'name', 'config_port'])}`, 'env');
    case 9:
      return look('token', `ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI${rng.chars(B64, 43)} ${rng.pick(FIRST)}@laptop`, 'authorized_key');
    case 10:
      return look('token', `SG.example.${'x'.repeat(20)}`, 'placeholder');
    case 11:
      return look('token', `sk-${rng.pick(['learn', 'classifier', 'image'])}-${rng.pick(['v2', 'base', 'large'])}`, 'model');
    case 12:
      return look('token', `whsec_...`, 'secret_hint');
    default:
      return look('token', `eyJhbGciOiJub25lIn0`, 'header_only');
  }
}

function cloudLook(rng: Rng): Item {
  switch (rng.int(0, 5)) {
    case 0:
      return look('cloud', 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', 'aws_secret_access_key');
    case 1:
      return look('cloud', `DefaultEndpointsProtocol=https;AccountName=${rng.chars('abcdefghijklmnopqrstuvwxyz', 8)};EndpointSuffix=core.windows.net`, 'connection_string');
    case 2:
      return look('cloud', `https://${rng.chars('abcdefghijklmnopqrstuvwxyz', 8)}.blob.core.windows.net/public/logo.png`, 'url');
    case 3:
      return look('cloud', rng.chars(HEX, 40), 'etag');
    case 4:
      return look('cloud', `arn:aws:iam::${rng.digits(12)}:role/${rng.pick(['deploy', 'reader', 'lambda-exec'])}`, 'role_arn');
    default:
      return look('cloud', `UseDevelopmentStorage=true`, 'storage');
  }
}

function privateKeyLook(rng: Rng): Item {
  switch (rng.int(0, 2)) {
    case 0:
      return look('private_key', `-----BEGIN PUBLIC KEY-----\n${pemBody(rng, 4)}\n-----END PUBLIC KEY-----`, 'public_key');
    case 1:
      return look('private_key', `-----BEGIN CERTIFICATE-----\n${pemBody(rng, 5)}\n-----END CERTIFICATE-----`, 'certificate');
    default:
      return look('private_key', `-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n${pemBody(rng, 3)}\n-----END PGP PUBLIC KEY BLOCK-----`, 'pgp_public');
  }
}

function assignmentLook(rng: Rng): Item {
  return look(
    'assignment',
    rng.pick([
      'password: ********',
      'DB_PASSWORD=${DB_PASSWORD}',
      'password=<redacted>',
      '"password": null',
      'password_policy: strong',
      'token_count: 48213',
      `REDIS_PASSWORD_FILE=/run/secrets/redis`,
      'PGPASSWORD=$(cat /run/secrets/pg)',
      'passwordless: true',
      'secret_ref: vault://kv/app/db',
      'api_key: YOUR_API_KEY_HERE',
      'password reset link sent',
      'pass=true',
      `max_tokens: ${rng.int(100, 8000)}`,
      'Authorization: Bearer <token>',
      'password: {{ .Values.db.password }}',
      'secret: ${{ secrets.NPM_TOKEN }}',
    ]),
    'note',
  );
}

function urlLook(rng: Rng): Item {
  return look(
    'url_credential',
    rng.pick([
      `postgres://app@db-${rng.int(1, 9)}.internal:5432/app`,
      'redis://redis:6379/0',
      `https://registry.npmjs.org/@scope%2fpkg`,
      'mongodb+srv://cluster0.abcde.mongodb.net/?retryWrites=true&w=majority',
      `http://10.0.${rng.int(0, 9)}.${rng.int(1, 99)}:8080/healthz`,
      'amqp://rabbitmq:5672/vhost',
      `https://example.com/login?next=/home&user=${rng.pick(FIRST)}`,
      'http://[::1]:3000/api',
      `mysql://${rng.pick(['app', 'report'])}@10.1.2.3:3306/db`,
    ]),
    'url',
  );
}

const SENSITIVE: Record<Category, (rng: Rng) => Item> = {
  card, tax_id: taxId, iban, email, phone, token, cloud, private_key: privateKey, assignment, url_credential: urlCredential,
};
const LOOKALIKE: Record<Category, (rng: Rng) => Item> = {
  card: cardLook, tax_id: taxLook, iban: ibanLook, email: emailLook, phone: phoneLook, token: tokenLook, cloud: cloudLook,
  private_key: privateKeyLook, assignment: assignmentLook, url_credential: urlLook,
};

export function makeItem(rng: Rng, category: Category, sensitive: boolean): Item {
  const it = (sensitive ? SENSITIVE : LOOKALIKE)[category](rng);
  // The Authorization header case: the secret is the part after the scheme.
  if (it.secret === '') it.secret = it.text.slice(it.text.lastIndexOf(' ') + 1);
  return it;
}
