// Hand-written FlatBuffers codec for schemas/ext-plugin.fbs (spec §5).
//
// Encoding uses the npm `flatbuffers` Builder (one shared builder; the finished bytes are
// copied out, so results never alias builder memory). Decoding reads the buffer directly
// with bounds checks on every offset and vector length: the FlatBuffers JS library has no
// verifier, and a malformed body must end in a thrown error, never in a huge allocation or
// a silent misread. Decoded byte vectors (src_ip, bodies, results) alias the input body.
//
// The vtable slots below are THE field layout; t/protocol/codec-schema.test.ts parses the
// .fbs and checks this table against it.

import { Builder } from 'flatbuffers';
import { FRAME_HEADER_SIZE, writeFrameHeader } from './frame.js';
import {
  ErrCode,
  FrameType,
  METHODS,
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

// ---------------------------------------------------------------------------------------
// Field slots: vtable offset = 4 + 2 * field id. Unions take two ids (`_type`, then value).

const TEXT_ENTRY_NAME = 4;
const TEXT_ENTRY_VALUE = 6;
const ERR_CODE = 4;
const PREPARE_REQ_CONF = 4;
const PREPARE_REQ_KEY = 6;
const PREPARE_RESP_TOKEN = 4;
const REQ_CALL_ID = 4;
const REQ_CALL_SRC_IP = 6;
const REQ_CALL_METHOD = 8;
const REQ_CALL_PATH = 10;
const REQ_CALL_ARGS = 12;
const REQ_CALL_HEADERS = 14;
const REQ_CALL_TOKEN = 16;
const STOP_STATUS = 4;
const STOP_HEADERS = 6;
const STOP_BODY = 8;
const REWRITE_PATH = 4;
const REWRITE_HEADERS = 6;
const REWRITE_ARGS = 8;
const REWRITE_RESP_HEADERS = 10;
const REWRITE_BODY = 12;
const REQ_RESP_ID = 4;
const REQ_RESP_ACTION_TYPE = 6;
const REQ_RESP_ACTION = 8;
const VAR_NAME = 4;
const EXTRA_REQ_INFO_TYPE = 4;
const EXTRA_REQ_INFO = 6;
const EXTRA_RESP_RESULT = 4;
const RESP_CALL_ID = 4;
const RESP_CALL_STATUS = 6;
const RESP_CALL_HEADERS = 8;
const RESP_CALL_TOKEN = 10;
const RESP_RESP_ID = 4;
const RESP_RESP_STATUS = 6;
const RESP_RESP_HEADERS = 8;
const RESP_RESP_BODY = 10;

/** Table name (namespace-qualified) → field name (as in the .fbs) → vtable slot. */
export const SLOTS: Readonly<Record<string, Readonly<Record<string, number>>>> = {
  'A6.TextEntry': { name: TEXT_ENTRY_NAME, value: TEXT_ENTRY_VALUE },
  'A6.DataEntry': { name: 4, value: 6 },
  'A6.Err.Resp': { code: ERR_CODE },
  'A6.PrepareConf.Req': { conf: PREPARE_REQ_CONF, key: PREPARE_REQ_KEY },
  'A6.PrepareConf.Resp': { conf_token: PREPARE_RESP_TOKEN },
  'A6.HTTPReqCall.Req': {
    id: REQ_CALL_ID, src_ip: REQ_CALL_SRC_IP, method: REQ_CALL_METHOD, path: REQ_CALL_PATH,
    args: REQ_CALL_ARGS, headers: REQ_CALL_HEADERS, conf_token: REQ_CALL_TOKEN,
  },
  'A6.HTTPReqCall.Stop': { status: STOP_STATUS, headers: STOP_HEADERS, body: STOP_BODY },
  'A6.HTTPReqCall.Rewrite': {
    path: REWRITE_PATH, headers: REWRITE_HEADERS, args: REWRITE_ARGS,
    resp_headers: REWRITE_RESP_HEADERS, body: REWRITE_BODY,
  },
  'A6.HTTPReqCall.Resp': { id: REQ_RESP_ID, action_type: REQ_RESP_ACTION_TYPE, action: REQ_RESP_ACTION },
  'A6.ExtraInfo.Var': { name: VAR_NAME },
  'A6.ExtraInfo.ReqBody': {},
  'A6.ExtraInfo.RespBody': {},
  'A6.ExtraInfo.Req': { info_type: EXTRA_REQ_INFO_TYPE, info: EXTRA_REQ_INFO },
  'A6.ExtraInfo.Resp': { result: EXTRA_RESP_RESULT },
  'A6.HTTPRespCall.Req': {
    id: RESP_CALL_ID, status: RESP_CALL_STATUS, headers: RESP_CALL_HEADERS, conf_token: RESP_CALL_TOKEN,
  },
  'A6.HTTPRespCall.Resp': {
    id: RESP_RESP_ID, status: RESP_RESP_STATUS, headers: RESP_RESP_HEADERS, body: RESP_RESP_BODY,
  },
};

/** Union member values (NONE = 0 is implicit). */
export const UNIONS: Readonly<Record<string, Readonly<Record<string, number>>>> = {
  'A6.HTTPReqCall.Action': { Stop: 1, Rewrite: 2 },
  'A6.ExtraInfo.Info': { Var: 1, ReqBody: 2, RespBody: 3 },
};

const ACTION_STOP = 1;
const ACTION_REWRITE = 2;
const INFO_VAR = 1;
const INFO_REQ_BODY = 2;
const INFO_RESP_BODY = 3;

const METHOD_INDEX: ReadonlyMap<string, number> = new Map(METHODS.map((m, i) => [m, i]));

/** Thrown for any malformed body; the server closes the connection on it. */
export class DecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DecodeError';
  }
}

// ---------------------------------------------------------------------------------------
// Encoding

/** The shared builder is replaced when a large message grew it past this, so memory is returned. */
const BUILDER_KEEP_CAPACITY = 1 << 20;
let builder = new Builder(1024);
/** Scratch for table offsets of one vector; vectors of tables are never built nested. */
const scratch: number[] = [];

function startBuild(): Builder {
  builder.clear();
  scratch.length = 0;
  return builder;
}

/** Copies the finished buffer out, optionally behind a frame header (one allocation either way). */
function finishCopy(b: Builder, root: number, frameType: number): Buffer {
  b.finish(root);
  const bytes = b.asUint8Array();
  const headerRoom = frameType < 0 ? 0 : FRAME_HEADER_SIZE;
  const out = Buffer.allocUnsafe(headerRoom + bytes.length);
  if (frameType >= 0) writeFrameHeader(out, 0, frameType, bytes.length);
  out.set(bytes, headerRoom);
  if (b.dataBuffer().capacity() > BUILDER_KEEP_CAPACITY) builder = new Builder(1024);
  return out;
}

/**
 * UTF-8 bytes of strings the runner writes again and again (header names, the same backend
 * credential, content types): the builder's own encoding allocates on every call. Bounded:
 * emptied when full, and long strings are never kept.
 */
const utf8Cache = new Map<string, Uint8Array>();
const UTF8_CACHE_MAX = 512;
const UTF8_CACHE_MAX_CHARS = 256;
const textEncoder = new TextEncoder();

function utf8Of(s: string): Uint8Array | string {
  if (s.length > UTF8_CACHE_MAX_CHARS) return s;
  let bytes = utf8Cache.get(s);
  if (bytes === undefined) {
    if (utf8Cache.size >= UTF8_CACHE_MAX) utf8Cache.clear();
    bytes = textEncoder.encode(s);
    utf8Cache.set(s, bytes);
  }
  return bytes;
}

function createTextEntries(b: Builder, entries: readonly TextEntry[]): number {
  const n = entries.length;
  const base = scratch.length;
  for (let i = 0; i < n; i++) {
    const e = entries[i]!;
    const name = b.createString(utf8Of(e.name));
    const value = e.value === undefined ? 0 : b.createString(utf8Of(e.value));
    b.startObject(2);
    b.addFieldOffset(0, name, 0);
    if (e.value !== undefined) b.addFieldOffset(1, value, 0);
    scratch.push(b.endObject());
  }
  b.startVector(4, n, 4);
  for (let i = n - 1; i >= 0; i--) b.addOffset(scratch[base + i]!);
  scratch.length = base;
  return b.endVector();
}

/** Field id from a vtable slot (Builder.addField* takes ids). */
const id = (slot: number): number => (slot - 4) >> 1;

function buildPrepareConfReq(b: Builder, m: PrepareConfReq): number {
  const key = b.createString(m.key);
  const conf = m.conf.length > 0 ? createTextEntries(b, m.conf) : 0;
  b.startObject(2);
  b.addFieldOffset(id(PREPARE_REQ_KEY), key, 0);
  if (conf) b.addFieldOffset(id(PREPARE_REQ_CONF), conf, 0);
  return b.endObject();
}

function buildPrepareConfResp(b: Builder, m: PrepareConfResp): number {
  b.startObject(1);
  b.addFieldInt32(id(PREPARE_RESP_TOKEN), m.confToken | 0, 0);
  return b.endObject();
}

function buildHTTPReqCallReq(b: Builder, m: HTTPReqCallReq): number {
  const srcIp = m.srcIp === undefined ? 0 : b.createByteVector(m.srcIp);
  const path = b.createString(m.path);
  const args = m.args.length > 0 ? createTextEntries(b, m.args) : 0;
  const headers = m.headers.length > 0 ? createTextEntries(b, m.headers) : 0;
  const method = METHOD_INDEX.get(m.method);
  if (method === undefined) throw new TypeError(`unknown HTTP method ${JSON.stringify(m.method)}`);
  b.startObject(7);
  b.addFieldInt32(id(REQ_CALL_ID), m.id | 0, 0);
  b.addFieldInt32(id(REQ_CALL_TOKEN), m.confToken | 0, 0);
  if (srcIp) b.addFieldOffset(id(REQ_CALL_SRC_IP), srcIp, 0);
  b.addFieldOffset(id(REQ_CALL_PATH), path, 0);
  if (args) b.addFieldOffset(id(REQ_CALL_ARGS), args, 0);
  if (headers) b.addFieldOffset(id(REQ_CALL_HEADERS), headers, 0);
  b.addFieldInt8(id(REQ_CALL_METHOD), method, 0);
  return b.endObject();
}

function buildStop(b: Builder, s: StopAction): number {
  const headers = s.headers.length > 0 ? createTextEntries(b, s.headers) : 0;
  const body = s.body === undefined ? 0 : b.createByteVector(s.body);
  b.startObject(3);
  if (headers) b.addFieldOffset(id(STOP_HEADERS), headers, 0);
  if (body) b.addFieldOffset(id(STOP_BODY), body, 0);
  b.addFieldInt16(id(STOP_STATUS), s.status, 0);
  return b.endObject();
}

function buildRewrite(b: Builder, r: RewriteAction): number {
  const path = r.path === undefined ? 0 : b.createString(r.path);
  const headers = r.headers.length > 0 ? createTextEntries(b, r.headers) : 0;
  const args = r.args.length > 0 ? createTextEntries(b, r.args) : 0;
  const respHeaders = r.respHeaders.length > 0 ? createTextEntries(b, r.respHeaders) : 0;
  const body = r.body === undefined ? 0 : b.createByteVector(r.body);
  b.startObject(5);
  if (path) b.addFieldOffset(id(REWRITE_PATH), path, 0);
  if (headers) b.addFieldOffset(id(REWRITE_HEADERS), headers, 0);
  if (args) b.addFieldOffset(id(REWRITE_ARGS), args, 0);
  if (respHeaders) b.addFieldOffset(id(REWRITE_RESP_HEADERS), respHeaders, 0);
  if (body) b.addFieldOffset(id(REWRITE_BODY), body, 0);
  return b.endObject();
}

function buildHTTPReqCallResp(b: Builder, m: HTTPReqCallResp): number {
  const a = m.action;
  const action = a === undefined ? 0 : a.type === 'stop' ? buildStop(b, a) : buildRewrite(b, a);
  b.startObject(3);
  b.addFieldInt32(id(REQ_RESP_ID), m.id | 0, 0);
  if (a !== undefined) {
    b.addFieldOffset(id(REQ_RESP_ACTION), action, 0);
    b.addFieldInt8(id(REQ_RESP_ACTION_TYPE), a.type === 'stop' ? ACTION_STOP : ACTION_REWRITE, 0);
  }
  return b.endObject();
}

function buildExtraInfoReq(b: Builder, m: ExtraInfoReq): number {
  let info: number;
  let infoType: number;
  if (m.type === 'var') {
    const name = b.createString(m.name);
    b.startObject(1);
    b.addFieldOffset(id(VAR_NAME), name, 0);
    info = b.endObject();
    infoType = INFO_VAR;
  } else {
    b.startObject(0);
    info = b.endObject();
    infoType = m.type === 'reqBody' ? INFO_REQ_BODY : INFO_RESP_BODY;
  }
  b.startObject(2);
  b.addFieldOffset(id(EXTRA_REQ_INFO), info, 0);
  b.addFieldInt8(id(EXTRA_REQ_INFO_TYPE), infoType, 0);
  return b.endObject();
}

function buildExtraInfoResp(b: Builder, m: ExtraInfoResp): number {
  // An empty result is still written: present-and-empty ("") differs from absent (nil).
  const result = m.result === undefined ? 0 : b.createByteVector(m.result);
  b.startObject(1);
  if (m.result !== undefined) b.addFieldOffset(id(EXTRA_RESP_RESULT), result, 0);
  return b.endObject();
}

function buildHTTPRespCallReq(b: Builder, m: HTTPRespCallReq): number {
  const headers = m.headers.length > 0 ? createTextEntries(b, m.headers) : 0;
  b.startObject(4);
  b.addFieldInt32(id(RESP_CALL_ID), m.id | 0, 0);
  b.addFieldInt32(id(RESP_CALL_TOKEN), m.confToken | 0, 0);
  if (headers) b.addFieldOffset(id(RESP_CALL_HEADERS), headers, 0);
  b.addFieldInt16(id(RESP_CALL_STATUS), m.status, 0);
  return b.endObject();
}

function buildHTTPRespCallResp(b: Builder, m: HTTPRespCallResp): number {
  const headers = m.headers.length > 0 ? createTextEntries(b, m.headers) : 0;
  const body = m.body === undefined ? 0 : b.createByteVector(m.body);
  b.startObject(4);
  b.addFieldInt32(id(RESP_RESP_ID), m.id | 0, 0);
  if (headers) b.addFieldOffset(id(RESP_RESP_HEADERS), headers, 0);
  if (body) b.addFieldOffset(id(RESP_RESP_BODY), body, 0);
  b.addFieldInt16(id(RESP_RESP_STATUS), m.status, 0);
  return b.endObject();
}

function buildErrResp(b: Builder, m: ErrResp): number {
  b.startObject(1);
  b.addFieldInt8(id(ERR_CODE), m.code, 0);
  return b.endObject();
}

const NO_FRAME = -1;

export const encodePrepareConfReq = (m: PrepareConfReq): Uint8Array =>
  finishCopy(startBuild(), buildPrepareConfReq(builder, m), NO_FRAME);
export const encodePrepareConfResp = (m: PrepareConfResp): Uint8Array =>
  finishCopy(startBuild(), buildPrepareConfResp(builder, m), NO_FRAME);
export const encodeHTTPReqCallReq = (m: HTTPReqCallReq): Uint8Array =>
  finishCopy(startBuild(), buildHTTPReqCallReq(builder, m), NO_FRAME);
export const encodeHTTPReqCallResp = (m: HTTPReqCallResp): Uint8Array =>
  finishCopy(startBuild(), buildHTTPReqCallResp(builder, m), NO_FRAME);
export const encodeExtraInfoReq = (m: ExtraInfoReq): Uint8Array =>
  finishCopy(startBuild(), buildExtraInfoReq(builder, m), NO_FRAME);
export const encodeExtraInfoResp = (m: ExtraInfoResp): Uint8Array =>
  finishCopy(startBuild(), buildExtraInfoResp(builder, m), NO_FRAME);
export const encodeHTTPRespCallReq = (m: HTTPRespCallReq): Uint8Array =>
  finishCopy(startBuild(), buildHTTPRespCallReq(builder, m), NO_FRAME);
export const encodeHTTPRespCallResp = (m: HTTPRespCallResp): Uint8Array =>
  finishCopy(startBuild(), buildHTTPRespCallResp(builder, m), NO_FRAME);
export const encodeErrResp = (m: ErrResp): Uint8Array =>
  finishCopy(startBuild(), buildErrResp(builder, m), NO_FRAME);

// Whole-frame encoders for the runner's outgoing messages: header and body in one buffer,
// one copy out of the builder. Throw FrameTooLargeError when the body exceeds 16 MiB - 1.

export const encodePrepareConfRespFrame = (m: PrepareConfResp): Buffer =>
  finishCopy(startBuild(), buildPrepareConfResp(builder, m), FrameType.PrepareConf);
export const encodeHTTPReqCallRespFrame = (m: HTTPReqCallResp): Buffer =>
  finishCopy(startBuild(), buildHTTPReqCallResp(builder, m), FrameType.HTTPReqCall);
export const encodeHTTPRespCallRespFrame = (m: HTTPRespCallResp): Buffer =>
  finishCopy(startBuild(), buildHTTPRespCallResp(builder, m), FrameType.HTTPRespCall);
export const encodeExtraInfoReqFrame = (m: ExtraInfoReq): Buffer =>
  finishCopy(startBuild(), buildExtraInfoReq(builder, m), FrameType.ExtraInfo);

const ERR_FRAMES: readonly Buffer[] = [ErrCode.BadRequest, ErrCode.ServiceUnavailable, ErrCode.ConfTokenNotFound].map(
  (code) => finishCopy(startBuild(), buildErrResp(builder, { code }), FrameType.Error),
);

/** The (constant) error frame for a code; callers must not modify it. */
export function errFrame(code: ErrCode): Buffer {
  return ERR_FRAMES[code] ?? finishCopy(startBuild(), buildErrResp(builder, { code }), FrameType.Error);
}

// ---------------------------------------------------------------------------------------
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
