// Plain TypeScript shapes of the ext-plugin messages (schemas/ext-plugin.fbs, A6 namespace).
// The codec (codec.ts) turns these into FlatBuffers bodies and back; the server and the
// APISIX emulator in t/ both speak through these types, so neither touches FlatBuffers.

/** Frame type byte (docs/ext-plugin-protocol.md §3.1). */
export const enum FrameType {
  Error = 0,
  PrepareConf = 1,
  HTTPReqCall = 2,
  ExtraInfo = 3,
  HTTPRespCall = 4,
}

/** Largest frame body that 3 length bytes can carry (docs/ext-plugin-protocol.md §3.1). */
export const MAX_FRAME_BODY = 0xffffff;

/** A6.Err.Code */
export const enum ErrCode {
  BadRequest = 0,
  ServiceUnavailable = 1,
  ConfTokenNotFound = 2,
}

/** A6.Method, in enum order: index = wire value. GET (0) is the FlatBuffers default. */
export const METHODS = [
  'GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'MKCOL', 'COPY', 'MOVE', 'OPTIONS',
  'PROPFIND', 'PROPPATCH', 'LOCK', 'UNLOCK', 'PATCH', 'TRACE',
] as const;
export type HttpMethod = (typeof METHODS)[number];

/** A6.TextEntry: `value` undefined = absent on the wire (arg without '=', header deletion). */
export interface TextEntry {
  name: string;
  value?: string | undefined;
}

export interface PrepareConfReq {
  conf: TextEntry[];
  key: string;
}

export interface PrepareConfResp {
  confToken: number;
}

export interface HTTPReqCallReq {
  id: number;
  /** 4 bytes (IPv4) or 16 (IPv6); anything else means unknown. */
  srcIp: Uint8Array | undefined;
  method: HttpMethod;
  path: string;
  args: TextEntry[];
  headers: TextEntry[];
  confToken: number;
}

export interface StopAction {
  type: 'stop';
  /** 0 becomes 200 in APISIX. */
  status: number;
  headers: TextEntry[];
  /** Empty = no body (APISIX cannot send an empty body). */
  body: Uint8Array | undefined;
}

export interface RewriteAction {
  type: 'rewrite';
  path?: string | undefined;
  /** Upstream request headers; value undefined deletes the header. */
  headers: TextEntry[];
  args: TextEntry[];
  respHeaders: TextEntry[];
  /** Replacement request body; must be non-empty to take effect. */
  body: Uint8Array | undefined;
}

export interface HTTPReqCallResp {
  id: number;
  action: StopAction | RewriteAction | undefined;
}

export type ExtraInfoReq =
  | { type: 'var'; name: string }
  | { type: 'reqBody' }
  | { type: 'respBody' };

export interface ExtraInfoResp {
  /** undefined = result absent (nil var, no body). */
  result: Uint8Array | undefined;
}

export interface HTTPRespCallReq {
  id: number;
  status: number;
  /** Upstream headers, original case. */
  headers: TextEntry[];
  confToken: number;
}

export interface HTTPRespCallResp {
  id: number;
  /** 0 = keep the upstream status. */
  status: number;
  /** Non-empty REPLACES every client response header (docs/ext-plugin-protocol.md §4.4.3): always send the full list. */
  headers: TextEntry[];
  /** Non-empty replaces the body; undefined streams the upstream body. */
  body: Uint8Array | undefined;
}

export interface ErrResp {
  code: ErrCode;
}
