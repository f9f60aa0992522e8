// Prints the confirmation transcripts of docs/confirmation.md from a real run: stock SDK clients
// of both generations against the confirmation test gateway (emulator, real runner, mcp-authz,
// mcp-audit, mcp-redact), every initialize and tools/call they sent and what they got back, captured by
// the clients' own fetch. Tokens, signatures, JWTs and session ids are elided.
//
//   npm run build && node dist/dev/confirm-transcripts.js > /tmp/transcripts.md

import { Client as ClientV2, StreamableHTTPClientTransport as TransportV2 } from '@modelcontextprotocol/client';
import { Client as ClientV1 } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as TransportV1 } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UrlElicitationRequiredError, McpError } from '@modelcontextprotocol/sdk/types.js';
import { startConfirmGateway, type ConfirmGateway } from '../testkit/confirm-gateway.js';
import { decide } from '../testkit/approval-page.js';

type Fetch = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

const lines: string[] = [];

function elide(text: string): string {
  return text
    .replace(/eyJ[\w-]+\.[\w-]+\.[\w-]+/g, 'eyJ…')
    .replace(/\b(mcpg1|mcpc1)\.[\w-]+\.[\w-]+/g, '$1.…')
    .replace(/("mcp-session-id"|mcp-session-id:)\s*"?[\w-]+"?/gi, '$1 "…"');
}

function pretty(text: string): string {
  const data = text.trim().startsWith('{') || text.trim().startsWith('[') ? text : text.split('\n').find((l) => l.startsWith('data: {'))?.slice(6);
  if (data === undefined) return text.trim();
  try {
    return JSON.stringify(JSON.parse(data), null, 2);
  } catch {
    return text.trim();
  }
}

/** A fetch that writes the client's initialize and tools/call exchanges into the transcript. */
function recording(): Fetch {
  return async (input, init) => {
    const body = typeof init?.body === 'string' ? init.body : undefined;
    const method = body !== undefined ? (JSON.parse(body) as { method?: string }).method : undefined;
    const res = await fetch(input, init);
    if (method !== 'initialize' && method !== 'tools/call') return res;
    const text = await res.clone().text();
    lines.push('```http', `POST ${new URL(String(input instanceof Request ? input.url : input)).pathname}`, elide(pretty(body!)), '```');
    lines.push('```http', `HTTP ${res.status}`, elide(pretty(text)), '```', '');
    return res;
  };
}

async function formFlow(gw: ConfirmGateway): Promise<void> {
  lines.push('### Form (2026-07-28 client, `@modelcontextprotocol/client`)', '');
  const client = new ClientV2({ name: 'stock-v2-client', version: '1.0.0' }, { capabilities: { elicitation: { form: {} }, sampling: {} }, versionNegotiation: { mode: { pin: '2026-07-28' } } });
  client.setRequestHandler('elicitation/create', async (request) => {
    const props = (request.params as { requestedSchema?: { properties?: Record<string, unknown> } }).requestedSchema?.properties ?? {};
    lines.push(`*The client shows a form (${Object.keys(props).join(', ')}); the user approves.*`, '');
    const content: Record<string, string | boolean> = 'decision' in props ? { decision: 'approve' } : { confirm: true };
    return { action: 'accept', content };
  });
  client.setRequestHandler('sampling/createMessage', async () => ({ model: 'test-model', role: 'assistant', content: { type: 'text', text: 'one refund' } }));
  await client.connect(new TransportV2(new URL(gw.url), { requestInit: { headers: await gw.authOf('alice') }, fetch: recording() }));
  await client.callTool({ name: 'crm.confirm_refund', arguments: { customer_id: 'c-1001' } });
  await client.close();
}

async function urlFlow(gw: ConfirmGateway): Promise<void> {
  lines.push('### URL (2025-11-25 client with URL-mode elicitation, `@modelcontextprotocol/sdk`)', '');
  const client = new ClientV1({ name: 'stock-v1-client', version: '1.0.0' }, { capabilities: { elicitation: { url: {} } } });
  await client.connect(new TransportV1(new URL(gw.legacyUrl), { requestInit: { headers: await gw.authOf('alice') }, fetch: recording() }));
  const call = { name: 'billing.update_payment_method', arguments: { customer_id: 'c-1001', card_number: '4111 1111 1111 1111' } };
  try {
    await client.callTool(call);
  } catch (err) {
    if (!(err instanceof UrlElicitationRequiredError)) throw err;
    const url = (err.elicitations[0] as { url: string }).url;
    lines.push(`*The SDK raises \`UrlElicitationRequiredError\`; the client opens ${url.replace(/\/[\w-]+$/, '/…')}; alice signs in and presses Approve (${(await decide(url, await gw.tokenOf('alice'), 'approve')).status}). The client retries the same call.*`, '');
  }
  await client.callTool(call);
  await client.close();
}

async function tokenFlow(gw: ConfirmGateway): Promise<void> {
  lines.push('### Token (any other client)', '');
  const client = new ClientV1({ name: 'plain-client', version: '1.0.0' });
  await client.connect(new TransportV1(new URL(gw.legacyUrl), { requestInit: { headers: await gw.authOf('alice') }, fetch: recording() }));
  const call = { name: 'ticket.create_case', arguments: { customer_id: 'c-1001', subject: 'Refund for order ORD-1' } };
  try {
    await client.callTool(call);
  } catch (err) {
    if (!(err instanceof McpError)) throw err;
    const data = err.data as { token: string; meta_key: string };
    lines.push('*The SDK raises `McpError` (code -32010, the token in `data`); the client shows the call to its user, who approves; the client retries with the token.*', '');
    await client.callTool({ ...call, _meta: { [data.meta_key]: data.token } });
  }
  await client.close();
}

const gw = await startConfirmGateway();
try {
  await formFlow(gw);
  await urlFlow(gw);
  await tokenFlow(gw);
} finally {
  await gw.close();
}
process.stdout.write(lines.join('\n') + '\n');
