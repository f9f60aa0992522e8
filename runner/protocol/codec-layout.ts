// The field layout of schemas/ext-plugin.fbs (docs/ext-plugin-protocol.md §5) as the codec reads and writes it:
// the vtable slot of every field and the values of both unions. This table is THE layout;
// t/protocol/codec-schema.test.ts parses the .fbs and checks it against it.

// Field slots: vtable offset = 4 + 2 * field id. Unions take two ids (`_type`, then value).

export const TEXT_ENTRY_NAME = 4;
export const TEXT_ENTRY_VALUE = 6;
export const ERR_CODE = 4;
export const PREPARE_REQ_CONF = 4;
export const PREPARE_REQ_KEY = 6;
export const PREPARE_RESP_TOKEN = 4;
export const REQ_CALL_ID = 4;
export const REQ_CALL_SRC_IP = 6;
export const REQ_CALL_METHOD = 8;
export const REQ_CALL_PATH = 10;
export const REQ_CALL_ARGS = 12;
export const REQ_CALL_HEADERS = 14;
export const REQ_CALL_TOKEN = 16;
export const STOP_STATUS = 4;
export const STOP_HEADERS = 6;
export const STOP_BODY = 8;
export const REWRITE_PATH = 4;
export const REWRITE_HEADERS = 6;
export const REWRITE_ARGS = 8;
export const REWRITE_RESP_HEADERS = 10;
export const REWRITE_BODY = 12;
export const REQ_RESP_ID = 4;
export const REQ_RESP_ACTION_TYPE = 6;
export const REQ_RESP_ACTION = 8;
export const VAR_NAME = 4;
export const EXTRA_REQ_INFO_TYPE = 4;
export const EXTRA_REQ_INFO = 6;
export const EXTRA_RESP_RESULT = 4;
export const RESP_CALL_ID = 4;
export const RESP_CALL_STATUS = 6;
export const RESP_CALL_HEADERS = 8;
export const RESP_CALL_TOKEN = 10;
export const RESP_RESP_ID = 4;
export const RESP_RESP_STATUS = 6;
export const RESP_RESP_HEADERS = 8;
export const RESP_RESP_BODY = 10;

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

export const ACTION_STOP = 1;
export const ACTION_REWRITE = 2;
export const INFO_VAR = 1;
export const INFO_REQ_BODY = 2;
export const INFO_RESP_BODY = 3;

/** Thrown for any malformed body; the server closes the connection on it. */
export class DecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DecodeError';
  }
}
