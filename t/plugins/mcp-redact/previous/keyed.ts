// Secrets found by the name they are given: `REDIS_PASSWORD=…`, `"db_password": "…"`,
// `password: …`, `--password …`, `aws configure set aws_secret_access_key …`,
// `Authorization: Token …`, `AccountKey=…;`, SAS `sig=…`, "your temporary password is …",
// and every value of a Kubernetes Secret's `data`. Found from anchor words (one
// case-insensitive scan), then the key around the anchor, its separator and its value are
// read by hand: compound names (`TWILIO_AUTH_TOKEN`) work, suffixes that name something else
// (`_FILE`, `_POLICY`, `_COUNT`, `passwordless`) do not count, placeholders stay.

import { isKeyChar, isPlaceholder } from '../../../../runner/redact/checks.js';
import type { Hit } from '../../../../runner/redact/pattern.js';

/** Name parts that make a key a secret's name, longest first (the last one in the key counts). */
const STEMS = [
  'authorization', 'credentials', 'credential', 'passphrase', 'encryptionkey', 'signingkey', 'privatekey', 'accountkey', 'accesskey',
  'sharedkey', 'masterkey', 'secretkey', 'password', 'passwort', 'passwd', 'secret', 'apikey', 'token', 'pwd', 'pass',
];
/** What may follow the stem in a secret's name: nothing, a number, or a word for "the value". */
const VALUE_TAILS = /^(?:\d*|value|val|plain|raw|str|string|b64|base64|hex)$/;

export function normaliseKeyName(key: string): string {
  let out = '';
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    if ((c >= 97 && c <= 122) || (c >= 48 && c <= 57)) out += key[i];
    else if (c >= 65 && c <= 90) out += String.fromCharCode(c + 32);
  }
  return out;
}

/** Whether a (normalised) key names a secret: `dbPassword`, `TWILIO_AUTH_TOKEN`, `x-api-key`. */
const STEM = new RegExp(STEMS.join('|'), 'g');

export function isSecretKeyName(norm: string): boolean {
  if (norm === 'sig' || norm === 'auth') return true;
  // The last stem in the key counts (`secretaccesskey`: accesskey; `passwordpolicy`: password).
  STEM.lastIndex = 0;
  let stem: RegExpExecArray | null = null;
  for (let m = STEM.exec(norm); m !== null; m = STEM.exec(norm)) stem = m;
  if (stem === null) return false;
  const stemEnd = stem.index + stem[0].length;
  if (stem[0] === 'pass' && (stemEnd !== norm.length || /(?:by|com|over|first|second)pass$/.test(norm))) return false;
  return VALUE_TAILS.test(norm.slice(stemEnd));
}

const NOT_A_VALUE = /^(?:true|false|null|nil|none|undefined|yes|no|on|off|required|optional|enabled|disabled|empty|string|hidden|masked|set|unset|n\/a|tbd|-)$/i;

/** A value that is a reference or template, not the secret itself. */
function isReference(v: string): boolean {
  const c = v.charCodeAt(0);
  if (c === 37 /* % */ && /^%(?:\(|\{|[A-Z_]+%)/.test(v)) return true;
  if (c === 36 /* $ */ || c === 60 /* < */ || c === 123 /* { */ || c === 91 /* [ */ || c === 64 /* @ */) return true;
  if (c === 47 /* / */ || v.startsWith('./') || v.startsWith('~/')) return true;
  return /^[a-z][a-z0-9+.-]{1,20}:\/\//i.test(v) || /^(?:vault|arn|secretsmanager|ssm|env|file|op|kms):/i.test(v);
}

/** Loose contexts (space or prose separator) need a value that looks like a password. */
function passwordLike(v: string): boolean {
  if (v.length < 6 || v.length > 256) return false;
  const letters = /[A-Za-z]/.test(v);
  return letters && (/\d/.test(v) || /[^A-Za-z0-9]/.test(v) || (/[a-z]/.test(v) && /[A-Z]/.test(v)));
}

/** Whether a whole string under a secret's name (a JSON value) is the secret. */
export function isSecretValue(v: string): boolean {
  const t = v.trim();
  return t.length >= 4 && !NOT_A_VALUE.test(t) && !isReference(t) && !isPlaceholder(t);
}

const PROSE = /^[ \t]+(?:(?:is|was|to|reset to|set to|changed to|now)[ \t]*:?[ \t]+)?/;
const AUTH_SCHEMES = /^(?:Bearer|Token|Basic|Digest|ApiKey|Api-Key|Key|SSWS|Splunk|Negotiate|HMAC|AWS4-HMAC-SHA256)[ \t]+/i;

/** Anchor words of secrets' names, searched in a lower-cased copy of the text. */
export const KEY_ANCHOR_WORDS: readonly string[] = ['pass', 'pwd', 'secret', 'token', 'key', 'credential', 'authoriz', 'sig='];

/**
 * The anchor word at [at, at + length) is inside a key: read the key, its separator and its
 * value; push the value. Returns where scanning may resume.
 */
export function keyedAt(text: string, at: number, length: number, out: Hit[]): number {
  let ks = at;
  while (ks > 0 && at - ks < 64 && isKeyChar(text.charCodeAt(ks - 1))) ks--;
  let ke = at + length;
  if (text.charCodeAt(ke - 1) === 61 /* = */) ke--;
  while (ke < text.length && ke - ks < 96 && isKeyChar(text.charCodeAt(ke))) ke++;
  // A key ending in '-' or '.' is a flag or a sentence: the name is what precedes it.
  let nameEnd = ke;
  while (nameEnd > ks && (text.charCodeAt(nameEnd - 1) === 46 || text.charCodeAt(nameEnd - 1) === 45)) nameEnd--;
  const norm = normaliseKeyName(text.slice(ks, nameEnd));
  if (!isSecretKeyName(norm)) return Math.max(ke, at + 1);
  const span = valueAfter(text, ks, nameEnd, norm);
  if (span === undefined) return Math.max(ke, at + 1);
  out.push({ detector: 'secret', kind: 'named_secret', start: span[0], end: span[1] });
  return Math.max(ke, span[1]);
}

/** [start, end) of the value the key at [ks, ke) is given, or undefined. */
function valueAfter(text: string, ks: number, ke: number, norm: string): [number, number] | undefined {
  let p = ke;
  // The key's own closing quote, plain or JSON-escaped.
  if (text[p] === '\\' && text[p + 1] === '"') p += 2;
  else if (text[p] === '"' && text[p + 1] === '"') p += 2;
  else if (text[p] === '"' || text[p] === "'") p++;
  let q = p;
  while (q < text.length && q - p < 4 && (text[q] === ' ' || text[q] === '\t')) q++;
  let strict = false;
  let loose = false;
  if (text[q] === ':' || text[q] === '=') {
    strict = true;
    q++;
    if (text[q] === '=' || text[q] === '>') q++;
    while (q < text.length && (text[q] === ' ' || text[q] === '\t')) q++;
  } else if (norm === 'sig') {
    return undefined;
  } else {
    const flag = ks > 0 && text[ks - 1] === '-';
    const cliSet = text.slice(Math.max(0, ks - 4), ks) === 'set ';
    const prose = PROSE.exec(text.slice(p, p + 24));
    if (prose === null || prose[0].length === 0) return undefined;
    q = p + prose[0].length;
    loose = !(flag || cliSet);
  }
  let vs = q;
  let ve: number;
  // A quoted value: plain, JSON-escaped (\"…\") or CSV-doubled (""…"").
  const quote =
    text[vs] === '\\' && text[vs + 1] === '"' ? '\\"' : text[vs] === '"' && text[vs + 1] === '"' && text[vs + 2] !== '"' && text[vs + 2] !== ',' ? '""' : text[vs] === '"' || text[vs] === "'" || text[vs] === '`' ? text[vs]! : undefined;
  if (quote !== undefined) {
    vs += quote.length;
    ve = text.indexOf(quote, vs);
    if (ve === -1 || ve - vs > 8192) return undefined;
    const nl = text.indexOf('\n', vs);
    if (nl !== -1 && nl < ve) return undefined;
  } else {
    ve = vs;
    const stopAtSemicolon = norm === 'accountkey' || norm.endsWith('sharedaccesskey');
    // In a query string ('?key=' or '&key=') '&' starts the next parameter; elsewhere it is
    // part of a password unless a `name=` follows it.
    const inQuery = ks > 0 && (text[ks - 1] === '?' || text[ks - 1] === '&');
    while (ve < text.length && ve - vs < 8192) {
      const c = text.charCodeAt(ve);
      // whitespace, quotes, separators of lists, query strings and markup end a bare value
      if (c <= 32 || c === 34 || c === 39 || c === 96 || c === 44 || c === 124 || c === 60 || c === 62 || c === 92) break;
      if (c === 38 && (inQuery || isKeyStart(text, ve + 1))) break;
      if (c === 59 && (stopAtSemicolon || ve + 1 >= text.length || text.charCodeAt(ve + 1) <= 32 || isKeyStart(text, ve + 1))) break;
      ve++;
    }
  }
  if (norm === 'authorization' || norm === 'auth') {
    const scheme = AUTH_SCHEMES.exec(text.slice(vs, ve + 40));
    if (scheme !== null) {
      vs += scheme[0].length;
      if (quote === undefined) {
        ve = vs;
        while (ve < text.length && text.charCodeAt(ve) > 32 && !`"'\\,;`.includes(text[ve]!)) ve++;
      }
    }
  }
  // Trailing sentence punctuation is not part of a bare value.
  while (quote === undefined && ve > vs && /[.)\]}:]/.test(text[ve - 1]!)) ve--;
  const value = text.slice(vs, ve);
  if (!isSecretValue(value)) return undefined;
  if (loose && !passwordLike(value)) return undefined;
  if (!strict && !loose && value.length < 6) return undefined;
  return [vs, ve];
}

/** `Key=` right after a `;` (connection strings): the value before it ends at the `;`. */
function isKeyStart(text: string, i: number): boolean {
  let j = i;
  while (j < text.length && j - i < 40 && /[A-Za-z0-9_]/.test(text[j]!)) j++;
  return j > i && text[j] === '=';
}

/** Every value under `data:` / `stringData:` of a Kubernetes Secret (YAML or JSON text). */
export function scanKubernetesSecret(text: string, out: Hit[]): void {
  if (!/kind\\?"?:\s*\\?"?Secret\b/.test(text)) return;
  const yamlBlock = /^([ \t]*)(?:data|stringData):[ \t]*\r?\n/gm;
  let m: RegExpExecArray | null;
  while ((m = yamlBlock.exec(text)) !== null) {
    const indent = m[1]!.length;
    let p = m.index + m[0].length;
    const entry = /^([ \t]+)[A-Za-z0-9_.-]+:[ \t]*("?)([^\r\n]*?)\2[ \t]*(?:\r?\n|$)/my;
    for (;;) {
      entry.lastIndex = p;
      const e = entry.exec(text);
      if (e === null || e[1]!.length <= indent) break;
      const value = e[3]!;
      if (value.length > 0) {
        let vs = text.indexOf(':', e.index + e[1]!.length) + 1;
        while (text[vs] === ' ' || text[vs] === '\t') vs++;
        vs += e[2]!.length;
        out.push({ detector: 'secret', kind: 'kubernetes_secret', start: vs, end: vs + value.length });
      }
      p = e.index + e[0].length;
    }
  }
  const jsonBlock = /(\\?)"(?:data|stringData)\1"\s*:\s*\{/g;
  while ((m = jsonBlock.exec(text)) !== null) {
    const q = m[1] === '\\' ? '\\"' : '"';
    const close = text.indexOf('}', m.index);
    if (close === -1) continue;
    const block = text.slice(m.index + m[0].length, close);
    const base = m.index + m[0].length;
    const pair = q === '"' ? /"[^"]*"\s*:\s*"([^"]*)"/g : /\\"[^"\\]*\\"\s*:\s*\\"([^"\\]*)\\"/g;
    let e: RegExpExecArray | null;
    while ((e = pair.exec(block)) !== null) {
      const value = e[1]!;
      if (value.length === 0) continue;
      const vs = base + e.index + e[0].length - value.length - q.length;
      out.push({ detector: 'secret', kind: 'kubernetes_secret', start: vs, end: vs + value.length });
    }
  }
}
