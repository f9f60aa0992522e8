// Encoding the ext-plugin messages (docs/ext-plugin-protocol.md §5) with the npm `flatbuffers` Builder: one shared
// builder, and the finished bytes are copied out, so results never alias builder memory.
// The runner's own answers are built as whole frames (header and body in one buffer).

import { Builder } from 'flatbuffers';
import {
  ACTION_REWRITE, ACTION_STOP, ERR_CODE, EXTRA_REQ_INFO, EXTRA_REQ_INFO_TYPE, EXTRA_RESP_RESULT, INFO_REQ_BODY,
  INFO_RESP_BODY, INFO_VAR, PREPARE_REQ_CONF, PREPARE_REQ_KEY, PREPARE_RESP_TOKEN, REQ_CALL_ARGS,
  REQ_CALL_HEADERS, REQ_CALL_ID, REQ_CALL_METHOD, REQ_CALL_PATH, REQ_CALL_SRC_IP, REQ_CALL_TOKEN,
  REQ_RESP_ACTION, REQ_RESP_ACTION_TYPE, REQ_RESP_ID, RESP_CALL_HEADERS, RESP_CALL_ID, RESP_CALL_STATUS,
  RESP_CALL_TOKEN, RESP_RESP_BODY, RESP_RESP_HEADERS, RESP_RESP_ID, RESP_RESP_STATUS, REWRITE_ARGS,
  REWRITE_BODY, REWRITE_HEADERS, REWRITE_PATH, REWRITE_RESP_HEADERS, STOP_BODY, STOP_HEADERS, STOP_STATUS,
  VAR_NAME,
} from './codec-layout.js';
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
  type PrepareConfReq,
  type PrepareConfResp,
  type RewriteAction,
  type StopAction,
  type TextEntry,
} from './messages.js';

const METHOD_INDEX: ReadonlyMap<string, number> = new Map(METHODS.map((m, i) => [m, i]));

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
