// Route matching the way lua-resty-radixtree does it for APISIX: exact paths first, then
// prefix paths (`/foo/*`, `/foo*`) from the longest prefix down; inside each candidate
// group by priority (higher first); a candidate must also match methods, hosts and `vars`
// (lua-resty-expr). No match → 404 {"error_msg":"404 Route Not Found"}.

import type { LoadedRoute } from './config.js';
import type { RequestState } from './state.js';
import { LUA_NULL, luaToNumber, lookupVar, type LuaValue } from './vars.js';

type Candidate = { route: LoadedRoute; exact: string | undefined; prefix: string | undefined };

/** Build once per setRoutes: one candidate per (route, uri). */
export function compileRoutes(routes: readonly LoadedRoute[]): Candidate[] {
  const out: Candidate[] = [];
  for (const route of routes) {
    const uris = route.conf.uris ?? (route.conf.uri !== undefined ? [route.conf.uri] : []);
    for (const uri of uris) {
      if (uri.endsWith('*')) out.push({ route, exact: undefined, prefix: uri.slice(0, -1) });
      else out.push({ route, exact: uri, prefix: undefined });
    }
  }
  const byPriority = (a: Candidate, b: Candidate): number =>
    (b.route.conf.priority ?? 0) - (a.route.conf.priority ?? 0) || a.route.order - b.route.order;
  const exact = out.filter((c) => c.exact !== undefined).sort(byPriority);
  const prefix = out
    .filter((c) => c.prefix !== undefined)
    .sort((a, b) => b.prefix!.length - a.prefix!.length || byPriority(a, b));
  return [...exact, ...prefix];
}

function hostMatches(route: LoadedRoute, host: string): boolean {
  const hosts = route.conf.hosts ?? (route.conf.host !== undefined ? [route.conf.host] : undefined);
  if (hosts === undefined) return true;
  return hosts.some((h) => {
    const want = h.toLowerCase();
    return want.startsWith('*.') ? host.endsWith(want.slice(1)) : host === want;
  });
}

/** Lua `==` between a ctx.var value and a config value (JSON/YAML decoded). */
function luaEquals(l: LuaValue, r: unknown): boolean {
  if (r === null) r = undefined; // compare_val turns ngx.null into nil
  if (l === LUA_NULL) return false;
  if (typeof l === 'object' || typeof r === 'object') return false; // tables: identity only
  return l === r;
}

function compare(l: LuaValue, op: string, r: unknown): boolean {
  switch (op) {
    case '==':
    case '~=': {
      let equal: boolean;
      if (typeof r === 'number') {
        const n = luaToNumber(l);
        equal = n !== undefined && n === r;
      } else equal = luaEquals(l, r);
      return op === '==' ? equal : !equal;
    }
    case '>': case '<': case '>=': case '<=': {
      const a = luaToNumber(l);
      const b = luaToNumber(r as LuaValue);
      if (a === undefined || b === undefined) return false;
      return op === '>' ? a > b : op === '<' ? a < b : op === '>=' ? a >= b : a <= b;
    }
    case '~~': case '~*': {
      const subject = typeof l === 'string' ? l : typeof l === 'number' ? String(l) : undefined;
      if (subject === undefined || typeof r !== 'string') return false;
      try {
        return new RegExp(r, op === '~*' ? 'i' : '').test(subject);
      } catch {
        return false;
      }
    }
    case 'in':
      return Array.isArray(r) && r.some((v) => luaEquals(l, v));
    case 'has':
      return Array.isArray(l) && l.some((v) => luaEquals(v, r));
    default:
      return false; // unknown operator (ipmatch is not emulated)
  }
}

/** lua-resty-expr eval: a list of rules ANDed, or a leading "OR"/"AND"/"!OR"/"!AND". */
export function evalExpr(expr: unknown[], state: RequestState): boolean {
  const head = expr[0];
  if (typeof head === 'string' && /^!?(AND|OR)$/.test(head)) {
    const subs = expr.slice(1) as unknown[][];
    const isOr = head.endsWith('OR');
    const result = isOr ? subs.some((e) => evalRuleOrExpr(e, state)) : subs.every((e) => evalRuleOrExpr(e, state));
    return head.startsWith('!') ? !result : result;
  }
  return expr.every((rule) => evalRuleOrExpr(rule as unknown[], state));
}

function evalRuleOrExpr(rule: unknown[], state: RequestState): boolean {
  if (!Array.isArray(rule)) return false;
  if (Array.isArray(rule[0]) || (typeof rule[0] === 'string' && /^!?(AND|OR)$/.test(rule[0]))) return evalExpr(rule, state);
  const [name, op1, ...rest] = rule as [string, string, ...unknown[]];
  const negate = op1 === '!';
  const op = negate ? (rest[0] as string) : op1;
  const value = negate ? rest[1] : rest[0];
  const result = compare(lookupVar(state, String(name)), op, value);
  return negate ? !result : result;
}

/** The matching route for the request, or undefined (→ 404). */
export function matchRoute(candidates: readonly Candidate[], state: Omit<RequestState, 'route'> & { route?: LoadedRoute }): LoadedRoute | undefined {
  const host = (state.headers.get('host') ?? '').replace(/:\d+$/, '').toLowerCase();
  for (const c of candidates) {
    if (c.exact !== undefined ? state.uri !== c.exact : !state.uri.startsWith(c.prefix!)) continue;
    const conf = c.route.conf;
    if (conf.status === 0) continue;
    if (conf.methods !== undefined && !conf.methods.includes(state.method)) continue;
    if (!hostMatches(c.route, host)) continue;
    if (conf.vars !== undefined) {
      // Vars may read route_id etc.; during matching the candidate is the route being tried.
      const probe = { ...state, route: c.route } as RequestState;
      const ok = evalExpr(conf.vars, probe);
      state.parsedBody = probe.parsedBody;
      if (!ok) continue;
    }
    return c.route;
  }
  return undefined;
}
