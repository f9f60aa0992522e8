// Benchmark scenarios: the route confs and the calls APISIX would send for each.

import { encodeHTTPReqCallReq, encodeHTTPRespCallReq } from '../runner/protocol/codec.js';
import type { HTTPReqCallResp, HTTPRespCallResp, RewriteAction, TextEntry } from '../runner/protocol/messages.js';
import type { CallScript } from './protocol-load.js';
import { fileURLToPath } from 'node:url';
import { realisticSetup } from './realistic.js';

const BODY_FETCH_PLUGIN = fileURLToPath(new URL('./plugins/body-fetch.js', import.meta.url));

export interface Scenario {
  name: string;
  phases: 'req' | 'req+resp';
  preConf: TextEntry[] & Array<{ name: string; value: string }>;
  postConf?: Array<{ name: string; value: string }> | undefined;
  /** The scenario whose figures this one is compared with (default: itself / the floor). */
  floorOf?: string | undefined;
  /** Runs only when named in --only (diagnostic scenarios). */
  optIn?: boolean | undefined;
  /** Calls to make before measuring (0: the short default warm-up only). */
  warmup?: number | undefined;
  script(tokens: { pre: number; post: number | undefined }): (i: number) => CallScript;
}

export interface BenchSetup {
  list: Scenario[];
  env: Record<string, string>;
  close(): Promise<void>;
}

const enc = new TextEncoder();

export const TOOLS_CALL_BODY = enc.encode(
  JSON.stringify({
    jsonrpc: '2.0',
    id: 17,
    method: 'tools/call',
    params: { name: 'crm.lookup_customer', arguments: { customer_id: 'c-1001', fields: ['name', 'plan', 'status'], include_history: false } },
  }),
);

export function baseHeaders(body: Uint8Array, extra: TextEntry[] = []): TextEntry[] {
  return [
    { name: 'host', value: 'gateway.example.com' },
    { name: 'content-type', value: 'application/json' },
    { name: 'accept', value: 'application/json, text/event-stream' },
    { name: 'content-length', value: String(body.length) },
    { name: 'mcp-protocol-version', value: '2025-06-18' },
    { name: 'user-agent', value: 'bench-agent/1.0' },
    ...extra,
  ];
}

export function reqCallBytes(token: number, body: Uint8Array, headers: TextEntry[]): Uint8Array {
  return encodeHTTPReqCallReq({ id: 1, srcIp: new Uint8Array([10, 0, 0, 7]), method: 'POST', path: '/mcp', args: [], headers: baseHeaders(body, headers), confToken: token });
}

export function expectPass(r: HTTPReqCallResp): void {
  if (r.action?.type === 'stop') throw new Error(`bench call was refused with ${r.action.status}: ${new TextDecoder().decode(r.action.body)}`);
}

export function callHeaderOf(r: HTTPReqCallResp): string | undefined {
  return (r.action as RewriteAction | undefined)?.headers?.find((h) => h.name === 'x-mcp-gateway-call')?.value;
}

export function respCallBytes(token: number, contentType: string): Uint8Array {
  return encodeHTTPRespCallReq({
    id: 2,
    status: 200,
    headers: [
      { name: 'Content-Type', value: contentType },
      { name: 'Mcp-Session-Id', value: 'b7d1c1e0-5a55-4c55-9d7a-4a3c7f0f9e11' },
      { name: 'Date', value: 'Wed, 25 Nov 2026 12:00:00 GMT' },
    ],
    confToken: token,
  });
}

export function expectResp(r: HTTPRespCallResp): void {
  if (r.status >= 400) throw new Error(`bench response was replaced with ${r.status}`);
}

export interface ScenarioOptions {
  /** Distinct callers of the realistic scenarios (default 10000). */
  users?: number | undefined;
}

/** Bench options shared by run.ts and host-cpu.ts: `--users N` (default 10000). */
export function usersArg(argv: readonly string[]): number {
  const i = argv.indexOf('--users');
  return i >= 0 && argv[i + 1] ? Number(argv[i + 1]) : 10_000;
}

export async function scenarios(dir: string, opts: ScenarioOptions = {}): Promise<BenchSetup> {
  const realistic = await realisticSetup(dir, { users: opts.users ?? 10_000 });
  // The floors send the population's calls (same bodies and headers, so the same ExtraInfo
  // and frame sizes) to routes that only fetch the body.
  const simple = realistic.reqOnly;
  // The floor: one HTTPReqCall exchange with its ExtraInfo ReqBody round trip, nothing else.
  const floor: Scenario = { name: 'floor', phases: 'req', preConf: [{ name: 'bench-body-fetch', value: '{}' }], script: simple };
  // No plugin at all: the runner answers without asking for the body (what APISIX pays at least).
  const empty: Scenario = { name: 'empty-chain', phases: 'req', floorOf: 'floor', preConf: [], script: simple };
  // The floor plus strict JSON-RPC parsing and classification of the body.
  const parse: Scenario = {
    name: 'mcp-parse',
    phases: 'req',
    floorOf: 'floor',
    preConf: [{ name: 'mcp-route', value: JSON.stringify({ validate_body: true }) }],
    script: simple,
  };
  const twin = (sc: Scenario): Scenario => ({
    ...sc,
    name: `${sc.name}-1token`,
    floorOf: sc.floorOf === undefined ? undefined : `${sc.floorOf}-1token`,
    optIn: true,
    script: realistic.oneToken,
  });
  // Scenarios that verify tokens warm up over the whole population (each token once).
  const warm = (sc: Scenario): Scenario =>
    sc.name.endsWith('-1token') || !sc.preConf.some((e) => e.name === 'mcp-authz') ? sc : { ...sc, warmup: realistic.warmup };
  return {
    list: [floor, empty, parse, ...realistic.list, twin(floor), twin(empty), twin(parse)].map(warm),
    env: { MCP_RUNNER_PLUGINS: BODY_FETCH_PLUGIN, ...realistic.env },
    close: realistic.close,
  };
}
