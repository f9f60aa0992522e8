// Tool-name globs: the shared definition (runner/util/glob.ts), so a pattern means the same
// tools here as in mcp-authz and mcp-redact.
export { globsToRegExp as compileGlobs } from '../../runner/util/glob.js';
