// Shared pieces of the mcp-audit tests: a real Host with real plugins, an ExtraInfo table (testkit/host-kit.ts),
// and readers for the JSON-lines file an audit sink writes.

import { readFile } from 'node:fs/promises';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { Host } from '../runner/host/chain.js';
import { loadSchema } from '../runner/host/schema-file.js';
import type { Plugin } from '../runner/host/plugin.js';
import type { HTTPReqCallReq, HTTPRespCallReq, TextEntry } from '../runner/protocol/messages.js';
import { plugin as audit } from '../plugins/mcp-audit/index.js';
import { plugin as authz } from '../plugins/mcp-authz/index.js';
import { plugin as ratelimit } from '../plugins/mcp-ratelimit/index.js';
import { plugin as redact } from '../plugins/mcp-redact/index.js';
import type { AuditEvent } from '../plugins/mcp-audit/event.js';
import { hostWith, requestCall } from './host-kit.js';
import { tempDir as makeTempDir } from './temp.js';

export { LATER, TableChannel, carryKeyOf, responseChannel } from './host-kit.js';

/** A fresh temp dir for audit files, removed after the current test (or file). */
export function tempDir(): string {
  return makeTempDir('mcp-audit-');
}

export function reqCall(body: string, headers: TextEntry[] = [], id = 1): HTTPReqCallReq {
  return requestCall(body, headers, { id });
}

export function respCall(status: number, id = 1): HTTPRespCallReq {
  return { id, status, headers: [{ name: 'Content-Type', value: 'application/json' }], confToken: 2 };
}

const hosts: Host[] = [];

/** A host with the real plugins registered (each with its own runner state). */
export function realHost(extra: Plugin<never, unknown>[] = []): Host {
  const host = hostWith(...[audit, authz, ratelimit, redact].map((p) => p as unknown as Plugin<never, unknown>), ...extra);
  hosts.push(host);
  return host;
}

/** Shut down every host realHost made (as the runner does on SIGTERM): parked calls are written, sinks flushed. */
export async function shutdownHosts(): Promise<void> {
  for (const h of hosts.splice(0)) await h.shutdown();
}

export function toolsCall(name: string, args: Record<string, unknown>, id: number | string = 1): string {
  return JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } });
}

/** Read the JSON lines of a sink file, waiting until at least `atLeast` are there. */
export async function readEvents(path: string, atLeast: number, timeoutMs = 3000): Promise<AuditEvent[]> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    let text = '';
    try {
      text = await readFile(path, 'utf8');
    } catch {
      text = '';
    }
    const lines = text.split('\n').filter((l) => l !== '');
    if (lines.length >= atLeast || Date.now() > end) return lines.map((l) => JSON.parse(l) as AuditEvent);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (a: Ajv) => Ajv;
const ajv = new Ajv({ allErrors: true, strict: false });
addFormats(ajv);
const validateEvent = ajv.compile(loadSchema('audit-event.schema.json'));

/** Throws with ajv's errors when an event does not match schemas/audit-event.schema.json. */
export function assertValidEvent(ev: unknown): void {
  if (!validateEvent(ev)) {
    throw new Error(`audit event does not match the schema: ${JSON.stringify(validateEvent.errors)}\n${JSON.stringify(ev)}`);
  }
}

/** The policy used by the tests: support-agent may look customers up, never update payments. */
export const POLICY = {
  actors: [
    {
      name: 'support',
      actor: { app: 'support-agent' },
      allowed_tools: [
        { name: 'crm.lookup', access: 'read' },
        { name: 'crm.search', access: 'read' },
      ],
      denied_tools: ['billing.update_payment_method'],
    },
  ],
};

export const IDENTITY_HEADERS = { user: 'x-user', app: 'x-app', tenant: 'x-tenant', agent: 'x-agent', environment: 'x-env' };

export function identityHeaders(app = 'support-agent'): TextEntry[] {
  return [
    { name: 'x-user', value: 'alice' },
    { name: 'x-app', value: app },
    { name: 'x-tenant', value: 'acme' },
    { name: 'x-agent', value: 'planner' },
    { name: 'x-env', value: 'production' },
  ];
}
