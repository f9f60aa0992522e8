// Approvals of risky calls made outside the MCP client: the gateway's approval page (URL-mode
// elicitation, MCP 2025-11-25). A pending approval is bound like a confirmation token (caller,
// server, tool, sha256 of the canonical arguments) and expires; the approver decides on the
// page; the client's retry of the same call then passes once (approved) or is refused
// (denied). Kept in the runner's shared state (every runner process sees the same book) and
// bounded: a full book refuses new approvals instead of forgetting live ones.

import { randomBytes } from 'node:crypto';
import { canonicalHash } from '../../runner/util/canonical.js';
import type { RunnerState } from '../../runner/host/state.js';
import { LocalSharedState, type SharedState } from '../../runner/cluster/shared-state.js';
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

/** Approvals by id, the newest approval id of each exact call, and single-use claims on them. */
const APPROVALS_NS = 'mcp-authz/approvals';
const CALLS_NS = 'mcp-authz/approval-calls';
const CLAIMS_NS = 'mcp-authz/approval-claims';

/**
 * The approval book, kept in the runner's shared state: the page may be served by one runner
 * process and the client's retry by another. Deciding and using up are claims (first one wins
 * across every process); entries expire with their approval.
 */
export class ApprovalBook {
  private readonly shared: SharedState;

  constructor(public maxEntries: number, private readonly now: () => number = Date.now, shared?: SharedState) {
    this.shared = shared ?? new LocalSharedState(now);
  }

  /**
   * The approval a call should wait for: its undecided one when there is one (a client that
   * retries before the user decided gets the same page again), else a new one. Undefined when
   * the book is full of live approvals.
   */
  async open(n: NewApproval): Promise<Approval | undefined> {
    const key = bindingKey(n.binding);
    const now = this.now();
    const current = await this.byBinding(key);
    if (current !== undefined && current.state === 'pending' && current.expiresAt > now) return current;
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
    if (!(await this.shared.put(APPROVALS_NS, a.id, toJson(a), a.expiresAt, this.maxEntries))) return undefined;
    if (!(await this.shared.put(CALLS_NS, key, a.id, a.expiresAt, this.maxEntries))) {
      await this.shared.take(APPROVALS_NS, a.id);
      return undefined;
    }
    return a;
  }

  /** A live approval by id (expired ones are gone). */
  async get(id: string): Promise<Approval | undefined> {
    return fromJson(await this.shared.get(APPROVALS_NS, id));
  }

  /** Record the approver's decision; undefined when it was already decided or has expired. */
  async decide(id: string, approve: boolean, by: string): Promise<Approval | undefined> {
    const a = await this.get(id);
    if (a === undefined || a.state !== 'pending') return undefined;
    if ((await this.shared.claimOnce(CLAIMS_NS, `decide\n${id}`, a.expiresAt, this.maxEntries * 2)) !== 'ok') return undefined;
    const decided: Approval = { ...a, state: approve ? 'approved' : 'denied', decidedBy: by, decidedAt: this.now() };
    await this.shared.put(APPROVALS_NS, id, toJson(decided), a.expiresAt, this.maxEntries, true);
    return decided;
  }

  /**
   * What the retry of an exact call finds: an approval it uses up (once), a refusal it reports
   * (once), a pending one to wait for, or nothing.
   */
  async settle(b: ConfirmBinding): Promise<{ outcome: 'approved' | 'denied'; approval: Approval } | { outcome: 'pending'; approval: Approval } | undefined> {
    const key = bindingKey(b);
    const a = await this.byBinding(key);
    if (a === undefined || a.expiresAt <= this.now() || a.state === 'used') return undefined;
    if (a.state === 'pending') return { outcome: 'pending', approval: a };
    if ((await this.shared.claimOnce(CLAIMS_NS, `use\n${a.id}`, a.expiresAt, this.maxEntries * 2)) !== 'ok') return undefined;
    await this.shared.take(APPROVALS_NS, a.id);
    if ((await this.shared.get(CALLS_NS, key)) === a.id) await this.shared.take(CALLS_NS, key);
    return { outcome: a.state, approval: { ...a, state: 'used' } };
  }

  private async byBinding(key: string): Promise<Approval | undefined> {
    const id = await this.shared.get(CALLS_NS, key);
    return typeof id === 'string' ? this.get(id) : undefined;
  }
}

function toJson(a: Approval): JsonValue {
  return a as unknown as JsonValue;
}

function fromJson(v: JsonValue | undefined): Approval | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && typeof v['id'] === 'string' ? (v as unknown as Approval) : undefined;
}

/** This runner's approval book (created on first use, shared by every route and every runner process). */
export function approvalBookOf(state: RunnerState, minEntries: number): ApprovalBook {
  const book = state.own('mcp-authz/approvals', () => new ApprovalBook(minEntries, Date.now, state.shared));
  if (book.maxEntries < minEntries) book.maxEntries = minEntries;
  return book;
}
