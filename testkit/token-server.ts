// A small OAuth 2.0 authorization server for tests, on a real loopback HTTP port: a token
// endpoint with the token exchange grant (RFC 8693) and the client credentials grant, client
// authentication by client_secret_basic, client_secret_post and private_key_jwt (RFC 7523),
// issuing ES256-signed JWT access tokens. Subject tokens are verified with the key of the
// identity provider that issued them, as a real server would. (The maintained oidc-provider
// package implements client credentials but not token exchange.)
// Knobs for failure tests: a delay before answering, a subject it refuses, and stop().

import { randomUUID } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, generateKeyPair, jwtVerify, exportJWK, type CryptoKey, type JWK, type KeyObject } from 'jose';

const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
const JWT_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:jwt';
const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

export interface TokenClient {
  id: string;
  /** For client_secret_basic / client_secret_post. */
  secret?: string;
  /** For private_key_jwt: the public key the assertion must verify with. */
  publicKey?: CryptoKey | KeyObject | JWK;
  /** Audiences this client may ask for; the scopes it may ask for. */
  audiences: string[];
  scopes: string[];
}

export interface TokenServerOptions {
  clients: TokenClient[];
  /** Verifies subject tokens: the identity provider's issuer, audience and public key. */
  subjectIssuer: { issuer: string; audience: string; key: CryptoKey | KeyObject | Uint8Array };
  /** Lifetime of issued tokens (seconds). */
  tokenTtlSeconds?: number;
}

export interface TokenRequestLog {
  grant: string;
  clientId: string;
  authMethod: string;
  audience: string | undefined;
  scope: string | undefined;
  subject: string | undefined;
  outcome: 'issued' | string;
}

export interface TokenServer {
  readonly url: string;
  readonly tokenEndpoint: string;
  readonly issuer: string;
  /** Public key of the issued tokens (to verify what the upstream got). */
  readonly publicKey: CryptoKey;
  readonly requests: TokenRequestLog[];
  /** Wait this long before answering (a slow IdP). */
  delayMs: number;
  /** Subjects whose exchange is refused (invalid_grant, with a description echoing the token). */
  refuseSubjects: Set<string>;
  tokenTtlSeconds: number;
  stop(): Promise<void>;
}

export async function startTokenServer(opts: TokenServerOptions): Promise<TokenServer> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const kid = randomUUID();
  const jwk = { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' };
  const clients = new Map(opts.clients.map((c) => [c.id, c]));
  const usedAssertions = new Set<string>();
  const timers = new Set<NodeJS.Timeout>();

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const answer = (): void => void handle(req, res, Buffer.concat(chunks).toString('utf8')).catch(() => send(res, 500, { error: 'server_error' }));
      if (state.delayMs <= 0) return answer();
      const t = setTimeout(() => {
        timers.delete(t);
        answer();
      }, state.delayMs);
      timers.add(t);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const tokenEndpoint = `${url}/token`;

  const state: TokenServer = {
    url,
    tokenEndpoint,
    issuer: url,
    publicKey,
    requests: [],
    delayMs: 0,
    refuseSubjects: new Set(),
    tokenTtlSeconds: opts.tokenTtlSeconds ?? 300,
    async stop() {
      for (const t of timers) clearTimeout(t);
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };

  async function handle(req: IncomingMessage, res: ServerResponse, body: string): Promise<void> {
    if (req.method === 'GET' && req.url === '/jwks') return send(res, 200, { keys: [jwk] });
    if (req.method !== 'POST' || req.url !== '/token') return send(res, 404, { error: 'not_found' });
    if (!/^application\/x-www-form-urlencoded\b/.test(req.headers['content-type'] ?? '')) return send(res, 400, { error: 'invalid_request', error_description: 'form body expected' });
    const form = new URLSearchParams(body);
    const log: TokenRequestLog = { grant: form.get('grant_type') ?? '', clientId: '', authMethod: '', audience: form.get('audience') ?? undefined, scope: form.get('scope') ?? undefined, subject: undefined, outcome: '' };
    state.requests.push(log);
    const fail = (status: number, error: string, description: string): void => {
      log.outcome = error;
      send(res, status, { error, error_description: description });
    };

    const client = await authenticate(req, form, log);
    if (typeof client === 'string') return fail(401, 'invalid_client', client);
    const scopes = (form.get('scope') ?? '').split(' ').filter((s) => s !== '');
    const bad = scopes.find((s) => !client.scopes.includes(s));
    if (bad !== undefined) return fail(400, 'invalid_scope', `scope ${bad} is not allowed for this client`);
    const audience = form.get('audience') ?? undefined;
    if (audience !== undefined && !client.audiences.includes(audience)) return fail(400, 'invalid_target', `audience ${audience} is not allowed`);

    let sub = client.id;
    let extra: Record<string, unknown> = {};
    if (log.grant === TOKEN_EXCHANGE) {
      const subjectToken = form.get('subject_token');
      const type = form.get('subject_token_type');
      if (!subjectToken || (type !== ACCESS_TOKEN_TYPE && type !== JWT_TOKEN_TYPE)) return fail(400, 'invalid_request', 'subject_token and a supported subject_token_type are required');
      if (audience === undefined) return fail(400, 'invalid_target', 'audience is required');
      let claims;
      try {
        claims = (await jwtVerify(subjectToken, opts.subjectIssuer.key, { issuer: opts.subjectIssuer.issuer, audience: opts.subjectIssuer.audience })).payload;
      } catch (err) {
        return fail(400, 'invalid_grant', `subject token ${subjectToken} rejected: ${(err as Error).message}`);
      }
      sub = String(claims.sub);
      log.subject = sub;
      // A careless real IdP echoes the token it refuses: the gateway must not pass it on.
      if (state.refuseSubjects.has(sub)) return fail(400, 'invalid_grant', `user ${sub} may not use this service (subject_token=${subjectToken})`);
      extra = { act: { sub: client.id }, roles: claims['roles'] ?? [] };
    } else if (log.grant !== 'client_credentials') {
      return fail(400, 'unsupported_grant_type', `grant ${log.grant} is not supported`);
    }

    const ttl = state.tokenTtlSeconds;
    const token = await new SignJWT({ ...extra, ...(scopes.length > 0 ? { scope: scopes.join(' ') } : {}), client_id: client.id })
      .setProtectedHeader({ alg: 'ES256', kid, typ: 'at+jwt' })
      .setIssuer(url)
      .setSubject(sub)
      .setAudience(audience ?? url)
      .setIssuedAt()
      .setExpirationTime(Math.floor(Date.now() / 1000) + ttl)
      .setJti(randomUUID())
      .sign(privateKey);
    log.outcome = 'issued';
    send(res, 200, {
      access_token: token,
      token_type: 'Bearer',
      expires_in: ttl,
      ...(log.grant === TOKEN_EXCHANGE ? { issued_token_type: ACCESS_TOKEN_TYPE } : {}),
      ...(scopes.length > 0 ? { scope: scopes.join(' ') } : {}),
    });
  }

  /** The client, or why it failed to authenticate. */
  async function authenticate(req: IncomingMessage, form: URLSearchParams, log: TokenRequestLog): Promise<TokenClient | string> {
    const basic = /^Basic\s+(\S+)$/i.exec(req.headers.authorization ?? '');
    if (basic) {
      const [id, secret] = Buffer.from(basic[1]!, 'base64').toString('utf8').split(':').map((p) => decodeURIComponent(p.replace(/\+/g, ' ')));
      log.clientId = id ?? '';
      log.authMethod = 'client_secret_basic';
      const c = clients.get(id ?? '');
      return c?.secret !== undefined && c.secret === secret ? c : 'client authentication failed';
    }
    const assertion = form.get('client_assertion');
    if (assertion !== null) {
      log.authMethod = 'private_key_jwt';
      if (form.get('client_assertion_type') !== JWT_BEARER) return 'unsupported client_assertion_type';
      const id = form.get('client_id') ?? '';
      log.clientId = id;
      const c = clients.get(id);
      if (c?.publicKey === undefined) return 'client authentication failed';
      try {
        const { payload } = await jwtVerify(assertion, c.publicKey, { issuer: id, subject: id, audience: tokenEndpoint, maxTokenAge: '5m' });
        if (typeof payload.jti !== 'string' || usedAssertions.has(payload.jti)) return 'client assertion replayed';
        usedAssertions.add(payload.jti);
        return c;
      } catch {
        return 'client assertion invalid';
      }
    }
    const id = form.get('client_id') ?? '';
    log.clientId = id;
    log.authMethod = 'client_secret_post';
    const c = clients.get(id);
    return c?.secret !== undefined && c.secret === form.get('client_secret') ? c : 'client authentication failed';
  }

  return state;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return;
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}
