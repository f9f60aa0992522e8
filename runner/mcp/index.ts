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
export * from './revision.js';
export { INPUT_REQUIRED, MRTR_METHODS, inputRequiredAnswers, isInputRequired, isRetry, requestStateOf, roundOf, RoundBook, stateDigest } from './mrtr.js';
export type { Round } from './mrtr.js';
export { CACHE_SCOPE_PRIVATE, CACHEABLE_METHODS, narrowCacheScopes } from './cache.js';
