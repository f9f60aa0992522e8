// The tool-output corpus: documents shaped like what MCP tools return (JSON with nested and
// telling field names, CSV, logs, tickets in prose, stack traces, .env, YAML, HTTP dumps,
// markdown, Kubernetes Secrets), each holding labelled sensitive values and look-alikes, and
// each assigned a transport (how the answer carries it). Deterministic for a seed.

import { CATEGORIES, makeItem, Rng, type Category, type Item } from './values.js';

export const SHAPES = ['json', 'csv', 'log', 'ticket', 'stacktrace', 'env', 'yaml', 'http', 'markdown', 'k8s'] as const;
export type Shape = (typeof SHAPES)[number];

export const TRANSPORTS = ['text', 'structured', 'sse', 'error', 'notification', 'split_items', 'split_sse', 'blob', 'arguments'] as const;
export type Transport = (typeof TRANSPORTS)[number];

export interface Doc {
  shape: Shape;
  transport: Transport;
  text: string;
  /** The same content as a JSON value (json and k8s shapes), for structuredContent. */
  structured: Record<string, unknown> | undefined;
  items: Item[];
  /** Where split transports cut `text` (inside a sensitive value). */
  cut: number | undefined;
  mimeType: string;
}

const SERVICES = ['billing-api', 'crm-sync', 'etl-nightly', 'auth-gateway', 'orders', 'notifier'];
const LEVELS = ['INFO', 'WARN', 'ERROR', 'DEBUG'];

function label(key: string): string {
  return key.replace(/[_-]+/g, ' ').replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase();
}

/** Items whose text is already a line with its own key (assignments, commands, headers). */
function selfKeyed(it: Item): boolean {
  return it.category === 'assignment' || (it.category === 'cloud' && it.text.includes('AccountName='));
}

function multiline(it: Item): boolean {
  return it.text.includes('\n');
}

function ts(rng: Rng): string {
  return `2026-0${rng.int(1, 9)}-${String(rng.int(10, 28))}T${String(rng.int(10, 23))}:${String(rng.int(10, 59))}:${String(rng.int(10, 59))}.${rng.digits(3)}Z`;
}

function jsonShape(items: Item[], rng: Rng): { text: string; structured: Record<string, unknown> } {
  const root: Record<string, unknown> = { id: `req_${rng.digits(8)}`, status: rng.pick(['ok', 'partial', 'done']) };
  const sections = ['customer', 'account', 'config', 'metadata', 'owner', 'billing', 'integration'];
  items.forEach((it, i) => {
    const section = sections[(i + rng.int(0, 6)) % sections.length]!;
    const parent = (root[section] ??= { updated_at: ts(rng) }) as Record<string, unknown>;
    if (selfKeyed(it)) {
      const lines = (parent['notes'] ??= []) as string[];
      lines.push(it.text);
    } else if (rng.next() < 0.2) {
      (parent['records'] ??= []) as unknown[];
      (parent['records'] as unknown[]).push({ [it.key]: it.text, seq: i });
    } else {
      parent[parent[it.key] === undefined ? it.key : `${it.key}_${i}`] = it.text;
    }
  });
  return { text: JSON.stringify(root, null, rng.next() < 0.7 ? 2 : 0), structured: root };
}

function csvCell(s: string): string {
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function csvShape(items: Item[], rng: Rng): string {
  const header = ['id', ...items.map((it, i) => (selfKeyed(it) ? `note_${i}` : it.key)), 'created'];
  const row = [String(rng.int(1000, 9999)), ...items.map((it) => it.text), ts(rng)];
  const filler = [String(rng.int(1000, 9999)), ...items.map(() => rng.pick(['n/a', '', 'pending', String(rng.int(1, 99))])), ts(rng)];
  const rows = rng.next() < 0.5 ? [row, filler] : [filler, row];
  return [header, ...rows].map((r) => r.map(csvCell).join(',')).join('\n');
}

function logShape(items: Item[], rng: Rng): string {
  const svc = rng.pick(SERVICES);
  const lines: string[] = [];
  for (const it of items) {
    const prefix = `${ts(rng)} ${rng.pick(LEVELS)} [${svc}] `;
    if (selfKeyed(it)) lines.push(prefix + rng.pick(['loaded env ', 'exec: ', 'config: ', '']) + it.text);
    else if (multiline(it)) lines.push(`${prefix}dumping ${it.key}:\n${it.text}`);
    else lines.push(prefix + rng.pick([`${it.key}=${it.text} action=update`, `${label(it.key)}: ${it.text}`, `updated ${label(it.key)} to ${it.text}`, `{"${it.key}":"${it.text.replace(/"/g, '\\"')}","op":"sync"}`]));
    if (rng.next() < 0.4) lines.push(`${ts(rng)} DEBUG [${svc}] latency_ms=${rng.int(1, 900)} retries=${rng.int(0, 3)}`);
  }
  return lines.join('\n');
}

function ticketShape(items: Item[], rng: Rng): string {
  const parts = [`Ticket #${rng.int(10000, 99999)} (${rng.pick(['P2', 'P3', 'P1'])}) — ${rng.pick(['Refund request', 'Login issue', 'Data export', 'Account update'])}`, ''];
  for (const it of items) {
    if (selfKeyed(it)) parts.push(rng.pick([`Customer pasted this from their config: ${it.text}`, `Steps: ran \`${it.text}\` then retried.`, `${it.text}`]));
    else if (multiline(it)) parts.push(`Attached ${label(it.key)}:\n\n${it.text}\n`);
    else
      parts.push(
        rng.pick([
          `The customer's ${label(it.key)} is ${it.text}, please verify.`,
          `Reached them on ${it.text} (${label(it.key)}).`,
          `Updated ${label(it.key)} → ${it.text}.`,
          `${label(it.key)}: ${it.text}`,
          `They wrote: "my ${label(it.key)} ${it.text} stopped working".`,
        ]),
      );
  }
  parts.push('', `— ${rng.pick(['Agent Kim', 'Support bot', 'L2 on-call'])}`);
  return parts.join('\n');
}

function stackShape(items: Item[], rng: Rng): string {
  const lines = [`${rng.pick(['Error', 'TypeError', 'ConnectionError', 'psycopg2.OperationalError'])}: request failed for ${items[0] && !multiline(items[0]) ? items[0].text : 'upstream'}`];
  for (let i = 0; i < rng.int(2, 4); i++) lines.push(`    at ${rng.pick(['Client.connect', 'Pool.acquire', 'handler', 'retry'])} (/app/src/${rng.pick(['db', 'http', 'jobs'])}.js:${rng.int(1, 400)}:${rng.int(1, 40)})`);
  lines.push('Context:');
  for (const it of items.slice(items[0] && !multiline(items[0]) ? 1 : 0)) lines.push(selfKeyed(it) ? `  ${it.text}` : multiline(it) ? `  ${it.key}:\n${it.text}` : `  ${it.key} = ${JSON.stringify(it.text)}`);
  return lines.join('\n');
}

function envShape(items: Item[], rng: Rng): string {
  const lines = [`# ${rng.pick(SERVICES)} environment`, `NODE_ENV=production`, `PORT=${rng.int(3000, 9000)}`];
  for (const it of items) {
    if (selfKeyed(it)) lines.push(it.text);
    else if (multiline(it)) lines.push(`${it.key.toUpperCase()}="${it.text.replace(/\n/g, '\\n')}"`);
    else lines.push(`${it.key.toUpperCase().replace(/[^A-Z0-9]+/g, '_')}=${rng.next() < 0.3 ? `"${it.text}"` : it.text}`);
  }
  return lines.join('\n');
}

function yamlShape(items: Item[], rng: Rng): string {
  const lines = [`service: ${rng.pick(SERVICES)}`, 'settings:'];
  for (const it of items) {
    if (selfKeyed(it)) lines.push(`  - ${JSON.stringify(it.text)}`);
    else if (multiline(it)) lines.push(`  ${it.key}: |`, ...it.text.split('\n').map((l) => `    ${l}`));
    else lines.push(`  ${it.key}: ${rng.next() < 0.3 ? `'${it.text}'` : it.text}`);
  }
  return lines.join('\n');
}

function httpShape(items: Item[], rng: Rng): string {
  const lines = [`${rng.pick(['POST', 'GET', 'PUT'])} /v1/${rng.pick(['customers', 'payments', 'hooks'])} HTTP/1.1`, `Host: api.${rng.pick(['internal', 'example.net'])}`, `X-Request-Id: ${rng.digits(12)}`];
  const body: Record<string, string> = {};
  for (const it of items) {
    if (it.category === 'assignment' && it.text.startsWith('Authorization:')) lines.push(it.text);
    else if (selfKeyed(it)) lines.push(`X-Debug: ${it.text}`);
    else body[body[it.key] === undefined ? it.key : `${it.key}_${Object.keys(body).length}`] = it.text;
  }
  lines.push('Content-Type: application/json', '', JSON.stringify(body), '', 'HTTP/1.1 200 OK', `Date: ${ts(rng)}`);
  return lines.join('\n');
}

function markdownShape(items: Item[], rng: Rng): string {
  const lines = [`## ${rng.pick(['Incident notes', 'Runbook', 'Customer record', 'Migration'])}`, '', '| field | value |', '|---|---|'];
  const blocks: string[] = [];
  for (const it of items) {
    if (multiline(it)) blocks.push('```', it.text, '```');
    else if (selfKeyed(it)) blocks.push('```sh', it.text, '```');
    else lines.push(`| ${label(it.key)} | \`${it.text}\` |`);
  }
  return [...lines, '', ...blocks].join('\n');
}

/**
 * A Kubernetes Secret (every `data` value base64: the encoded value is what must not leak;
 * look-alikes sit in plain annotations) or a ConfigMap (plain data, nothing to mask there).
 */
function k8sShape(items: Item[], rng: Rng): { text: string; structured: Record<string, unknown> } {
  const secret = items.some((it) => it.sensitive);
  const data: Record<string, string> = {};
  const annotations: Record<string, string> = {};
  items.forEach((it, i) => {
    const key = `${it.key.replace(/[^A-Za-z0-9_.-]/g, '_')}${i}`;
    if (secret && it.sensitive) {
      const encoded = Buffer.from(it.text).toString('base64');
      it.text = encoded;
      it.secret = encoded;
      data[key] = encoded;
    } else if (secret) {
      annotations[`example.com/${key}`] = it.text;
    } else {
      data[key] = it.text;
    }
  });
  const name = `${rng.pick(SERVICES)}-${secret ? 'creds' : 'config'}`;
  const doc = secret
    ? { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: 'prod', annotations }, type: 'Opaque', data }
    : { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data };
  const quote = (v: string): string => (/[\n:#]/.test(v) ? JSON.stringify(v) : v);
  const yaml = [
    'apiVersion: v1',
    `kind: ${doc.kind}`,
    'metadata:',
    `  name: ${name}`,
    ...(secret && Object.keys(annotations).length > 0 ? ['  annotations:', ...Object.entries(annotations).map(([k, v]) => `    ${k}: ${quote(v)}`)] : []),
    ...(secret ? ['type: Opaque'] : []),
    'data:',
    ...Object.entries(data).map(([k, v]) => `  ${k}: ${quote(v)}`),
  ].join('\n');
  return { text: rng.next() < 0.5 ? yaml : JSON.stringify(doc, null, 2), structured: doc };
}

const MIME: Record<Shape, string> = {
  json: 'application/json', csv: 'text/csv', log: 'text/plain', ticket: 'text/plain', stacktrace: 'text/plain', env: 'text/plain',
  yaml: 'application/yaml', http: 'message/http', markdown: 'text/markdown', k8s: 'application/yaml',
};

function build(shape: Shape, items: Item[], rng: Rng): { text: string; structured: Record<string, unknown> | undefined } {
  switch (shape) {
    case 'json':
      return jsonShape(items, rng);
    case 'k8s':
      return k8sShape(items, rng);
    case 'csv':
      return { text: csvShape(items, rng), structured: undefined };
    case 'log':
      return { text: logShape(items, rng), structured: undefined };
    case 'ticket':
      return { text: ticketShape(items, rng), structured: undefined };
    case 'stacktrace':
      return { text: stackShape(items, rng), structured: undefined };
    case 'env':
      return { text: envShape(items, rng), structured: undefined };
    case 'yaml':
      return { text: yamlShape(items, rng), structured: undefined };
    case 'http':
      return { text: httpShape(items, rng), structured: undefined };
    case 'markdown':
      return { text: markdownShape(items, rng), structured: undefined };
  }
}

/** Where a secret sits in the document text (raw or JSON-escaped). */
function locate(text: string, secret: string): number {
  const at = text.indexOf(secret);
  if (at !== -1) return at;
  return text.indexOf(JSON.stringify(secret).slice(1, -1));
}

/** `sensitiveRate`: share of items that are sensitive (0 for documents of look-alikes only). */
export function generateCorpus(seed: number, count: number, sensitiveRate = 0.5): Doc[] {
  const rng = new Rng(seed);
  const docs: Doc[] = [];
  for (let n = 0; n < count; n++) {
    const shape = SHAPES[n % SHAPES.length]!;
    const transport = TRANSPORTS[Math.floor(n / SHAPES.length) % TRANSPORTS.length]!;
    const split = sensitiveRate > 0 && (transport === 'split_items' || transport === 'split_sse');
    const items: Item[] = [];
    const k = rng.int(2, 5);
    for (let i = 0; i < k; i++) {
      const category: Category = CATEGORIES[(n * 7 + i * 3 + rng.int(0, 9)) % CATEGORIES.length]!;
      items.push(makeItem(rng, category, (split && i === 0) || rng.next() < sensitiveRate));
    }
    const { text, structured } = build(shape, items, rng);
    let cut: number | undefined;
    if (split) {
      const first = items.find((it) => it.sensitive)!;
      const at = locate(text, first.secret);
      // Cut inside the secret, never at its very edge; a value we cannot find is cut mid-text.
      cut = at >= 0 ? at + Math.max(1, Math.floor(first.secret.length * (0.3 + 0.4 * rng.next()))) : Math.floor(text.length / 2);
    }
    docs.push({ shape, transport, text, structured, items, cut, mimeType: MIME[shape] });
  }
  return docs;
}
