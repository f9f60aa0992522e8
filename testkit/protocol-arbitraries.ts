// fast-check generators for every ext-plugin message, shared by the codec property tests.
import fc from 'fast-check';
import * as codec from '../runner/protocol/codec.js';
import { ErrCode, METHODS, type TextEntry } from '../runner/protocol/messages.js';

const text = fc.string({ unit: 'grapheme', maxLength: 20 });
const entry: fc.Arbitrary<TextEntry> = fc.record({ name: text, value: fc.option(text, { nil: undefined }) });
const entries = fc.array(entry, { maxLength: 6 });
const u32 = fc.nat({ max: 0xffffffff });
const u16 = fc.nat({ max: 0xffff });
const bytes = fc.option(fc.uint8Array({ maxLength: 64 }), { nil: undefined });

const stop = fc.record({ type: fc.constant('stop' as const), status: u16, headers: entries, body: bytes });
const rewrite = fc.record({
  type: fc.constant('rewrite' as const),
  path: fc.option(text, { nil: undefined }),
  headers: entries,
  args: entries,
  respHeaders: entries,
  body: bytes,
});

export interface MessageCase {
  /** Root table in schemas/ext-plugin.fbs. */
  root: string;
  arb: fc.Arbitrary<unknown>;
  encode: (m: never) => Uint8Array;
  decode: (b: Uint8Array) => unknown;
}

export const MESSAGE_CASES: Record<string, MessageCase> = {
  PrepareConfReq: {
    root: 'A6.PrepareConf.Req',
    arb: fc.record({ conf: entries, key: text }),
    encode: codec.encodePrepareConfReq,
    decode: codec.decodePrepareConfReq,
  },
  PrepareConfResp: {
    root: 'A6.PrepareConf.Resp',
    arb: fc.record({ confToken: u32 }),
    encode: codec.encodePrepareConfResp,
    decode: codec.decodePrepareConfResp,
  },
  HTTPReqCallReq: {
    root: 'A6.HTTPReqCall.Req',
    arb: fc.record({
      id: u32, srcIp: bytes, method: fc.constantFrom(...METHODS), path: text, args: entries, headers: entries, confToken: u32,
    }),
    encode: codec.encodeHTTPReqCallReq,
    decode: codec.decodeHTTPReqCallReq,
  },
  HTTPReqCallResp: {
    root: 'A6.HTTPReqCall.Resp',
    arb: fc.record({ id: u32, action: fc.option(fc.oneof(stop, rewrite), { nil: undefined }) }),
    encode: codec.encodeHTTPReqCallResp,
    decode: codec.decodeHTTPReqCallResp,
  },
  ExtraInfoReq: {
    root: 'A6.ExtraInfo.Req',
    arb: fc.oneof(
      fc.record({ type: fc.constant('var' as const), name: text }),
      fc.constant({ type: 'reqBody' as const }),
      fc.constant({ type: 'respBody' as const }),
    ),
    encode: codec.encodeExtraInfoReq,
    decode: codec.decodeExtraInfoReq,
  },
  ExtraInfoResp: {
    root: 'A6.ExtraInfo.Resp',
    arb: fc.record({ result: bytes }),
    encode: codec.encodeExtraInfoResp,
    decode: codec.decodeExtraInfoResp,
  },
  HTTPRespCallReq: {
    root: 'A6.HTTPRespCall.Req',
    arb: fc.record({ id: u32, status: u16, headers: entries, confToken: u32 }),
    encode: codec.encodeHTTPRespCallReq,
    decode: codec.decodeHTTPRespCallReq,
  },
  HTTPRespCallResp: {
    root: 'A6.HTTPRespCall.Resp',
    arb: fc.record({ id: u32, status: u16, headers: entries, body: bytes }),
    encode: codec.encodeHTTPRespCallResp,
    decode: codec.decodeHTTPRespCallResp,
  },
  ErrResp: {
    root: 'A6.Err.Resp',
    arb: fc.record({ code: fc.constantFrom(ErrCode.BadRequest, ErrCode.ServiceUnavailable, ErrCode.ConfTokenNotFound) }),
    encode: codec.encodeErrResp,
    decode: codec.decodeErrResp,
  },
};

/** Plain data for comparison: byte views become arrays, undefined members disappear. */
export function plain(v: unknown): unknown {
  if (v instanceof Uint8Array) return { bytes: [...v] };
  if (Array.isArray(v)) return v.map(plain);
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (x !== undefined) out[k] = plain(x);
    return out;
  }
  return v;
}
