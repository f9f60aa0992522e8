// Random garbage on one connection never crashes the runner: it answers or closes that
// connection, and keeps serving the others.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  decodeHTTPReqCallResp,
  encodeExtraInfoResp,
  encodeHTTPReqCallReq,
  encodeHTTPRespCallReq,
  encodePrepareConfReq,
} from '../../runner/protocol/codec.js';
import { encodeFrame } from '../../runner/protocol/frame.js';
import { FrameType } from '../../runner/protocol/messages.js';
import { startServer } from '../../runner/protocol/server.js';
import { ProtocolClient, RUNNER_FRAME_DECODERS, reqCall, tempSocketPath } from '../../testkit/apisix-client.js';
import { TestHost, type TestChain } from '../../testkit/test-host.js';

test('property: garbage frames never crash the server', async () => {
  const path = tempSocketPath();
  const host = new TestHost();
  const server = await startServer<TestChain>({ address: `unix:${path}`, host });
  const healthy = await ProtocolClient.open(path);
  const plain = await healthy.prepare([], 'plain');
  const asking = await healthy.prepare([{ name: 'var', value: 'x' }], 'asking');
  const text = fc.string({ maxLength: 12 });
  const entries = fc.array(fc.record({ name: text, value: fc.option(text, { nil: undefined }) }), { maxLength: 3 });

  const piece = fc.oneof(
    fc.uint8Array({ maxLength: 40 }),
    fc.record({ type: fc.nat({ max: 255 }), body: fc.uint8Array({ maxLength: 40 }) }).map(({ type, body }) => encodeFrame(type as FrameType, body)),
    fc.record({ conf: entries, key: text }).map((m) => encodeFrame(FrameType.PrepareConf, encodePrepareConfReq(m))),
    fc.record({ token: fc.constantFrom(plain, asking, 0, 1, 0xffffffff), resp: fc.boolean(), headers: entries }).map(({ token, resp, headers }) =>
      resp
        ? encodeFrame(FrameType.HTTPRespCall, encodeHTTPRespCallReq({ id: 1, status: 200, headers, confToken: token }))
        : encodeFrame(FrameType.HTTPReqCall, encodeHTTPReqCallReq(reqCall({ confToken: token, headers }))),
    ),
    fc.option(fc.uint8Array({ maxLength: 8 }), { nil: undefined }).map((result) => encodeFrame(FrameType.ExtraInfo, encodeExtraInfoResp({ result }))),
  );

  try {
    await fc.assert(
      fc.asyncProperty(fc.array(piece, { minLength: 1, maxLength: 8 }), fc.boolean(), async (pieces, byteByByte) => {
        const g = await ProtocolClient.open(path);
        const wire = Buffer.concat(pieces);
        if (byteByByte && wire.length < 200) await g.sendInPieces(wire, 7);
        else g.socket.write(wire);
        g.end();
        const closed = await Promise.race([g.closed.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 3000))]);
        assert.ok(closed, 'the runner closes a connection whose peer has ended');
        // Whatever the runner answered is a well-formed frame of a known type.
        for (;;) {
          let f;
          try {
            f = await g.next(1);
          } catch {
            break;
          }
          const decode = RUNNER_FRAME_DECODERS[f.type];
          assert.ok(decode, `answer of unknown type ${f.type}`);
          decode(f.body);
        }
        // Other connections are unaffected.
        healthy.sendReqCall({ id: 77, confToken: plain });
        const { frame } = await healthy.finish();
        assert.deepEqual(decodeHTTPReqCallResp(frame.body), { id: 77, action: undefined });
      }),
      { numRuns: 100 },
    );
    assert.equal(server.inFlight(), 0);
    assert.equal(server.counters.connectionsOpen, 1);
  } finally {
    healthy.close();
    await server.close({ drainMs: 50 });
  }
});
