// Shared pieces for the emulator's tests: a real HTTP upstream that records what it got, a
// raw HTTP client (no keepalive, so each request is a new client connection), and setup.

import http, { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import { startEmulator, type Emulator, type EmulatorOptions, type RouteConf } from '../emulator/index.js';
import { startFakeRunner, type FakeRunner, type Script } from './fake-runner.js';

export interface SeenRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
  body: string;
  remotePort: number;
}

export interface Upstream {
  port: number;
  seen: SeenRequest[];
  connections: number;
  close(): Promise<void>;
}

export type UpstreamHandler = (req: IncomingMessage, res: ServerResponse, body: string) => void | Promise<void>;

/** Default: 200 JSON echo of what arrived, plus an `X-Up` header. */
const echo: UpstreamHandler = (req, res, body) => {
  res.setHeader('Content-Type', 'application/json');
  res.setHeader('X-Up', 'yes');
  res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body }));
};

export async function startUpstream(handler: UpstreamHandler = echo): Promise<Upstream> {
  const seen: SeenRequest[] = [];
  const sockets = new Set<Socket>();
  let connections = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders, body, remotePort: req.socket.remotePort ?? 0 });
      void handler(req, res, body);
    });
  });
  server.on('connection', (s: Socket) => {
    connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    seen,
    get connections() {
      return connections;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export interface ClientResponse {
  status: number;
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
  body: string;
}

export function request(
  url: string,
  opts: { method?: string; headers?: Record<string, string | string[]>; body?: string | Buffer } = {},
): Promise<ClientResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: opts.method ?? 'GET', headers: opts.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, rawHeaders: res.rawHeaders, body: Buffer.concat(chunks).toString('utf8') }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

export function route(id: number | string, upstreamPort: number, plugins: RouteConf['plugins'] = {}, extra: Partial<RouteConf> = {}): RouteConf {
  return { id, uri: '/*', plugins, upstream: { nodes: { [`127.0.0.1:${upstreamPort}`]: 1 } }, ...extra };
}

export const conf = (name = 'p', value = '{}'): { conf: { name: string; value: string }[] } => ({ conf: [{ name, value }] });

export interface Rig {
  emu: Emulator;
  runner: FakeRunner;
  upstream: Upstream;
  dir: string;
  close(): Promise<void>;
}

/** Upstream + fake runner on a temp socket + emulator in path_for_test mode. */
export async function rig(
  routes: (upstreamPort: number) => RouteConf[],
  script: Script = {},
  extra: Partial<EmulatorOptions> & { upstream?: UpstreamHandler; noRunner?: boolean } = {},
): Promise<Rig> {
  const dir = await mkdtemp(join(tmpdir(), 'emu-test-'));
  const upstream = await startUpstream(extra.upstream);
  const socketPath = join(dir, 'runner.sock');
  const runner = await startFakeRunner(extra.noRunner === true ? join(dir, 'unused.sock') : socketPath, script);
  const emu = await startEmulator({ routes: routes(upstream.port), pathForTest: socketPath, workDir: dir, ...extra });
  return {
    emu,
    runner,
    upstream,
    dir,
    async close() {
      await emu.stop();
      await runner.close();
      await upstream.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
