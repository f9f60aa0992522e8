// Decoding the ext-plugin messages (docs/ext-plugin-protocol.md §5) straight from the buffer. The FlatBuffers JS
// library has no verifier, so every offset and vector length is bounds-checked here: a
// malformed body ends in a thrown DecodeError, never in a huge allocation or a silent
// misread. Decoded byte vectors (src_ip, bodies, results) alias the input body.

import {
  ACTION_REWRITE, ACTION_STOP, DecodeError, ERR_CODE, EXTRA_REQ_INFO, EXTRA_REQ_INFO_TYPE, EXTRA_RESP_RESULT,
  INFO_REQ_BODY, INFO_RESP_BODY, INFO_VAR, PREPARE_REQ_CONF, PREPARE_REQ_KEY, PREPARE_RESP_TOKEN,
  REQ_CALL_ARGS, REQ_CALL_HEADERS, REQ_CALL_ID, REQ_CALL_METHOD, REQ_CALL_PATH, REQ_CALL_SRC_IP,
  REQ_CALL_TOKEN, REQ_RESP_ACTION, REQ_RESP_ACTION_TYPE, REQ_RESP_ID, RESP_CALL_HEADERS, RESP_CALL_ID,
  RESP_CALL_STATUS, RESP_CALL_TOKEN, RESP_RESP_BODY, RESP_RESP_HEADERS, RESP_RESP_ID, RESP_RESP_STATUS,
  REWRITE_ARGS, REWRITE_BODY, REWRITE_HEADERS, REWRITE_PATH, REWRITE_RESP_HEADERS, STOP_BODY, STOP_HEADERS,
  STOP_STATUS, TEXT_ENTRY_NAME, TEXT_ENTRY_VALUE, VAR_NAME,
} from './codec-layout.js';
import {
  FrameType,
  METHODS,
  type ErrCode,
  type ErrResp,
  type ExtraInfoReq,
  type ExtraInfoResp,
  type HTTPReqCallReq,
  type HTTPReqCallResp,
  type HTTPRespCallReq,
  type HTTPRespCallResp,
  type HttpMethod,
  type PrepareConfReq,
  type PrepareConfResp,
  type RewriteAction,
  type StopAction,
  type TextEntry,
} from './messages.js';

// Decoding: every read is bounds-checked by Buffer's read* methods (RangeError) and by the
// explicit checks below; all failures surface as DecodeError.

function view(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function rootTable(buf: Buffer): number {
  if (buf.length < 8) throw new DecodeError(`body of ${buf.length} bytes is too short for a table`);
  return checkTable(buf, buf.readUInt32LE(0));
}

function checkTable(buf: Buffer, pos: number): number {
  if (pos + 4 > buf.length) throw new DecodeError('table offset out of bounds');
  const vt = pos - buf.readInt32LE(pos);
  if (vt < 0 || vt + 4 > buf.length || (vt & 1) !== 0) throw new DecodeError('vtable offset out of bounds');
  const vtSize = buf.readUInt16LE(vt);
  if (vtSize < 4 || vt + vtSize > buf.length) throw new DecodeError('vtable size out of bounds');
  return pos;
}

/** Absolute position of a field, or 0 when absent. */
function field(buf: Buffer, table: number, slot: number): number {
  const vt = table - buf.readInt32LE(table);
  if (slot >= buf.readUInt16LE(vt)) return 0;
  const off = buf.readUInt16LE(vt + slot);
  return off === 0 ? 0 : table + off;
}

function u32(buf: Buffer, table: number, slot: number): number {
  const p = field(buf, table, slot);
  return p === 0 ? 0 : buf.readUInt32LE(p);
}

function u16(buf: Buffer, table: number, slot: number): number {
  const p = field(buf, table, slot);
  return p === 0 ? 0 : buf.readUInt16LE(p);
}

function u8(buf: Buffer, table: number, slot: number): number {
  const p = field(buf, table, slot);
  return p === 0 ? 0 : buf.readUInt8(p);
}

/** Start of a vector's elements and its length, with the whole extent bounds-checked. */
function vector(buf: Buffer, fieldPos: number, elemSize: number): number {
  const v = fieldPos + buf.readUInt32LE(fieldPos);
  const n = buf.readUInt32LE(v);
  if (v + 4 + n * elemSize > buf.length) throw new DecodeError('vector extends past the body');
  return v;
}

function str(buf: Buffer, table: number, slot: number): string | undefined {
  const p = field(buf, table, slot);
  if (p === 0) return undefined;
  const v = vector(buf, p, 1);
  return buf.toString('utf8', v + 4, v + 4 + buf.readUInt32LE(v));
}

function bytes(buf: Buffer, table: number, slot: number): Uint8Array | undefined {
  const p = field(buf, table, slot);
  if (p === 0) return undefined;
  const v = vector(buf, p, 1);
  return buf.subarray(v + 4, v + 4 + buf.readUInt32LE(v));
}

function textEntries(buf: Buffer, table: number, slot: number): TextEntry[] {
  const p = field(buf, table, slot);
  if (p === 0) return [];
  const v = vector(buf, p, 4);
  const n = buf.readUInt32LE(v);
  const out: TextEntry[] = new Array<TextEntry>(n);
  for (let i = 0; i < n; i++) {
    const e = v + 4 + i * 4;
    const t = checkTable(buf, e + buf.readUInt32LE(e));
    out[i] = { name: str(buf, t, TEXT_ENTRY_NAME) ?? '', value: str(buf, t, TEXT_ENTRY_VALUE) };
  }
  return out;
}

function subTable(buf: Buffer, table: number, slot: number): number {
  const p = field(buf, table, slot);
  if (p === 0) throw new DecodeError('union value is missing');
  return checkTable(buf, p + buf.readUInt32LE(p));
}

function decoding<T>(what: string, body: Uint8Array, read: (buf: Buffer, root: number) => T): T {
  try {
    const buf = view(body);
    return read(buf, rootTable(buf));
  } catch (err) {
    // Out-of-range Buffer reads (RangeError) and our own checks both mean a malformed body.
    throw new DecodeError(`${what}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

const readPrepareConfReq = (buf: Buffer, t: number): PrepareConfReq => ({
    conf: textEntries(buf, t, PREPARE_REQ_CONF),
    key: str(buf, t, PREPARE_REQ_KEY) ?? '',
  });
export const decodePrepareConfReq = (body: Uint8Array): PrepareConfReq => decoding('PrepareConf.Req', body, readPrepareConfReq);

const readPrepareConfResp = (buf: Buffer, t: number): PrepareConfResp => ({ confToken: u32(buf, t, PREPARE_RESP_TOKEN) });
export const decodePrepareConfResp = (body: Uint8Array): PrepareConfResp => decoding('PrepareConf.Resp', body, readPrepareConfResp);

const readHTTPReqCallReq = (buf: Buffer, t: number): HTTPReqCallReq => {
    const m = u8(buf, t, REQ_CALL_METHOD);
    const method: HttpMethod | undefined = METHODS[m];
    if (method === undefined) throw new DecodeError(`unknown method ${m}`);
    return {
      id: u32(buf, t, REQ_CALL_ID),
      srcIp: bytes(buf, t, REQ_CALL_SRC_IP),
      method,
      path: str(buf, t, REQ_CALL_PATH) ?? '',
      args: textEntries(buf, t, REQ_CALL_ARGS),
      headers: textEntries(buf, t, REQ_CALL_HEADERS),
      confToken: u32(buf, t, REQ_CALL_TOKEN),
    };
  };
export const decodeHTTPReqCallReq = (body: Uint8Array): HTTPReqCallReq => decoding('HTTPReqCall.Req', body, readHTTPReqCallReq);

const readHTTPReqCallResp = (buf: Buffer, t: number): HTTPReqCallResp => {
    const type = u8(buf, t, REQ_RESP_ACTION_TYPE);
    let action: StopAction | RewriteAction | undefined;
    if (type === ACTION_STOP) {
      const s = subTable(buf, t, REQ_RESP_ACTION);
      action = {
        type: 'stop',
        status: u16(buf, s, STOP_STATUS),
        headers: textEntries(buf, s, STOP_HEADERS),
        body: bytes(buf, s, STOP_BODY),
      };
    } else if (type === ACTION_REWRITE) {
      const r = subTable(buf, t, REQ_RESP_ACTION);
      action = {
        type: 'rewrite',
        path: str(buf, r, REWRITE_PATH),
        headers: textEntries(buf, r, REWRITE_HEADERS),
        args: textEntries(buf, r, REWRITE_ARGS),
        respHeaders: textEntries(buf, r, REWRITE_RESP_HEADERS),
        body: bytes(buf, r, REWRITE_BODY),
      };
    } else if (type !== 0) {
      throw new DecodeError(`unknown action type ${type}`);
    }
    return { id: u32(buf, t, REQ_RESP_ID), action };
  };
export const decodeHTTPReqCallResp = (body: Uint8Array): HTTPReqCallResp => decoding('HTTPReqCall.Resp', body, readHTTPReqCallResp);

const readExtraInfoReq = (buf: Buffer, t: number): ExtraInfoReq => {
    const type = u8(buf, t, EXTRA_REQ_INFO_TYPE);
    if (type === INFO_VAR) {
      const v = subTable(buf, t, EXTRA_REQ_INFO);
      return { type: 'var', name: str(buf, v, VAR_NAME) ?? '' };
    }
    if (type === INFO_REQ_BODY) return { type: 'reqBody' };
    if (type === INFO_RESP_BODY) return { type: 'respBody' };
    throw new DecodeError(`unknown info type ${type}`);
  };
export const decodeExtraInfoReq = (body: Uint8Array): ExtraInfoReq => decoding('ExtraInfo.Req', body, readExtraInfoReq);

const readExtraInfoResp = (buf: Buffer, t: number): ExtraInfoResp => ({ result: bytes(buf, t, EXTRA_RESP_RESULT) });
export const decodeExtraInfoResp = (body: Uint8Array): ExtraInfoResp => decoding('ExtraInfo.Resp', body, readExtraInfoResp);

const readHTTPRespCallReq = (buf: Buffer, t: number): HTTPRespCallReq => ({
    id: u32(buf, t, RESP_CALL_ID),
    status: u16(buf, t, RESP_CALL_STATUS),
    headers: textEntries(buf, t, RESP_CALL_HEADERS),
    confToken: u32(buf, t, RESP_CALL_TOKEN),
  });
export const decodeHTTPRespCallReq = (body: Uint8Array): HTTPRespCallReq => decoding('HTTPRespCall.Req', body, readHTTPRespCallReq);

const readHTTPRespCallResp = (buf: Buffer, t: number): HTTPRespCallResp => ({
    id: u32(buf, t, RESP_RESP_ID),
    status: u16(buf, t, RESP_RESP_STATUS),
    headers: textEntries(buf, t, RESP_RESP_HEADERS),
    body: bytes(buf, t, RESP_RESP_BODY),
  });
export const decodeHTTPRespCallResp = (body: Uint8Array): HTTPRespCallResp => decoding('HTTPRespCall.Resp', body, readHTTPRespCallResp);

const readErrResp = (buf: Buffer, t: number): ErrResp => ({ code: u8(buf, t, ERR_CODE) as ErrCode });
export const decodeErrResp = (body: Uint8Array): ErrResp => decoding('Err.Resp', body, readErrResp);

/** Reads the conf token of an HTTPReqCall/HTTPRespCall without decoding the rest (token check first). */
export function peekConfToken(frameType: FrameType.HTTPReqCall | FrameType.HTTPRespCall, body: Uint8Array): number {
  return decoding('conf token', body, frameType === FrameType.HTTPReqCall ? readReqCallToken : readRespCallToken);
}
const readReqCallToken = (buf: Buffer, t: number): number => u32(buf, t, REQ_CALL_TOKEN);
const readRespCallToken = (buf: Buffer, t: number): number => u32(buf, t, RESP_CALL_TOKEN);

