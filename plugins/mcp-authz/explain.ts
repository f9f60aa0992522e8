// The explain command: what would mcp-authz decide for this identity and this request, which
// rule decides, and which rules matched with what effect (every matching rule applies; the
// most restrictive outcome wins)? For reviewing policies in CI.
//
//   node dist/plugins/mcp-authz/explain.js --policy conf/policies/support.yaml \
//     --identity '{"app":"support-agent","user":"alice","roles":["support"]}' \
//     --request '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"crm.lookup_customer"}}' \
//     [--server crm-tools] [--json]
//
// Exit status: 0 allow, 1 deny, 2 confirmation required, 3 usage or policy error. A batch
// exits with the strictest element's status (deny > confirm > allow).

import { pathToFileURL } from 'node:url';
import type { Identity } from '../../runner/host/plugin.js';
import { parseRequestBody } from '../../runner/mcp/parse.js';
import { compilePolicy, loadPolicyFile } from '../../runner/policy/index.js';
import { decideMessage, holdsGrantHere, subjectFor, type Decision, type MatchedRule } from './decide.js';
import { parseRoles } from './identity.js';

const USAGE = 'usage: explain --policy <file.yaml> --identity <json> --request <json-rpc json> [--server <name>] [--json]';

interface Args {
  policy?: string;
  identity?: string;
  request?: string;
  server?: string;
  json: boolean;
}

function parseArgs(argv: readonly string[]): Args {
  const out: Args = { json: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const eq = a.indexOf('=');
    const [flag, inline] = a.startsWith('--') && eq > 0 ? [a.slice(0, eq), a.slice(eq + 1)] : [a, undefined];
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case '--policy': out.policy = value(); break;
      case '--identity': out.identity = value(); break;
      case '--request': out.request = value(); break;
      case '--server': out.server = value(); break;
      case '--json': out.json = true; break;
      default: throw new Error(`unknown argument ${a}`);
    }
  }
  return out;
}

function identityFrom(text: string): Identity {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new Error('--identity is not valid JSON');
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('--identity must be a JSON object');
  const o = v as Record<string, unknown>;
  const str = (k: string): string | undefined => (typeof o[k] === 'string' ? (o[k] as string) : undefined);
  return {
    user: str('user'),
    app: str('app'),
    agent: str('agent'),
    tenant: str('tenant'),
    environment: str('environment'),
    roles: parseRoles(o['roles'] ?? o['role']),
    source: 'jwt',
    subject: str('user'),
  };
}

const EXIT: Record<Decision['effect'], number> = { allow: 0, deny: 1, confirm: 2 };

/** Run the command; returns the exit status (never calls process.exit, so tests can call it). */
export async function main(argv: readonly string[], out: (line: string) => void = (l) => process.stdout.write(l + '\n'), err: (line: string) => void = (l) => process.stderr.write(l + '\n')): Promise<number> {
  let args: Args;
  try {
    args = parseArgs(argv);
    if (!args.policy || !args.identity || !args.request) throw new Error('--policy, --identity and --request are required');
  } catch (e) {
    err(`${(e as Error).message}\n${USAGE}`);
    return 3;
  }
  try {
    const identity = identityFrom(args.identity);
    const policy = compilePolicy([await loadPolicyFile(args.policy)]);
    const body = parseRequestBody(new TextEncoder().encode(args.request));
    if (!body.ok) throw new Error(`--request: ${body.message}`);
    if (body.messages.length === 0) throw new Error('--request has no messages');
    const subject = subjectFor(policy, identity, args.server);
    let status = 0;
    // Like the plugin: an identity without any grant on this server is refused every method.
    const grantHere = holdsGrantHere(policy, subject);
    body.messages.forEach((msg, i) => {
      const matched: MatchedRule[] = [];
      const d: Decision = grantHere
        ? decideMessage(policy, subject, msg, matched)
        : { effect: 'deny', rule: 'no-grant', reason: `no grant on server '${args.server ?? '(unnamed)'}' for this identity`, kind: 'method', target: msg.method ?? '' };
      status = Math.max(status, EXIT[d.effect] === 1 ? 10 : EXIT[d.effect]); // deny outranks confirm
      if (args.json) {
        out(JSON.stringify({ index: i, method: msg.method ?? null, decision: d.effect, rule: d.rule, reason: d.reason, kind: d.kind, target: d.target, access: d.access ?? null, risk: d.risk ?? null, matched }));
      } else {
        const prefix = body.batch ? `[${i}] ` : '';
        out(`${prefix}${d.effect.toUpperCase()} ${msg.method ?? '(response)'}${d.target && d.kind !== 'method' ? ` ${d.target}` : ''}`);
        out(`${prefix}  rule:   ${d.rule}`);
        out(`${prefix}  reason: ${d.reason}`);
        if (d.access !== undefined || d.risk !== undefined) out(`${prefix}  access: ${d.access ?? '-'}  risk: ${d.risk ?? '-'}`);
        for (const m of matched) out(`${prefix}  matched: ${m.effect.padEnd(11)} ${m.rule}: ${m.reason}`);
      }
    });
    return status === 10 ? 1 : status;
  } catch (e) {
    err(`error: ${(e as Error).message}`);
    return 3;
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`error: ${(e as Error).message}\n`);
      process.exitCode = 3;
    },
  );
}
