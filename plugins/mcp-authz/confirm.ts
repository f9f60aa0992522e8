// Confirmation tokens for risky calls. When a rule requires user confirmation the gateway
// answers a token instead of forwarding; the client shows the call to the user and, once
// approved, retries with the token. The token is HMAC-SHA256 signed, short-lived, single-use
// (a bounded replay cache) and bound to the caller, the server, the tool and the sha256 of the
// canonical arguments, so it cannot approve a different call.

import { createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { canonicalHash } from './canonical.js';

const PREFIX = 'mcpc1';

/** Where a retry may carry the token inside the request (stripped before forwarding). */
export const CONFIRMATION_META_KEY = 'io.apisix.mcp/confirmation';

export interface ConfirmBinding {
  /** Stable caller key (see callerKey in index.ts). */
  readonly caller: string;
  readonly server: string;
  readonly tool: string;
  readonly args: unknown;
}

interface Payload {
  jti: string;
  sub: string;
  srv: string;
  tool: string;
  args: string;
  iat: number;
  exp: number;
}

/** Used tokens until they expire. Bounded: when full of live tokens, new uses are refused. */
export class ReplayCache {
  private readonly used = new Map<string, number>();
  constructor(public maxEntries: number) {}

  /** Mark a token used; false when it was already used or the cache is full. */
  consume(jti: string, expiresAtMs: number, nowMs: number): 'ok' | 'replayed' | 'full' {
    const seen = this.used.get(jti);
    if (seen !== undefined && seen > nowMs) return 'replayed';
    if (this.used.size >= this.maxEntries) this.sweep(nowMs);
    if (this.used.size >= this.maxEntries) return 'full';
    this.used.set(jti, expiresAtMs);
    return 'ok';
  }

  private sweep(nowMs: number): void {
    for (const [jti, exp] of this.used) {
      if (exp <= nowMs) this.used.delete(jti);
    }
  }

  get size(): number {
    return this.used.size;
  }
}

/** Shared by every route conf of the process: a token used on one route cannot be reused on another. */
const sharedReplay = new ReplayCache(100_000);
export function sharedReplayCache(minEntries: number): ReplayCache {
  if (sharedReplay.maxEntries < minEntries) sharedReplay.maxEntries = minEntries;
  return sharedReplay;
}

/** Random per-process key for routes without a configured secret. */
let processKey: Buffer | undefined;
export function processConfirmationKey(): Buffer {
  processKey ??= randomBytes(32);
  return processKey;
}

export type VerifyResult = { ok: true } | { ok: false; reason: string };

export class ConfirmationTokens {
  constructor(
    private readonly key: Uint8Array,
    readonly ttlSeconds: number,
    private readonly replay: ReplayCache,
    private readonly now: () => number = Date.now,
  ) {}

  issue(b: ConfirmBinding): { token: string; expiresAt: number } {
    const iat = Math.floor(this.now() / 1000);
    const payload: Payload = { jti: randomUUID(), sub: b.caller, srv: b.server, tool: b.tool, args: canonicalHash(b.args ?? {}), iat, exp: iat + this.ttlSeconds };
    const body = Buffer.from(JSON.stringify(payload)).toString('base64url');
    return { token: `${PREFIX}.${body}.${this.sign(body)}`, expiresAt: payload.exp };
  }

  /** Check a token against the call it must approve, and use it up. */
  verify(token: string, b: ConfirmBinding): VerifyResult {
    const parts = token.split('.');
    if (parts.length !== 3 || parts[0] !== PREFIX) return { ok: false, reason: 'malformed confirmation token' };
    const body = parts[1]!;
    const given = Buffer.from(parts[2]!, 'base64url');
    const expected = Buffer.from(this.sign(body), 'base64url');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { ok: false, reason: 'confirmation token signature is invalid' };
    let p: Payload;
    try {
      p = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as Payload;
    } catch {
      return { ok: false, reason: 'malformed confirmation token' };
    }
    const nowMs = this.now();
    if (typeof p.exp !== 'number' || p.exp * 1000 <= nowMs) return { ok: false, reason: 'confirmation token expired' };
    if (p.sub !== b.caller) return { ok: false, reason: 'confirmation token was issued to another caller' };
    if (p.srv !== b.server || p.tool !== b.tool) return { ok: false, reason: 'confirmation token was issued for another tool' };
    if (p.args !== canonicalHash(b.args ?? {})) return { ok: false, reason: 'confirmation token was issued for other arguments' };
    const used = this.replay.consume(p.jti, p.exp * 1000, nowMs);
    if (used === 'replayed') return { ok: false, reason: 'confirmation token was already used' };
    if (used === 'full') return { ok: false, reason: 'too many confirmations in flight; retry later' };
    return { ok: true };
  }

  private sign(body: string): string {
    return createHmac('sha256', this.key).update(`${PREFIX}.${body}`).digest('base64url');
  }
}
