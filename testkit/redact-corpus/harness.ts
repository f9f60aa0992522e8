// Runs corpus documents through mcp-redact's real request and response paths (the runner's
// host, the conf as APISIX sends it, ExtraInfo answered like APISIX) and scores what comes out:
// a sensitive value is caught when neither it nor a telling half of it survives anywhere in
// the answer (blobs decoded); a look-alike is kept when it survives verbatim.

import { Host } from '../../runner/host/chain.js';
import { PluginRegistry } from '../../runner/host/registry.js';
import { plugin as redact } from '../../plugins/mcp-redact/index.js';
import { TableChannel, carryKeyOf, requestCall, responseChannel } from '../host-kit.js';
import type { Doc } from './generate.js';
import type { Item } from './values.js';

const enc = new TextEncoder();
const dec = new TextDecoder();

export interface Answer {
  contentType: string;
  status: number;
  body: string;
}

function sse(messages: unknown[]): string {
  return messages.map((m, i) => `event: message\nid: ${i + 1}\ndata: ${JSON.stringify(m)}\n\n`).join('');
}

const rpc = (id: number, result: unknown): unknown => ({ jsonrpc: '2.0', id, result });
const textResult = (...texts: string[]): unknown => ({ content: texts.map((text) => ({ type: 'text', text })) });

/** The upstream answer that carries a document by its transport (arguments: a trivial result). */
export function answerOf(doc: Doc, id: number, variant: number): Answer {
  const json = (body: unknown, status = 200): Answer => ({ contentType: 'application/json', status, body: JSON.stringify(body) });
  const stream = (messages: unknown[]): Answer => ({ contentType: 'text/event-stream', status: 200, body: sse(messages) });
  const { text } = doc;
  const cut = doc.cut ?? Math.floor(text.length / 2);
  switch (doc.transport) {
    case 'text':
      return json(rpc(id, textResult(text)));
    case 'structured':
      return json(rpc(id, { content: [{ type: 'text', text: 'see structuredContent' }], structuredContent: doc.structured ?? { output: text, lines: text.split('\n').length } }));
    case 'sse':
      return stream([rpc(id, textResult(text))]);
    case 'error':
      return variant % 2 === 0
        ? json({ jsonrpc: '2.0', id, error: { code: -32000, message: `tool failed: ${text.split('\n')[0]}`, data: { stderr: text } } }, variant % 4 === 0 ? 500 : 200)
        : json(rpc(id, { isError: true, content: [{ type: 'text', text }] }));
    case 'notification':
      return stream([
        { jsonrpc: '2.0', method: 'notifications/message', params: { level: 'info', logger: 'tool', data: variant % 2 === 0 ? text : (doc.structured ?? { line: text }) } },
        { jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: id, progress: 1, total: 2, message: text } },
        rpc(id, textResult('done')),
      ]);
    case 'split_items':
      return json(rpc(id, textResult(text.slice(0, cut), text.slice(cut))));
    case 'split_sse':
      return variant % 2 === 0
        ? stream([{ jsonrpc: '2.0', method: 'notifications/message', params: { level: 'info', data: text.slice(0, cut) } }, rpc(id, textResult(text.slice(cut)))])
        : stream([
            { jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: id, progress: 1, message: text.slice(0, cut) } },
            { jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: id, progress: 2, message: text.slice(cut) } },
            rpc(id, textResult('done')),
          ]);
    case 'blob':
      return json(rpc(id, { content: [{ type: 'text', text: 'attached' }, { type: 'resource', resource: { uri: `file:///export/${id}`, mimeType: doc.mimeType, blob: Buffer.from(text).toString('base64') } }] }));
    case 'arguments':
      return json(rpc(id, textResult('stored')));
  }
}

/** The tools/call request carrying a document (in its arguments for the arguments transport). */
export function requestOf(doc: Doc, id: number): Uint8Array {
  const args = doc.transport === 'arguments' ? (doc.structured !== undefined && id % 2 === 0 ? { record: doc.structured } : { input: doc.text }) : { query: 'latest' };
  return enc.encode(JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'ops.fetch', arguments: args } }));
}

export interface Harness {
  /** Everything the client (or, for arguments, the MCP server) would read, blobs decoded. */
  run(doc: Doc, n: number): Promise<string>;
  close(): Promise<void>;
}

export function harness(conf: Record<string, unknown> = {}): Harness {
  const registry = new PluginRegistry();
  registry.register(redact);
  const host = new Host({ registry });
  const chain = host.buildChain(
    [
      { name: 'mcp-route', value: JSON.stringify({ post_resp: true }) },
      { name: 'mcp-redact', value: JSON.stringify(conf) },
    ],
    'corpus-route',
  );
  return {
    async run(doc, n) {
      const id = n + 1;
      const body = requestOf(doc, id);
      const request = await host.onRequest(chain, requestCall(body, [{ name: 'accept', value: 'application/json, text/event-stream' }], { id }), new TableChannel({}, body), Date.now() + 30_000);
      let forwarded = body;
      if (request.action?.type === 'rewrite' && request.action.body !== undefined) forwarded = request.action.body;
      else if (request.action?.type === 'stop') return readable(request.action.body ? dec.decode(request.action.body) : '');
      if (doc.transport === 'arguments') return readable(dec.decode(forwarded));
      const answer = answerOf(doc, id, n);
      const response = await host.onResponse(
        chain,
        { id, status: answer.status, headers: [{ name: 'Content-Type', value: answer.contentType }], confToken: 1 },
        responseChannel(carryKeyOf(request), answer.body),
        Date.now() + 30_000,
      );
      return readable(response.body !== undefined ? dec.decode(response.body) : answer.body);
    },
    close: () => host.shutdown(),
  };
}

/** Envelope strings, left out so the two halves of a cut value meet again when joined. */
const ENVELOPE_KEYS = new Set(['jsonrpc', 'method', 'type', 'level', 'logger', 'uri', 'mimeType']);

/** Every string value of the JSON (or SSE events of JSON) in the body, base64 blobs decoded. */
export function readable(body: string): string {
  const out: string[] = [];
  const visit = (v: unknown, key: string): void => {
    if (typeof v === 'string') {
      if (ENVELOPE_KEYS.has(key)) return;
      out.push(key === 'blob' ? Buffer.from(v, 'base64').toString('utf8') : v);
    } else if (Array.isArray(v)) {
      for (const x of v) visit(x, key);
    } else if (typeof v === 'object' && v !== null) {
      for (const [k, x] of Object.entries(v)) visit(x, k);
    }
  };
  const chunks = body.trimStart().startsWith('{') ? [body] : body.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6));
  for (const c of chunks) {
    try {
      visit(JSON.parse(c), '');
    } catch {
      out.push(c);
    }
  }
  // Joined without a separator: a value cut across two items is whole again here.
  return out.join('');
}

function variants(s: string): string[] {
  const escaped = JSON.stringify(s).slice(1, -1);
  const csv = s.replace(/"/g, '""');
  return [...new Set([s, escaped, csv])];
}

/**
 * A sensitive value leaked when it, a half of it of 10+ characters, or (multi-line values,
 * which shapes may indent) any of its lines of 16+ characters is still readable.
 */
export function leaked(out: string, it: Item): boolean {
  const s = it.secret;
  const pieces = [s];
  if (s.length >= 20) pieces.push(s.slice(0, Math.floor(s.length / 2)), s.slice(Math.floor(s.length / 2)));
  if (s.includes('\n')) for (const line of s.split('\n')) if (line.length >= 16) pieces.push(line);
  return pieces.some((p) => variants(p).some((v) => out.includes(v)));
}

/** A look-alike was kept when it survives verbatim (as written, JSON-escaped or CSV-quoted; line by line if multi-line). */
export function kept(out: string, it: Item): boolean {
  if (variants(it.text).some((v) => out.includes(v))) return true;
  return it.text.includes('\n') && it.text.split('\n').every((line) => line.trim() === '' || variants(line).some((v) => out.includes(v)));
}
