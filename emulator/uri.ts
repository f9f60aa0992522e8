// nginx/OpenResty URI helpers: $uri normalisation, ngx.req.get_uri_args, ngx.encode_args,
// and APISIX's core.utils.uri_safe_encode (ngx_escape_uri in URI mode).

/** One query argument; value undefined = the arg had no '=' (Lua `true`). */
export interface Arg {
  name: string;
  value: string | undefined;
}

function percentDecodeBytes(s: string, plusIsSpace: boolean): string {
  const bytes: number[] = [];
  const src = Buffer.from(s, 'utf8');
  for (let i = 0; i < src.length; i++) {
    const b = src[i]!;
    if (b === 0x25 && i + 2 < src.length) {
      const hex = String.fromCharCode(src[i + 1]!, src[i + 2]!);
      if (/^[0-9a-fA-F]{2}$/.test(hex)) {
        bytes.push(parseInt(hex, 16));
        i += 2;
        continue;
      }
    }
    bytes.push(plusIsSpace && b === 0x2b ? 0x20 : b);
  }
  return Buffer.from(bytes).toString('utf8');
}

/** ngx.unescape_uri: %XX and '+' decode. */
export function unescapeUri(s: string): string {
  return percentDecodeBytes(s, true);
}

/** nginx $uri: percent-decoded, merged slashes, dot segments resolved. */
export function normalizeUri(rawPath: string): string {
  const decoded = percentDecodeBytes(rawPath, false);
  const out: string[] = [];
  const segments = decoded.split('/');
  for (let i = 1; i < segments.length; i++) {
    const seg = segments[i]!;
    const last = i === segments.length - 1;
    if (seg === '' && !last) continue; // merge_slashes
    if (seg === '.') {
      if (last) out.push('');
      continue;
    }
    if (seg === '..') {
      out.pop();
      if (last) out.push('');
      continue;
    }
    out.push(seg);
  }
  return '/' + out.join('/');
}

/** ngx.req.get_uri_args(0), flattened to one entry per value, in query order. */
export function parseArgs(query: string): Arg[] {
  const args: Arg[] = [];
  for (const part of query.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const name = unescapeUri(eq < 0 ? part : part.slice(0, eq));
    if (name === '') continue;
    args.push({ name, value: eq < 0 ? undefined : unescapeUri(part.slice(eq + 1)) });
  }
  return args;
}

const UNRESERVED = /[A-Za-z0-9\-_.~]/;

/** ngx.escape_uri (component mode, as used by ngx.encode_args). */
export function escapeComponent(s: string): string {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    const ch = String.fromCharCode(b);
    out += b < 0x80 && UNRESERVED.test(ch) ? ch : '%' + b.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

/** ngx.encode_args: name=value joined by '&'; a value-less arg is just its name. */
export function encodeArgs(args: readonly Arg[]): string {
  return args.map((a) => (a.value === undefined ? escapeComponent(a.name) : `${escapeComponent(a.name)}=${escapeComponent(a.value)}`)).join('&');
}

// Bytes ngx_escape_uri escapes in NGX_ESCAPE_URI mode (nginx >= 1.21.1 table): controls,
// space, '"', '#', '%', '<', '>', '?', '\', '^', '`', '{', '|', '}', DEL and every byte >= 0x80.
const URI_ESCAPED = new Set([0x20, 0x22, 0x23, 0x25, 0x3c, 0x3e, 0x3f, 0x5c, 0x5e, 0x60, 0x7b, 0x7c, 0x7d, 0x7f]);

/** APISIX core.utils.uri_safe_encode: used on Rewrite.path before it becomes $upstream_uri. */
export function uriSafeEncode(path: string): string {
  let out = '';
  for (const b of Buffer.from(path, 'utf8')) {
    if (b < 0x20 || b >= 0x7f || URI_ESCAPED.has(b)) out += '%' + b.toString(16).toUpperCase().padStart(2, '0');
    else out += String.fromCharCode(b);
  }
  return out;
}

/** Cookie header → first value per name (nginx $cookie_<name>). */
export function cookieValue(cookieHeader: string | undefined, name: string): string | undefined {
  if (cookieHeader === undefined) return undefined;
  for (const part of cookieHeader.split(/;\s*/)) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1);
  }
  return undefined;
}
