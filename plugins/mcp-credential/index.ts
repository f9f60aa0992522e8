// mcp-credential: agents never hold backend secrets. For every call that the plugins before
// it allowed, remove the credentials the client sent and attach the backend's own credential
// (bearer token, API key header, basic auth) plus, optionally, a short-lived identity JWT.
// In the response phase, drop credential headers the backend might echo to the client.
//
// ORDER MATTERS: list mcp-credential after mcp-authz and mcp-ratelimit in the route's conf.
// The host stops the chain at the first Stop, so a plugin placed after them runs only for
// allowed calls; each call's decision record must also hold mcp-authz's allow. prepare()
// refuses a chain where it precedes mcp-authz (allow_before_authz) or that has no mcp-authz
// (allow_without_authz).
//
// The backend credential is a fixed secret, a per-user secret, a token the gateway gets
// for itself (client credentials) or the caller's token exchanged for one whose audience is
// the upstream (RFC 8693). No credential value is ever logged or recorded.

import type { CallContext, Outcome, Plugin } from '../../runner/host/plugin.js';
import { JsonRpcErrorCode } from '../../runner/mcp/types.js';
import { missingAllow } from './authz-gate.js';
import { countFailure } from './instruments.js';
import {
  confSchema,
  MIN_SCANNED_SECRET_LENGTH,
  PLUGIN_NAME,
  prepareCredential,
  scannableSecrets,
  type CredentialConf,
  type PreparedCredential,
  type PreparedEntry,
} from './conf.js';

export type { CredentialConf, PreparedCredential } from './conf.js';


/** The entry for this call: the conf's server, else the route's server, else the route-level one. */
function selectEntry(ctx: CallContext, p: PreparedCredential): { entry: PreparedEntry | undefined; server: string | undefined } {
  const server = p.fixedServer ?? ctx.route.server;
  const entry = (server !== undefined ? p.servers.get(server) : undefined) ?? p.routeEntry;
  return { entry, server };
}

function failClosed(ctx: CallContext, status: number, code: number, message: string, rule: string): Outcome {
  // The message names references and settings only; secret values never reach it.
  ctx.record({ plugin: PLUGIN_NAME, action: 'error', rule, reason: message });
  return { action: 'stop', status, rpcError: { code, message } };
}

async function onRequest(ctx: CallContext, p: PreparedCredential): Promise<Outcome> {
  const { entry, server } = selectEntry(ctx, p);
  if (!entry) {
    return failClosed(ctx, p.unavailableStatus, JsonRpcErrorCode.GatewayUnavailable, `backend credential unavailable: no credential configured for server ${server ?? '(none)'}`, 'no-credential');
  }

  if (p.requireAuthzAllow) {
    const why = await missingAllow(ctx);
    if (why !== undefined) {
      countFailure(entry.dynamic?.kind ?? entry.injection?.kind ?? 'none', 'not-allowed-by-authz');
      return failClosed(ctx, 403, JsonRpcErrorCode.Forbidden, `backend credential withheld: ${why}`, 'no-authz-allow');
    }
  }

  // Resolve everything first: nothing is mutated unless the whole credential is available.
  let credentialValue: string | undefined;
  let dynamicDetail: Readonly<Record<string, string>> | undefined;
  const injection = entry.injection;
  if (injection) {
    const values: string[] = [];
    for (const handle of injection.secrets) {
      const v = handle.value();
      if (v === undefined) {
        return failClosed(
          ctx,
          p.unavailableStatus,
          JsonRpcErrorCode.GatewayUnavailable,
          `backend credential unavailable: secret reference ${handle.describe()} cannot be resolved (${handle.problem() ?? 'unknown'})`,
          'secret-unavailable',
        );
      }
      values.push(v);
    }
    credentialValue = injection.render(values);
  }
  const dynamic = entry.dynamic;
  if (dynamic) {
    const r = await dynamic.resolve(ctx, server, p.unavailableStatus);
    if (!r.ok) return failClosed(ctx, r.status, r.code, r.message, r.rule);
    credentialValue = r.value;
    dynamicDetail = r.detail;
    // The response phase drops any upstream header that echoes this caller's credential.
    if (ctx.route.postResp && r.secret.length >= MIN_SCANNED_SECRET_LENGTH) ctx.carry.set(PLUGIN_NAME, r.secret);
  }

  let identityToken: string | undefined;
  let identityOutcome: 'minted' | 'cached' | 'skipped' | undefined;
  const minter = entry.minter;
  if (minter) {
    const identity = ctx.identity;
    if (!identity) {
      if (minter.settings.onMissingIdentity === 'deny') {
        return failClosed(ctx, 401, JsonRpcErrorCode.Unauthorized, 'caller identity required: no identity was established for this call', 'identity-required');
      }
      identityOutcome = 'skipped';
    } else {
      const audience = minter.settings.audience ?? server;
      if (audience === undefined) {
        return failClosed(ctx, p.unavailableStatus, JsonRpcErrorCode.GatewayUnavailable, 'identity token unavailable: identity_token.audience is not set and the route names no server', 'identity-audience');
      }
      const minted = await minter.mint(identity, audience);
      if (!minted.ok) {
        return failClosed(ctx, p.unavailableStatus, JsonRpcErrorCode.GatewayUnavailable, `identity token unavailable: ${minted.message}`, 'identity-key');
      }
      identityToken = minted.token;
      identityOutcome = minted.cached ? 'cached' : 'minted';
    }
  }

  // Delete first, then set: with "later writes win" our values replace the client's.
  const stripped: string[] = [];
  const m = ctx.requestMutations;
  for (const name of entry.stripRequest) {
    if (ctx.request.header(name) !== undefined) stripped.push(name);
    m.deleteHeader(name);
  }
  const credentialHeader = injection?.header ?? dynamic?.header;
  if (credentialHeader !== undefined && credentialValue !== undefined) m.setHeader(credentialHeader, credentialValue);
  if (minter && identityToken !== undefined) {
    m.setHeader(minter.settings.header, minter.settings.bearer ? `Bearer ${identityToken}` : identityToken);
  }

  const detail: Record<string, unknown> = { injected: injection?.kind ?? dynamic?.kind ?? 'none', stripped };
  if (credentialHeader !== undefined) detail.header = credentialHeader;
  if (dynamicDetail) Object.assign(detail, dynamicDetail);
  if (identityOutcome) detail.identity_token = identityOutcome;
  if (server !== undefined) detail.server = server;
  ctx.record({ plugin: PLUGIN_NAME, action: 'credential', rule: entry.server ?? 'route', detail });
  return undefined;
}

function onResponse(ctx: CallContext, p: PreparedCredential): Outcome {
  const response = ctx.response;
  if (!response) return undefined;
  const { entry } = selectEntry(ctx, p);
  if (!entry) return undefined;
  const secrets = scannableSecrets(entry);
  const carried = ctx.carry.get(PLUGIN_NAME);
  if (typeof carried === 'string') secrets.push(carried);
  const dropped = new Set<string>();
  for (const h of response.headers) {
    const name = h.name.toLowerCase();
    if (dropped.has(name)) continue;
    const value = h.value ?? '';
    if (entry.stripResponse.has(name) || secrets.some((s) => value.includes(s))) dropped.add(name);
  }
  if (dropped.size === 0) return undefined;
  for (const name of dropped) ctx.responseMutations.deleteHeader(name);
  ctx.record({ plugin: PLUGIN_NAME, action: 'credential', rule: 'response', detail: { response_stripped: [...dropped] } });
  return undefined;
}

export const plugin: Plugin<CredentialConf, PreparedCredential> = {
  name: PLUGIN_NAME,
  confSchema,
  prepare: prepareCredential,
  onRequest,
  onResponse,
  // Explicit strip_response_headers means the operator relies on it: refuse on fast routes.
  needsResponsePhase: (_ctx, p) => p.responsePhaseRequired,
};
