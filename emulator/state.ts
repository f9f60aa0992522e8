// Per-request state: what nginx/APISIX know about one client request while the phases run
// ($uri, $args, $upstream_uri, $upstream_host, the current request headers and body, the
// client response headers set so far).

import type { LoadedRoute } from './config.js';

/** Request headers in arrival order, names in their original case (like nginx keeps them). */
export class HeaderList {
  constructor(public entries: [string, string][] = []) {}

  /** First value, case-insensitive (ngx.req.get_headers()[name] for single values). */
  get(name: string): string | undefined {
    const lower = name.toLowerCase();
    return this.entries.find(([n]) => n.toLowerCase() === lower)?.[1];
  }

  /** ngx.req.set_header: replace every value of the name; undefined removes it. */
  set(name: string, value: string | undefined): void {
    const lower = name.toLowerCase();
    const at = this.entries.findIndex(([n]) => n.toLowerCase() === lower);
    this.entries = this.entries.filter(([n]) => n.toLowerCase() !== lower);
    if (value !== undefined) this.entries.splice(at < 0 ? this.entries.length : at, 0, [name, value]);
  }

  clone(): HeaderList {
    return new HeaderList(this.entries.map(([n, v]) => [n, v]));
  }
}

/** Client response headers: set replaces, add appends (core.response.set_header/add_header). */
export class ResponseHeaders {
  private map = new Map<string, { name: string; values: string[] }>();

  set(name: string, value: string): void {
    this.map.set(name.toLowerCase(), { name, values: [value] });
  }

  add(name: string, value: string): void {
    const cur = this.map.get(name.toLowerCase());
    if (cur === undefined) this.set(name, value);
    else cur.values.push(value);
  }

  delete(name: string): void {
    this.map.delete(name.toLowerCase());
  }

  has(name: string): boolean {
    return this.map.has(name.toLowerCase());
  }

  /** For http.ServerResponse.writeHead. */
  toNode(): Record<string, string | string[]> {
    const out: Record<string, string | string[]> = {};
    for (const { name, values } of this.map.values()) out[name] = values.length === 1 ? values[0]! : values;
    return out;
  }
}

export interface RequestState {
  /** nginx $request_id: 32 hex chars. */
  requestId: string;
  route: LoadedRoute;
  method: string;
  /** $request_uri: as the client sent it. */
  requestUri: string;
  /** $uri: normalised, percent-decoded path. */
  uri: string;
  /** $args: the current raw query string (changed by Rewrite.args). */
  query: string;
  /** $upstream_uri: set by a Rewrite with a path; undefined = not set. */
  upstreamUri: string | undefined;
  /** $upstream_host: the Host sent upstream by the proxy (pass_host = pass). */
  upstreamHost: string;
  headers: HeaderList;
  /** The client body, read in full before any phase runs; undefined = no body. */
  body: Buffer | undefined;
  remoteAddr: string;
  remotePort: number;
  serverAddr: string;
  serverPort: number;
  scheme: 'http';
  consumerName: string | undefined;
  /** Headers already set on the client response (Rewrite.resp_headers). */
  respHeaders: ResponseHeaders;
  /** Cache of the parsed body for post_arg.* (parsed once per body). */
  parsedBody?: { body: Buffer | undefined; contentType: string | undefined; value: unknown } | undefined;
}
