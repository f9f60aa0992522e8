// APISIX ctx.var: the variables that route `vars` and ExtraInfo `Var` read. Values keep their
// Lua type (string, number, boolean, table, cjson.null) because lua-resty-expr compares them
// with Lua semantics; ExtraInfo answers use Lua's tostring().

import { randomBytes } from 'node:crypto';
import { cookieValue, parseArgs } from './uri.js';
import type { RequestState } from './state.js';

/** cjson.null (a lightuserdata): equal only to itself. */
export const LUA_NULL: unique symbol = Symbol('cjson.null');
export type LuaTable = { readonly luaTable: unknown };
export type LuaValue = string | number | boolean | typeof LUA_NULL | LuaTable | LuaValue[] | undefined;

/** A JSON object decoded by cjson: a Lua table. Arrays stay JS arrays (also tables in Lua). */
function toLua(v: unknown): LuaValue {
  if (v === null) return LUA_NULL;
  if (Array.isArray(v)) return v.map(toLua);
  if (typeof v === 'object') return { luaTable: v };
  return v as string | number | boolean;
}

/** LuaJIT number formatting (%.14g). */
export function luaNumberToString(n: number): string {
  if (Number.isNaN(n)) return n > 0 ? 'nan' : '-nan';
  if (!Number.isFinite(n)) return n > 0 ? 'inf' : '-inf';
  if (n === 0) return Object.is(n, -0) ? '-0' : '0';
  const [mant, expStr] = n.toExponential(13).split('e') as [string, string];
  const exp = Number(expStr);
  const strip = (s: string): string => (s.includes('.') ? s.replace(/0+$/, '').replace(/\.$/, '') : s);
  if (exp < -4 || exp >= 14) {
    const e = Math.abs(exp).toString().padStart(2, '0');
    return `${strip(mant)}e${exp < 0 ? '-' : '+'}${e}`;
  }
  return strip(n.toFixed(13 - exp));
}

const tableAddresses = new WeakMap<object, string>();
function tableAddress(t: object): string {
  let a = tableAddresses.get(t);
  if (a === undefined) {
    a = '0x' + randomBytes(5).toString('hex');
    tableAddresses.set(t, a);
  }
  return a;
}

/** Lua tostring() of a variable; undefined = nil (ExtraInfo answers without result). */
export function luaToString(v: LuaValue): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return luaNumberToString(v);
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (v === LUA_NULL) return 'userdata: NULL';
  return `table: ${tableAddress(v as object)}`;
}

/** Lua tonumber() for lua-resty-expr's numeric comparisons. */
export function luaToNumber(v: LuaValue): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v !== 'string') return undefined;
  const s = v.trim();
  if (s === '') return undefined;
  const n = /^[-+]?0[xX][0-9a-fA-F]+$/.test(s) ? parseInt(s, 16) : Number(s);
  return Number.isNaN(n) ? undefined : n;
}

/** cjson's decode_max_depth: deeper documents fail to decode (→ nil). */
const CJSON_MAX_DEPTH = 1000;

function tooDeep(text: string): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (inString) {
      if (ch === 0x5c) i++;
      else if (ch === 0x22) inString = false;
    } else if (ch === 0x22) inString = true;
    else if (ch === 0x5b || ch === 0x7b) {
      if (++depth > CJSON_MAX_DEPTH) return true;
    } else if (ch === 0x5d || ch === 0x7d) depth--;
  }
  return false;
}

/**
 * The parsed request body behind `post_arg.*` (APISIX >= 3.14): JSON bodies through cjson
 * (duplicate keys: last wins, like JSON.parse), url-encoded forms through get_post_args.
 * Any other content type, or a body that does not parse, gives nil.
 */
function parsedBody(state: RequestState): unknown {
  const contentType = state.headers.get('content-type');
  const cached = state.parsedBody;
  if (cached !== undefined && cached.body === state.body && cached.contentType === contentType) return cached.value;
  let value: unknown = undefined;
  if (state.body !== undefined && contentType !== undefined) {
    if (contentType.includes('json')) {
      try {
        const text = state.body.toString('utf8');
        value = tooDeep(text) ? undefined : JSON.parse(text);
      } catch {
        value = undefined;
      }
    } else if (contentType.includes('application/x-www-form-urlencoded')) {
      const form: Record<string, string | boolean | (string | boolean)[]> = {};
      for (const a of parseArgs(state.body.toString('utf8'))) {
        const v = a.value ?? true;
        const prev = form[a.name];
        form[a.name] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
      }
      value = form;
    }
  }
  state.parsedBody = { body: state.body, contentType, value };
  return value;
}

/** Walks `a.b.c` through Lua tables; numeric segments index arrays 1-based like Lua. */
function postArg(state: RequestState, path: string): LuaValue {
  let cur: unknown = parsedBody(state);
  for (const seg of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    if (Array.isArray(cur)) {
      const idx = /^[0-9]+$/.test(seg) ? Number(seg) : NaN;
      cur = Number.isInteger(idx) && idx >= 1 ? cur[idx - 1] : undefined;
    } else {
      cur = Object.prototype.hasOwnProperty.call(cur, seg) ? (cur as Record<string, unknown>)[seg] : undefined;
    }
    if (cur === undefined) return undefined;
  }
  return toLua(cur);
}

function firstArg(state: RequestState, name: string): LuaValue {
  const hit = parseArgs(state.query).find((a) => a.name === name);
  if (hit === undefined) return undefined;
  return hit.value ?? true;
}

/** ctx.var[name]. */
export function lookupVar(state: RequestState, name: string): LuaValue {
  switch (name) {
    case 'request_id': return state.requestId;
    case 'route_id': return state.route.id;
    case 'route_name': return state.route.conf.name;
    case 'remote_addr': return state.remoteAddr;
    case 'remote_port': return String(state.remotePort);
    case 'server_addr': return state.serverAddr;
    case 'server_port': return String(state.serverPort);
    case 'scheme': return state.scheme;
    case 'server_protocol': return 'HTTP/1.1';
    case 'request_method': return state.method;
    case 'uri': return state.uri;
    case 'request_uri': return state.requestUri;
    case 'args': case 'query_string': return state.query === '' ? undefined : state.query;
    case 'is_args': return state.query === '' ? '' : '?';
    case 'upstream_uri': return state.upstreamUri ?? '';
    case 'upstream_host': return state.upstreamHost;
    case 'consumer_name': return state.consumerName;
    case 'host': {
      const h = state.headers.get('host') ?? state.serverAddr;
      return h.replace(/:\d+$/, '').toLowerCase();
    }
    case 'content_type': return state.headers.get('content-type');
    case 'content_length': return state.headers.get('content-length');
    case 'request_body': return state.body?.toString('utf8');
  }
  if (name.startsWith('post_arg.')) return postArg(state, name.slice('post_arg.'.length));
  if (name.startsWith('http_')) return state.headers.get(name.slice(5).replace(/_/g, '-'));
  if (name.startsWith('arg_')) return firstArg(state, name.slice(4));
  if (name.startsWith('cookie_')) return cookieValue(state.headers.get('cookie'), name.slice(7));
  return undefined;
}
