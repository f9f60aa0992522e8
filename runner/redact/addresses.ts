// Found from each '@' (and URL-encoded '%40') outwards, without a regex: e-mail addresses
// (also quoted local parts and URL-encoded ones) and passwords in URLs (`scheme://user:pw@host`
// whatever the host: an IP, a single label, a port). What an '@' also means and stays: git
// remotes (`git@github.com:org/repo`), user-only URLs (`postgres://app@db/x`), scoped npm
// packages (`@types/node@1.2.3`), image digests (`nginx@sha256:…`), asset names (`icon@2x.png`).

import { isAlnum } from './checks.js';
import type { Hit } from './pattern.js';

function isLocalChar(c: number): boolean {
  return isAlnum(c) || c === 46 || c === 95 || c === 37 || c === 43 || c === 45;
}
function isDomainChar(c: number): boolean {
  return isAlnum(c) || c === 45 || c === 46;
}
/** Characters of a URL's userinfo (RFC 3986 unreserved, sub-delims, pct-encoded, ':'). */
function isUserinfoChar(c: number): boolean {
  return c > 32 && c < 127 && c !== 47 && c !== 64 && c !== 63 && c !== 35 && c !== 34 && c !== 60 && c !== 62 && c !== 92 && c !== 96;
}

/** File extensions that follow '@2x' style asset names, not top-level domains. */
const NOT_TLDS = new Set(['png', 'jpg', 'jpeg', 'gif', 'svg', 'webp', 'ico', 'js', 'ts', 'css', 'json', 'yaml', 'yml', 'md', 'txt', 'zip', 'gz', 'tgz', 'html', 'map', 'lock', 'git']);

function isLetter(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}

/**
 * Whether text[from, to) (domain characters only: letters, digits, '-', '.') is a mail
 * domain: two labels or more, each of 1-63 characters not starting or ending with '-', a
 * letter in the first, a top-level domain of 2-24 letters that is not a file extension.
 * Read in place: no split, no regex (every address found is checked here).
 */
function domainValid(text: string, from: number, to: number): boolean {
  let labelStart = from;
  let labels = 0;
  let firstHasLetter = false;
  let tldLetters = true;
  for (let i = from; i <= to; i++) {
    const c = i < to ? text.charCodeAt(i) : 46;
    if (c !== 46) {
      if (labels === 0 && isLetter(c)) firstHasLetter = true;
      if (!isLetter(c)) tldLetters = false;
      continue;
    }
    const length = i - labelStart;
    if (length === 0 || length > 63 || text.charCodeAt(labelStart) === 45 || text.charCodeAt(i - 1) === 45) return false;
    labels++;
    if (i < to) {
      labelStart = i + 1;
      tldLetters = true;
    }
  }
  const tldLength = to - labelStart;
  if (labels < 2 || !firstHasLetter || !tldLetters || tldLength < 2 || tldLength > 24) return false;
  return !NOT_TLDS.has(text.slice(labelStart, to).toLowerCase());
}

/** When the '@' at `at` ends a URL's userinfo: [start, end) of its password, or 'user' / undefined. */
function urlUserinfo(text: string, at: number): [number, number] | 'user' | undefined {
  let s = at;
  while (s > 0 && at - s < 512 && isUserinfoChar(text.charCodeAt(s - 1))) s--;
  if (s < 3 || text.charCodeAt(s - 1) !== 47 || text.charCodeAt(s - 2) !== 47 || text.charCodeAt(s - 3) !== 58) return undefined;
  const colon = text.indexOf(':', s);
  if (colon === -1 || colon >= at - 1) return 'user';
  return [colon + 1, at];
}

export function scanAddresses(text: string, out: Hit[], emails: boolean, urls: boolean): void {
  let at = text.indexOf('@');
  while (at !== -1) {
    let next = at + 1;
    const cred = urlUserinfo(text, at);
    if (cred !== undefined) {
      if (cred !== 'user' && urls) out.push({ detector: 'secret', kind: 'url_password', start: cred[0], end: cred[1] });
    } else if (emails) {
      const end = emailAt(text, at, at + 1, out);
      if (end > next) next = end;
    }
    at = text.indexOf('@', next);
  }
  if (emails) {
    let enc = text.indexOf('%40');
    while (enc !== -1) {
      emailAt(text, enc, enc + 3, out);
      enc = text.indexOf('%40', enc + 3);
    }
  }
}

/** An e-mail whose '@' (or '%40') is at [at, after): pushes it and returns its end, or -1. */
function emailAt(text: string, at: number, after: number, out: Hit[]): number {
  let start = at;
  if (text.charCodeAt(at - 1) === 34 /* " */) {
    // Quoted local part: "jane doe"@example.com (also CSV-doubled: ""jane doe""@…)
    let close = at - 1;
    while (close > 0 && text.charCodeAt(close - 1) === 34) close--;
    const open = text.lastIndexOf('"', close - 1);
    if (open === -1 || at - open > 66 || text.slice(open, at).includes('\n')) return -1;
    start = open;
  } else {
    while (start > 0 && at - start < 65 && isLocalChar(text.charCodeAt(start - 1))) start--;
    if (start === at || (start > 0 && isLocalChar(text.charCodeAt(start - 1)))) return -1;
    // No dot at either end of the local part, no two in a row.
    if (text.charCodeAt(start) === 46 || text.charCodeAt(at - 1) === 46) return -1;
    for (let i = start + 1; i < at - 1; i++) if (text.charCodeAt(i) === 46 && text.charCodeAt(i + 1) === 46) return -1;
  }
  let end = after;
  while (end < text.length && end - after < 256 && isDomainChar(text.charCodeAt(end))) end++;
  while (end > after && (text.charCodeAt(end - 1) === 46 || text.charCodeAt(end - 1) === 45)) end--;
  // user@host:path is an scp-style git remote, not an address.
  if (text.charCodeAt(end) === 58 && /[A-Za-z0-9_~/]/.test(text[end + 1] ?? '')) return -1;
  if (!domainValid(text, after, end)) return -1;
  out.push({ detector: 'email', kind: 'email', start, end });
  return end;
}
