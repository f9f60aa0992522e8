// The upstreams of the e2e routes for a real deployment, on fixed ports on 127.0.0.1 (the ports
// of conf/e2e/gateway.yaml), plus a control endpoint that lets the e2e CLI see what reached them
// and change a tool definition (pinning):
//
//   node dist/e2e/upstreams.js [--gateway conf/e2e/gateway.yaml] [--ready-file F]
//
//   GET  /upstreams/<sse|json|pin>/seen?id=<JSON id>          requests with that JSON-RPC id
//   GET  /upstreams/<sse|json|pin>/tools                      {count}
//   PUT  /upstreams/<sse|json|pin>/tools/<tool>/description   {description} -> {previous}
//
// Test servers only: they record headers (including the backend credential) and bind 127.0.0.1.

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { writeFile } from 'node:fs/promises';
import { startSampleMcpServer, type SampleServer } from '../examples/sample-mcp-server.js';
import { UPSTREAM_NAMES, type UpstreamName } from './access.js';
import { startEverythingServer, startFaultUpstream } from './harness.js';

/** Every upstream an e2e route needs, by role. */
export interface UpstreamPorts {
  sse: number;
  json: number;
  pin: number;
  stateful: number;
  everything: number;
  faults: number;
  control: number;
}

export interface E2eUpstreams {
  ports: UpstreamPorts;
  samples: Record<UpstreamName, SampleServer>;
  close(): Promise<void>;
}

async function body(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  return text === '' ? undefined : (JSON.parse(text) as unknown);
}

function answer(res: ServerResponse, status: number, value: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));
}

async function control(samples: Record<UpstreamName, SampleServer>, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://control');
  const m = /^\/upstreams\/([a-z]+)\/(seen|tools)(?:\/([^/]+)\/description)?$/.exec(url.pathname);
  const which = m?.[1] as UpstreamName | undefined;
  if (m === null || which === undefined || !UPSTREAM_NAMES.includes(which)) return answer(res, 404, { error: `unknown path ${url.pathname}` });
  const server = samples[which];
  if (m[2] === 'seen' && req.method === 'GET') {
    const id: unknown = JSON.parse(url.searchParams.get('id') ?? 'null');
    return answer(res, 200, server.seen.filter((s) => (s.body as { id?: unknown } | undefined)?.id === id).map((s) => ({ headers: s.headers, body: s.body })));
  }
  if (m[2] === 'tools' && m[3] === undefined && req.method === 'GET') return answer(res, 200, { count: server.tools.length });
  if (m[2] === 'tools' && m[3] !== undefined && req.method === 'PUT') {
    const tool = server.tools.find((t) => t.name === decodeURIComponent(m[3]!));
    const description = (await body(req)) as { description?: unknown } | undefined;
    if (tool === undefined || typeof description?.description !== 'string') return answer(res, 400, { error: 'unknown tool or no description' });
    const previous = tool.description ?? '';
    tool.description = description.description;
    return answer(res, 200, { previous });
  }
  return answer(res, 405, { error: 'method not allowed' });
}

/** Start every upstream on the given ports (0: any free port) and the control endpoint. */
export async function startE2eUpstreams(want: Partial<UpstreamPorts> = {}): Promise<E2eUpstreams> {
  const started: Array<{ close(): Promise<void> }> = [];
  try {
    const sse = await startSampleMcpServer({ port: want.sse ?? 0 });
    started.push(sse);
    const json = await startSampleMcpServer({ port: want.json ?? 0, json: true });
    started.push(json);
    const pin = await startSampleMcpServer({ port: want.pin ?? 0 });
    started.push(pin);
    const stateful = await startSampleMcpServer({ port: want.stateful ?? 0, stateful: true });
    started.push(stateful);
    const everything = await startEverythingServer(want.everything ?? 0);
    started.push(everything);
    const faults = await startFaultUpstream(want.faults ?? 0);
    started.push(faults);
    const samples = { sse, json, pin };
    const http = createServer((req, res) => {
      control(samples, req, res).catch((err: unknown) => answer(res, 500, { error: String(err) }));
    });
    await new Promise<void>((resolve, reject) => {
      http.once('error', reject);
      http.listen(want.control ?? 0, '127.0.0.1', () => resolve());
    });
    const controlPort = (http.address() as { port: number }).port;
    started.push({ close: () => new Promise<void>((r) => (http.closeAllConnections(), http.close(() => r()))) });
    return {
      ports: { sse: sse.port, json: json.port, pin: pin.port, stateful: stateful.port, everything: everything.port, faults: faults.port, control: controlPort },
      samples,
      close: async () => {
        await Promise.all(started.map((s) => s.close()));
      },
    };
  } catch (err) {
    await Promise.all(started.map((s) => s.close()));
    throw err;
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const opt = (name: string): string | undefined => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const { loadE2eGateway, E2E_GATEWAY } = await import('./real-config.js');
  const gateway = await loadE2eGateway(opt('gateway') ?? E2E_GATEWAY);
  const up = await startE2eUpstreams(gateway.upstreams);
  const line = JSON.stringify({ ports: up.ports });
  process.stdout.write(`e2e upstreams ready ${line}\n`);
  const ready = opt('ready-file');
  if (ready !== undefined) await writeFile(ready, `${line}\n`);
  const stop = (): void => {
    void up.close().finally(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

if (process.argv[1]?.endsWith('/e2e/upstreams.js')) {
  main().catch((err: unknown) => {
    process.stderr.write(`e2e upstreams: ${(err as Error).message}\n`);
    process.exit(1);
  });
}
