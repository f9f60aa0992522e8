// Runs every compiled test file (dist/t/**/*.test.js) with node's test runner.
// Usage: node t/run-tests.mjs [filter-substring ...]
//
// Two guards keep a run honest:
// - only compiled tests whose source (t/**/*.test.ts) still exists run, so a deleted or moved
//   test's stale .js in dist/ cannot pass or fail in its name (`npm test` also empties dist/ first);
// - the tests run with TMPDIR set to a fresh directory, and the run fails if anything is left in
//   it at the end: every test removes what it creates (temp dirs, sockets, files of spawned
//   processes), and this is where one that does not is caught, by name.
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { spawn } from 'node:child_process';

function collect(dir, out) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) collect(p, out);
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

/** dist/t/a/b.test.js → t/a/b.test.ts */
const sourceOf = (compiled) => relative('dist', compiled).replace(/\.js$/, '.ts');

if (!existsSync('dist/t')) {
  console.error('no compiled tests under dist/t: run `npm run build` first (npm test does)');
  process.exit(1);
}
const filters = process.argv.slice(2);
const compiled = collect('dist/t', []).sort();
const stale = compiled.filter((f) => !existsSync(sourceOf(f)));
if (stale.length > 0) {
  console.error(`skipping ${stale.length} compiled test(s) whose source is gone (npm test empties dist/ first):`);
  for (const f of stale) console.error(`  ${f}`);
}
const files = compiled
  .filter((f) => !stale.includes(f))
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)));
if (files.length === 0) {
  console.error(`no test files under dist/t match ${filters.join(' ') || '(no filter)'}`);
  process.exit(1);
}

const runTmp = mkdtempSync(join(tmpdir(), 'mcp-test-run-'));
// Keep the runner's own log quiet in test output unless asked for.
const env = {
  ...process.env,
  TMPDIR: runTmp,
  MCP_RUNNER_LOG_LEVEL: process.env.MCP_RUNNER_LOG_LEVEL ?? 'silent',
};
const child = spawn(process.execPath, ['--test', '--test-concurrency=2', '--test-timeout=120000', ...files], { stdio: 'inherit', env });
child.on('exit', (code, signal) => {
  let status = code ?? (signal ? 1 : 0);
  const left = readdirSync(runTmp);
  if (left.length > 0) {
    console.error(`\ntests left ${left.length} entr${left.length === 1 ? 'y' : 'ies'} in the temp dir (${runTmp}); each test must remove what it creates:`);
    for (const name of left.sort()) console.error(`  ${name}${statSync(join(runTmp, name), { throwIfNoEntry: false })?.isDirectory() ? '/' : ''}`);
    status = status || 1;
  }
  rmSync(runTmp, { recursive: true, force: true });
  process.exit(status);
});
