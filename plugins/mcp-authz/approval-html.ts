// The approval page's HTML: one self-contained document (inline style, no script, no external
// resource), every value escaped. What the approver sees: who asks, which tool on which
// server, the (already redacted) arguments, why approval is needed, and until when.

import type { Approval } from './approvals.js';

export type PageView =
  | { kind: 'review'; approval: Approval; approver: string; csrf: string }
  | { kind: 'signin'; approval: Approval; csrf: string; error?: string }
  | { kind: 'decided'; approval: Approval }
  | { kind: 'message'; title: string; text: string };

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

const STYLE = `
*{box-sizing:border-box}
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:#eef1f5;color:#1b2230;margin:0;padding:40px 20px}
main{max-width:680px;margin:0 auto;background:#fff;border:1px solid #d5dbe4;border-radius:12px;box-shadow:0 1px 2px rgba(16,24,40,.06),0 8px 24px rgba(16,24,40,.06);overflow:hidden}
header{display:flex;align-items:center;justify-content:space-between;padding:14px 32px;border-bottom:1px solid #e4e8ee;background:#f8fafc}
.brand{font-size:13px;font-weight:700;letter-spacing:.08em;text-transform:uppercase;color:#3b4658}
.pill{font-size:12px;font-weight:600;border-radius:999px;padding:3px 10px;background:#fff4e0;color:#8a5200;border:1px solid #f1cf94}
.pill.ok{background:#e7f6ec;color:#1d6b37;border-color:#a9dbb9}.pill.no{background:#fdecea;color:#9b2419;border-color:#f2b8b1}
section{padding:28px 32px 30px}
h1{font-size:22px;line-height:1.3;margin:0 0 6px}
.lead{color:#4d586b;margin:0 0 22px}
.tool{display:inline-block;font:600 15px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:#eef2ff;color:#2b3a8f;border:1px solid #cfd7fb;border-radius:6px;padding:2px 8px}
dl{display:grid;grid-template-columns:130px 1fr;align-items:baseline;gap:10px 18px;margin:0 0 24px;padding:16px 18px;border:1px solid #e4e8ee;border-radius:10px}
dt{color:#5b6577;font-size:14px}dd{margin:0;font-weight:600;overflow-wrap:anywhere}
h2{font-size:12px;font-weight:700;letter-spacing:.06em;text-transform:uppercase;color:#5b6577;margin:0 0 8px}
h2 .note{text-transform:none;letter-spacing:0;font-weight:500}
pre{background:#0f172a;color:#e2e8f0;border-radius:10px;padding:14px 16px;overflow:auto;font:13px/1.55 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;margin:0 0 24px;white-space:pre-wrap;overflow-wrap:anywhere}
.why{background:#fff8eb;border:1px solid #f1d39c;border-left:4px solid #d99a1e;border-radius:8px;padding:12px 16px;margin:0 0 26px}
.why p{margin:0}.rule{display:block;color:#6b5a33;font-size:13px;margin-top:4px}
.row{display:flex;gap:12px}
button{font:inherit;font-weight:600;border-radius:8px;padding:11px 26px;border:1px solid transparent;cursor:pointer}
.approve{background:#1d6b37;color:#fff}.approve:hover{background:#175a2e}
.deny{background:#fff;color:#9b2419;border-color:#d8a29c}.deny:hover{background:#fdf3f2}
label{font-weight:600}
input[type=password]{font:inherit;width:100%;padding:10px 12px;border:1px solid #b9c1ce;border-radius:8px;margin:6px 0 16px}
.err{color:#9b2419;font-weight:600}.verdict{font-size:17px;font-weight:700;margin:0 0 4px}.verdict.ok{color:#1d6b37}.verdict.no{color:#9b2419}
footer{color:#5b6577;font-size:13px;padding:14px 32px;border-top:1px solid #e4e8ee;background:#f8fafc}
`;

type Badge = { text: string; tone: '' | 'ok' | 'no' } | undefined;

function layout(title: string, inner: string, badge?: Badge, foot?: string): string {
  const pill = badge !== undefined ? `<span class="pill${badge.tone ? ' ' + badge.tone : ''}">${escapeHtml(badge.text)}</span>` : '';
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${escapeHtml(title)}</title><style>${STYLE}</style></head>` +
    `<body><main><header><span class="brand">MCP Gateway · Tool approval</span>${pill}</header><section>${inner}</section>${foot !== undefined ? `<footer>${foot}</footer>` : ''}</main></body></html>`;
}

function when(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
}

function facts(a: Approval): string {
  return `<dl><dt>Requested by</dt><dd>${escapeHtml(a.requester)}</dd><dt>Tool</dt><dd><span class="tool">${escapeHtml(a.tool)}</span></dd><dt>Server</dt><dd>${escapeHtml(a.server || '(route default)')}</dd><dt>Expires</dt><dd>${when(a.expiresAt)}</dd></dl>`;
}

function argumentsBlock(a: Approval): string {
  return `<h2>Arguments <span class="note">(sensitive values are masked)</span></h2><pre>${escapeHtml(JSON.stringify(a.shownArguments, null, 2))}</pre>`;
}

export function pageHtml(v: PageView): string {
  switch (v.kind) {
    case 'message':
      return layout(v.title, `<h1>${escapeHtml(v.title)}</h1><p class="lead">${escapeHtml(v.text)}</p>`);
    case 'signin':
      return layout('Sign in to review a tool call',
        `<h1>Sign in to review a tool call</h1><p class="lead">An AI agent asks to run <span class="tool">${escapeHtml(v.approval.tool)}</span>. Sign in as the user who made the call, or as an approver.</p>` +
        (v.error ? `<p class="err">${escapeHtml(v.error)}</p>` : '') +
        `<form method="post"><input type="hidden" name="action" value="signin"><input type="hidden" name="csrf" value="${escapeHtml(v.csrf)}">` +
        `<label for="token">Access token</label><input type="password" id="token" name="token" autocomplete="off" required><button class="approve" type="submit">Sign in</button></form>`,
        { text: 'Sign-in required', tone: '' }, 'The token is checked like any call to this gateway and kept in a cookie for this page only.');
    case 'decided': {
      const a = v.approval;
      const approved = a.state === 'approved' || (a.state === 'used' && a.decidedBy !== undefined && a.decidedAt !== undefined);
      const verdict = a.state === 'denied'
        ? '<p class="verdict no">Denied.</p><p class="lead">The call will be refused.</p>'
        : approved ? '<p class="verdict ok">Approved.</p><p class="lead">The client can retry the call now; it runs once.</p>' : '<p class="lead">This request is still open.</p>';
      const by = a.decidedBy !== undefined ? `Decided by ${escapeHtml(a.decidedBy)} at ${when(a.decidedAt ?? a.createdAt)}.` : undefined;
      const badge: Badge = a.state === 'denied' ? { text: 'Denied', tone: 'no' } : approved ? { text: 'Approved', tone: 'ok' } : { text: 'Awaiting decision', tone: '' };
      return layout('Tool call decision', `<h1>Tool call ${a.state === 'denied' ? 'denied' : approved ? 'approved' : 'pending'}</h1>${verdict}${facts(a)}`, badge, by);
    }
    case 'review': {
      const a = v.approval;
      return layout(`Approve ${a.tool}?`,
        `<h1>Approve this tool call?</h1><p class="lead">An AI agent acting for <b>${escapeHtml(a.requester)}</b> wants to run a tool that needs a person's approval.</p>` +
        facts(a) + argumentsBlock(a) +
        `<div class="why"><p><b>Why approval is needed:</b> ${escapeHtml(a.reason)}</p><span class="rule">Policy rule: ${escapeHtml(a.rule)}</span></div>` +
        `<form method="post" class="row"><input type="hidden" name="csrf" value="${escapeHtml(v.csrf)}">` +
        `<button class="approve" type="submit" name="decision" value="approve">Approve</button><button class="deny" type="submit" name="decision" value="deny">Deny</button></form>`,
        { text: 'Awaiting decision', tone: '' },
        `Signed in as ${escapeHtml(v.approver)}. Approving lets exactly this call, with these arguments, run once.`);
    }
  }
}
