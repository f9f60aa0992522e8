// Static checks of the deployment files (no Docker engine here): compose files, APISIX
// config.yaml, Dockerfile, Admin API route bodies and helm values must agree with each other
// and with the runner. Plus two scripts run for real: demo secrets and the route setup.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, statSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { load as loadYaml } from 'js-yaml';
import { PACKAGE_ROOT } from '../../runner/host/schema-file.js';
import { PluginRegistry, formatConfErrors, loadPlugins } from '../../runner/host/registry.js';
import { generateReference, REFERENCE_PATH } from '../../runner/docs/reference.js';

const run = promisify(execFile);
const root = PACKAGE_ROOT;
const read = (p: string): string => readFileSync(join(root, p), 'utf8');
type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const yamlOf = (p: string): Obj => {
  const v = loadYaml(read(p));
  assert.ok(isObj(v), `${p} is a YAML mapping`);
  return v;
};
const obj = (v: unknown, what: string): Obj => {
  assert.ok(isObj(v), `${what} is an object`);
  return v;
};

const INSTALL_ROOT = '/opt/apisix-mcp';
const EXT_PLUGINS = ['ext-plugin-pre-req', 'ext-plugin-post-req', 'ext-plugin-post-resp'] as const;

interface RouteFile {
  file: string;
  route: Obj;
}

function adminRoutes(): RouteFile[] {
  const dir = join(root, 'conf/admin');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => ({ file: `conf/admin/${f}`, route: obj(JSON.parse(readFileSync(join(dir, f), 'utf8')), f) }));
}

function standaloneRoutes(): RouteFile[] {
  const text = read('conf/apisix.yaml');
  assert.match(text.trimEnd(), /\n#END$/, 'conf/apisix.yaml ends with #END (APISIX ignores it otherwise)');
  const doc = obj(loadYaml(text), 'conf/apisix.yaml');
  assert.ok(Array.isArray(doc['routes']), 'conf/apisix.yaml has routes');
  return (doc['routes'] as unknown[]).map((r, i) => ({ file: `conf/apisix.yaml#routes[${i}]`, route: obj(r, `routes[${i}]`) }));
}

function confEntries(route: Obj, plugin: string): { name: string; value: string }[] | undefined {
  const plugins = route['plugins'];
  if (!isObj(plugins) || !isObj(plugins[plugin])) return undefined;
  const conf = (plugins[plugin] as Obj)['conf'];
  assert.ok(Array.isArray(conf), `${plugin}.conf is an array`);
  return conf as { name: string; value: string }[];
}

/** Every `$env://NAME` in the data of a YAML/JSON file (comments, which may show placeholders, are not data). */
function envRefs(file: string): Set<string> {
  const text = JSON.stringify(loadYaml(read(file)));
  return new Set([...text.matchAll(/\$env:\/\/([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1] as string));
}

function envNames(config: Obj): Set<string> {
  const envs = obj(config['nginx_config'], 'nginx_config')['envs'];
  assert.ok(Array.isArray(envs), 'nginx_config.envs is a list');
  return new Set((envs as string[]).map((e) => e.split('=')[0] as string));
}

function composeServices(file: string): Obj {
  return obj(yamlOf(file)['services'], `${file} services`);
}

/** Bind-mount sources of a service (relative host paths), with their container targets. */
function binds(service: Obj): { source: string; target: string }[] {
  const volumes = (service['volumes'] as string[] | undefined) ?? [];
  return volumes
    .filter((v) => v.startsWith('./'))
    .map((v) => {
      const [source, target] = v.split(':');
      return { source: (source as string).slice(2), target: target as string };
    });
}

const DEMO_SECRETS_DIR = 'deploy/secrets/';

async function demoSecrets(): Promise<{ dir: string; files: Set<string>; cleanup: () => void }> {
  const dir = mkdtempSync(join(tmpdir(), 'demo-secrets-'));
  await run('sh', [join(root, 'deploy/make-demo-secrets.sh'), dir]);
  return { dir, files: new Set(readdirSync(dir)), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

// ---------------------------------------------------------------- config.yaml

for (const file of ['conf/config.yaml', 'conf/config-standalone.yaml']) {
  test(`${file}: ext-plugin.cmd runs the runner the Dockerfile installs`, () => {
    const config = yamlOf(file);
    const cmd = obj(config['ext-plugin'], 'ext-plugin')['cmd'];
    assert.ok(Array.isArray(cmd) && cmd.length === 2, 'cmd is an argv array [node, main.js]');
    const [node, main] = cmd as string[];
    assert.ok(node?.startsWith('/') && main?.startsWith('/'), 'absolute paths (execvp, no shell, unknown cwd)');
    assert.equal(node, '/usr/bin/node');
    assert.equal(main, `${INSTALL_ROOT}/dist/runner/main.js`);
    // The compiled file comes from runner/main.ts.
    assert.ok(existsSync(join(root, 'runner/main.ts')));
    assert.equal(obj(config['ext-plugin'], 'ext-plugin')['path_for_test'], undefined, 'no development socket in a shipped config');
  });

  test(`${file}: ext-plugin-pre-req, post-req and post-resp are enabled`, () => {
    const plugins = yamlOf(file)['plugins'];
    assert.ok(Array.isArray(plugins));
    for (const p of EXT_PLUGINS) assert.ok((plugins as string[]).includes(p), `${p} in plugins`);
  });

  test(`${file}: nginx_config.envs passes the runner settings and every $env:// secret of the routes`, () => {
    const names = envNames(yamlOf(file));
    for (const n of ['MCP_RUNNER_LOG_FILE', 'MCP_RUNNER_LOG_LEVEL', 'MCP_RUNNER_METRICS_PORT']) assert.ok(names.has(n), n);
    const sources = ['conf/gateway.yaml', 'conf/apisix.yaml', ...adminRoutes().map((r) => r.file)];
    const refs = new Set(sources.flatMap((s) => [...envRefs(s)]));
    assert.ok(refs.size > 0, 'the shipped routes use $env:// references (else this check is empty)');
    for (const ref of refs) assert.ok(names.has(ref), `$env://${ref} is used by a route but not listed in ${file} nginx_config.envs`);
  });
}

test('conf/config.yaml: traditional role with Admin API on 9180 and key from the environment', () => {
  const deployment = obj(yamlOf('conf/config.yaml')['deployment'], 'deployment');
  assert.equal(deployment['role'], 'traditional');
  const admin = obj(deployment['admin'], 'deployment.admin');
  assert.equal(obj(admin['admin_listen'], 'admin_listen')['port'], 9180);
  const keys = admin['admin_key'] as Obj[];
  assert.ok(keys.some((k) => k['role'] === 'admin' && k['key'] === '${{APISIX_ADMIN_KEY}}'), 'admin key is not hard-coded');
  assert.ok((obj(deployment['etcd'], 'etcd')['host'] as string[]).includes('http://etcd:2379'));
});

test('conf/config-standalone.yaml: data_plane reading conf/apisix.yaml, no etcd', () => {
  const deployment = obj(yamlOf('conf/config-standalone.yaml')['deployment'], 'deployment');
  assert.equal(deployment['role'], 'data_plane');
  assert.equal(obj(deployment['role_data_plane'], 'role_data_plane')['config_provider'], 'yaml');
  assert.equal(deployment['etcd'], undefined);
});

test('every APISIX plugin the routes use is enabled in both config files', () => {
  const used = new Set([...adminRoutes(), ...standaloneRoutes()].flatMap((r) => Object.keys(obj(r.route['plugins'] ?? {}, 'plugins'))));
  for (const file of ['conf/config.yaml', 'conf/config-standalone.yaml']) {
    const enabled = new Set(yamlOf(file)['plugins'] as string[]);
    for (const p of used) assert.ok(enabled.has(p), `${p} is used by a route but not enabled in ${file}`);
  }
});

// ---------------------------------------------------------------- routes

test('Admin API route bodies: plugin confs validate against the runner schemas; fail closed; no _meta.error_response', async () => {
  const registry = new PluginRegistry();
  const failures = await loadPlugins(registry);
  assert.deepEqual(failures, []);
  const routes = [...adminRoutes(), ...standaloneRoutes()];
  assert.ok(routes.length >= 2);
  let validated = 0;
  for (const { file, route } of routes) {
    const hasPostResp = confEntries(route, 'ext-plugin-post-resp') !== undefined;
    for (const ext of EXT_PLUGINS) {
      const entries = confEntries(route, ext);
      if (!entries) continue;
      const pluginConf = obj(obj(route['plugins'], 'plugins')[ext], ext);
      assert.notEqual(pluginConf['allow_degradation'], true, `${file} ${ext}: allow_degradation must stay false (fail closed)`);
      const meta = pluginConf['_meta'];
      assert.ok(!isObj(meta) || meta['error_response'] === undefined, `${file} ${ext}: _meta.error_response would overwrite JSON-RPC errors`);
      for (const { name, value } of entries) {
        assert.equal(typeof value, 'string', `${file} ${ext} ${name}: value is JSON text`);
        const parsed: unknown = JSON.parse(value);
        if (name === 'mcp-route') {
          const settings = obj(parsed, `${file} mcp-route`);
          if (ext === 'ext-plugin-pre-req' && 'post_resp' in settings) {
            assert.equal(settings['post_resp'], hasPostResp, `${file}: mcp-route.post_resp must match the presence of ext-plugin-post-resp`);
          }
          continue;
        }
        const reg = registry.get(name);
        assert.ok(reg, `${file} ${ext}: unknown plugin ${name}`);
        assert.ok(reg.validate(structuredClone(parsed)), `${file} ${ext}: ${formatConfErrors(name, reg.validate.errors)}`);
        validated++;
      }
    }
  }
  assert.ok(validated > 0);
});

test('Admin API route files: ids come from the file names and match conf/apisix.yaml', () => {
  const standalone = new Map(standaloneRoutes().map((r) => [String(r.route['id']), r.route]));
  for (const { file, route } of adminRoutes()) {
    const id = file.replace(/^conf\/admin\//, '').replace(/\.json$/, '');
    assert.match(id, /^[A-Za-z0-9._-]+$/, `${file}: usable as /apisix/admin/routes/<id>`);
    if (route['id'] !== undefined) assert.equal(String(route['id']), id, `${file}: body id must equal the PUT path id`);
    const twin = standalone.get(id);
    assert.ok(twin, `${id} is also in conf/apisix.yaml`);
    assert.deepEqual({ ...twin, id: undefined }, { ...route, id: undefined }, `${id}: Admin API body and standalone route agree`);
  }
});

test('policy files named by route confs exist where the runner looks (relative to the APISIX home)', () => {
  const gateway = read('conf/gateway.yaml');
  const files = [...gateway.matchAll(/policy_file:\s*([^\s#]+)/g)].map((m) => m[1] as string);
  assert.ok(files.length > 0);
  const dockerfile = read('Dockerfile');
  for (const f of files) {
    assert.ok(!f.startsWith('/') ? f.startsWith('conf/policies/') : f.startsWith(`${INSTALL_ROOT}/conf/policies/`), `${f}: under conf/policies`);
    assert.ok(existsSync(join(root, f.startsWith('/') ? f.slice(INSTALL_ROOT.length + 1) : f)), `${f} exists in the repo`);
  }
  assert.match(dockerfile, /ln -s \/opt\/apisix-mcp\/conf\/policies \/usr\/local\/apisix\/conf\/policies/);
});

// ---------------------------------------------------------------- Dockerfile

test('Dockerfile: APISIX 3.14+ debian base, Node 24 at the path cmd runs, the runner where cmd points, non-root', () => {
  const text = read('Dockerfile');
  const base = /ARG APISIX_IMAGE=apache\/apisix:3\.(\d+)\.\d+-debian/.exec(text);
  assert.ok(base, 'apache/apisix:3.x.y-debian base');
  assert.ok(Number(base[1]) >= 14, 'post_arg.* route matching needs APISIX 3.14+');
  assert.match(text, /FROM \$\{APISIX_IMAGE\}\n/);
  assert.match(text, /ARG NODE_IMAGE=node:24-bookworm-slim/);
  // The build stage compiles with the same major as the runtime it ships.
  assert.match(text, /^FROM node:24-bookworm AS build$/m);
  assert.match(text, /COPY --from=node \/usr\/local\/bin\/node \/usr\/bin\/node/);
  const copies = [...text.matchAll(/^COPY (?:--from=build )?(?:--chown=\S+ )?(\S+) (\S+)$/gm)].map((m) => ({ src: m[1] as string, dest: m[2] as string }));
  const workdirInstall = text.indexOf(`WORKDIR ${INSTALL_ROOT}`);
  assert.ok(workdirInstall > 0);
  const installed = copies.filter((c) => c.dest.startsWith('./')).map((c) => `${INSTALL_ROOT}/${c.dest.slice(2)}`);
  for (const needed of ['dist/runner', 'dist/plugins', 'node_modules', 'schemas', 'package.json', 'conf/policies']) {
    assert.ok(installed.includes(`${INSTALL_ROOT}/${needed}`), `Dockerfile installs ${INSTALL_ROOT}/${needed}`);
  }
  // package.json carries "type": "module" (ESM) and is how the runner finds schemas/.
  assert.equal(JSON.parse(read('package.json')).type, 'module');
  assert.match(text, /COPY --chown=apisix:0 conf\/config\.yaml \/usr\/local\/apisix\/conf\/config\.yaml/);
  const users = [...text.matchAll(/^USER (\S+)$/gm)].map((m) => m[1]);
  assert.equal(users.at(-1), 'apisix', 'the final image runs as the apisix user');
  // The build compiles what the image needs, from files that exist.
  const tsconfig = JSON.parse(read('deploy/tsconfig.image.json')) as { include: string[] };
  for (const inc of tsconfig.include) assert.ok(existsSync(join(root, 'deploy', inc.split('/**')[0] as string)), inc);
  for (const src of copies.filter((c) => !c.src.startsWith('/')).map((c) => c.src)) {
    assert.ok(existsSync(join(root, src)), `COPY source ${src} exists`);
  }
});

test('.dockerignore keeps secrets and build output out of the context', () => {
  const lines = read('.dockerignore').split('\n').map((l) => l.trim());
  for (const l of ['deploy/secrets', 'node_modules', 'dist', '.git']) assert.ok(lines.includes(l), l);
});

// ---------------------------------------------------------------- compose

for (const file of ['docker-compose.yml', 'docker-compose.standalone.yml']) {
  test(`${file}: services are complete and reference existing files`, async () => {
    const services = composeServices(file);
    const secrets = await demoSecrets();
    try {
      for (const [name, raw] of Object.entries(services)) {
        const s = obj(raw, `${file} ${name}`);
        assert.ok(typeof s['image'] === 'string' || s['build'] !== undefined, `${name}: image or build`);
        for (const { source } of binds(s)) {
          if (source.startsWith(DEMO_SECRETS_DIR)) {
            const rest = source.slice(DEMO_SECRETS_DIR.length);
            assert.ok(rest === '' || secrets.files.has(rest), `${name}: ${source} is produced by deploy/make-demo-secrets.sh`);
          } else if (source !== 'deploy/secrets') {
            assert.ok(existsSync(join(root, source)), `${name}: bind source ${source} exists`);
          }
        }
        for (const env of (s['env_file'] as string[] | undefined) ?? []) {
          assert.ok(env.startsWith(`./${DEMO_SECRETS_DIR}`) && secrets.files.has(env.slice(2 + DEMO_SECRETS_DIR.length)), `${name}: env_file ${env} is generated`);
        }
        const deps = s['depends_on'];
        if (isObj(deps)) {
          for (const [dep, cond] of Object.entries(deps)) {
            assert.ok(services[dep], `${name} depends on missing service ${dep}`);
            if (isObj(cond) && cond['condition'] === 'service_healthy') {
              assert.ok(isObj(obj(services[dep], dep)['healthcheck']), `${dep} needs a healthcheck (${name} waits for it)`);
            }
          }
        }
      }
      const apisix = obj(services['apisix'], 'apisix');
      const ports = (apisix['ports'] as string[]).map((p) => p.split(':')[1]);
      assert.ok(ports.includes('9080'), 'proxy port published');
      assert.ok(isObj(apisix['healthcheck']));
      const targets = new Map(binds(apisix).map((b) => [b.target, b.source]));
      assert.equal(targets.get('/usr/local/apisix/conf/config.yaml'), file === 'docker-compose.yml' ? 'conf/config.yaml' : 'conf/config-standalone.yaml');
      assert.equal(targets.get('/etc/apisix-mcp/secrets'), 'deploy/secrets');
      assert.equal(targets.get(`${INSTALL_ROOT}/conf/policies`), 'conf/policies');
      if (file === 'docker-compose.standalone.yml') {
        assert.equal(targets.get('/usr/local/apisix/conf/apisix.yaml'), 'conf/apisix.yaml');
        assert.equal(services['etcd'], undefined, 'standalone runs without etcd');
        assert.equal(obj(apisix['environment'], 'environment')['APISIX_STAND_ALONE'], 'true');
      } else {
        assert.ok(ports.includes('9180'), 'Admin API published');
      }
      // Every $env:// secret reaches the container (env file or environment).
      const runnerEnv = readFileSync(join(secrets.dir, 'runner.env'), 'utf8');
      const provided = new Set([...runnerEnv.matchAll(/^([A-Z0-9_]+)=./gm)].map((m) => m[1] as string));
      for (const k of Object.keys(obj(apisix['environment'] ?? {}, 'environment'))) provided.add(k);
      for (const ref of envRefs('conf/gateway.yaml')) assert.ok(provided.has(ref), `${file}: apisix gets no value for $env://${ref}`);
      // The routes' upstream is a service of this stack.
      for (const { file: rf, route } of standaloneRoutes()) {
        const nodes = obj(obj(route['upstream'], `${rf} upstream`)['nodes'], 'nodes');
        for (const node of Object.keys(nodes)) {
          const [host, port] = node.split(':');
          const svc = services[host as string];
          assert.ok(svc, `${rf}: upstream ${node} is not a service of ${file}`);
          const entry = (obj(svc, host as string)['entrypoint'] as string[]).join(' ');
          assert.ok(entry.includes(`--port ${port}`) && entry.includes('--host 0.0.0.0'), `${host} listens on ${port} on all interfaces`);
          assert.ok(entry.includes(`${INSTALL_ROOT}/dist/examples/sample-mcp-server.js`));
        }
      }
    } finally {
      secrets.cleanup();
    }
  });
}

test('docker-compose.yml: setup PUTs conf/admin with the generated admin key after APISIX is healthy', () => {
  const services = composeServices('docker-compose.yml');
  const setup = obj(services['setup'], 'setup');
  assert.deepEqual(setup['entrypoint'], ['/bin/sh', '/deploy/setup-routes.sh']);
  const targets = new Map(binds(setup).map((b) => [b.target, b.source]));
  assert.equal(targets.get('/deploy/setup-routes.sh'), 'deploy/setup-routes.sh');
  assert.equal(targets.get('/routes'), 'conf/admin');
  assert.equal(targets.get('/run/secrets/admin_key'), 'deploy/secrets/admin_key');
  assert.equal(obj(obj(setup['depends_on'], 'depends_on')['apisix'], 'apisix')['condition'], 'service_healthy');
  assert.ok(isObj(services['redis']) && isObj(services['otel-collector']) && isObj(services['etcd']));
  const etcdEnv = obj(obj(services['etcd'], 'etcd')['environment'], 'etcd env');
  assert.equal(etcdEnv['ETCD_ADVERTISE_CLIENT_URLS'], 'http://etcd:2379');
});

// ---------------------------------------------------------------- scripts

test('make-demo-secrets.sh: generates every file once, keeps them on re-run, rotates with --force', async () => {
  const s = await demoSecrets();
  try {
    for (const f of ['admin_key', 'apisix-admin.env', 'runner.env', 'jwt_shared_secret', 'redact_hash_salt']) {
      assert.ok(statSync(join(s.dir, f)).size > 0, f);
      assert.equal(statSync(join(s.dir, f)).mode & 0o004, 0o004, `${f} readable by the container user`);
    }
    const key = readFileSync(join(s.dir, 'admin_key'), 'utf8').trim();
    assert.match(key, /^[0-9a-f]{32}$/);
    assert.equal(readFileSync(join(s.dir, 'apisix-admin.env'), 'utf8').trim(), `APISIX_ADMIN_KEY=${key}`);
    const jwt = readFileSync(join(s.dir, 'jwt_shared_secret'), 'utf8').trim();
    assert.ok(readFileSync(join(s.dir, 'runner.env'), 'utf8').includes(`MCP_GATEWAY_JWT_SECRET=${jwt}\n`));
    await run('sh', [join(root, 'deploy/make-demo-secrets.sh'), s.dir]);
    assert.equal(readFileSync(join(s.dir, 'admin_key'), 'utf8').trim(), key, 'a re-run keeps existing secrets');
    await run('sh', [join(root, 'deploy/make-demo-secrets.sh'), '--force', s.dir]);
    assert.notEqual(readFileSync(join(s.dir, 'admin_key'), 'utf8').trim(), key, '--force rotates');
  } finally {
    s.cleanup();
  }
  assert.ok(read('deploy/secrets/.gitignore').includes('*'), 'generated secrets are git-ignored');
});

test('setup-routes.sh: waits for the Admin API, then PUTs each route body with the key', async () => {
  const puts: { url: string; key: string | undefined; body: string }[] = [];
  let probes = 0;
  const server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.headers['x-api-key'] !== 'k3y') {
        res.writeHead(401).end('{"error_msg":"failed to check token"}');
        return;
      }
      if (req.method === 'GET') {
        probes++;
        res.writeHead(probes < 2 ? 503 : 200, { 'content-type': 'application/json' }).end('{"total":0,"list":[]}');
        return;
      }
      puts.push({ url: req.url ?? '', key: req.headers['x-api-key'] as string | undefined, body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(req.url?.endsWith('/bad') ? 400 : 201, { 'content-type': 'application/json' }).end('{"error_msg":"invalid"}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  const keyDir = mkdtempSync(join(tmpdir(), 'admin-key-'));
  try {
    const keyFile = join(keyDir, 'admin_key');
    await run('sh', ['-c', `printf 'k3y\\n' > '${keyFile}'`]);
    const env = { ...process.env, ADMIN_URL: `http://127.0.0.1:${port}`, ADMIN_KEY_FILE: keyFile, ROUTES_DIR: join(root, 'conf/admin'), WAIT_SECONDS: '20' };
    const { stdout } = await run('sh', [join(root, 'deploy/setup-routes.sh')], { env });
    assert.ok(probes >= 2, 'it retried while the Admin API answered 503');
    const routes = adminRoutes();
    assert.equal(puts.length, routes.length);
    for (const { file } of routes) {
      const id = file.replace(/^conf\/admin\//, '').replace(/\.json$/, '');
      const put = puts.find((p) => p.url === `/apisix/admin/routes/${id}`);
      assert.ok(put, `PUT /apisix/admin/routes/${id}`);
      assert.equal(put.body, read(file), 'body sent byte for byte');
      assert.match(stdout, new RegExp(`routes/${id} -> 201`));
    }
    // A refused route makes the job fail (so `docker compose up` shows it).
    const badDir = mkdtempSync(join(tmpdir(), 'routes-'));
    await run('sh', ['-c', `printf '{}' > '${badDir}/bad.json'`]);
    await assert.rejects(run('sh', [join(root, 'deploy/setup-routes.sh')], { env: { ...env, ROUTES_DIR: badDir } }), /routes\/bad -> 400/);
    rmSync(badDir, { recursive: true, force: true });
    // A wrong key never gets past the wait.
    await assert.rejects(run('sh', [join(root, 'deploy/setup-routes.sh')], { env: { ...env, ADMIN_KEY: 'nope', WAIT_SECONDS: '2' } }), /not ready/);
  } finally {
    rmSync(keyDir, { recursive: true, force: true });
    await new Promise<void>((r) => server.close(() => r()));
  }
});

// ---------------------------------------------------------------- reference

test(`${REFERENCE_PATH} is the generated reference (run npm run docs after a schema change)`, async () => {
  const generated = await generateReference();
  assert.equal(read(REFERENCE_PATH), generated);
  for (const plugin of ['mcp-authz', 'mcp-ratelimit', 'mcp-audit', 'mcp-credential', 'mcp-redact']) {
    assert.ok(generated.includes(`schemas/${plugin}.conf.schema.json`), plugin);
  }
});

// ---------------------------------------------------------------- helm

test('helm values: the official chart gets the same runner command, envs and plugins as conf/config.yaml', () => {
  const chart = yamlOf('charts/apisix-mcp/Chart.yaml');
  const deps = chart['dependencies'] as Obj[];
  assert.ok(deps.some((d) => d['name'] === 'apisix' && d['repository'] === 'https://charts.apiseven.com'));
  const values = yamlOf('charts/apisix-mcp/values.yaml');
  const sub = obj(values['apisix'], 'apisix');
  const a = obj(sub['apisix'], 'apisix.apisix');
  const config = yamlOf('conf/config.yaml');
  const ext = obj(a['extPlugin'], 'extPlugin');
  assert.equal(ext['enabled'], true);
  assert.deepEqual(ext['cmd'], obj(config['ext-plugin'], 'ext-plugin')['cmd']);
  assert.deepEqual(new Set(obj(a['nginx'], 'nginx')['envs'] as string[]), envNames(config));
  assert.deepEqual(a['plugins'], config['plugins']);
  // Every $env:// of the routes has a value in the pod, from the runner Secret.
  const env = new Map((sub['extraEnvVars'] as Obj[]).map((e) => [String(e['name']), e]));
  const runnerSecrets = obj(values['runnerSecrets'], 'runnerSecrets');
  for (const ref of envRefs('conf/gateway.yaml')) {
    const e = env.get(ref);
    assert.ok(e, `extraEnvVars sets ${ref}`);
    const sref = obj(obj(e['valueFrom'], 'valueFrom')['secretKeyRef'], 'secretKeyRef');
    assert.equal(sref['name'], runnerSecrets['name']);
    assert.ok(ref in obj(runnerSecrets['values'], 'runnerSecrets.values'), `runnerSecrets.values.${ref}`);
  }
  assert.equal(env.get('MCP_RUNNER_LOG_FILE')?.['value'], '/var/log/apisix-mcp/runner.log');
  // Mounts: policies where the image links them, secrets where $file:// refs point, volumes exist.
  const volumes = new Map((sub['extraVolumes'] as Obj[]).map((v) => [String(v['name']), v]));
  const mounts = new Map((sub['extraVolumeMounts'] as Obj[]).map((m) => [String(m['mountPath']), String(m['name'])]));
  assert.equal(obj(volumes.get(mounts.get(`${INSTALL_ROOT}/conf/policies`) ?? '')?.['configMap'], 'policies volume')['name'], obj(values['policies'], 'policies')['configMapName']);
  assert.equal(obj(volumes.get(mounts.get('/etc/apisix-mcp/secrets') ?? '')?.['secret'], 'secrets volume')['secretName'], runnerSecrets['name']);
  assert.ok(mounts.has('/var/log/apisix-mcp'));
  // Admin key Secret shared by APISIX and the Job; the Job targets the subchart's admin Service.
  const adminSecret = obj(values['adminKey'], 'adminKey')['secretName'];
  assert.equal(obj(obj(a['admin'], 'admin')['credentials'], 'credentials')['secretName'], adminSecret);
  assert.equal(obj(values['routes'], 'routes')['adminUrl'], `http://${String(sub['fullnameOverride'])}-admin:9180`);
  assert.match(String(obj(sub['image'], 'image')['repository']), /apisix-mcp-gateway$/);
});

test('helm chart files are in sync with conf/ and deploy/ (run deploy/sync-chart-files.sh)', () => {
  const files = 'charts/apisix-mcp/files';
  assert.equal(read(`${files}/setup-routes.sh`), read('deploy/setup-routes.sh'));
  for (const [src, dest, ext] of [['conf/admin', `${files}/routes`, '.json'], ['conf/policies', `${files}/policies`, '.yaml']] as const) {
    const want = readdirSync(join(root, src)).filter((f) => f.endsWith(ext)).sort();
    assert.deepEqual(readdirSync(join(root, dest)).sort(), want, `${dest} has the files of ${src}`);
    for (const f of want) assert.equal(read(`${dest}/${f}`), read(`${src}/${f}`), `${dest}/${f} equals ${src}/${f}`);
  }
  for (const t of ['policies-configmap.yaml', 'routes-configmap.yaml', 'routes-job.yaml', 'runner-secrets.yaml', 'admin-secret.yaml']) {
    assert.ok(existsSync(join(root, 'charts/apisix-mcp/templates', t)), t);
  }
  assert.match(read('charts/apisix-mcp/templates/routes-job.yaml'), /"helm.sh\/hook": post-install,post-upgrade/);
});
