// A gateway for the confirmation tests: the APISIX emulator, the real runner spawned like
// ext-plugin.cmd, mcp-audit (file sink), mcp-authz with JWT identity and mcp-redact, and the routes the
// layout command generates (the approval page route included). /mcp goes to a v2 SDK server
// (2026-07-28, form confirmation), /mcp/legacy to the sessionful v1 sample server (URL-mode
// and token confirmation). Users sign in with HS256 tokens this kit signs.

import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { PACKAGE_ROOT } from '../runner/host/schema-file.js';
import { generateLayout, type ApisixRoute } from '../runner/layout/generate.js';
import { parseGateway, type GatewayDoc } from '../runner/layout/gateway.js';
import { startSampleMcpServer, type SampleServer } from '../examples/sample-mcp-server.js';
import { startEmulator, type Emulator, type RouteConf } from '../emulator/index.js';
import { startModernServer, type RecordingServer } from './modern-servers.js';

const JWT_SECRET = 'confirm-test-jwt-secret-0123456789abcdefghij';
const CONFIRM_SECRET = 'confirm-test-hmac-secret-0123456789abcdefghij';
const ISSUER = 'https://idp.confirm.test';
const AUDIENCE = 'mcp-confirm';
export const APPROVAL_PATH = '/mcp-approvals';

/** alice and bob work at acme; carol approves for acme; mallory approves, but for globex. */
export const USERS = {
  alice: { tenant: 'acme', roles: [] as string[] },
  bob: { tenant: 'acme', roles: [] as string[] },
  carol: { tenant: 'acme', roles: ['approver'] },
  mallory: { tenant: 'globex', roles: ['approver'] },
} as const;
export type UserName = keyof typeof USERS;

export const RISKY_TOOLS = ['crm.confirm_refund', 'ticket.create_case', 'billing.update_payment_method'];

export const POLICY = {
  version: 1,
  confirmation: { approver_roles: ['approver'] },
  actors: [
    {
      name: 'acme-staff',
      actor: { tenant: 'acme' },
      allowed_tools: [
        'crm.lookup_customer',
        'billing.get_subscription_status',
        ...RISKY_TOOLS.map((name) => ({ name, access: 'write', requires_user_confirmation: true })),
      ],
      denied_tools: ['account.delete_customer'],
    },
  ],
};

function gatewayDoc(server: string, uri: string, tools: string[], auditPath: string, upstreamPort: number, ttlSeconds: number, urlChannel: boolean): GatewayDoc {
  return parseGateway({
    server,
    uri,
    upstream: { type: 'roundrobin', nodes: { [`127.0.0.1:${upstreamPort}`]: 1 } },
    tools,
    plugins: [
      { name: 'mcp-audit', conf: { sink: { type: 'file', path: auditPath } } },
      {
        name: 'mcp-authz',
        conf: {
          server,
          policy: POLICY,
          identity: { jwt: { shared_secret: '$env://CONFIRM_JWT_SECRET', issuer: ISSUER, audience: AUDIENCE, algorithms: ['HS256'] } },
          confirmation: { secret: '$env://CONFIRM_SECRET', ttl_seconds: ttlSeconds, channels: { form: true, url: urlChannel }, approval_page: { path: APPROVAL_PATH } },
        },
      },
      // Redaction on every tool: the gateway's own state and forms must come through it intact.
      { name: 'mcp-redact', conf: { tools: ['*'] } },
    ],
  });
}

export interface ConfirmGateway {
  /** The emulator's origin (http://127.0.0.1:port). */
  origin: string;
  url: string;
  legacyUrl: string;
  emulator: Emulator;
  modern: RecordingServer;
  legacy: SampleServer;
  routes: ApisixRoute[];
  /** A signed access token of one of USERS. */
  tokenOf(user: UserName): Promise<string>;
  /** Authorization header of one of USERS. */
  authOf(user: UserName): Promise<Record<string, string>>;
  auditEvents(): Promise<Record<string, unknown>[]>;
  /** Audit events that satisfy `match`, waiting up to 5 s for `count` of them (the sink batches). */
  waitForEvents(match: (e: Record<string, unknown>) => boolean, count?: number): Promise<Record<string, unknown>[]>;
  close(): Promise<void>;
}

/** `workers`: runner processes (MCP_RUNNER_WORKERS; the emulator runs one unless told). */
export async function startConfirmGateway(opts: { ttlSeconds?: number; workers?: number } = {}): Promise<ConfirmGateway> {
  const ttl = opts.ttlSeconds ?? 300;
  const dir = await mkdtemp(join(tmpdir(), 'confirm-'));
  const auditPath = join(dir, 'audit.log');
  const modern = await startModernServer();
  const legacy = await startSampleMcpServer({ stateful: true });
  process.env['CONFIRM_JWT_SECRET'] = JWT_SECRET;
  process.env['CONFIRM_SECRET'] = CONFIRM_SECRET;
  const modernTools = ['crm.lookup_customer', 'crm.confirm_refund', 'billing.get_subscription_status', 'account.delete_customer'];
  const legacyTools = ['crm.lookup_customer', 'billing.get_subscription_status', 'billing.update_payment_method', 'ticket.create_case', 'debug.echo'];
  // The approval page is one route: the legacy server's conf serves it (2026 clients use the form).
  const a = await generateLayout(gatewayDoc('modern-sample', '/mcp', modernTools, auditPath, modern.port, ttl, false), { baseDir: PACKAGE_ROOT });
  const b = await generateLayout(gatewayDoc('legacy-sample', '/mcp/legacy', legacyTools, auditPath, legacy.port, ttl, true), { baseDir: PACKAGE_ROOT });
  const routes = [...a.routes, ...b.routes];
  const toEmulator = (r: ApisixRoute): RouteConf => {
    const port = r.id.startsWith('mcp-modern-sample') ? modern.port : legacy.port;
    return { ...(structuredClone(r) as unknown as RouteConf), upstream: { nodes: { [`127.0.0.1:${port}`]: 1 } } };
  };
  const emulator = await startEmulator({
    routes: routes.map(toEmulator),
    cmd: [process.execPath, join(PACKAGE_ROOT, 'dist/runner/main.js')],
    envs: { MCP_RUNNER_LOG_LEVEL: 'warn', MCP_AUTHZ_LOG_LEVEL: 'error', MCP_RUNNER_WORKERS: String(opts.workers ?? 1), CONFIRM_JWT_SECRET: JWT_SECRET, CONFIRM_SECRET: CONFIRM_SECRET },
  });
  await emulator.waitForRunner(30_000);
  const secret = new TextEncoder().encode(JWT_SECRET);
  const tokenOf = (user: UserName): Promise<string> =>
    new SignJWT({ tenant: USERS[user].tenant, roles: USERS[user].roles, azp: 'support-agent' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(user)
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setIssuedAt()
      .setExpirationTime('1h')
      .sign(secret);
  const auditEvents = async (): Promise<Record<string, unknown>[]> => {
    let text = '';
    try {
      text = await readFile(auditPath, 'utf8');
    } catch {
      return [];
    }
    return text.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
  };
  return {
    origin: emulator.url,
    url: `${emulator.url}/mcp`,
    legacyUrl: `${emulator.url}/mcp/legacy`,
    emulator,
    modern,
    legacy,
    routes,
    tokenOf,
    async authOf(user) {
      return { authorization: `Bearer ${await tokenOf(user)}` };
    },
    auditEvents,
    async waitForEvents(match, count = 1) {
      let found: Record<string, unknown>[] = [];
      for (let i = 0; i < 50; i++) {
        found = (await auditEvents()).filter(match);
        if (found.length >= count) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      return found;
    },
    async close() {
      await emulator.stop();
      await modern.close();
      await legacy.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
