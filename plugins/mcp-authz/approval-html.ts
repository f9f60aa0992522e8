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
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;background:#f4f5f7;color:#1d2330;margin:0;padding:32px}
main{max-width:640px;margin:0 auto;background:#fff;border:1px solid #d9dde5;border-radius:10px;padding:28px 32px}
h1{font-size:21px;margin:0 0 4px}
.sub{color:#5b6475;margin:0 0 20px}
dl{display:grid;grid-template-columns:140px 1fr;gap:8px 16px;margin:0 0 20px}
dt{color:#5b6475}dd{margin:0;font-weight:600;word-break:break-all}
pre{background:#0f1729;color:#e6edf7;border-radius:8px;padding:14px 16px;overflow:auto;font-size:13px;margin:0 0 20px;white-space:pre-wrap;word-break:break-all}
.why{background:#fff7e6;border:1px solid #f3c77a;border-radius:8px;padding:10px 14px;margin:0 0 20px}
.row{display:flex;gap:12px}
button{font:inherit;font-weight:600;border-radius:8px;padding:10px 22px;border:1px solid transparent;cursor:pointer}
.approve{background:#1f7a3d;color:#fff}.deny{background:#fff;color:#a5281b;border-color:#a5281b}
input[type=password]{font:inherit;width:100%;box-sizing:border-box;padding:9px 10px;border:1px solid #b8bfcc;border-radius:8px;margin:6px 0 14px}
.err{color:#a5281b;font-weight:600}.ok{color:#1f7a3d;font-weight:600}.no{color:#a5281b;font-weight:600}
footer{color:#5b6475;font-size:13px;margin-top:18px}
`;

function layout(title: string, inner: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${escapeHtml(title)}</title><style>${STYLE}</style></head><body><main>${inner}</main></body></html>`;
}

function when(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
}

function facts(a: Approval): string {
  return `<dl><dt>Requested by</dt><dd>${escapeHtml(a.requester)}</dd><dt>Tool</dt><dd>${escapeHtml(a.tool)}</dd><dt>Server</dt><dd>${escapeHtml(a.server || '(route default)')}</dd><dt>Expires</dt><dd>${when(a.expiresAt)}</dd></dl>`;
}

function argumentsBlock(a: Approval): string {
  return `<p class="sub">Arguments (sensitive values are masked):</p><pre>${escapeHtml(JSON.stringify(a.shownArguments, null, 2))}</pre>`;
}

export function pageHtml(v: PageView): string {
  switch (v.kind) {
    case 'message':
      return layout(v.title, `<h1>${escapeHtml(v.title)}</h1><p>${escapeHtml(v.text)}</p>`);
    case 'signin':
      return layout('Sign in to review a tool call',
        `<h1>Sign in to review a tool call</h1><p class="sub">An AI agent asks to run <b>${escapeHtml(v.approval.tool)}</b>. Sign in as the user who made the call, or as an approver.</p>` +
        (v.error ? `<p class="err">${escapeHtml(v.error)}</p>` : '') +
        `<form method="post"><input type="hidden" name="action" value="signin"><input type="hidden" name="csrf" value="${escapeHtml(v.csrf)}">` +
        `<label for="token">Access token</label><input type="password" id="token" name="token" autocomplete="off" required><button class="approve" type="submit">Sign in</button></form>`);
    case 'decided': {
      const a = v.approval;
      const approved = a.state === 'approved' || (a.state === 'used' && a.decidedBy !== undefined && a.decidedAt !== undefined);
      const verdict = a.state === 'denied' ? '<p class="no">Denied.</p><p>The call will be refused.</p>' : approved ? '<p class="ok">Approved.</p><p>The client can retry the call now; it runs once.</p>' : '<p>This request is still open.</p>';
      const by = a.decidedBy !== undefined ? `<footer>Decided by ${escapeHtml(a.decidedBy)} at ${when(a.decidedAt ?? a.createdAt)}.</footer>` : '';
      return layout('Tool call decision', `<h1>Tool call ${a.state === 'denied' ? 'denied' : approved ? 'approved' : 'pending'}</h1>${facts(a)}${verdict}${by}`);
    }
    case 'review': {
      const a = v.approval;
      return layout(`Approve ${a.tool}?`,
        `<h1>Approve this tool call?</h1><p class="sub">An AI agent acting for ${escapeHtml(a.requester)} wants to run a tool that needs a person's approval.</p>` +
        facts(a) + argumentsBlock(a) +
        `<div class="why"><b>Why approval is needed:</b> ${escapeHtml(a.reason)} <span class="sub">(rule ${escapeHtml(a.rule)})</span></div>` +
        `<form method="post" class="row"><input type="hidden" name="csrf" value="${escapeHtml(v.csrf)}">` +
        `<button class="approve" type="submit" name="decision" value="approve">Approve</button><button class="deny" type="submit" name="decision" value="deny">Deny</button></form>` +
        `<footer>Signed in as ${escapeHtml(v.approver)}. Approving lets exactly this call, with these arguments, run once.</footer>`);
    }
  }
}
