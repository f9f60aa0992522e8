// Route settings: the `mcp-route` entry of a route's ext-plugin conf list. The host reads it
// itself (it is not a plugin), validated against schemas/mcp-route.conf.schema.json by the
// same ajv instance and error format as plugin confs.

import type { ValidateFunction } from 'ajv';
import type { RouteSettings } from './plugin.js';
import { formatConfErrors, type PluginRegistry } from './registry.js';
import { loadSchema } from './schema-file.js';
import type { McpRouteConf } from './route-conf.generated.js';

/** The route-settings entry of a conf list. */
export const ROUTE_ENTRY = 'mcp-route';
export const ROUTE_SCHEMA_FILE = 'mcp-route.conf.schema.json';

/** The mcp-route conf as operators write it (generated from its schema). */
export type RouteConf = McpRouteConf;

const DEFAULT_MAX_BODY = 8 * 1024 * 1024;

/** What a route without an mcp-route entry gets. */
export const DEFAULT_ROUTE_SETTINGS: RouteSettings = Object.freeze({ server: undefined, postResp: false, maxBodyBytes: DEFAULT_MAX_BODY, validateBody: false });

/** Compiles the mcp-route validator once, with the registry's ajv (so defaults and formats match). */
export function routeSettingsParser(registry: PluginRegistry): (value: unknown) => RouteSettings | string {
  const schema = loadSchema(ROUTE_SCHEMA_FILE);
  // Several hosts may share one registry: ajv holds one validator per schema $id.
  const id = typeof schema['$id'] === 'string' ? schema['$id'] : undefined;
  const validate = ((id !== undefined ? registry.ajv.getSchema(id) : undefined) ?? registry.ajv.compile(schema)) as ValidateFunction<RouteConf>;
  return (value) => {
    if (!validate(value)) return formatConfErrors(ROUTE_ENTRY, validate.errors);
    // ajv filled in the schema's defaults; the fallbacks name the same values for the compiler.
    return {
      server: value.server,
      postResp: value.post_resp ?? DEFAULT_ROUTE_SETTINGS.postResp,
      maxBodyBytes: value.max_body_bytes ?? DEFAULT_ROUTE_SETTINGS.maxBodyBytes,
      validateBody: value.validate_body ?? DEFAULT_ROUTE_SETTINGS.validateBody,
    };
  };
}
