import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import * as codec from '../../runner/protocol/codec.js';
import { encodeFrame } from '../../runner/protocol/frame.js';
import { ErrCode, FrameType, type TextEntry } from '../../runner/protocol/messages.js';
import { MESSAGE_CASES, plain } from '../../testkit/protocol-arbitraries.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/[^0-9a-f]/gi, ''), 'hex');

// docs/ext-plugin-protocol.md §6.2: the PrepareConf body APISIX's Lua builder produces for the §6.1 route.
const SPEC_PREPARE_BODY = hex(`
  0c 00 00 00 08 00 0c 00 04 00 08 00 08 00 00 00 08 00 00 00 50 00 00 00 01 00 00 00 0c 00 00 00
  08 00 0c 00 08 00 04 00 08 00 00 00 08 00 00 00 24 00 00 00 18 00 00 00
  7b 22 61 6c 6c 6f 77 22 3a 5b 22 74 6f 6f 6c 73 2f 6c 69 73 74 22 5d 7d 00 00 00 00
  09 00 00 00 6d 63 70 2d 61 75 74 68 7a 00 00 00
  1d 00 00 00 72 6f 75 74 65 23 31 23 65 78 74 2d 70 6c 75 67 69 6e 2d 70 72 65 2d 72 65 71 23 34 32 00 00 00`);
const SPEC_PREPARE = {
  conf: [{ name: 'mcp-authz', value: '{"allow":["tools/list"]}' }],
  key: 'route#1#ext-plugin-pre-req#42',
};

test('docs/ext-plugin-protocol.md §6.2: the 136-byte PrepareConf body decodes to the §6.1 example', () => {
  assert.equal(SPEC_PREPARE_BODY.length, 136);
  assert.deepEqual(encodeFrame(FrameType.PrepareConf, SPEC_PREPARE_BODY).subarray(0, 4), hex('01 00 00 88'));
  assert.deepEqual(codec.decodePrepareConfReq(SPEC_PREPARE_BODY), SPEC_PREPARE);
  // Our encoder happens to lay it out exactly like APISIX's builder.
  assert.deepEqual(Buffer.from(codec.encodePrepareConfReq(SPEC_PREPARE)), SPEC_PREPARE_BODY);
});

test('docs/ext-plugin-protocol.md §6.2: runner answer frames are byte-exact', () => {
  assert.deepEqual(
    codec.encodePrepareConfRespFrame({ confToken: 1 }),
    hex('01 00 00 14 0c 00 00 00 00 00 06 00 08 00 04 00 06 00 00 00 01 00 00 00'),
  );
  assert.deepEqual(
    codec.encodeHTTPReqCallRespFrame({ id: 5, action: undefined }),
    hex('02 00 00 14 0c 00 00 00 00 00 06 00 08 00 04 00 06 00 00 00 05 00 00 00'),
  );
  assert.deepEqual(
    codec.errFrame(ErrCode.ConfTokenNotFound),
    hex('00 00 00 14 0c 00 00 00 00 00 06 00 08 00 07 00 06 00 00 00 00 00 00 02'),
  );
  assert.deepEqual(codec.errFrame(ErrCode.BadRequest), hex('00 00 00 0c 08 00 00 00 04 00 04 00 04 00 00 00'));
  // Body-only encoders agree with the frame encoders.
  assert.deepEqual(Buffer.from(codec.encodePrepareConfResp({ confToken: 1 })), codec.encodePrepareConfRespFrame({ confToken: 1 }).subarray(4));
  assert.deepEqual(Buffer.from(codec.encodeErrResp({ code: ErrCode.ConfTokenNotFound })), codec.errFrame(ErrCode.ConfTokenNotFound).subarray(4));
  assert.deepEqual(codec.decodeErrResp(codec.errFrame(ErrCode.BadRequest).subarray(4)), { code: ErrCode.BadRequest });
});

test('absent vs empty: TextEntry value, ExtraInfo result, GET omitted, never an empty body', () => {
  const args: TextEntry[] = [{ name: 'z' }, { name: 'y', value: '' }];
  const req = { id: 0, srcIp: undefined, method: 'GET' as const, path: '/', args, headers: [], confToken: 7 };
  const body = codec.encodeHTTPReqCallReq(req);
  const back = codec.decodeHTTPReqCallReq(body);
  assert.equal(back.args[0]!.value, undefined);
  assert.equal(back.args[1]!.value, '');
  assert.deepEqual(plain(back), plain(req));
  // GET is the default and is omitted: a POST body is longer.
  assert.ok(codec.encodeHTTPReqCallReq({ ...req, method: 'POST' }).length > body.length);

  assert.equal(codec.decodeExtraInfoResp(codec.encodeExtraInfoResp({ result: undefined })).result, undefined);
  assert.equal(codec.decodeExtraInfoResp(codec.encodeExtraInfoResp({ result: new Uint8Array(0) })).result?.length, 0);
  // The smallest answers are still well-formed tables (12 bytes), never zero-length.
  assert.equal(codec.encodeExtraInfoResp({ result: undefined }).length, 12);
  assert.equal(codec.encodeHTTPRespCallResp({ id: 0, status: 0, headers: [], body: undefined }).length, 12);
  assert.equal(codec.encodeHTTPReqCallResp({ id: 0, action: undefined }).length, 12);
});

test('tokens and ids use the full uint32 range', () => {
  const t = 0xfff_fffff;
  assert.equal(codec.decodePrepareConfResp(codec.encodePrepareConfResp({ confToken: t })).confToken, t);
  const call = codec.encodeHTTPRespCallReq({ id: 0xffffffff, status: 599, headers: [], confToken: t });
  assert.equal(codec.peekConfToken(FrameType.HTTPRespCall, call), t);
  assert.deepEqual(codec.decodeHTTPRespCallReq(call), { id: 0xffffffff, status: 599, headers: [], confToken: t });
});

test('ExtraInfo questions: union tag and table per kind', () => {
  for (const q of [{ type: 'var', name: 'request_id' }, { type: 'reqBody' }, { type: 'respBody' }] as const) {
    assert.deepEqual(codec.decodeExtraInfoReq(codec.encodeExtraInfoReq(q)), q);
    assert.deepEqual(codec.decodeExtraInfoReq(codec.encodeExtraInfoReqFrame(q).subarray(4)), q);
  }
});

// ---- property-based round trips -------------------------------------------------------

for (const [name, { arb, encode, decode }] of Object.entries(MESSAGE_CASES)) {
  test(`property: ${name} round trips`, () => {
    fc.assert(
      fc.property(arb, (m) => {
        const body = encode(m as never);
        assert.ok(body.length >= 12, 'never an empty body');
        assert.deepEqual(plain(decode(body)), plain(m));
      }),
      { numRuns: 200 },
    );
  });
}

const decoders = [
  codec.decodePrepareConfReq, codec.decodePrepareConfResp, codec.decodeHTTPReqCallReq, codec.decodeHTTPReqCallResp,
  codec.decodeExtraInfoReq, codec.decodeExtraInfoResp, codec.decodeHTTPRespCallReq, codec.decodeHTTPRespCallResp,
  codec.decodeErrResp,
];

test('property: garbage bodies decode or throw DecodeError, nothing else', () => {
  // Garbage built from real bodies with flipped bytes reaches deep into the readers.
  const seeds = [
    SPEC_PREPARE_BODY,
    codec.encodeHTTPReqCallReq({ id: 3, srcIp: Uint8Array.of(1, 2, 3, 4), method: 'PUT', path: '/p', args: [{ name: 'a' }], headers: [{ name: 'h', value: 'v' }], confToken: 9 }),
    codec.encodeHTTPReqCallResp({ id: 1, action: { type: 'rewrite', path: '/x', headers: [{ name: 'x' }], args: [], respHeaders: [], body: Uint8Array.of(1) } }),
    codec.encodeExtraInfoReq({ type: 'var', name: 'remote_addr' }),
  ];
  const garbage = fc.oneof(
    fc.uint8Array({ maxLength: 200 }),
    fc.tuple(fc.constantFrom(...seeds), fc.array(fc.tuple(fc.nat(), fc.nat({ max: 255 })), { minLength: 1, maxLength: 6 })).map(([seed, flips]) => {
      const b = Buffer.from(seed);
      for (const [at, v] of flips) b[at % b.length] = v;
      return b;
    }),
  );
  fc.assert(
    fc.property(garbage, fc.nat({ max: decoders.length - 1 }), (body, which) => {
      try {
        decoders[which]!(body);
      } catch (err) {
        assert.ok(err instanceof codec.DecodeError, `unexpected ${(err as Error).name}: ${(err as Error).message}`);
      }
    }),
    { numRuns: 2000 },
  );
});

test('a vector length that overruns the body is rejected without allocating', () => {
  const b = Buffer.from(SPEC_PREPARE_BODY);
  b.writeUInt32LE(0x7fffffff, 0x18); // conf vector length
  assert.throws(() => codec.decodePrepareConfReq(b), codec.DecodeError);
  assert.throws(() => codec.decodePrepareConfReq(new Uint8Array(0)), /too short/);
});

test('encoder results never alias the shared builder', () => {
  const a = codec.encodePrepareConfResp({ confToken: 11 });
  const b = codec.encodePrepareConfResp({ confToken: 22 });
  assert.equal(codec.decodePrepareConfResp(a).confToken, 11);
  assert.equal(codec.decodePrepareConfResp(b).confToken, 22);
  // A large message grows the builder; later small ones still encode correctly.
  const big = codec.encodeHTTPRespCallResp({ id: 1, status: 200, headers: [], body: new Uint8Array(3 << 20) });
  assert.equal(codec.decodeHTTPRespCallResp(big).body?.length, 3 << 20);
  assert.equal(codec.decodePrepareConfResp(codec.encodePrepareConfResp({ confToken: 5 })).confToken, 5);
});
