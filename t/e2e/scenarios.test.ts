// The end-to-end scenario suite through the APISIX emulator: MCP SDK client → emulator (pre-req,
// post-resp) → our runner, spawned like ext-plugin.cmd → sample MCP servers, server-everything,
// fault upstreams, real Redis. One stack for every group (faults last: they kill the runner).

import { test, describe, before, after } from 'node:test';
import { existsSync } from 'node:fs';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { redisServerProblem } from '../../testkit/redis.js';
import { AUDIENCE, ISSUER, REPO_ROOT, startEverythingServer, startFaultUpstream, startLocalStack, faultRoutes, type LocalStack } from '../../e2e/harness.js';
import { SCENARIOS, SkipScenario, missingNeed } from '../../e2e/scenarios.js';

let stack: LocalStack;
let shipped: LocalStack | undefined;
let everything: Awaited<ReturnType<typeof startEverythingServer>>;
let faults: Awaited<ReturnType<typeof startFaultUpstream>>;

// Without redis-server the Redis route is left out (its scenarios skip for want of it), the
// rest run, and the test below fails with what to install.
const redisProblem = redisServerProblem();

before(async () => {
  [everything, faults] = await Promise.all([startEverythingServer(), startFaultUpstream()]);
  stack = await startLocalStack({ redis: redisProblem === undefined, everything: { port: everything.port }, extraRoutes: faultRoutes(faults.port) });
});

test('redis-server is installed (the Redis scenarios need it)', () => {
  assert.equal(redisProblem, undefined);
});

after(async () => {
  await stack?.stop();
  await Promise.all([everything?.close(), faults?.close()]);
});

function scenarioTests(stackOf: () => LocalStack): void {
  for (const s of SCENARIOS) {
    test(`${s.group}: ${s.name}`, async (t) => {
      const target = stackOf().target;
      const skip = missingNeed(s, target);
      if (skip !== undefined) {
        t.skip(skip);
        return;
      }
      try {
        await s.run(target);
      } catch (err) {
        if (err instanceof SkipScenario) {
          t.skip(err.message);
          return;
        }
        // The runner's own errors explain most failures: attach them.
        const lines = target.local?.runnerLog().split('\n').filter((l) => /"level":(50|60)|plugin failed|\[error\]/.test(l)) ?? [];
        if (lines.length > 0 && err instanceof Error) err.message += `\nrunner log:\n${lines.slice(-10).join('\n')}`;
        throw err;
      }
    });
  }
}

describe('generated routes (every plugin, SSE/JSON/shadow/pinning/Redis/server-everything/fault upstreams)', () => {
  scenarioTests(() => stack);
});

// The shipped layout (conf/gateway.yaml → conf/apisix.yaml) with the shipped policy: the routes
// operators deploy are the ones exercised, upstream nodes pointed at the local sample server.
const SHIPPED = join(REPO_ROOT, 'conf/apisix.yaml');
describe('shipped conf/apisix.yaml', { skip: existsSync(SHIPPED) ? false : 'conf/apisix.yaml not generated' }, () => {
  before(async () => {
    shipped = await startLocalStack({ shippedConfig: SHIPPED });
  });
  after(async () => {
    await shipped?.stop();
  });
  scenarioTests(() => shipped!);
});

test('cli: the same scenarios against the stack as a remote gateway URL; local-only ones are skipped with a reason', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'e2e-cli-'));
  try {
    const keyFile = join(dir, 'key.pem'); // generated for this run, never committed
    await writeFile(keyFile, stack.jwtPrivateKeyPem, { mode: 0o600 });
    const t = stack.target;
    const args = [
      join(REPO_ROOT, 'dist/e2e/cli.js'),
      '--gateway', t.endpoint('main')!,
      '--jwt-private-key', keyFile,
      '--issuer', ISSUER,
      '--audience', AUDIENCE,
      '--endpoint', `json=${t.endpoint('json')!}`,
      '--debug-tools',
      '--groups', 'identity,policy,credentials,redaction',
    ];
    const out = await new Promise<{ code: number; stdout: string }>((resolve) => {
      execFile(process.execPath, args, { timeout: 30_000 }, (err, stdout) => resolve({ code: err === null ? 0 : ((err as { code?: number }).code ?? 1), stdout }));
    });
    assert.equal(out.code, 0, out.stdout);
    assert.match(out.stdout, /PASS {2}\[identity\] no token/);
    assert.match(out.stdout, /PASS {2}\[credentials\]/);
    assert.match(out.stdout, /SKIP {2}\[policy\] pinning[^\n]*\n {6}skipped: needs local access/);
    assert.match(out.stdout, /SKIP {2}\[policy\] shadow mode[^\n]*\n {6}skipped: needs the 'shadow' endpoint/);
    assert.doesNotMatch(out.stdout, /FAIL/);
    assert.match(out.stdout, /\d+ passed, 0 failed, \d+ skipped/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
