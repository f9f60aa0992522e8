// Closed-loop load over the runner's Unix socket, the way APISIX workers drive it: each
// connection carries one exchange at a time. Reports decisions per second and latency
// percentiles; the caller alternates scenarios so machine noise hits all of them alike.

import { ProtocolClient, type CallData } from '../testkit/apisix-client.js';
import type { HTTPReqCallResp, HTTPRespCallResp } from '../runner/protocol/messages.js';

export interface LoadResult {
  calls: number;
  seconds: number;
  rate: number;
  /** Latencies in microseconds. */
  p50: number;
  p99: number;
  /** Runner CPU time per call (µs), filled by the caller from /proc. */
  cpuMicros?: number;
}

/** One HTTP call as APISIX would drive it: a request phase, optionally a response phase. */
export interface CallScript {
  /** Encoded HTTPReqCall body (pre-encoded: the client must cost little). */
  reqCall: Uint8Array;
  reqData: CallData;
  /** Throws when the answer is not the expected one (a bench that measures refusals is wrong). */
  checkReq(r: HTTPReqCallResp): void;
  /** Response phase, when the route has post-resp. Gets the request-phase answer (for the call header). */
  respCall?: { body: Uint8Array; data(req: HTTPReqCallResp): CallData; check(r: HTTPRespCallResp): void };
}

/** Closed-loop load for `ms`, or until `maxCalls` calls were made (warm-up passes). */
export async function runLoad(socket: string, connections: number, ms: number, script: (i: number) => CallScript, maxCalls = Infinity): Promise<LoadResult> {
  const clients = await Promise.all(Array.from({ length: connections }, () => ProtocolClient.open(socket)));
  const latencies: number[] = [];
  let calls = 0;
  const start = performance.now();
  const end = start + ms;
  await Promise.all(
    clients.map(async (client, ci) => {
      let i = ci;
      while (performance.now() < end && i < maxCalls) {
        const s = script(i);
        i += connections;
        const t0 = performance.now();
        const r = await client.reqCall(s.reqCall, s.reqData);
        s.checkReq(r);
        if (s.respCall) {
          const rr = await client.respCall(s.respCall.body, s.respCall.data(r));
          s.respCall.check(rr);
        }
        latencies.push((performance.now() - t0) * 1000);
        calls++;
      }
    }),
  );
  const seconds = (performance.now() - start) / 1000;
  for (const c of clients) c.close();
  latencies.sort((a, b) => a - b);
  const pct = (p: number): number => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] ?? 0;
  return { calls, seconds, rate: calls / seconds, p50: pct(0.5), p99: pct(0.99) };
}

/** Prepare a conf on the runner and return its token. */
export async function prepare(socket: string, conf: Array<{ name: string; value: string }>, key: string): Promise<number> {
  const c = await ProtocolClient.open(socket);
  try {
    return await c.prepare(conf, key);
  } finally {
    c.close();
  }
}
