// OAuth 2.0 Protected Resource Metadata (RFC 9728). MCP clients that get a 401 read
// WWW-Authenticate's resource_metadata URL, fetch this document and learn which authorization
// server to use. The gateway answers it itself (the MCP server behind it need not know OAuth):
// the route must also match GET /.well-known/oauth-protected-resource[/<path>].

import type { HttpRequestView } from '../../runner/host/plugin.js';

export const WELL_KNOWN = '/.well-known/oauth-protected-resource';

export interface ProtectedResourceConf {
  resource?: string;
  metadata_url?: string;
  authorization_servers?: string[];
  scopes_supported?: string[];
  resource_name?: string;
}

export function isMetadataRequest(req: HttpRequestView): boolean {
  if (req.method !== 'GET' && req.method !== 'HEAD') return false;
  const path = req.path.split('?')[0]!;
  return path === WELL_KNOWN || path.startsWith(WELL_KNOWN + '/');
}

function origin(req: HttpRequestView): string {
  const proto = req.header('x-forwarded-proto')?.split(',')[0]?.trim() || 'https';
  const host = req.header('x-forwarded-host')?.split(',')[0]?.trim() || req.header('host') || 'localhost';
  return `${proto}://${host}`;
}

/** The resource identifier: configured, or this origin plus the path the metadata is about. */
function resourceFor(conf: ProtectedResourceConf, req: HttpRequestView, resourcePath: string): string {
  return conf.resource ?? origin(req) + resourcePath;
}

/** The metadata document for GET /.well-known/oauth-protected-resource[/<path>]. */
export function metadataDocument(conf: ProtectedResourceConf, req: HttpRequestView): Record<string, unknown> {
  const path = req.path.split('?')[0]!;
  const resourcePath = path.length > WELL_KNOWN.length ? path.slice(WELL_KNOWN.length) : '/';
  const doc: Record<string, unknown> = {
    resource: resourceFor(conf, req, resourcePath),
    authorization_servers: conf.authorization_servers ?? [],
    scopes_supported: conf.scopes_supported ?? [],
    bearer_methods_supported: ['header'],
  };
  if (conf.resource_name !== undefined) doc['resource_name'] = conf.resource_name;
  return doc;
}

/** Where the metadata for the resource of this request lives (RFC 9728 §3.1 URL form). */
export function metadataUrl(conf: ProtectedResourceConf, req: HttpRequestView): string {
  if (conf.metadata_url !== undefined) return conf.metadata_url;
  const resource = resourceFor(conf, req, req.path.split('?')[0]!);
  try {
    const u = new URL(resource);
    const p = u.pathname === '/' ? '' : u.pathname;
    return `${u.origin}${WELL_KNOWN}${p}`;
  } catch {
    return origin(req) + WELL_KNOWN;
  }
}

function quoted(s: string): string {
  return s.replace(/["\\\r\n]/g, ' ');
}

export function wwwAuthenticate(metadata: string, tokenPresented: boolean, reason: string): string {
  let v = `Bearer resource_metadata="${quoted(metadata)}"`;
  if (tokenPresented) v += `, error="invalid_token", error_description="${quoted(reason)}"`;
  return v;
}
