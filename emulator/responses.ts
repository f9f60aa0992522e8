// What nginx/APISIX put on the wire when a request ends early: core.response.exit bodies,
// nginx's built-in HTML error pages, the Server header, and the _meta.error_response rule.

import type { ServerResponse } from 'node:http';
import type { PluginMeta } from './config.js';
import { ResponseHeaders } from './state.js';

export const SERVER_HEADER = 'APISIX/3.18.0';
/** nginx default_type with `charset utf-8` (APISIX's nginx.conf). */
export const DEFAULT_CONTENT_TYPE = 'text/plain; charset=utf-8';

const REASONS: Record<number, string> = {
  301: 'Moved Permanently', 302: 'Found', 303: 'See Other', 307: 'Temporary Redirect', 308: 'Permanent Redirect',
  400: 'Bad Request', 401: 'Authorization Required', 403: 'Forbidden', 404: 'Not Found', 405: 'Not Allowed',
  408: 'Request Time-out', 413: 'Request Entity Too Large', 429: 'Too Many Requests',
  500: 'Internal Server Error', 501: 'Not Implemented', 502: 'Bad Gateway', 503: 'Service Temporarily Unavailable', 504: 'Gateway Time-out',
};

/** nginx's special response page (server_tokens off → "openresty" without version). */
export function nginxErrorPage(status: number): string {
  const title = `${status} ${REASONS[status] ?? ''}`.trimEnd();
  return `<html>\r\n<head><title>${title}</title></head>\r\n<body>\r\n<center><h1>${title}</h1></center>\r\n<hr><center>openresty</center>\r\n</body>\r\n</html>\r\n`;
}

/** nginx answers ngx.exit(status >= 300) without output with its own page. */
function hasSpecialPage(status: number): boolean {
  return status >= 300 && status !== 304 && REASONS[status] !== undefined;
}

/** core.response.exit: a table body is JSON-encoded plus "\n"; a string goes as-is. */
export function exitBody(body: unknown): Buffer | undefined {
  if (body === undefined || body === null) return undefined;
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  if (body instanceof Uint8Array) return Buffer.from(body);
  return Buffer.from(JSON.stringify(body) + '\n', 'utf8');
}

/**
 * Ends the request the way `core.response.exit(status, body)` from a plugin does, with the
 * headers already set on the response. `_meta.error_response` replaces the body of >= 400 exits.
 */
export function sendExit(
  res: ServerResponse,
  status: number,
  body: Buffer | undefined,
  headers: ResponseHeaders = new ResponseHeaders(),
  meta?: PluginMeta,
): void {
  if (status >= 400 && meta?.error_response !== undefined) body = exitBody(meta.error_response);
  if (body === undefined || body.length === 0) {
    if (hasSpecialPage(status)) {
      headers.set('Content-Type', 'text/html; charset=utf-8');
      body = Buffer.from(nginxErrorPage(status), 'utf8');
    } else body = undefined;
  }
  if (body !== undefined && !headers.has('content-type')) headers.set('Content-Type', DEFAULT_CONTENT_TYPE);
  writeHead(res, status, headers);
  res.end(body);
}

/** Writes status + headers, forcing Server like APISIX's header filter. */
export function writeHead(res: ServerResponse, status: number, headers: ResponseHeaders): void {
  if (res.headersSent) return;
  headers.set('Server', SERVER_HEADER);
  res.writeHead(status, headers.toNode());
}

/** An nginx-generated error (502/503/504/500) that is not a plugin exit. */
export function sendErrorPage(res: ServerResponse, status: number, headers: ResponseHeaders = new ResponseHeaders()): void {
  sendExit(res, status, undefined, headers);
}
