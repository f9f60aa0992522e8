// Approvals of risky calls made outside the MCP client: the gateway's approval page (URL-mode
// elicitation, MCP 2025-11-25). A pending approval is bound like a confirmation token (caller,
// server, tool, sha256 of the canonical arguments) and expires; the approver decides on the
// page; the client's retry of the same call then passes once (approved) or is refused
// (denied). Per runner process and bounded: a full book refuses new approvals instead of
// forgetting live ones.

import { randomBytes } from 'node:crypto';
import { canonicalHash } from '../../runner/util/canonical.js';
import type { RunnerState } from '../../runner/host/state.js';
import type { JsonValue } from '../../runner/mcp/types.js';
import type { ConfirmBinding } from './confirm.js';

export type ApprovalState = 'pending' | 'approved' | 'denied' | 'used';

export interface Approval {
  /** Unguessable (128 bits): the elicitation id and the page's path segment. */
  readonly id: string;
  readonly bindingKey: string;
  readonly caller: string;
  /** Who asked, for the page and the audit (user, else subject, else app). */
  readonly requester: string;
  readonly requesterTenant: string | undefined;
  readonly server: string;
  readonly tool: string;
  /** The arguments as the page shows them: already redacted. */
  readonly shownArguments: JsonValue;
  readonly rule: string;
  readonly reason: string;
  readonly createdAt: number;
  readonly expiresAt: number;
  state: ApprovalState;
  decidedBy?: string | undefined;
  decidedAt?: number | undefined;
}

/** The key of one exact call: the same for a retry with the same arguments in any key order. */
export function bindingKey(b: ConfirmBinding): string {
  return `${b.caller}\n${b.server}\n${b.tool}\n${canonicalHash(b.args ?? {})}`;
}

export interface NewApproval {
  binding: ConfirmBinding;
  requester: string;
  requesterTenant: string | undefined;
  shownArguments: JsonValue;
  rule: string;
  reason: string;
  ttlSeconds: number;
}

export class ApprovalBook {
  private readonly byId = new Map<string, Approval>();
  /** The newest approval of each exact call. */
  private readonly byBinding = new Map<string, Approval>();

  constructor(public maxEntries: number, private readonly now: () => number = Date.now) {}

  /**
   * The approval a call should wait for: its undecided one when there is one (a client that
   * retries before the user decided gets the same page again), else a new one. Undefined when
   * the book is full of live approvals.
   */
  open(n: NewApproval): Approval | undefined {
    const key = bindingKey(n.binding);
    const now = this.now();
    const current = this.byBinding.get(key);
    if (current !== undefined && current.state === 'pending' && current.expiresAt > now) return current;
    if (this.byId.size >= this.maxEntries) this.sweep(now);
    if (this.byId.size >= this.maxEntries) return undefined;
    const a: Approval = {
      id: randomBytes(16).toString('base64url'),
      bindingKey: key,
      caller: n.binding.caller,
      requester: n.requester,
      requesterTenant: n.requesterTenant,
      server: n.binding.server,
      tool: n.binding.tool,
      shownArguments: n.shownArguments,
      rule: n.rule,
      reason: n.reason,
      createdAt: now,
      expiresAt: now + n.ttlSeconds * 1000,
      state: 'pending',
    };
    this.byId.set(a.id, a);
    this.byBinding.set(key, a);
    return a;
  }

  /** A live approval by id (expired ones are gone). */
  get(id: string): Approval | undefined {
    const a = this.byId.get(id);
    if (a === undefined) return undefined;
    if (a.expiresAt <= this.now()) {
      this.remove(a);
      return undefined;
    }
    return a;
  }

  /** Record the approver's decision; false when it was already decided or has expired. */
  decide(id: string, approve: boolean, by: string): Approval | undefined {
    const a = this.get(id);
    if (a === undefined || a.state !== 'pending') return undefined;
    a.state = approve ? 'approved' : 'denied';
    a.decidedBy = by;
    a.decidedAt = this.now();
    return a;
  }

  /**
   * What the retry of an exact call finds: an approval it uses up (once), a refusal it reports
   * (once), a pending one to wait for, or nothing.
   */
  settle(b: ConfirmBinding): { outcome: 'approved' | 'denied'; approval: Approval } | { outcome: 'pending'; approval: Approval } | undefined {
    const a = this.byBinding.get(bindingKey(b));
    if (a === undefined) return undefined;
    if (a.expiresAt <= this.now() || a.state === 'used') {
      this.remove(a);
      return undefined;
    }
    if (a.state === 'pending') return { outcome: 'pending', approval: a };
    const outcome = a.state;
    a.state = 'used';
    this.remove(a);
    return { outcome, approval: a };
  }

  get size(): number {
    return this.byId.size;
  }

  private remove(a: Approval): void {
    this.byId.delete(a.id);
    if (this.byBinding.get(a.bindingKey) === a) this.byBinding.delete(a.bindingKey);
  }

  private sweep(now: number): void {
    for (const a of this.byId.values()) if (a.expiresAt <= now || a.state === 'used') this.remove(a);
  }
}

/** This runner's approval book (created on first use, shared by every route). */
export function approvalBookOf(state: RunnerState, minEntries: number): ApprovalBook {
  const book = state.own('mcp-authz/approvals', () => new ApprovalBook(minEntries));
  if (book.maxEntries < minEntries) book.maxEntries = minEntries;
  return book;
}
