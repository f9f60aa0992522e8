// Confirmation tokens for risky calls. When a rule requires user confirmation the gateway
// answers a token instead of forwarding; the client shows the call to the user and, once
// approved, retries with the token. The token is HMAC-SHA256 signed, short-lived, single-use
// (a bounded replay cache in the runner's shared state) and bound to the caller, the server, the tool and the sha256 of the
// canonical arguments, so it cannot approve a different call.

import { createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { canonicalHash } from '../../runner/util/canonical.js';
import type { RunnerState } from '../../runner/host/state.js';
import { LocalSharedState, type SharedState } from '../../runner/cluster/shared-state.js';
import { secretMaterial } from './refs.js';

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
  /** The server's own requestState this gateway state wraps (form confirmation only). */
  inner?: string;
  /** The client's answers to the server's own input requests, held with its state. */
  resp?: Record<string, unknown>;
  sub: string;
  srv: string;
  tool: string;
  args: string;
  iat: number;
  exp: number;
}

/** Where used confirmation tokens and approval states are claimed (single use across every runner process). */
const REPLAY_NS = 'mcp-authz/confirmation-replay';
/** The runner-wide key of routes without a configured secret: the same on every runner process. */
const DEFAULT_KEY_SECRET = 'mcp-authz/confirmation-key';

/**
 * Used tokens until they expire, claimed in the runner's shared state, so a token is used once
 * whichever process sees it. Bounded: when full of live tokens, new uses are refused.
 */
export class ReplayCache {
  constructor(public maxEntries: number, private readonly shared: SharedState = new LocalSharedState()) {}

  /** Mark a token used: 'replayed' when it was already used, 'full' when there is no room. */
  async consume(jti: string, expiresAtMs: number): Promise<'ok' | 'replayed' | 'full'> {
    const r = await this.shared.claimOnce(REPLAY_NS, jti, expiresAtMs, this.maxEntries);
    return r === 'taken' ? 'replayed' : r;
  }
}

/**
 * One runner's confirmation state: the replay cache shared by every route conf (a token used on
 * one route cannot be reused on another) and the key of routes without a secret.
 */
export class ConfirmationState {
  readonly replay: ReplayCache;
  constructor(private readonly shared: SharedState) {
    this.replay = new ReplayCache(100_000, shared);
  }

  /** The shared replay cache, grown to hold at least `minEntries`. */
  replayCache(minEntries: number): ReplayCache {
    if (this.replay.maxEntries < minEntries) this.replay.maxEntries = minEntries;
    return this.replay;
  }

  /** Random, made once per runner (by the primary when there are several processes). */
  defaultKey(): Promise<Buffer> {
    return this.shared.secret(DEFAULT_KEY_SECRET);
  }
}

/** This runner's confirmation state (created on first use). */
export function confirmationStateOf(state: RunnerState): ConfirmationState {
  return state.own('mcp-authz/confirmation', () => new ConfirmationState(state.shared));
}

const MIN_KEY_BYTES = 32;

/**
 * The confirmation key of a conf: the configured secret reference (re-read when its file or
 * variable changes; a value shorter than 32 bytes counts as unavailable), or the runner's
 * random key when none is configured. Called at prepare; errors name the field.
 */
export async function confirmationKeyFrom(secret: string | undefined, allowLiteral: boolean, randomKey: Buffer = randomBytes(32)): Promise<ConfirmationKey> {
  if (secret === undefined) return randomKey;
  const field = '/confirmation/secret';
  const handle = await secretMaterial(secret, field, allowLiteral);
  const first = handle.value()!;
  if (Buffer.byteLength(first) < MIN_KEY_BYTES) throw new Error(`${field}: must be at least ${MIN_KEY_BYTES} bytes`);
  if (handle.literal) return Buffer.from(first);
  let seen: string | undefined;
  let key: Buffer | undefined;
  return () => {
    const v = handle.value();
    if (v !== seen) {
      seen = v;
      key = v !== undefined && Buffer.byteLength(v) >= MIN_KEY_BYTES ? Buffer.from(v) : undefined;
    }
    return key;
  };
}

export type VerifyResult = { ok: true; inner?: string | undefined; responses?: Record<string, unknown> | undefined } | { ok: false; reason: string };

/** What a form state wraps: the server's own round (its requestState and the answers meant for it). */
export interface WrappedRound {
  state?: string | undefined;
  responses?: Record<string, unknown> | undefined;
}

/** Prefix of the gateway's own requestState (form confirmation): never a token, never a server's state. */
export const STATE_PREFIX = 'mcpg1';

/** The HMAC key, read per use so a rotated secret file takes effect without a restart. */
export type ConfirmationKey = Uint8Array | (() => Uint8Array | undefined);

/** A key whose secret could not be read: tokens are neither issued nor accepted. */
export class ConfirmationKeyUnavailable extends Error {
  override readonly name = 'ConfirmationKeyUnavailable';
}

export class ConfirmationTokens {
  constructor(
    private readonly key: ConfirmationKey,
    readonly ttlSeconds: number,
    private readonly replay: ReplayCache,
    private readonly now: () => number = Date.now,
  ) {}

  /** Throws ConfirmationKeyUnavailable when the configured secret cannot be read. */
  issue(b: ConfirmBinding, prefix: string = PREFIX, wrapped?: WrappedRound): { token: string; expiresAt: number } {
    const key = this.currentKey();
    if (key === undefined) throw new ConfirmationKeyUnavailable('confirmation secret unavailable');
    const iat = Math.floor(this.now() / 1000);
    const payload: Payload = { jti: randomUUID(), sub: b.caller, srv: b.server, tool: b.tool, args: canonicalHash(b.args ?? {}), iat, exp: iat + this.ttlSeconds };
    if (wrapped?.state !== undefined) payload.inner = wrapped.state;
    if (wrapped?.responses !== undefined) payload.resp = wrapped.responses;
    const body = Buffer.from(JSON.stringify(payload)).toString('base64url');
    return { token: `${prefix}.${body}.${this.sign(key, body, prefix)}`, expiresAt: payload.exp };
  }

  /**
   * Check a token (or the gateway's requestState) against the call it must approve, and use it
   * up. Rejects with SharedStateUnavailable when the runner's shared state cannot be asked.
   */
  async verify(token: string, b: ConfirmBinding, prefix: string = PREFIX): Promise<VerifyResult> {
    const parts = token.split('.');
    if (parts.length !== 3 || parts[0] !== prefix) return { ok: false, reason: 'malformed confirmation token' };
    const key = this.currentKey();
    if (key === undefined) return { ok: false, reason: 'confirmation secret unavailable' };
    const body = parts[1]!;
    const given = Buffer.from(parts[2]!, 'base64url');
    const expected = Buffer.from(this.sign(key, body, prefix), 'base64url');
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
    const used = await this.replay.consume(p.jti, p.exp * 1000);
    if (used === 'replayed') return { ok: false, reason: 'confirmation token was already used' };
    if (used === 'full') return { ok: false, reason: 'too many confirmations in flight; retry later' };
    const ok: VerifyResult = { ok: true };
    if (typeof p.inner === 'string') ok.inner = p.inner;
    if (typeof p.resp === 'object' && p.resp !== null && !Array.isArray(p.resp)) ok.responses = p.resp;
    return ok;
  }

  /** An HMAC of `text` under the confirmation key (CSRF tokens of the approval page). */
  mac(text: string): string {
    const key = this.currentKey();
    if (key === undefined) throw new ConfirmationKeyUnavailable('confirmation secret unavailable');
    return createHmac('sha256', key).update(`mac|${text}`).digest('base64url');
  }

  checkMac(text: string, given: string): boolean {
    const key = this.currentKey();
    if (key === undefined) return false;
    const expected = Buffer.from(createHmac('sha256', key).update(`mac|${text}`).digest('base64url'));
    const got = Buffer.from(given);
    return got.length === expected.length && timingSafeEqual(got, expected);
  }

  private currentKey(): Uint8Array | undefined {
    return typeof this.key === 'function' ? this.key() : this.key;
  }

  private sign(key: Uint8Array, body: string, prefix: string): string {
    return createHmac('sha256', key).update(`${prefix}.${body}`).digest('base64url');
  }
}
