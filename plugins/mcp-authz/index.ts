// mcp-authz: who is calling (verified JWT, APISIX consumer or trusted headers), may they make
// this MCP call (policy: deny wins, default deny), does it need the user's confirmation, and
// which tools may they even see (tools/list filtering, tool pinning). Permissions live in a
// reviewable policy file enforced at the gateway, outside the agent's prompt.
//
// Route layout: run in ext-plugin-pre-req (or post-req to use APISIX's consumer_name) for
// the request phase, and in ext-plugin-post-resp for list filtering and pinning.
//
//   prepare.ts   conf -> prepared state (policy, identity, confirmation, pinning)
//   request.ts   the request phase     response.ts  the response phase

import type { Plugin } from '../../runner/host/plugin.js';
import { confSchema } from './conf.js';
import { formatAjvErrors, PolicyError } from '../../runner/policy/index.js';
import { PLUGIN_NAME, prepare, type AuthzConf, type PreparedAuthz } from './prepare.js';
import { onRequest } from './request.js';
import { needsResponseBody, needsResponsePhase, onResponse } from './response.js';

export { currentPolicy, PLUGIN_NAME, type AuthzConf, type PreparedAuthz } from './prepare.js';

export const plugin: Plugin<AuthzConf, PreparedAuthz> = {
  name: PLUGIN_NAME,
  confSchema,
  prepare,
  onRequest,
  onResponse,
  needsResponseBody,
  needsResponsePhase,
};

export { PolicyError, formatAjvErrors };
