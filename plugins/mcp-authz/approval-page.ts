// The approval page the gateway serves itself (mcp-authz answers it in pre-req): GET shows who
// asks to run which tool with which (redacted) arguments and why; POST records approve or deny.
// The approver is authenticated with the route's identity sources (a bearer token, APISIX's
// consumer, trusted headers) or, for a plain browser, a sign-in form whose verified token is
// kept in an HttpOnly, SameSite=Strict cookie scoped to the page path. Only the requester
// or a holder of a role the policy names as approver may decide. Every POST carries a CSRF
// token bound to the approval and the approver, and a foreign Origin is refused.

import type { CallContext, HttpRequestView, Identity, StopOutcome } from '../../runner/host/plugin.js';
import type { TextEntry } from '../../runner/protocol/messages.js';
import type { CompiledPolicy } from '../../runner/policy/index.js';
import { establishIdentity } from './identity.js';
import type { Approval } from './approvals.js';
import { pageHtml, type PageView } from './approval-html.js';
import { callerKey, displayName } from './caller.js';
import { PLUGIN_NAME, type PreparedAuthz } from './prepare.js';

export const APPROVER_COOKIE = 'mcp_approver';
const ID_SHAPE = /^[A-Za-z0-9_-]{16,64}$/;

/** Is this request for the approval page (its path prefix)? */
export function isApprovalRequest(req: HttpRequestView, p: PreparedAuthz): boolean {
  const path = req.path.split('?')[0]!;
  return p.approvalPath !== undefined && path.startsWith(p.approvalPath + '/');
}

/** The page's absolute URL for an approval (configured public URL, else this request's origin). */
export function approvalUrl(req: HttpRequestView, p: PreparedAuthz, id: string): string {
  const base = p.approvalPublicUrl ?? originOf(req);
  return `${base}${p.approvalPath}/${id}`;
}

function originOf(req: HttpRequestView): string {
  const proto = req.header('x-forwarded-proto')?.split(',')[0]?.trim() || 'http';
  const host = req.header('x-forwarded-host')?.split(',')[0]?.trim() || req.header('host') || 'localhost';
  return `${proto}://${host}`;
}

/** The request as the identity sources see it, with the sign-in cookie as a bearer token. */
class CookieBearerView implements HttpRequestView {
  constructor(private readonly inner: HttpRequestView, private readonly token: string) {}
  get method(): string { return this.inner.method; }
  get path(): string { return this.inner.path; }
  get srcIp(): string | undefined { return this.inner.srcIp; }
  get headers(): readonly TextEntry[] { return this.inner.headers; }
  get args(): readonly TextEntry[] { return this.inner.args; }
  header(name: string): string | undefined {
    return name.toLowerCase() === 'authorization' ? `Bearer ${this.token}` : this.inner.header(name);
  }
  variable(name: string): Promise<string | undefined> { return this.inner.variable(name); }
  body(): Promise<Uint8Array | undefined> { return this.inner.body(); }
}

function cookie(req: HttpRequestView, name: string): string | undefined {
  for (const h of req.headers) {
    if (h.name !== 'cookie' || h.value === undefined) continue;
    for (const part of h.value.split(';')) {
      const eq = part.indexOf('=');
      if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
    }
  }
  return undefined;
}

async function approver(req: HttpRequestView, p: PreparedAuthz): Promise<Identity | undefined> {
  const direct = await establishIdentity(req, p.identity);
  if (direct.ok && direct.identity.source !== 'anonymous') return direct.identity;
  const token = cookie(req, APPROVER_COOKIE);
  if (token === undefined || !/^[A-Za-z0-9._~+/=-]+$/.test(token)) return undefined;
  const viaCookie = await establishIdentity(new CookieBearerView(req, token), p.identity);
  return viaCookie.ok && viaCookie.identity.source === 'jwt' ? viaCookie.identity : undefined;
}

/** May this identity decide this approval? The requester, or an approver role of the policy (same tenant). */
export function mayDecide(who: Identity, a: Approval, policy: CompiledPolicy | string): boolean {
  if (callerKey(who) === a.caller) return true;
  if (typeof policy === 'string' || policy.approverRoles.size === 0) return false;
  if (a.requesterTenant !== undefined && who.tenant !== a.requesterTenant) return false;
  return who.roles.some((r) => policy.approverRoles.has(r));
}

const SECURITY_HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-store',
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  // Not no-referrer: with it a browser posts the page's own forms with `Origin: null`, which
  // the Origin check must refuse. same-origin still sends nothing (the approval id) elsewhere.
  'referrer-policy': 'same-origin',
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
} as const;

function page(status: number, view: PageView, extraHeaders: Record<string, string> = {}): StopOutcome {
  return { action: 'stop', status, headers: { ...SECURITY_HEADERS, ...extraHeaders }, body: pageHtml(view) };
}

async function formOf(req: HttpRequestView): Promise<URLSearchParams | undefined> {
  const type = req.header('content-type') ?? '';
  if (!type.toLowerCase().startsWith('application/x-www-form-urlencoded')) return undefined;
  const bytes = await req.body();
  if (!bytes || bytes.length > 16_384) return undefined;
  return new URLSearchParams(new TextDecoder().decode(bytes));
}

/** A POST whose Origin (when the browser sent one) is not this page's own origin. */
function foreignOrigin(req: HttpRequestView, p: PreparedAuthz): boolean {
  const origin = req.header('origin');
  if (origin === undefined) return false;
  const own = p.approvalPublicUrl ?? originOf(req);
  try {
    return new URL(origin).host !== new URL(own).host;
  } catch {
    return true;
  }
}

/** A refused attempt on the page (bad Origin, CSRF, sign-in): an audit event of kind approval. */
function refusedOnPage(ctx: CallContext, id: string, rule: string, reason: string, who?: Identity): void {
  const detail: Record<string, string> = { channel: 'url', approval_id: id };
  if (who !== undefined) detail['approver'] = displayName(who);
  ctx.record({ plugin: PLUGIN_NAME, action: 'deny', rule, reason, detail });
}

/** Answer a request for the approval page. */
export async function serveApprovalPage(ctx: CallContext, p: PreparedAuthz, policy: CompiledPolicy | string): Promise<StopOutcome> {
  const req = ctx.request;
  const id = req.path.split('?')[0]!.slice(p.approvalPath!.length + 1);
  if (!ID_SHAPE.test(id)) return page(404, { kind: 'message', title: 'Not found', text: 'There is no such approval.' });
  if (req.method !== 'GET' && req.method !== 'POST') return page(405, { kind: 'message', title: 'Method not allowed', text: 'Use the approval page.' }, { allow: 'GET, POST' });
  const approval = await p.approvals.get(id);
  if (approval === undefined) return page(404, { kind: 'message', title: 'Approval expired', text: 'This approval request has expired or does not exist. Ask the client to make the call again.' });

  const form = req.method === 'POST' ? await formOf(req) : undefined;
  if (req.method === 'POST') {
    if (form === undefined) return page(400, { kind: 'message', title: 'Bad request', text: 'The form could not be read.' });
    if (foreignOrigin(req, p)) {
      refusedOnPage(ctx, id, 'approval-origin', 'the form was posted from another origin');
      return page(403, { kind: 'message', title: 'Refused', text: 'The form was sent from another site.' });
    }
  }

  // Sign-in: a pasted bearer token, verified, then kept in a cookie for the page path only.
  if (form !== undefined && form.get('action') === 'signin') {
    if (!p.confirm.checkMac(`signin|${id}`, form.get('csrf') ?? '')) {
      refusedOnPage(ctx, id, 'approval-csrf', 'the sign-in form carried no valid CSRF token');
      return page(403, { kind: 'message', title: 'Refused', text: 'The form has expired; reload the page.' });
    }
    const token = (form.get('token') ?? '').trim().replace(/^bearer\s+/i, '');
    const who = token === '' ? undefined : await establishIdentity(new CookieBearerView(req, token), p.identity);
    if (who === undefined || !who.ok || who.identity.source !== 'jwt') {
      refusedOnPage(ctx, id, 'approval-signin', 'the token given to sign in was not accepted');
      return page(401, { kind: 'signin', approval, csrf: p.confirm.mac(`signin|${id}`), error: 'That token was not accepted.' });
    }
    const secure = (p.approvalPublicUrl ?? originOf(req)).startsWith('https:') ? '; Secure' : '';
    return {
      action: 'stop',
      status: 303,
      headers: { location: `${p.approvalPath}/${id}`, 'set-cookie': `${APPROVER_COOKIE}=${token}; Path=${p.approvalPath}; HttpOnly; SameSite=Strict; Max-Age=${p.confirm.ttlSeconds}${secure}`, 'cache-control': 'no-store' },
      body: '',
    };
  }

  const who = await approver(req, p);
  if (who === undefined) return page(401, { kind: 'signin', approval, csrf: p.confirm.mac(`signin|${id}`) });
  if (!mayDecide(who, approval, policy)) {
    refusedOnPage(ctx, id, 'approval-not-permitted', 'approver is neither the requester nor holds an approver role', who);
    return page(403, { kind: 'message', title: 'Not permitted', text: 'Only the person who made the call, or an approver the policy names, can decide it.' });
  }
  const csrfText = `decide|${id}|${callerKey(who)}`;
  if (form === undefined) {
    if (approval.state !== 'pending') return page(200, { kind: 'decided', approval });
    return page(200, { kind: 'review', approval, approver: displayName(who), csrf: p.confirm.mac(csrfText) });
  }
  if (!p.confirm.checkMac(csrfText, form.get('csrf') ?? '')) {
    refusedOnPage(ctx, id, 'approval-csrf', 'the decision form carried no valid CSRF token', who);
    return page(403, { kind: 'message', title: 'Refused', text: 'The form has expired or was not sent from this page; reload it.' });
  }
  const choice = form.get('decision');
  if (choice !== 'approve' && choice !== 'deny') return page(400, { kind: 'message', title: 'Bad request', text: 'Choose approve or deny.' });
  const decided = await p.approvals.decide(id, choice === 'approve', displayName(who));
  if (decided === undefined) return page(409, { kind: 'decided', approval });
  ctx.identity = who;
  ctx.record({
    plugin: PLUGIN_NAME,
    action: choice === 'approve' ? 'approve' : 'refuse',
    rule: decided.rule,
    reason: choice === 'approve' ? 'approved on the approval page' : 'refused on the approval page',
    detail: { channel: 'url', approval_id: id, approver: displayName(who), requester: decided.requester, tool: decided.tool, server: decided.server },
  });
  return page(200, { kind: 'decided', approval: decided });
}
