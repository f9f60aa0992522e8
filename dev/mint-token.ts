// `npm run mint -- --secret-file FILE [--user U] [--roles a,b] ...`: a bearer token for any
// identity, signed (HS256) with the secret `npm run dev` prints, with the issuer, audience and
// claim names of the shipped mcp-authz conf (conf/apisix.yaml, or --conf FILE). Prints the token.

import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { DEMO_IDENTITY, mintToken } from './stack.js';
import { jwtSettings, loadShippedRoutes, SHIPPED_ROUTES } from '../testkit/shipped-conf.js';

const USAGE = [
  'usage: npm run mint -- --secret-file FILE [options]',
  '  --secret-file FILE   the HS256 secret (npm run dev prints its path)',
  `  --user NAME          sub claim (default ${DEMO_IDENTITY.user})`,
  `  --app NAME           app claim (default ${DEMO_IDENTITY.app})`,
  `  --roles a,b          roles claim (default ${DEMO_IDENTITY.roles.join(',')})`,
  `  --tenant NAME        tenant claim (default ${DEMO_IDENTITY.tenant})`,
  `  --environment NAME   environment claim (default ${DEMO_IDENTITY.environment})`,
  '  --lifetime SPAN      token lifetime, e.g. 10m, 8h (default 1h)',
  '  --conf FILE          apisix.yaml whose mcp-authz conf names issuer, audience and claims (default conf/apisix.yaml)',
].join('\n');

export async function main(argv: readonly string[], out: (s: string) => void, err: (s: string) => void): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        'secret-file': { type: 'string' },
        user: { type: 'string' },
        app: { type: 'string' },
        roles: { type: 'string' },
        tenant: { type: 'string' },
        environment: { type: 'string' },
        lifetime: { type: 'string' },
        conf: { type: 'string' },
        help: { type: 'boolean' },
      },
    }));
  } catch (e) {
    err(`${(e as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (values['help'] === true) {
    out(`${USAGE}\n`);
    return 0;
  }
  const str = (name: string): string | undefined => (typeof values[name] === 'string' ? values[name] : undefined);
  const secretFile = str('secret-file');
  if (secretFile === undefined) {
    err(`--secret-file is required\n${USAGE}\n`);
    return 2;
  }
  let secret: string;
  try {
    secret = (await readFile(secretFile, 'utf8')).trim();
  } catch (e) {
    err(`cannot read the secret file: ${(e as Error).message}\n`);
    return 1;
  }
  if (secret === '') {
    err(`the secret file ${secretFile} is empty\n`);
    return 1;
  }
  const settings = jwtSettings(await loadShippedRoutes(str('conf') ?? SHIPPED_ROUTES));
  const roles = str('roles');
  const token = await mintToken(
    settings,
    secret,
    {
      user: str('user') ?? DEMO_IDENTITY.user,
      app: str('app') ?? DEMO_IDENTITY.app,
      environment: str('environment') ?? DEMO_IDENTITY.environment,
      tenant: str('tenant') ?? DEMO_IDENTITY.tenant,
      roles: roles === undefined ? DEMO_IDENTITY.roles : roles.split(',').map((r) => r.trim()).filter((r) => r !== ''),
    },
    str('lifetime') ?? '1h',
  );
  out(`${token}\n`);
  return 0;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await main(process.argv.slice(2), (s) => process.stdout.write(s), (s) => process.stderr.write(s));
}
