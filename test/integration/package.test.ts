// What ships: the npm package and the container image (Dockerfile), proved as far as this machine
// allows. There is no Docker engine here, so the image is never built; instead:
//  1. `npm pack --dry-run`: the package holds the bundle, README and package.json, nothing else;
//  2. the bundle runs from a clean folder with no node_modules anywhere above it, with the
//     chart's Node.js flags for the controller, under Node's permission model (it may read only its own folder and
//     the test's inputs, and write nowhere): version, validate, sync against a real API server, and
//     get with the providers whose SDKs are imported lazily (ecr, gcp, acr);
//  3. the Dockerfile is read and checked (stages, FROM tags pinned to the Node.js release the tests
//     run on, numeric non-root USER, ENTRYPOINT, OCI labels, no remote ADD, a wrapper without
//     flags, .dockerignore);
//  4. its build stage runs as a script: the build context .dockerignore lets through, the COPY lines,
//     then the same RUN commands (npm ci, npm run build);
//  5. its runtime stage is emulated in a chroot laid out like the node:*-bookworm-slim image (node at
//     /usr/local/bin, npm and yarn where that image has them): the stage's RUN lines run in it as
//     root, COPY --from takes the bundle step 4 built, then ENTRYPOINT/CMD and the Helm chart's own
//     command run as USER 65532:65532 on a read-only root with a tmpfs at /tmp (the chart's
//     readOnlyRootFilesystem and emptyDir): version, --help, a sync, and the controller serving
//     /readyz and syncing a credential.
// Every run uses the chart's Node flags for the controller (src/node-flags.ts), including the
// fetch-based providers (gcp, acr): those flags once had --lite-mode, which turns WebAssembly off and
// made the first fetch kill the process.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { builtinModules } from 'node:module';
import {
  chmodSync,
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { basename, dirname, join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CoreV1Api, type V1Secret } from '@kubernetes/client-node';
import { start, freePort, type ControlPlane } from '../harness/controlplane.js';
import { CLI_PATH } from '../harness/cli.js';
import { installCrds } from '../harness/crds.js';
import { httpStatus, secretOrUndefined } from '../harness/kube.js';
import { createClusterCredential } from '../harness/controller-process.js';
import { contextFiles, copyParts, expand, keyValues, parseDockerfile, parseDockerignore, type Instruction, type Stage } from '../harness/dockerfile.js';
import { controllerNodeFlags, DEFAULT_HEAP_PERCENTAGE } from '../../src/node-flags.js';
import { IMAGE_MEMORY_ENV, oldSpaceMiB } from '../harness/chart-container.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const PKG = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string; license: string; bin: Record<string, string> };
const FLAGS: string[] = controllerNodeFlags();
const WASM_CRASH = /WebAssembly is not defined/;
const DOCKERFILE = parseDockerfile(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'));
const IGNORE = parseDockerignore(readFileSync(join(ROOT, '.dockerignore'), 'utf8'));
/** PATH of the official node images (their ENV), used inside the emulated runtime image. */
const IMAGE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

const PASSWORD = `pw-${randomBytes(12).toString('hex')}`;
const USERNAME = 'robot';
const REGISTRY = 'registry.example.com';
/** Everything printed by processes whose output must hold no secret. */
const printed: string[] = [];

interface Result {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd ?? ROOT, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

function show(r: Result): string {
  return `exit ${r.code}${r.signal ? ` (${r.signal})` : ''}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let cp: ControlPlane;
let core: CoreV1Api;

function staticCredential(name: string, namespace: string): string {
  return `apiVersion: regcred.dev/v1alpha1
kind: ClusterRegistryCredential
metadata: {name: ${name}}
spec:
  provider:
    static: {secretRef: {name: static-source}}
  target:
    secretName: pull-${name}
    namespaces: {names: [${namespace}]}
    serviceAccounts: []
`;
}

function providerCredential(name: string, provider: string): string {
  return `apiVersion: regcred.dev/v1alpha1
kind: ClusterRegistryCredential
metadata: {name: ${name}}
spec:
  provider:
    ${provider}
  target:
    secretName: pull-${name}
    namespaces: {names: [nowhere]}
`;
}

function decodeAuth(secret: V1Secret | undefined): { username: string; password: string } | undefined {
  const raw = secret?.data?.['.dockerconfigjson'];
  if (!raw) return undefined;
  const entry = (JSON.parse(Buffer.from(raw, 'base64').toString('utf8')) as { auths: Record<string, { username: string; password: string }> }).auths[REGISTRY];
  return entry && { username: entry.username, password: entry.password };
}

async function waitForSecret(namespace: string, name: string, timeoutMs = 30_000): Promise<V1Secret | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await secretOrUndefined(core, namespace, name);
    if (s || Date.now() > deadline) return s;
    await sleep(200);
  }
}

/** A kubeconfig with the CA and the admin client certificate inline (no file references), for copies of it. */
function inlineKubeconfig(): string {
  const b64 = (f: string) => readFileSync(join(cp.dir, f)).toString('base64');
  return `apiVersion: v1
kind: Config
clusters:
- name: local
  cluster: {server: "${cp.server}", certificate-authority-data: ${b64('ca.crt')}}
users:
- name: admin
  user: {client-certificate-data: ${b64('admin.crt')}, client-key-data: ${b64('admin.key')}}
contexts:
- name: local
  context: {cluster: local, user: admin}
current-context: local
`;
}

before(async () => {
  assert.ok(existsSync(CLI_PATH), `${CLI_PATH} is missing: build first (npm run build)`);
  cp = await start();
  core = cp.kubeConfig.makeApiClient(CoreV1Api);
  for (const name of ['regcred-system', 'img-clean', 'img-chroot', 'img-controller']) {
    await core.createNamespace({ body: { metadata: { name } } });
  }
  await core.createNamespacedSecret({
    namespace: 'regcred-system',
    body: { metadata: { name: 'static-source' }, stringData: { registry: REGISTRY, username: USERNAME, password: PASSWORD } },
  });
  await core.createNamespacedSecret({
    namespace: 'regcred-system',
    body: { metadata: { name: 'acr-sp' }, stringData: { AZURE_CLIENT_SECRET: `azure-${randomBytes(8).toString('hex')}` } },
  });
});

after(async () => {
  const all = printed.join('\n');
  assert.ok(!all.includes(PASSWORD), 'the static password appeared in output');
  await cp?.stop();
});

// ---------------------------------------------------------------------------------------------

describe('npm package', () => {
  test('the package depends on nothing at run time: the bundle holds every library (all are devDependencies)', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(pkg['dependencies'], undefined, '`npm i -g regcred` installs the bundle only');
    assert.ok(Object.keys(pkg['devDependencies'] as object).includes('@kubernetes/client-node'));
  });

  test('npm pack holds exactly the bundle and its chunks, README and package.json (and LICENSE if there is one)', (t) => {
    const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
      cwd: ROOT,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const [pack] = JSON.parse(out) as { files: { path: string; size: number; mode: number }[]; unpackedSize: number; size: number; entryCount: number }[];
    assert.ok(pack);
    const paths = pack.files.map((f) => f.path).sort();
    const chunks = readdirSync(join(ROOT, 'dist/chunks')).map((c) => `dist/chunks/${c}`);
    assert.ok(chunks.length > 0, 'the bundle has chunks loaded on first use');
    const want = ['README.md', 'dist/regcred.mjs', ...chunks, 'package.json', ...(existsSync(join(ROOT, 'LICENSE')) ? ['LICENSE'] : [])].sort();
    assert.deepEqual(paths, want);
    for (const p of paths) assert.doesNotMatch(p, /^(test|src|bench|charts|hack|docs|dist\/src|dist\/test)\/|\.ts$|\.map$/, p);
    // The bin entry is in the package and executable.
    for (const bin of Object.values(PKG.bin)) {
      const packed: { path: string; mode: number } | undefined = pack.files.find((f) => f.path === bin.replace(/^\.\//, ''));
      assert.ok(packed, `bin ${bin} is packed`);
      assert.equal(packed.mode & 0o111, 0o111, `bin ${bin} is executable`);
    }
    const bundle = pack.files.find((f) => f.path === 'dist/regcred.mjs')!;
    t.diagnostic(
      `npm pack: ${pack.entryCount} files, unpacked ${pack.unpackedSize} bytes (${(pack.unpackedSize / 1e6).toFixed(2)} MB; bundle ${bundle.size} bytes), tarball ${pack.size} bytes`,
    );
  });
});

// ---------------------------------------------------------------------------------------------

describe('the bundle alone, from a clean folder (no node_modules anywhere above it)', () => {
  let clean: string;
  let readOnly: string;
  let bundle: string;

  before(() => {
    clean = mkdtempSync('/tmp/regcred-clean-');
    bundle = join(clean, 'regcred.mjs');
    copyFileSync(CLI_PATH, bundle);
    cpSync(join(dirname(CLI_PATH), 'chunks'), join(clean, 'chunks'), { recursive: true });
    // cwd and HOME of every run: read-only (mode 555; the permission model below makes that hold for root too).
    readOnly = mkdtempSync('/tmp/regcred-ro-');
    chmodSync(readOnly, 0o555);
  });

  after(() => {
    rmSync(clean, { recursive: true, force: true });
    chmodSync(readOnly, 0o755);
    rmSync(readOnly, { recursive: true, force: true });
  });

  /**
   * The bundle with the chart's flags for the controller under Node's permission model: it may read
   * its own folder and `reads`, write nothing anywhere, and use the network (which the permission
   * model of Node 26 restricts too). A module resolved from any node_modules, or a file written
   * (cache, temp file, HOME), fails with ERR_ACCESS_DENIED.
   */
  function runClean(args: string[], opts: { env?: Record<string, string>; reads?: string[]; nodeFlags?: string[] } = {}): Promise<Result> {
    return run(
      process.execPath,
      [...(opts.nodeFlags ?? FLAGS), '--permission', '--allow-net', `--allow-fs-read=${clean}/`, ...(opts.reads ?? []).map((r) => `--allow-fs-read=${r}`), bundle, ...args],
      {
        cwd: readOnly,
        // Nothing of this machine's environment: no NODE_PATH, NODE_OPTIONS, AWS_*, KUBECONFIG.
        env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: readOnly, AWS_EC2_METADATA_DISABLED: 'true', ...opts.env },
      },
    );
  }

  test('no node_modules in the folder or any folder above it; `version` with the controller flags', async () => {
    for (let dir = clean; ; dir = dirname(dir)) {
      assert.ok(!existsSync(join(dir, 'node_modules')), `${dir}/node_modules exists`);
      if (dir === dirname(dir)) break;
    }
    assert.deepEqual(readdirSync(clean).sort(), ['chunks', 'regcred.mjs']);
    // Exactly as the Helm chart runs it (node <flags> regcred.mjs), without the permission model.
    const plain = await run(process.execPath, [...FLAGS, bundle, 'version'], { cwd: readOnly, env: { PATH: process.env['PATH'] ?? '', HOME: readOnly } });
    assert.equal(plain.code, 0, show(plain));
    assert.equal(plain.stdout, `regcred ${PKG.version}\n`);
    assert.equal(plain.stderr, '', 'no warning from Node.js (src/node-warnings.ts, hack/bundle.mjs)');
    const confined = await runClean(['version']);
    assert.equal(confined.code, 0, show(confined));
    assert.equal(confined.stdout, `regcred ${PKG.version}\n`);
  });

  test('the permission model is in force: a write, or a read outside the allowed folders, fails', async () => {
    const probe = `try { require('node:fs').writeFileSync('/tmp/regcred-probe-${process.pid}', 'x'); console.log('wrote') } catch (e) { console.log(e.code) }
try { require('node:fs').readFileSync(${JSON.stringify(join(ROOT, 'package.json'))}); console.log('read') } catch (e) { console.log(e.code) }`;
    const r = await run(process.execPath, ['--permission', `--allow-fs-read=${clean}/`, '-e', probe], { cwd: readOnly, env: { PATH: process.env['PATH'] ?? '' } });
    assert.equal(r.stdout, 'ERR_ACCESS_DENIED\nERR_ACCESS_DENIED\n', show(r));
  });

  test('the bundle imports no package: what it leaves to runtime resolution is built-in or optional', () => {
    const chunks = readdirSync(join(clean, 'chunks')).map((c) => join(clean, 'chunks', c));
    const text = [bundle, ...chunks].map((f) => readFileSync(f, 'utf8')).join('\n');
    const named = new Set<string>();
    for (const m of text.matchAll(/\b(?:__require|require|import)\(\s*"([^"./][^"]*)"\s*\)/g)) named.add(m[1]!);
    // Static imports, minified or not: `import{a as b}from"x"`, `import "x"`.
    for (const m of text.matchAll(/\b(?:from|import)\s*"([@a-z][\w@/.:-]*)";/g)) named.add(m[1]!);
    assert.ok(named.has('node:module'), 'the scan sees static imports');
    const builtin = new Set(builtinModules.flatMap((b) => [b, `node:${b}`]));
    const external = [...named].filter((n) => !builtin.has(n)).sort();
    // Optional dependencies of dependencies, each loaded inside try/catch or only on request, and
    // not installed by `npm ci` either: ws's bufferutil / utf-8-validate, debug's supports-color,
    // node-fetch's encoding; the AWS SDK names @aws-sdk/signature-v4-crt only in an error message.
    const optional = ['@aws-sdk/signature-v4-crt', 'bufferutil', 'encoding', 'supports-color', 'utf-8-validate'];
    assert.deepEqual(
      external.filter((n) => !optional.includes(n)),
      [],
      `the bundle leaves these to node_modules: ${external.join(', ')}`,
    );
    for (const n of optional) assert.ok(!existsSync(join(ROOT, 'node_modules', n)), `${n} is installed: it would be missed in the image`);
  });

  test('validate -f: a static credential', async () => {
    writeFileSync(join(clean, 'static.yaml'), staticCredential('img-static', 'img-clean'));
    const r = await runClean(['validate', '-f', join(clean, 'static.yaml')]);
    printed.push(r.stdout, r.stderr);
    assert.equal(r.code, 0, show(r));
    assert.match(r.stdout, /img-static/);
  });

  test('sync against the real API server (static provider): the Secret is written', async () => {
    const r = await runClean(['sync', '-f', join(clean, 'static.yaml'), '--kubeconfig', cp.kubeconfigPath], { reads: [`${cp.dir}/`] });
    printed.push(r.stdout, r.stderr);
    assert.equal(r.code, 0, show(r));
    assert.match(r.stdout, /ClusterRegistryCredential\/img-static: synced 1\/1 namespaces \(created 1/);
    assert.deepEqual(decodeAuth(await secretOrUndefined(core, 'img-clean', 'pull-img-static')), { username: USERNAME, password: PASSWORD });
  });

  describe('providers whose SDKs are imported lazily: the chunks are inside the bundle', () => {
    const seen: { method?: string; url?: string; headers: Record<string, string | string[] | undefined> }[] = [];
    let server: Server;
    let base: string;
    const ECR_PASSWORD = `ecr-${randomBytes(8).toString('hex')}`;

    before(async () => {
      // One double for both: ECR's GetAuthorizationToken (AWS JSON 1.1) and the GCE metadata server.
      server = createServer((req, res) => {
        seen.push({ method: req.method, url: req.url, headers: req.headers });
        req.resume();
        req.on('end', () => {
          if (req.url?.startsWith('/computeMetadata/')) {
            res.writeHead(200, { 'content-type': 'application/json', 'metadata-flavor': 'Google' });
            res.end(JSON.stringify({ access_token: 'ya29.double', expires_in: 3599, token_type: 'Bearer' }));
            return;
          }
          res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' });
          res.end(
            JSON.stringify({
              authorizationData: [
                {
                  authorizationToken: Buffer.from(`AWS:${ECR_PASSWORD}`).toString('base64'),
                  expiresAt: Math.floor(Date.now() / 1000) + 3600,
                  proxyEndpoint: 'https://123456789012.dkr.ecr.us-east-1.amazonaws.com',
                },
              ],
            }),
          );
        });
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      base = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    });

    after(() => new Promise<void>((r) => server.close(() => r())));

    const awsEnv = { AWS_ACCESS_KEY_ID: 'AKIAIMAGETEST', AWS_SECRET_ACCESS_KEY: 'not-a-secret', AWS_CONFIG_FILE: '/nonexistent/aws-config', AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/aws-credentials' };
    const noModule = /Cannot find (module|package)|ERR_MODULE_NOT_FOUND|MODULE_NOT_FOUND|ERR_ACCESS_DENIED/;

    test('ecr (AWS SDK): unreachable endpoint gives the provider\'s classified error; a double gives a credential', async () => {
      writeFileSync(join(clean, 'ecr-down.yaml'), providerCredential('ecr-down', 'ecr: {region: us-east-1, endpoint: "http://127.0.0.1:9"}'));
      const down = await runClean(['get', '-f', join(clean, 'ecr-down.yaml')], { env: awsEnv });
      assert.equal(down.code, 1, show(down));
      // The SDK's error name and the network code; the error's own text (the address) goes to the controller's log only.
      assert.match(down.stderr, /ClusterRegistryCredential\/ecr-down: ProviderError: ecr GetAuthorizationToken in us-east-1: network error ECONNREFUSED$/m);
      assert.doesNotMatch(down.stderr, noModule);

      writeFileSync(join(clean, 'ecr-up.yaml'), providerCredential('ecr-up', `ecr: {region: us-east-1, endpoint: "http://${base}"}`));
      const up = await runClean(['get', '-f', join(clean, 'ecr-up.yaml')], { env: awsEnv });
      assert.equal(up.code, 0, show(up));
      assert.match(up.stdout, /123456789012\.dkr\.ecr\.us-east-1\.amazonaws\.com/);
      assert.ok(up.stdout.includes(ECR_PASSWORD));
      const call = seen.find((s) => s.headers['x-amz-target'] === 'AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken');
      assert.ok(call, 'the SDK called GetAuthorizationToken');
      assert.match(String(call.headers['authorization']), /^AWS4-HMAC-SHA256 Credential=AKIAIMAGETEST\//, 'signed by the SDK');
    });

    test('gcp metadataServer (google-auth-library): unreachable GCE_METADATA_HOST, then a double (the controller’s flags: fetch works)', async () => {
      writeFileSync(join(clean, 'gcp.yaml'), providerCredential('gcp-md', 'gcp: {registries: [gcr.io], auth: {metadataServer: {}}}'));
      const down = await runClean(['get', '-f', join(clean, 'gcp.yaml')], { env: { GCE_METADATA_HOST: '127.0.0.1:9' } });
      assert.equal(down.code, 1, show(down));
      assert.match(down.stderr, /ClusterRegistryCredential\/gcp-md: ProviderError: gcp metadata server token request: network error ECONNREFUSED$/m);
      assert.doesNotMatch(down.stderr, noModule);

      const up = await runClean(['get', '-f', join(clean, 'gcp.yaml')], { env: { GCE_METADATA_HOST: base } });
      assert.equal(up.code, 0, show(up));
      assert.match(up.stdout, /ya29\.double/);
      const call = seen.find((s) => s.url?.startsWith('/computeMetadata/v1/instance/service-accounts/default/token'));
      assert.ok(call, 'the library asked the metadata server');
      assert.equal(call.headers['metadata-flavor'], 'Google');
    });

    test('acr (@azure/identity, MSAL): unreachable authorityHost gives the provider\'s classified error (the controller’s flags: fetch works)', async () => {
      writeFileSync(
        join(clean, 'acr.yaml'),
        providerCredential(
          'acr-down',
          'acr: {registry: regcredtest.azurecr.io, authorityHost: "https://127.0.0.1:9", tenantId: 72f988bf-86f1-41af-91ab-2d7cd011db47, clientId: 11111111-2222-3333-4444-555555555555, auth: {secretRef: {name: acr-sp}}}',
        ),
      );
      const r = await runClean(['get', '-f', join(clean, 'acr.yaml'), '--kubeconfig', cp.kubeconfigPath], { reads: [`${cp.dir}/`] });
      assert.equal(r.code, 1, show(r));
      assert.match(r.stderr, /ClusterRegistryCredential\/acr-down: ProviderError: acr regcredtest\.azurecr\.io: Entra token \(client secret\): .*endpoints_resolution_error/);
      assert.doesNotMatch(r.stderr, noModule);
    });
  });

  test('the chart’s flags for the controller leave WebAssembly on: Node’s fetch (undici) needs it', async () => {
    // --lite-mode or --jitless would turn it off, and the first fetch would kill the process.
    assert.ok(!FLAGS.includes('--lite-mode') && !FLAGS.includes('--no-expose-wasm') && !FLAGS.includes('--jitless'));
    const r = spawnSync(process.execPath, [...FLAGS, '-e', "fetch('http://127.0.0.1:9').catch((e) => { console.log('fetch ran:', e.message); })"], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /fetch ran: fetch failed/);
    assert.doesNotMatch(r.stderr, WASM_CRASH);
  });

  test('the chart’s heap flag gives V8 the chart’s share of the memory Node finds available (a container’s limit, else the machine’s)', () => {
    const probe = "console.log(JSON.stringify({ limit: require('node:v8').getHeapStatistics().heap_size_limit, constrained: process.constrainedMemory(), total: require('node:os').totalmem() }))";
    const heap = (flags: string[]) => {
      const r = spawnSync(process.execPath, [...flags, '-e', probe], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      return JSON.parse(r.stdout) as { limit: number; constrained: number; total: number };
    };
    const share = heap(FLAGS);
    const available = share.constrained > 0 && share.constrained < share.total ? share.constrained : share.total;
    const explicit = heap([`--max-old-space-size=${oldSpaceMiB(available, DEFAULT_HEAP_PERCENTAGE)}`]);
    assert.equal(share.limit, explicit.limit, `${FLAGS.join(' ')} with ${available} bytes available`);
    assert.ok(share.limit < available, 'the heap limit stays below the available memory');
  });

  test('nothing was written to the working directory or HOME', () => {
    assert.deepEqual(readdirSync(readOnly), []);
  });
});

// ---------------------------------------------------------------------------------------------

const buildStage = DOCKERFILE.stages.find((s) => s.name === 'build');
const runtimeStage = DOCKERFILE.stages[DOCKERFILE.stages.length - 1]!;

function stageArgs(stage: Stage): Record<string, string> {
  const vars = { ...DOCKERFILE.globalArgs };
  for (const ins of stage.instructions) {
    if (ins.cmd !== 'ARG') continue;
    const eq = ins.args.indexOf('=');
    if (eq > 0) vars[ins.args.slice(0, eq)] = ins.args.slice(eq + 1).replace(/^"|"$/g, '');
  }
  return vars;
}

function only(stage: Stage, cmd: string): Instruction[] {
  return stage.instructions.filter((i) => i.cmd === cmd);
}

describe('Dockerfile, read without Docker', () => {
  test('two stages, both FROM an image pinned by a tag (not latest), the runtime last', (t) => {
    assert.ok(buildStage, 'a stage named "build"');
    assert.ok(DOCKERFILE.stages.length >= 2);
    assert.notEqual(runtimeStage, buildStage);
    for (const stage of DOCKERFILE.stages) {
      const image = expand(stage.from, DOCKERFILE.globalArgs);
      const m = /^(?:[a-z0-9.-]+(?::\d+)?\/)?[a-z0-9._/-]+:([A-Za-z0-9_.-]+)(@sha256:[a-f0-9]{64})?$/.exec(image);
      assert.ok(m, `FROM ${stage.from} (= ${image}) has a tag`);
      assert.notEqual(m[1], 'latest');
      t.diagnostic(`stage ${stage.name ?? '(unnamed)'}: FROM ${image}`);
    }
    // The image's Node.js is the release the tests run on (hack/node-release.env, test/unit/node-release.test.ts).
    assert.equal(DOCKERFILE.globalArgs['NODE_VERSION'], process.versions.node, 'ARG NODE_VERSION');
  });

  test('the runtime stage: numeric non-root USER (the chart\'s 65532), ENTRYPOINT ["regcred"], HOME in /tmp', () => {
    const users = only(runtimeStage, 'USER');
    const user = users[users.length - 1]?.args;
    assert.ok(user, 'USER in the final stage');
    assert.match(user, /^[0-9]+(:[0-9]+)?$/, 'numeric (Kubernetes runAsNonRoot can check only numeric users)');
    const [uid, gid] = user.split(':').map(Number);
    assert.notEqual(uid, 0);
    const values = readFileSync(join(ROOT, 'charts/regcred/values.yaml'), 'utf8');
    assert.equal(uid, Number(/runAsUser: (\d+)/.exec(values)?.[1]));
    assert.equal(gid, Number(/runAsGroup: (\d+)/.exec(values)?.[1]));
    const entrypoint = only(runtimeStage, 'ENTRYPOINT').pop();
    assert.deepEqual(entrypoint?.json, ['regcred'], 'ENTRYPOINT in exec form');
    const env = Object.assign({}, ...only(runtimeStage, 'ENV').map((i) => keyValues(i.args))) as Record<string, string>;
    assert.equal(env['HOME'], '/tmp', 'HOME on the emptyDir the chart mounts at /tmp');
    for (const [k, v] of Object.entries(IMAGE_MEMORY_ENV)) assert.equal(env[k], v, `${k} as the tests and benchmarks run the controller (test/harness/chart-container.ts)`);
  });

  test('the wrapper runs /app/regcred.mjs (the chart\'s path) with no Node.js flag: Node sizes the heap from the container\'s limit', () => {
    const deployment = readFileSync(join(ROOT, 'charts/regcred/templates/deployment.yaml'), 'utf8');
    assert.match(deployment, /\/app\/regcred\.mjs\]/);
    const runs = only(runtimeStage, 'RUN').map((i) => i.args).join('\n');
    const m = /exec node ((?:\S+ )*)\/app\/regcred\.mjs "\$@"/.exec(runs);
    assert.ok(m, 'a wrapper that execs node on /app/regcred.mjs');
    assert.equal(m[1], '', 'no heap size or V8 flag baked into the image (the chart\'s Deployment passes its own, src/node-flags.ts)');
    const copy = only(runtimeStage, 'COPY').find((i) => copyParts(i).dest === '/app/regcred.mjs');
    assert.ok(copy, 'COPY of the bundle to /app/regcred.mjs');
    assert.equal(copy.flags['from'], buildStage?.name);
    // The chunks it imports by relative path sit beside it.
    const chunks = only(runtimeStage, 'COPY').find((i) => copyParts(i).dest === '/app/chunks/');
    assert.ok(chunks, 'COPY of the chunks to /app/chunks/');
    assert.deepEqual(copyParts(chunks).sources, ['/src/dist/chunks/']);
    assert.equal(chunks.flags['from'], buildStage?.name);
  });

  test('OCI labels; no ADD; no download in a RUN', () => {
    const labels = Object.assign({}, ...only(runtimeStage, 'LABEL').map((i) => keyValues(expand(i.args, stageArgs(runtimeStage))))) as Record<string, string>;
    assert.equal(labels['org.opencontainers.image.title'], 'regcred');
    assert.equal(labels['org.opencontainers.image.version'], PKG.version, 'ARG VERSION is package.json\'s version');
    assert.equal(labels['org.opencontainers.image.licenses'], PKG.license);
    const chart = readFileSync(join(ROOT, 'charts/regcred/Chart.yaml'), 'utf8');
    assert.ok(chart.includes(labels['org.opencontainers.image.source'] ?? '-'), 'the source is the chart\'s');
    assert.ok(labels['org.opencontainers.image.description']);
    assert.deepEqual(DOCKERFILE.all.filter((i) => i.cmd === 'ADD').map((i) => i.line), [], 'no ADD (COPY only)');
    for (const ins of DOCKERFILE.all.filter((i) => i.cmd === 'RUN')) assert.doesNotMatch(ins.args, /\b(curl|wget)\b|https?:\/\//, `line ${ins.line}`);
    for (const ins of DOCKERFILE.all.filter((i) => i.cmd === 'COPY' && i.flags['from'])) {
      assert.ok(
        DOCKERFILE.stages.some((s) => s.name === ins.flags['from']),
        `COPY --from=${ins.flags['from']} names a stage (not a remote image)`,
      );
    }
  });

  test('.dockerignore lets through what the build stage COPYs, and nothing of node_modules, dist, test, .git', (t) => {
    const files = contextFiles(ROOT, IGNORE);
    for (const ins of only(buildStage!, 'COPY')) {
      for (const src of copyParts(ins).sources) {
        const s = src.replace(/\/$/, '');
        assert.ok(files.some((f) => f === s || f.startsWith(`${s}/`)), `COPY source ${src} is in the context`);
      }
    }
    for (const f of files) assert.doesNotMatch(f, /^(node_modules|dist|test|bench|charts|docs|\.git)\//, f);
    const bytes = files.reduce((n, f) => n + statSync(join(ROOT, f)).size, 0);
    t.diagnostic(`build context: ${files.length} files, ${bytes} bytes`);
  });
});

// ---------------------------------------------------------------------------------------------

/** The runtime-stage emulation needs root: chroot, and mount namespaces (unshare --mount). */
function emulationUnavailable(): string | false {
  if (process.getuid?.() !== 0) return 'needs root (chroot, mount namespaces)';
  const probe = spawnSync('unshare', ['--mount', '--propagation', 'private', 'true'], { stdio: 'ignore' });
  if (probe.status !== 0) return 'unshare --mount is not permitted here';
  for (const tool of ['chroot', 'ldd', 'mount', 'find']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status !== 0) return `${tool} is missing`;
  }
  return false;
}

const EMULATION_SKIP = emulationUnavailable();

describe('Dockerfile, run as a script: the build stage, then the runtime stage in a chroot', () => {
  let work: string;
  let buildRoot: string;
  let rootfs: string;
  let imageEnv: Record<string, string>;
  let imageUser: string;
  let imageWorkdir = '/';
  let entrypoint: string[] = [];
  let cmd: string[] = [];
  let controller: ChildProcess | undefined;

  before(() => {
    work = mkdtempSync('/tmp/regcred-image-');
  });

  after(() => {
    controller?.kill('SIGKILL');
    if (!process.env['REGCRED_KEEP_IMAGE_DIRS']) rmSync(work, { recursive: true, force: true });
  });

  /** COPY as Docker does it: a folder's contents into the destination folder; a file into dest/ or as dest. */
  function dockerCopy(from: string, to: string, destIsDir: boolean): void {
    if (statSync(from).isDirectory()) {
      mkdirSync(to, { recursive: true });
      cpSync(from, to, { recursive: true });
    } else {
      const target = destIsDir ? join(to, basename(from)) : to;
      mkdirSync(dirname(target), { recursive: true });
      copyFileSync(from, target);
      chmodSync(target, statSync(from).mode & 0o7777);
    }
  }

  test('build stage: the context .dockerignore allows, its COPY lines, its RUN commands (npm ci, npm run build)', { timeout: 240_000 }, async (t) => {
    const context = join(work, 'context');
    for (const f of contextFiles(ROOT, IGNORE)) dockerCopy(join(ROOT, f), join(context, f), false);
    buildRoot = join(work, 'build-root');
    let workdir = '/';
    const vars = stageArgs(buildStage!);
    for (const ins of buildStage!.instructions) {
      if (ins.cmd === 'WORKDIR') {
        workdir = posix.resolve(workdir, expand(ins.args, vars));
        mkdirSync(join(buildRoot, workdir), { recursive: true });
      } else if (ins.cmd === 'COPY') {
        assert.equal(ins.flags['from'], undefined, 'the build stage copies from the context only');
        const { sources, dest } = copyParts(ins);
        const target = join(buildRoot, posix.resolve(workdir, dest));
        for (const src of sources) dockerCopy(join(context, src), target, dest.endsWith('/') || sources.length > 1);
      } else if (ins.cmd === 'RUN') {
        const started = Date.now();
        // The same command through /bin/sh -c, as Docker runs it; the machine's npm cache and
        // prefer-offline only spare the registry (the lock file fixes what is installed).
        const r = await run('/bin/sh', ['-c', ins.args], {
          cwd: join(buildRoot, workdir),
          env: { ...process.env, npm_config_prefer_offline: 'true', npm_config_update_notifier: 'false' },
          timeoutMs: 200_000,
        });
        assert.equal(r.code, 0, `RUN ${ins.args}\n${show(r)}`);
        t.diagnostic(`RUN ${ins.args}: ${((Date.now() - started) / 1000).toFixed(1)} s`);
      } else {
        assert.ok(['ARG', 'ENV', 'LABEL'].includes(ins.cmd), `build stage: ${ins.cmd} not emulated`);
      }
    }
    // The bundle the runtime stage copies exists, is executable, and behaves like this repository's.
    const copy = only(runtimeStage, 'COPY').find((i) => i.flags['from'] === buildStage!.name)!;
    const built = join(buildRoot, copyParts(copy).sources[0]!);
    assert.ok(existsSync(built), `${built} (COPY --from=${buildStage!.name} source) exists after the build`);
    assert.equal(statSync(built).mode & 0o755, 0o755);
    assert.equal(readFileSync(built, 'utf8').split('\n')[0], '#!/usr/bin/env node');
    const mine = await run(process.execPath, [built, 'version']);
    const repo = await run(process.execPath, [CLI_PATH, 'version']);
    assert.equal(mine.stdout, repo.stdout);
    assert.equal(mine.stdout, `regcred ${PKG.version}\n`);
    t.diagnostic(`bundle built in the script: ${statSync(built).size} bytes (this repository's dist/regcred.mjs: ${statSync(CLI_PATH).size})`);
  });

  test('runtime stage: its RUN lines and COPY in a chroot laid out like node:*-bookworm-slim', { skip: EMULATION_SKIP }, async (t) => {
    assert.ok(buildRoot, 'the build stage ran');
    rootfs = join(work, 'rootfs');
    mkdirSync(rootfs, { mode: 0o755 });
    chmodSync(rootfs, 0o755);
    // Debian bookworm's merged /usr.
    for (const d of ['usr/bin', 'usr/sbin', 'usr/lib', 'usr/lib64', 'usr/local/bin', 'usr/local/lib', 'etc', 'tmp', 'dev', 'opt']) mkdirSync(join(rootfs, d), { recursive: true });
    for (const d of ['bin', 'sbin', 'lib', 'lib64']) symlinkSync(`usr/${d}`, join(rootfs, d));
    chmodSync(join(rootfs, 'tmp'), 0o1777);
    // The programs the stage's RUN lines and the wrapper use, with their shared libraries.
    const programs = ['/bin/sh', '/usr/bin/env', '/bin/rm', '/bin/chmod', '/bin/ln', '/bin/mkdir', '/bin/cat'];
    const place = (src: string, dest: string) => {
      const target = join(rootfs, dest);
      if (existsSync(target)) return;
      mkdirSync(dirname(target), { recursive: true });
      copyFileSync(realpathSync(src), target);
      chmodSync(target, statSync(realpathSync(src)).mode & 0o7777);
    };
    place(process.execPath, '/usr/local/bin/node');
    for (const p of programs) place(p, p.replace(/^\/(bin|sbin)\//, '/usr/$1/'));
    for (const p of [process.execPath, ...programs]) {
      const ldd = execFileSync('ldd', [realpathSync(p)], { encoding: 'utf8' });
      for (const m of ldd.matchAll(/(?:=> )?(\/\S+) \(0x/g)) place(m[1]!, m[1]!);
    }
    try {
      execFileSync('mknod', ['-m', '666', join(rootfs, 'dev/null'), 'c', '1', '3']);
    } catch {
      t.diagnostic('mknod /dev/null failed: the chroot has no /dev/null');
    }
    // What the official image has and the stage removes (npm, npx, corepack in /usr/local; yarn in /opt).
    for (const [pkg, bin] of [['npm', 'npm'], ['npm', 'npx'], ['corepack', 'corepack']] as const) {
      mkdirSync(join(rootfs, 'usr/local/lib/node_modules', pkg, 'bin'), { recursive: true });
      writeFileSync(join(rootfs, 'usr/local/lib/node_modules', pkg, 'package.json'), `{"name":"${pkg}"}`);
      symlinkSync(`../lib/node_modules/${pkg}/bin/${bin}-cli.js`, join(rootfs, 'usr/local/bin', bin));
    }
    mkdirSync(join(rootfs, 'opt/yarn-v1.22.22/bin'), { recursive: true });
    symlinkSync('/opt/yarn-v1.22.22/bin/yarn', join(rootfs, 'usr/local/bin/yarn'));
    symlinkSync('/opt/yarn-v1.22.22/bin/yarn', join(rootfs, 'usr/local/bin/yarnpkg'));
    writeFileSync(join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/bash\nnode:x:1000:1000::/home/node:/bin/bash\n');
    writeFileSync(join(rootfs, 'etc/group'), 'root:x:0:\nnode:x:1000:\n');

    const vars = stageArgs(runtimeStage);
    imageEnv = { PATH: IMAGE_PATH, NODE_VERSION: expand('${NODE_VERSION}', vars) };
    imageUser = '0:0';
    for (const ins of runtimeStage.instructions) {
      if (ins.cmd === 'RUN') {
        assert.equal(imageUser, '0:0', 'RUN lines run as root, before USER');
        const r = await run('chroot', [rootfs, '/bin/sh', '-c', ins.args], { env: imageEnv });
        assert.equal(r.code, 0, `RUN ${ins.args}\n${show(r)}`);
      } else if (ins.cmd === 'COPY') {
        const { sources, dest } = copyParts(ins);
        assert.equal(ins.flags['from'], buildStage!.name, 'the runtime stage copies only from the build stage');
        for (const src of sources) dockerCopy(join(buildRoot, src), join(rootfs, dest), dest.endsWith('/'));
      } else if (ins.cmd === 'ENV') {
        Object.assign(imageEnv, keyValues(expand(ins.args, { ...vars, ...imageEnv })));
      } else if (ins.cmd === 'WORKDIR') {
        imageWorkdir = posix.resolve(imageWorkdir, expand(ins.args, vars));
        mkdirSync(join(rootfs, imageWorkdir), { recursive: true });
      } else if (ins.cmd === 'USER') {
        imageUser = ins.args;
      } else if (ins.cmd === 'ENTRYPOINT') {
        entrypoint = ins.json ?? [];
      } else if (ins.cmd === 'CMD') {
        cmd = ins.json ?? [];
      } else {
        assert.ok(['ARG', 'LABEL'].includes(ins.cmd), `runtime stage: ${ins.cmd} not emulated`);
      }
    }
    // What the image holds: no package manager, no node_modules anywhere.
    const found = execFileSync('find', [rootfs, '-name', 'node_modules'], { encoding: 'utf8' }).trim();
    assert.equal(found, '', 'no node_modules in the runtime image');
    for (const gone of ['usr/local/bin/npm', 'usr/local/bin/npx', 'usr/local/bin/corepack', 'usr/local/bin/yarn', 'opt/yarn-v1.22.22']) {
      assert.ok(!existsSync(join(rootfs, gone)), `${gone} removed`);
    }
    const app = statSync(join(rootfs, 'app/regcred.mjs'));
    assert.equal(app.uid, 0, '/app/regcred.mjs is root\'s');
    assert.equal(app.mode & 0o777, 0o755, 'readable and runnable by all, writable by root only');
    const chunkFiles = readdirSync(join(rootfs, 'app/chunks'));
    assert.ok(chunkFiles.length > 0, '/app/chunks/ holds the bundle\'s chunks');
    for (const c of chunkFiles) {
      const st = statSync(join(rootfs, 'app/chunks', c));
      assert.equal(st.uid, 0, `/app/chunks/${c} is root's`);
      assert.equal(st.mode & 0o022, 0, `/app/chunks/${c} is writable by root only`);
    }
    t.diagnostic(`image user ${imageUser}, workdir ${imageWorkdir}, env ${JSON.stringify(imageEnv)}`);
    // Files for the runs below (the chart mounts its credentials file; a kubeconfig stands in for in-cluster config).
    mkdirSync(join(rootfs, 'etc/regcred'));
    writeFileSync(join(rootfs, 'etc/regcred/credentials.yaml'), staticCredential('img-chroot', 'img-chroot'));
    writeFileSync(join(rootfs, 'etc/regcred/kubeconfig'), inlineKubeconfig(), { mode: 0o644 });
    writeFileSync(join(rootfs, 'etc/regcred/gcp.yaml'), providerCredential('gcp-image', 'gcp: {registries: [gcr.io], auth: {metadataServer: {}}}'));
  });

  /**
   * argv in the image as its USER: a private mount namespace, the root file system bind-mounted
   * read-only with a fresh tmpfs at /tmp (as the chart's readOnlyRootFilesystem + emptyDir), then
   * chroot with --userspec, cd to WORKDIR, exec. Every step execs: the test's child IS the process.
   */
  function spawnInImage(argv: string[], extraEnv: Record<string, string> = {}): ChildProcess {
    const script = [
      'R="$1"; W="$2"; U="$3"; shift 3',
      'mount --bind "$R" "$R" && mount -o remount,bind,ro "$R" && mount -t tmpfs -o mode=1777 tmpfs "$R/tmp" || exit 125',
      'exec chroot --userspec="$U" "$R" /bin/sh -c \'cd "$0" && exec "$@"\' "$W" "$@"',
    ].join('\n');
    return spawn('unshare', ['--mount', '--propagation', 'private', '/bin/sh', '-c', script, 'sh', rootfs, imageWorkdir, imageUser, ...argv], {
      env: { ...imageEnv, ...extraEnv },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  }

  function runInImage(argv: string[], extraEnv: Record<string, string> = {}): Promise<Result> {
    return new Promise((resolve, reject) => {
      const child = spawnInImage(argv, extraEnv);
      let stdout = '';
      let stderr = '';
      child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      child.on('error', reject);
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        resolve({ code, signal, stdout, stderr });
      });
    });
  }

  test('as USER 65532:65532 on a read-only root: who it is, what it can write', { skip: EMULATION_SKIP }, async () => {
    assert.ok(rootfs, 'the runtime stage was laid out');
    const probe = `const fs = require('node:fs'), os = require('node:os');
const tryWrite = (p) => { try { fs.writeFileSync(p, 'x'); return 'ok' } catch (e) { return e.code } };
console.log(JSON.stringify({ uid: process.getuid(), gid: process.getgid(), user: os.userInfo().username, home: os.homedir(), cwd: process.cwd(),
  app: tryWrite('/app/regcred.mjs'), root: tryWrite('/x'), tmp: tryWrite('/tmp/x'), read: fs.readFileSync('/app/regcred.mjs').length > 0 }))`;
    const r = await runInImage(['node', '-e', probe]);
    assert.equal(r.code, 0, show(r));
    const got = JSON.parse(r.stdout) as Record<string, unknown>;
    const [uid, gid] = imageUser.split(':').map(Number);
    assert.equal(got['uid'], uid);
    assert.equal(got['gid'], gid);
    assert.equal(got['user'], 'regcred');
    assert.equal(got['home'], '/tmp');
    assert.equal(got['cwd'], imageWorkdir);
    assert.equal(got['read'], true, 'can read the bundle');
    assert.ok(['EROFS', 'EACCES'].includes(String(got['app'])), `cannot change the bundle: ${String(got['app'])}`);
    assert.equal(got['root'], 'EROFS', 'the root file system is read-only');
    assert.equal(got['tmp'], 'ok', '/tmp is writable');
  });

  test('ENTRYPOINT + CMD, and `regcred version`, through the wrapper', { skip: EMULATION_SKIP }, async () => {
    const help = await runInImage([...entrypoint, ...cmd]);
    assert.equal(help.code, 0, show(help));
    assert.match(help.stdout, /^Usage: regcred /m);
    const version = await runInImage([...entrypoint, 'version']);
    assert.equal(version.code, 0, show(version));
    assert.equal(version.stdout, `regcred ${PKG.version}\n`);
  });

  test(
    '`regcred get` of a fetch-based provider (gcp) through the ENTRYPOINT wrapper: the classified error, not a crash',
    { skip: EMULATION_SKIP },
    async () => {
      const r = await runInImage([...entrypoint, 'get', '-f', '/etc/regcred/gcp.yaml'], { GCE_METADATA_HOST: '127.0.0.1:9' });
      assert.doesNotMatch(r.stderr, WASM_CRASH, show(r));
      assert.match(r.stderr, /ClusterRegistryCredential\/gcp-image: ProviderError: gcp metadata server token request: network error ECONNREFUSED$/m);
    },
  );

  test('`regcred sync` as the chart\'s CronJob runs it (args only): the Secret is written', { skip: EMULATION_SKIP }, async () => {
    const r = await runInImage([...entrypoint, 'sync', '--filename=/etc/regcred/credentials.yaml', '--namespace=regcred-system', '--kubeconfig', '/etc/regcred/kubeconfig']);
    printed.push(r.stdout, r.stderr);
    assert.equal(r.code, 0, show(r));
    assert.match(r.stdout, /ClusterRegistryCredential\/img-chroot: synced 1\/1 namespaces/);
    assert.deepEqual(decodeAuth(await secretOrUndefined(core, 'img-chroot', 'pull-img-chroot')), { username: USERNAME, password: PASSWORD });
  });

  test('the chart\'s Deployment command (node <flags> /app/regcred.mjs controller ...): ready, syncs, stops on SIGTERM', { timeout: 90_000, skip: EMULATION_SKIP }, async () => {
    await installCrds(cp.kubeConfig);
    const [metrics, health] = [await freePort(), await freePort()];
    const output: string[] = [];
    controller = spawnInImage(
      [
        'node',
        ...FLAGS,
        '/app/regcred.mjs',
        'controller',
        '--namespace=regcred-system',
        `--metrics-bind-address=127.0.0.1:${metrics}`,
        `--health-probe-bind-address=127.0.0.1:${health}`,
        '--log-level=info',
        '--log-format=json',
        '--kubeconfig',
        '/etc/regcred/kubeconfig',
      ],
      { POD_NAMESPACE: 'regcred-system' },
    );
    controller.stdout!.on('data', (d: Buffer) => output.push(d.toString()));
    controller.stderr!.on('data', (d: Buffer) => output.push(d.toString()));
    const exited = new Promise<number | null>((r) => controller!.once('exit', (code) => r(code)));
    const deadline = Date.now() + 30_000;
    while ((await httpStatus(`http://127.0.0.1:${health}/readyz`)) !== 200) {
      assert.ok(Date.now() < deadline && controller.exitCode === null, `not ready:\n${output.join('')}`);
      await sleep(200);
    }
    assert.equal(await httpStatus(`http://127.0.0.1:${metrics}/metrics`), 200);
    await createClusterCredential(cp.kubeConfig, 'img-controller', {
      provider: { static: { secretRef: { name: 'static-source' } } },
      target: { secretName: 'pull-img-controller', namespaces: { names: ['img-controller'] }, serviceAccounts: [] },
    });
    const secret = await waitForSecret('img-controller', 'pull-img-controller');
    assert.deepEqual(decodeAuth(secret), { username: USERNAME, password: PASSWORD }, output.join(''));
    controller.kill('SIGTERM');
    const code = await Promise.race([exited, sleep(15_000).then(() => 'timeout' as const)]);
    printed.push(output.join(''));
    assert.equal(code, 0, `exit after SIGTERM:\n${output.join('').slice(-3000)}`);
    assert.doesNotMatch(output.join(''), /\(node:\d+\) /, 'no Node.js warning while it served, listed and wrote');
    controller = undefined;
  });
});
