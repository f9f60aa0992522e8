#!/usr/bin/env node
// mcp-gateway: operator commands.
//
//   mcp-gateway layout --gateway conf/gateway.yaml [--format yaml|admin|explain] [--out DIR] [--base-dir DIR]
//       Print the APISIX routes for the gateway description (standalone apisix.yaml by
//       default), or with --out write DIR/apisix.yaml and DIR/admin/<route id>.json.
//       Relative file paths in plugin confs resolve against --base-dir (default: the
//       working directory, which must be the runner's).
//   mcp-gateway explain ...
//       mcp-authz's policy explain command (see plugins/mcp-authz/explain.ts).
//
// Exit status: 0 done, 1 gateway or plugin conf error, 2 usage error (explain: its own codes).

import { realpathSync } from 'node:fs';
import { mkdir, readdir, unlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { GatewayError, loadGateway } from './layout/gateway.js';
import { LayoutError, generateLayout } from './layout/generate.js';
import { renderAdminBodies, renderAdminScript, renderApisixYaml } from './layout/render.js';

type Out = (line: string) => void;

const USAGE = [
  'usage: mcp-gateway layout --gateway <gateway.yaml> [--format yaml|admin|explain] [--out DIR] [--base-dir DIR]',
  '       mcp-gateway explain --policy <file.yaml> --identity <json> --request <json> [--server <name>] [--json]',
].join('\n');

class UsageError extends Error {}

interface LayoutArgs {
  gateway?: string;
  format: 'yaml' | 'admin' | 'explain';
  out?: string;
  baseDir?: string;
}

function parseLayoutArgs(argv: readonly string[]): LayoutArgs {
  const args: LayoutArgs = { format: 'yaml' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const eq = a.indexOf('=');
    const [flag, inline] = a.startsWith('--') && eq > 0 ? [a.slice(0, eq), a.slice(eq + 1)] : [a, undefined];
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined || v === '') throw new UsageError(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case '--gateway': args.gateway = value(); break;
      case '--out': args.out = value(); break;
      case '--base-dir': args.baseDir = value(); break;
      case '--format': {
        const f = value();
        if (f !== 'yaml' && f !== 'admin' && f !== 'explain') throw new UsageError(`--format must be yaml, admin or explain (got ${f})`);
        args.format = f;
        break;
      }
      default: throw new UsageError(`unknown argument ${a}`);
    }
  }
  if (args.gateway === undefined) throw new UsageError('--gateway is required');
  return args;
}

async function layout(argv: readonly string[], out: Out): Promise<number> {
  const args = parseLayoutArgs(argv);
  // Policy-load notices are not news to someone generating routes; warnings still show.
  process.env['MCP_AUTHZ_LOG_LEVEL'] ??= 'warn';
  const gateway = await loadGateway(args.gateway!);
  const result = await generateLayout(gateway, { baseDir: resolve(args.baseDir ?? process.cwd()) });
  if (args.out !== undefined) {
    const adminDir = join(args.out, 'admin');
    await mkdir(adminDir, { recursive: true });
    await writeFile(join(args.out, 'apisix.yaml'), renderApisixYaml(result, args.gateway));
    const bodies = renderAdminBodies(result);
    // Remove bodies of this server's routes that the layout no longer has (e.g. no fast tools now).
    const prefix = `mcp-${gateway.server}-`;
    for (const f of await readdir(adminDir)) {
      if (f.startsWith(prefix) && f.endsWith('.json') && !bodies.has(f)) await unlink(join(adminDir, f));
    }
    for (const [file, text] of bodies) await writeFile(join(adminDir, file), text);
    out(`wrote ${join(args.out, 'apisix.yaml')} and ${bodies.size} Admin API bodies in ${adminDir}`);
    if (args.format === 'explain') for (const l of result.explanation) out(l);
    return 0;
  }
  if (args.format === 'yaml') out(renderApisixYaml(result, args.gateway).replace(/\n$/, ''));
  else if (args.format === 'admin') out(renderAdminScript(result).replace(/\n$/, ''));
  else for (const l of result.explanation) out(l);
  return 0;
}

/** Run a command; returns the exit status (tests call this directly). */
export async function main(
  argv: readonly string[],
  out: Out = (l) => process.stdout.write(l + '\n'),
  err: Out = (l) => process.stderr.write(l + '\n'),
): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'layout':
        return await layout(rest, out);
      case 'explain': {
        const mod = (await import('../plugins/mcp-authz/explain.js')) as { main?: (argv: readonly string[], out?: Out, err?: Out) => Promise<number> };
        if (typeof mod.main !== 'function') throw new Error('explain is not available (plugins/mcp-authz/explain.js has no main)');
        return await mod.main(rest, out, err);
      }
      case undefined:
      case '--help':
      case 'help':
        out(USAGE);
        return command === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command ${command}`);
    }
  } catch (e) {
    if (e instanceof UsageError) {
      err(`error: ${e.message}`);
      err(USAGE);
      return 2;
    }
    if (e instanceof GatewayError || e instanceof LayoutError) {
      err(`error: ${e.message}`);
      return 1;
    }
    err(`error: ${(e as Error).stack ?? String(e)}`);
    return 1;
  }
}

/** True when this file is the program (also through the npm bin symlink). */
function isEntryPoint(): boolean {
  const argv1 = process.argv[1];
  if (argv1 === undefined) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(argv1)).href;
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`error: ${(e as Error).message}\n`);
      process.exitCode = 1;
    },
  );
}
