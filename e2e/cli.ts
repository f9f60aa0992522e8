// Runs the end-to-end scenarios against a real deployment (APISIX + our runner + the sample MCP
// server behind it, shipped conf/gateway.yaml policy) and prints pass/fail per scenario.
//
//   npm run e2e -- --gateway http://HOST:9080/mcp --jwt-private-key key.pem|--jwt-secret-file s.txt --issuer ISS --audience AUD
//                  [--groups identity,policy] [--alg ES256] [--kid KID] [--app support-agent]
//                  [--environment production] [--endpoint json=http://HOST:9080/mcp/json ...]
//                  [--debug-tools] [--limit-tool crm.search_accounts --limit-requests 3]
//                  [--max-body-bytes N]
//
// Scenarios that need local access (the sample server's `seen`, the audit file, killing the
// runner) or an endpoint the deployment does not expose are skipped with the reason printed.

import { readFile } from 'node:fs/promises';
import { jwtMinter, SUPPORT_EXPECTATIONS, type EndpointName, type Target } from './harness.js';
import { GROUPS, runScenarios, type ScenarioResult } from './scenarios.js';

const ENDPOINTS: readonly EndpointName[] = ['main', 'json', 'shadow', 'pin', 'pinflag', 'redis', 'everything', 'faults', 'stateful'];

interface CliArgs {
  values: Map<string, string[]>;
  flags: Set<string>;
}

const FLAGS = new Set(['debug-tools', 'help']);

function parseArgs(argv: string[]): CliArgs {
  const values = new Map<string, string[]>();
  const flags = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) throw new Error(`unexpected argument '${a}'`);
    const eq = a.indexOf('=');
    const name = eq > 0 ? a.slice(2, eq) : a.slice(2);
    if (FLAGS.has(name)) {
      flags.add(name);
      continue;
    }
    const value = eq > 0 ? a.slice(eq + 1) : argv[++i];
    if (value === undefined) throw new Error(`--${name} needs a value`);
    values.set(name, [...(values.get(name) ?? []), value]);
  }
  return { values, flags };
}

function usage(): string {
  return [
    'usage: npm run e2e -- --gateway URL --jwt-private-key FILE --issuer ISS --audience AUD [options]',
    `  --groups a,b              only these groups (${GROUPS.join(', ')})`,
    '  --jwt-secret-file FILE    HMAC secret instead of a private key (the shipped conf uses shared_secret; HS256)',
    '  --alg ALG                 JWT algorithm (default ES256 with a key, HS256 with a secret)',
    '  --kid KID                 kid header of minted tokens',
    '  --app NAME                azp claim (default support-agent)',
    '  --environment NAME        environment claim (default production)',
    `  --endpoint NAME=URL       extra routes (${ENDPOINTS.filter((e) => e !== 'main').join(', ')}); repeatable`,
    '  --debug-tools             the policy allows debug.echo / util.* for the test identity',
    '  --limit-tool T --limit-requests N   a per-user limit of N calls/minute on tool T',
    '  --max-body-bytes N        max_body_bytes of the main route',
  ].join('\n');
}

async function main(): Promise<number> {
  let args: CliArgs;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${usage()}\n`);
    return 2;
  }
  const one = (n: string): string | undefined => args.values.get(n)?.at(-1);
  if (args.flags.has('help')) {
    process.stdout.write(`${usage()}\n`);
    return 0;
  }
  const gateway = one('gateway');
  const keyFile = one('jwt-private-key');
  const secretFile = one('jwt-secret-file');
  const issuer = one('issuer');
  const audience = one('audience');
  const missing = [['gateway', gateway], ['jwt-private-key or --jwt-secret-file', keyFile ?? secretFile], ['issuer', issuer], ['audience', audience]].filter(([, v]) => v === undefined).map(([n]) => `--${n}`);
  if (missing.length > 0) {
    process.stderr.write(`missing ${missing.join(', ')}\n${usage()}\n`);
    return 2;
  }
  const groups = one('groups')?.split(',').map((g) => g.trim()).filter(Boolean);
  const unknown = groups?.filter((g) => !(GROUPS as readonly string[]).includes(g)) ?? [];
  if (unknown.length > 0) {
    process.stderr.write(`unknown group(s) ${unknown.join(', ')}; groups: ${GROUPS.join(', ')}\n`);
    return 2;
  }
  const endpoints = new Map<EndpointName, string>([['main', new URL(gateway!).toString()]]);
  for (const spec of args.values.get('endpoint') ?? []) {
    const eq = spec.indexOf('=');
    const name = spec.slice(0, eq) as EndpointName;
    if (eq < 1 || !ENDPOINTS.includes(name)) {
      process.stderr.write(`--endpoint ${spec}: expected NAME=URL with NAME one of ${ENDPOINTS.join(', ')}\n`);
      return 2;
    }
    endpoints.set(name, new URL(spec.slice(eq + 1)).toString());
  }
  const limitRequests = one('limit-requests') !== undefined ? Number(one('limit-requests')) : undefined;
  if (limitRequests !== undefined && !(Number.isInteger(limitRequests) && limitRequests > 0)) {
    process.stderr.write('--limit-requests must be a positive integer\n');
    return 2;
  }
  const maxBody = one('max-body-bytes') !== undefined ? Number(one('max-body-bytes')) : undefined;

  const app = one('app') ?? SUPPORT_EXPECTATIONS.app;
  const environment = one('environment') ?? SUPPORT_EXPECTATIONS.environment;
  const kid = one('kid');
  const jwt = await jwtMinter({
    issuer: issuer!,
    audience: audience!,
    ...(keyFile !== undefined ? { privateKeyPem: await readFile(keyFile, 'utf8') } : { sharedSecret: (await readFile(secretFile!, 'utf8')).replace(/\r?\n$/, '') }),
    alg: one('alg') ?? (keyFile !== undefined ? 'ES256' : 'HS256'),
    ...(kid !== undefined ? { kid } : {}),
    defaults: { app, environment },
  });
  const target: Target = {
    name: `remote ${gateway}`,
    endpoint: (n) => endpoints.get(n),
    jwt,
    expect: {
      ...SUPPORT_EXPECTATIONS,
      app,
      environment,
      limitTool: one('limit-tool') ?? SUPPORT_EXPECTATIONS.limitTool,
      limitRequests,
      debugTools: args.flags.has('debug-tools'),
      ...(maxBody !== undefined ? { maxBodyBytes: maxBody } : {}),
    },
  };

  process.stdout.write(`e2e against ${gateway}\n`);
  const print = (r: ScenarioResult): void => {
    const tag = r.status === 'pass' ? 'PASS' : r.status === 'fail' ? 'FAIL' : 'SKIP';
    process.stdout.write(`${tag}  [${r.group}] ${r.name}${r.status === 'pass' ? ` (${r.ms} ms)` : ''}\n`);
    if (r.status === 'skip') process.stdout.write(`      skipped: ${r.detail}\n`);
    if (r.status === 'fail') process.stdout.write(`      ${(r.detail ?? '').split('\n').slice(0, 6).join('\n      ')}\n`);
  };
  const results = await runScenarios(target, { ...(groups !== undefined ? { groups } : {}), onResult: print });
  const count = (s: ScenarioResult['status']): number => results.filter((r) => r.status === s).length;
  process.stdout.write(`\n${count('pass')} passed, ${count('fail')} failed, ${count('skip')} skipped\n`);
  return count('fail') > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`e2e: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(2);
  },
);
