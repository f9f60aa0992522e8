// Route settings: the `mcp-route` entry of a route's ext-plugin conf list. The host reads it
// itself (it is not a plugin), validated against schemas/mcp-route.conf.schema.json by the
// same ajv instance and error format as plugin confs.

import type { ValidateFunction } from 'ajv';
import type { RouteSettings } from './plugin.js';
import { formatConfErrors, type PluginRegistry } from './registry.js';
import { loadSchema } from './schema-file.js';

/** The route-settings entry of a conf list. */
export const ROUTE_ENTRY = 'mcp-route';
export const ROUTE_SCHEMA_FILE = 'mcp-route.conf.schema.json';

/** The mcp-route conf as operators write it (after ajv filled the schema's defaults). */
export interface RouteConf {
  server?: string;
  post_resp: boolean;
  max_body_bytes: number;
  validate_body: boolean;
}

const DEFAULT_MAX_BODY = 8 * 1024 * 1024;

/** What a route without an mcp-route entry gets. */
export const DEFAULT_ROUTE_SETTINGS: RouteSettings = Object.freeze({ server: undefined, postResp: false, maxBodyBytes: DEFAULT_MAX_BODY, validateBody: false });

/** Compiles the mcp-route validator once, with the registry's ajv (so defaults and formats match). */
export function routeSettingsParser(registry: PluginRegistry): (value: unknown) => RouteSettings | string {
  const validate = registry.ajv.compile(loadSchema(ROUTE_SCHEMA_FILE)) as ValidateFunction<RouteConf>;
  return (value) => {
    if (!validate(value)) return formatConfErrors(ROUTE_ENTRY, validate.errors);
    return { server: value.server, postResp: value.post_resp, maxBodyBytes: value.max_body_bytes, validateBody: value.validate_body };
  };
}
