// Public surface of the MCP message layer.
export { MAX_JSON_DEPTH, parseStrictJson, parseStrictJsonText } from './json.js';
export type { StrictJsonOptions, StrictJsonResult } from './json.js';
export { parseRequestBody, requestIdsOf, serializeRequestBody } from './parse.js';
export { eventUnchanged, markEventEdited, MAX_RESPONSE_JSON_DEPTH, parseSse, serializeSse } from './sse.js';
export {
  isJsonRpcResponse,
  jsonRpcMessagesOf,
  mediaTypeOf,
  parseResponseBody,
  responseFor,
  responsesOf,
  resultFor,
  serializeResponseBody,
  upstreamErrorCodeOf,
} from './response.js';
export type { ResponseMessage } from './response.js';
export { ErrorMessage, jsonRpcError, jsonRpcErrorBody, MAX_ECHOED_TEXT, truncateForError } from './errors.js';
export * from './types.js';
