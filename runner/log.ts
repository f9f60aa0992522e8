// The runner's own log. When APISIX spawns the runner, stdout and stderr land in APISIX's
// error.log at warn level (docs/ext-plugin-protocol.md §2.3), so production setups point MCP_RUNNER_LOG_FILE at a
// file. Nothing here is called per request above debug level.

import pino from 'pino';

function destination(): pino.DestinationStream {
  const file = process.env['MCP_RUNNER_LOG_FILE'];
  if (file) return pino.destination({ dest: file, mkdir: true, sync: false });
  return pino.destination({ dest: 2, sync: false });
}

export const log = pino(
  {
    name: 'mcp-runner',
    level: process.env['MCP_RUNNER_LOG_LEVEL'] ?? 'info',
    // Defence in depth: these never reach a log line even if a caller passes them.
    redact: {
      paths: ['authorization', 'headers.authorization', 'headers.cookie', '*.authorization', '*.token', '*.secret', '*.password'],
      censor: '[REDACTED]',
    },
  },
  destination(),
);

/** Flush buffered log lines (shutdown). */
export function flushLog(): void {
  try {
    log.flush();
  } catch {
    // the destination may not be ready yet; nothing to flush then
  }
}
