// mcp-authz's conf, what prepare compiles it into, and the compiled policy of a call: the
// policy comes from the runner's policy service (a watched file, an inline document, or both),
// the replay cache, pin store, tool hints and key sets from the runner's state.

import type { PrepareEnv } from '../../runner/host/plugin.js';
import { compilePolicy, DEFAULT_RELOAD_INTERVAL_MS, validatePolicyDocument, type CompiledPolicy, type PolicyDoc, type PolicySource } from '../../runner/policy/index.js';
import type { Subject } from './decide.js';
import { prepareIdentity, type IdentityConf, type IdentityResolver } from './identity.js';
import { ConfirmationTokens, confirmationKeyFrom, confirmationStateOf } from './confirm.js';
import type { ListKind } from './filter.js';
import { RemoteJwksSets } from './jwks.js';
import { pinStoreOf, type PinConf, type PinStore } from './pinning.js';
import type { ProtectedResourceConf } from './prm.js';
import { approvalBookOf, type ApprovalBook } from './approvals.js';
import { sessionCapabilitiesOf, type ElicitationSupport, type SessionCapabilities } from './client-caps.js';
import { CONFIRMATION_DEFAULTS, type AuthzConf } from './conf.js';
import { toolHintsOf, type ToolHintStore } from './tool-hints.js';
import type { ApprovedRound } from './rounds.js';
import type { SharedState } from '../../runner/cluster/shared-state.js';

export const PLUGIN_NAME = 'mcp-authz';
/** Where the gateway serves its approval page unless the conf says otherwise. */
export const DEFAULT_APPROVAL_PATH = '/mcp-approvals';

export type { AuthzConf } from './conf.js';

export interface PreparedAuthz {
  readonly shadow: boolean;
  readonly server: string | undefined;
  /**
   * Pin namespace when no server name is known. Route keys differ between phases (pre-req vs
   * post-resp), so unnamed servers share one namespace: set `server` when pinning.
   */
  readonly routePinKey: string;
  readonly filterLists: boolean;
  readonly pinMode: 'off' | 'pinned' | 'trust_on_first_use';
  readonly pinBlock: boolean;
  readonly pins: PinStore;
  /** Tool annotations last listed, per server and tool (read access under read grants). */
  readonly toolHints: ToolHintStore;
  readonly identity: IdentityResolver;
  readonly protectedResource: ProtectedResourceConf;
  readonly confirm: ConfirmationTokens;
  readonly confirmHeader: string;
  /** Confirm through a 2026-07-28 client's own form (input_required with an elicitation). */
  readonly formChannel: boolean;
  /** The approval page's path prefix; undefined when URL-mode confirmation is off. */
  readonly approvalPath: string | undefined;
  /**
   * Offer the approval page to URL-mode clients: only in a single-process runner, where the
   * page's decision and the client's retry meet the same approval book (see urlChannelOn).
   */
  readonly urlChannel: boolean;
  readonly approvalPublicUrl: string | undefined;
  readonly approvals: ApprovalBook;
  readonly sessions: SessionCapabilities;
  /** The runner's shared state (approved rounds: any worker may serve the retry). */
  readonly shared: SharedState;
  readonly source: PolicySource | undefined;
  readonly inline: { doc: PolicyDoc; label: string; rulePrefix: string } | undefined;
  /** Compiled policy for the current source version (recompiled lazily after a reload). */
  compiled: { version: number; policy: CompiledPolicy } | undefined;
}

/** What the request phase leaves for the response phase. */
export interface Carried {
  policy: CompiledPolicy;
  subject: Subject;
  lists: Map<string, ListKind>;
  /** A 2026-07-28+ request: its list answers speak ttlMs/cacheScope. */
  modern: boolean;
  /** What this call's initialize declared, remembered under the session id the answer names. */
  initialize?: ElicitationSupport | undefined;
  /** A risky call the user approved: an input_required answer to it is remembered (rounds.ts). */
  approvedRound?: ApprovedRound | undefined;
}

export async function prepare(conf: AuthzConf, env: PrepareEnv): Promise<PreparedAuthz> {
  if (conf.policy_file === undefined && conf.policy === undefined) throw new Error('/policy_file or /policy is required (default deny needs a policy to allow anything)');
  let inline: PreparedAuthz['inline'];
  if (conf.policy !== undefined) {
    validatePolicyDocument(conf.policy, 'conf.policy');
    inline = { doc: conf.policy, label: 'conf.policy', rulePrefix: 'inline.' };
  }
  const source = conf.policy_file !== undefined ? env.state.policies.source(conf.policy_file, conf.reload_interval_ms ?? DEFAULT_RELOAD_INTERVAL_MS) : undefined;
  let compiled: PreparedAuthz['compiled'];
  if (source) await source.ready;
  else compiled = { version: 0, policy: compilePolicy([inline!]) };

  const c = conf.confirmation ?? {};
  const allowLiteralSecrets = conf.allow_literal_secrets === true;
  const confirmation = confirmationStateOf(env.state);
  const key = await confirmationKeyFrom(c.secret, allowLiteralSecrets, c.secret === undefined ? await confirmation.defaultKey() : undefined);
  const pinning = conf.pinning ?? {};
  const prepared: PreparedAuthz = {
    shadow: conf.mode === 'shadow',
    server: conf.server,
    routePinKey: '(unnamed server)',
    filterLists: conf.filter_lists !== false,
    pinMode: pinning.mode ?? 'off',
    pinBlock: (pinning.on_mismatch ?? 'block') === 'block',
    pins: pinStoreOf(env.state, pinning.max_entries ?? 10_000),
    toolHints: toolHintsOf(env.state),
    identity: await prepareIdentity(conf.identity, { allowLiteralSecrets, jwksSets: env.state.own('mcp-authz/jwks', () => new RemoteJwksSets()) }),
    protectedResource: conf.protected_resource ?? {},
    confirm: new ConfirmationTokens(key, c.ttl_seconds ?? CONFIRMATION_DEFAULTS.ttlSeconds, confirmation.replayCache(c.replay_cache_size ?? CONFIRMATION_DEFAULTS.replayCacheSize)),
    confirmHeader: (c.header ?? CONFIRMATION_DEFAULTS.header).toLowerCase(),
    formChannel: c.channels?.form !== false,
    approvalPath: c.channels?.url === false ? undefined : (c.approval_page?.path ?? DEFAULT_APPROVAL_PATH).replace(/\/+$/, ''),
    // Approvals and session capabilities are in the runner's shared state: any worker serves the page or the retry.
    urlChannel: c.channels?.url !== false,
    approvalPublicUrl: c.approval_page?.public_url?.replace(/\/+$/, ''),
    approvals: approvalBookOf(env.state, c.replay_cache_size ?? CONFIRMATION_DEFAULTS.replayCacheSize),
    sessions: sessionCapabilitiesOf(env.state),
    shared: env.state.shared,
    source,
    inline,
    compiled,
  };
  currentPolicy(prepared); // compile now so the first call does not pay for it
  return prepared;
}

/** The compiled policy, or why there is none (first load failed). */
export function currentPolicy(p: PreparedAuthz): CompiledPolicy | string {
  if (!p.source) return p.compiled!.policy;
  const snap = p.source.current;
  if (snap.doc === undefined) return snap.error ?? 'policy not loaded';
  if (p.compiled?.version !== snap.version) {
    try {
      const docs = [{ doc: snap.doc, label: snap.label }];
      if (p.inline) docs.push(p.inline);
      p.compiled = { version: snap.version, policy: compilePolicy(docs) };
    } catch (err) {
      if (!p.compiled) return (err as Error).message;
      // Keep the previous compiled policy: same rule as for the file itself.
    }
  }
  return p.compiled!.policy;
}
