// The plugin's logger: operator-facing events (policy reloads, rejected policies, JWKS
// failures). Never used above debug on the per-call path.

import { pino } from 'pino';

export const log = pino({ name: 'mcp-authz', level: process.env['MCP_AUTHZ_LOG_LEVEL'] ?? process.env['LOG_LEVEL'] ?? 'info' }, pino.destination(2));
