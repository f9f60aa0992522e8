// The mcp-credential conf as operators write it, and what prepare() compiles it into.
// Everything that can be decided once (header names, secret handles, signing settings,
// the server map) is decided here; a call only reads secrets from memory and sets headers.

import type { JsonSchema } from '../../runner/host/plugin.js';
import { loadSchema } from '../../runner/host/schema-file.js';
import type { PrepareEnv } from '../../runner/host/plugin.js';
import { isSecretRef, secretFromConf, type SecretHandle } from '../../runner/secrets/index.js';
import { AUTHZ_PLUGIN } from './authz-gate.js';
import { compileDynamic, type DynamicCredential } from './dynamic.js';
import { IdentityMinter } from './identity-token.js';
import type { IdentityToken, McpCredentialConf, Server } from './conf.generated.js';

export const PLUGIN_NAME = 'mcp-credential';

/** The conf type is generated from the schema (conf.generated.ts), never written by hand. */
export type CredentialConf = McpCredentialConf;
export type ServerCredentialConf = Server;
export type CredentialSpec = NonNullable<CredentialConf['credential']>;
export type IdentityTokenConf = IdentityToken;

export const CONF_SCHEMA_FILE = 'mcp-credential.conf.schema.json';
export const confSchema: JsonSchema = loadSchema(CONF_SCHEMA_FILE);

/** Client headers that always carry the client's own credentials. */
export const DEFAULT_STRIPPED_REQUEST_HEADERS: readonly string[] = ['authorization', 'cookie', 'proxy-authorization'];
/** Upstream headers that should never echo back to the client when the route has post-resp. */
export const DEFAULT_STRIPPED_RESPONSE_HEADERS: readonly string[] = ['authorization', 'proxy-authorization'];
export const DEFAULT_IDENTITY_HEADER = 'x-mcp-identity';
/** A header value containing an injected secret this long or longer is dropped from responses. */
export const MIN_SCANNED_SECRET_LENGTH = 8;

/** How the backend credential is rendered into one header. */
export interface Injection {
  kind: 'bearer' | 'api_key' | 'basic';
  header: string;
  /** The secrets this header needs; all must resolve or the call fails closed. */
  secrets: readonly SecretHandle[];
  /** Builds the header value from the secrets' current values (same order as `secrets`). */
  render(values: readonly string[]): string;
  /** The secrets whose values must never appear in a response header (not the basic user name). */
  scanned: readonly SecretHandle[];
}

/** The compiled settings for one MCP server (or for the route). */
export interface PreparedEntry {
  /** The server name, or undefined for the route-level entry. */
  server: string | undefined;
  injection: Injection | undefined;
  /** Token exchange, client credentials or per-user secret (instead of `injection`). */
  dynamic: DynamicCredential | undefined;
  minter: IdentityMinter | undefined;
  /** Lower-cased client headers deleted before the call goes upstream. */
  stripRequest: readonly string[];
  /** Lower-cased upstream headers dropped before the answer reaches the client. */
  stripResponse: ReadonlySet<string>;
}

export interface PreparedCredential {
  /** The conf's `server`, which wins over the route's server name. */
  fixedServer: string | undefined;
  servers: ReadonlyMap<string, PreparedEntry>;
  /** Route-level entry, used when no server entry matches (undefined when none is configured). */
  routeEntry: PreparedEntry | undefined;
  /** Explicit response stripping was configured: a fast route (no post-resp) must refuse calls. */
  responsePhaseRequired: boolean;
  unavailableStatus: 500 | 503;
  /** mcp-authz runs before this plugin: check its allow in the decision record of each call. */
  requireAuthzAllow: boolean;
}

interface CompileOptions {
  allowLiteral: boolean;
  extraRequestStrip: readonly string[];
  responseStrip: readonly string[];
}

/** Compile the conf. Throws an Error naming the field on anything wrong (never a secret value). */
export async function prepareCredential(conf: CredentialConf, env: PrepareEnv): Promise<PreparedCredential> {
  const requireAuthzAllow = checkChainOrder(conf, env);
  const opts: CompileOptions = {
    allowLiteral: conf.allow_literal_secrets === true,
    extraRequestStrip: lower(conf.strip_request_headers ?? []),
    responseStrip: lower(conf.strip_response_headers ?? []),
  };

  const servers = new Map<string, PreparedEntry>();
  for (const [name, entry] of Object.entries(conf.servers ?? {})) {
    const credential = entry.credential ?? conf.credential;
    const identity = entry.identity_token ?? conf.identity_token;
    const field = `servers.${name}`;
    if (!credential && !identity) {
      throw new Error(`${field}: needs credential or identity_token (or a route-level one)`);
    }
    const extra = [...opts.extraRequestStrip, ...lower(entry.strip_request_headers ?? [])];
    servers.set(name, compileEntry(name, credential, identity, field, { ...opts, extraRequestStrip: extra }));
  }

  let routeEntry: PreparedEntry | undefined;
  if (conf.credential || conf.identity_token) {
    routeEntry = compileEntry(undefined, conf.credential, conf.identity_token, '', opts);
  }
  if (!routeEntry && servers.size === 0) {
    throw new Error('credential: required (or identity_token, or servers); use {"type":"none"} to only strip client credentials');
  }
  if (conf.server !== undefined && !servers.has(conf.server) && !routeEntry) {
    throw new Error(`server: no entry "${conf.server}" in servers and no route-level credential`);
  }

  const prepared: PreparedCredential = {
    fixedServer: conf.server,
    servers,
    routeEntry,
    responsePhaseRequired: opts.responseStrip.length > 0,
    unavailableStatus: conf.unavailable_status ?? 503,
    requireAuthzAllow,
  };
  await waitForSecrets(prepared);
  return prepared;
}

/**
 * mcp-credential must run only after authorization allowed the call: the host stops the chain
 * at the first Stop, so a position after mcp-authz guarantees that. Refuse the other order,
 * and a chain without mcp-authz, unless the conf says so. True when mcp-authz comes first
 * (then each call's decision record must hold its allow).
 */
function checkChainOrder(conf: CredentialConf, env: PrepareEnv): boolean {
  const self = env.chain.indexOf(PLUGIN_NAME);
  const authz = env.chain.indexOf(AUTHZ_PLUGIN);
  const chain = env.chain.join(', ');
  if (authz === -1) {
    if (conf.allow_without_authz === true) return false;
    throw new Error(
      `no ${AUTHZ_PLUGIN} in this chain (${chain}): ${PLUGIN_NAME} would attach backend credentials to calls nobody authorized; add ${AUTHZ_PLUGIN} before it, or set allow_without_authz: true`,
    );
  }
  if (self !== -1 && env.chain.lastIndexOf(AUTHZ_PLUGIN) > self) {
    if (conf.allow_before_authz === true) return false;
    throw new Error(
      `${PLUGIN_NAME} comes before ${AUTHZ_PLUGIN} in this chain (${chain}): it would attach backend credentials before authorization; put it after ${AUTHZ_PLUGIN} and mcp-ratelimit, or set allow_before_authz: true`,
    );
  }
  return true;
}

function compileEntry(
  server: string | undefined,
  credential: CredentialSpec | undefined,
  identity: IdentityTokenConf | undefined,
  field: string,
  opts: CompileOptions,
): PreparedEntry {
  const at = (name: string): string => (field ? `${field}.${name}` : name);
  const injection = credential ? compileInjection(credential, at('credential'), opts.allowLiteral) : undefined;
  const dynamic = credential && isDynamic(credential) ? compileDynamic(credential, at('credential'), opts.allowLiteral) : undefined;
  const credentialHeader = injection?.header ?? dynamic?.header;

  let minter: IdentityMinter | undefined;
  if (identity) {
    const header = (identity.header ?? (credentialHeader !== undefined ? DEFAULT_IDENTITY_HEADER : 'authorization')).toLowerCase();
    if (header === credentialHeader) {
      throw new Error(`${at('identity_token.header')}: "${header}" is already used by the backend credential`);
    }
    minter = new IdentityMinter({
      signingKey: secretFromConf(identity.signing_key, { field: at('identity_token.signing_key'), allowLiteral: opts.allowLiteral }),
      alg: identity.alg,
      kid: identity.kid,
      issuer: identity.issuer,
      audience: identity.audience ?? server,
      ttlSeconds: Math.min(identity.ttl_seconds ?? 60, 300),
      header,
      bearer: header === 'authorization',
      cacheSize: identity.cache_size ?? 1000,
      onMissingIdentity: identity.on_missing_identity ?? 'deny',
    });
  }

  // Also strip whatever we set ourselves, so a client can never supply (forge) those headers.
  const setByUs = [credentialHeader, minter?.settings.header].filter((h): h is string => h !== undefined);
  const stripRequest = unique([...DEFAULT_STRIPPED_REQUEST_HEADERS, ...opts.extraRequestStrip, ...setByUs]);
  const stripResponse = new Set([...DEFAULT_STRIPPED_RESPONSE_HEADERS, ...opts.responseStrip, ...setByUs]);
  return { server, injection, dynamic, minter, stripRequest, stripResponse };
}

/** The credentials the gateway obtains per call (dynamic.ts), as the schema allows them. */
type DynamicCredentialSpec = Extract<CredentialSpec, { type: 'token_exchange' | 'client_credentials' | 'per_user' }>;

function isDynamic(spec: CredentialSpec): spec is DynamicCredentialSpec {
  return spec.type === 'token_exchange' || spec.type === 'client_credentials' || spec.type === 'per_user';
}

function compileInjection(spec: CredentialSpec, field: string, allowLiteral: boolean): Injection | undefined {
  const secret = (value: string, name: string): SecretHandle => secretFromConf(value, { field: `${field}.${name}`, allowLiteral });
  switch (spec.type) {
    case 'bearer': {
      const token = secret(spec.token, 'token');
      return { kind: 'bearer', header: 'authorization', secrets: [token], scanned: [token], render: (v) => `Bearer ${v[0] ?? ''}` };
    }
    case 'api_key': {
      const prefix = spec.prefix ?? '';
      const key = secret(spec.value, 'value');
      return { kind: 'api_key', header: spec.header.toLowerCase(), secrets: [key], scanned: [key], render: (v) => prefix + (v[0] ?? '') };
    }
    case 'basic': {
      // A user name is not secret: plain text is fine, a reference works too.
      const user = isSecretRef(spec.username)
        ? secretFromConf(spec.username, { field: `${field}.username`, allowLiteral: false })
        : plainValue(spec.username);
      const password = secret(spec.password, 'password');
      return { kind: 'basic', header: 'authorization', secrets: [user, password], scanned: [password], render: basicRenderer() };
    }
    case 'none':
    case 'token_exchange':
    case 'client_credentials':
    case 'per_user':
      return undefined;
  }
}

/** Basic auth header, base64 computed again only when the user or password changes. */
function basicRenderer(): (values: readonly string[]) => string {
  let lastUser: string | undefined;
  let lastPassword: string | undefined;
  let lastHeader = '';
  return (values) => {
    const user = values[0] ?? '';
    const password = values[1] ?? '';
    if (user !== lastUser || password !== lastPassword) {
      lastUser = user;
      lastPassword = password;
      lastHeader = `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`;
    }
    return lastHeader;
  };
}

/** Let file secrets load before the first call, and reject an invalid signing key now. */
async function waitForSecrets(p: PreparedCredential): Promise<void> {
  const entries = [...p.servers.values(), ...(p.routeEntry ? [p.routeEntry] : [])];
  const handles = entries.flatMap((e) => [...(e.injection?.secrets ?? []), ...(e.dynamic?.handles ?? []), ...(e.minter ? [e.minter.settings.signingKey] : [])]);
  await Promise.all(handles.map((h) => h.ready()));
  for (const e of entries) {
    e.dynamic?.checkNow();
    try {
      e.minter?.checkKeyNow();
    } catch (err) {
      const where = e.server === undefined ? 'identity_token.signing_key' : `servers.${e.server}.identity_token.signing_key`;
      throw new Error(`${where}: ${(err as Error).message}`);
    }
  }
}

/** Secret values long enough to search for in response header values. */
export function scannableSecrets(entry: PreparedEntry): string[] {
  const out: string[] = [];
  if (!entry.injection) return out;
  for (const h of entry.injection.scanned) {
    const v = h.value();
    if (v !== undefined && v.length >= MIN_SCANNED_SECRET_LENGTH) out.push(v);
  }
  return out;
}

/** A non-secret conf value behind the SecretHandle interface (no warning, it is not a secret). */
function plainValue(text: string): SecretHandle {
  return {
    literal: true,
    value: () => text,
    describe: () => 'plain value',
    problem: () => undefined,
    ready: () => Promise.resolve(),
  };
}

function lower(names: readonly string[]): string[] {
  return names.map((n) => n.toLowerCase());
}

function unique(names: readonly string[]): string[] {
  return [...new Set(names)];
}
