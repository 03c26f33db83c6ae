// The `jit` provider end to end: the built CLI (`regcred sync` / `get`) and the controller against a
// real kube-apiserver + controller-manager and the verifying Jit API double of
// test/harness/doubles/jit.ts (client credentials checked at login; the registry call must carry an
// access token the double issued).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { CoreV1Api, type V1Secret } from '@kubernetes/client-node';
import { start, type ControlPlane } from '../harness/controlplane.js';
import { runCli, writeConfig, type CliResult } from '../harness/cli.js';
import { type Auths, assertNoSecret, assertNothingSecret, assertNotRetried, assertRemoteTextInLogOnly, assertRetriedWithBackoff, authEntry, authsOf, credentialYaml, degradedOf } from '../harness/provider-tests.js';
import { secretOrUndefined } from '../harness/kube.js';
import { installCrds } from '../harness/crds.js';
import { readyOf, startTestController, type TestController } from '../harness/test-controller.js';
import { startJitDouble, type JitDouble } from '../harness/doubles/jit.js';

let cp: ControlPlane;
let double: JitDouble;
let core: CoreV1Api;

const CLIENT_ID = `cid-${randomBytes(8).toString('hex')}`;
const SECRET = `jit-${randomBytes(24).toString('base64url')}`;
const WRONG_SECRET = `jit-${randomBytes(24).toString('base64url')}`;
const printed: string[] = [];

function kube(): string[] {
  return ['--kubeconfig', cp.kubeconfigPath];
}

function run(args: string[]): Promise<CliResult> {
  return runCli(args);
}

const credential = (name: string, spec: string, namespace: string): string => credentialYaml('jit', name, spec, namespace);


const entry = (registry: string, username: string, password: string): Auths => ({ [registry]: authEntry(username, password) });

before(async () => {
  [cp, double] = await Promise.all([start(), startJitDouble({ clientId: CLIENT_ID, secret: SECRET, registryUrl: 'registry.jit.io/org-1234/controls' })]);
  core = cp.kubeConfig.makeApiClient(CoreV1Api);
  await installCrds(cp.kubeConfig);
  for (const ns of ['regcred-system', 'jit-a', 'jit-b', 'jit-bad']) await core.createNamespace({ body: { metadata: { name: ns } } });
  await core.createNamespacedSecret({ namespace: 'regcred-system', body: { metadata: { name: 'jit-api' }, stringData: { client_id: CLIENT_ID, secret: SECRET } } });
  await core.createNamespacedSecret({ namespace: 'regcred-system', body: { metadata: { name: 'jit-wrong' }, stringData: { client_id: CLIENT_ID, secret: WRONG_SECRET } } });
});

after(async () => {
  await Promise.all([cp?.stop(), double?.stop()]);
});

describe('regcred sync with the jit provider (Jit API double + real API server)', () => {
  test('logs in, writes the registry password under the host of registry_url, expiry = now + 1 h (assumed)', async () => {
    const file = writeConfig(credential('jit-one', `{secretRef: {name: jit-api}, baseUrl: "${double.baseUrl}"}`, 'jit-a'));
    const before = double.requests.length;
    const t0 = Date.now();
    const res = await run(['sync', '-f', file, ...kube()]);
    printed.push(res.stdout, res.stderr);
    assert.equal(res.code, 0, `${res.stdout}\n${res.stderr}`);
    assert.match(res.stdout, /ClusterRegistryCredential\/jit-one: synced 1\/1 namespaces/);
    const secret = await secretOrUndefined(core, 'jit-a', 'pull-jit-one');
    assert.deepEqual(authsOf(secret), entry('registry.jit.io', 'jit-registry-user', double.passwords.at(-1)!));
    const expires = Date.parse(secret?.metadata?.annotations?.['regcred.dev/expires-at'] ?? '');
    assert.ok(expires >= t0 + 3600_000 - 1000 && expires <= Date.now() + 3600_000, `an hour from now: ${new Date(expires).toISOString()}`);
    assert.deepEqual(
      double.requests.slice(before).map((r) => [r.path, r.status]),
      [
        ['/authentication/login', 200],
        ['/ide/registry/authenticate', 200],
      ],
    );
    assert.equal(await secretOrUndefined(core, 'jit-b', 'pull-jit-one'), undefined, 'only the selected namespace');
  });

  test('`registry` overrides the key (the old chart’s registry_name); assumedLifetime the expiry', async () => {
    const file = writeConfig(credential('jit-reg', `{secretRef: {name: jit-api}, baseUrl: "${double.baseUrl}", registry: jit-mirror.example.com, assumedLifetime: 30m}`, 'jit-b'));
    const t0 = Date.now();
    const res = await run(['sync', '-f', file, ...kube()]);
    printed.push(res.stdout, res.stderr);
    assert.equal(res.code, 0, `${res.stdout}\n${res.stderr}`);
    const secret = await secretOrUndefined(core, 'jit-b', 'pull-jit-reg');
    assert.deepEqual(authsOf(secret), entry('jit-mirror.example.com', 'jit-registry-user', double.passwords.at(-1)!));
    const expires = Date.parse(secret?.metadata?.annotations?.['regcred.dev/expires-at'] ?? '');
    assert.ok(expires >= t0 + 1800_000 - 1000 && expires <= Date.now() + 1800_000);
  });

  test('regcred get -o dockerconfigjson prints the config', async () => {
    const file = writeConfig(credential('jit-get', `{secretRef: {name: jit-api}, baseUrl: "${double.baseUrl}"}`, 'jit-a'));
    const res = await run(['get', '-f', file, '-o', 'dockerconfigjson', ...kube()]);
    printed.push(res.stderr); // stdout is the credential itself, by design
    assert.equal(res.code, 0, res.stderr);
    assert.deepEqual((JSON.parse(res.stdout) as { auths: Auths }).auths, entry('registry.jit.io', 'jit-registry-user', double.passwords.at(-1)!));
    assert.equal(await secretOrUndefined(core, 'jit-a', 'pull-jit-get'), undefined, 'get writes nothing');
  });

  test('a wrong secret: 401 → exit 1, one clear line naming jit login and the status; nothing written', async () => {
    const file = writeConfig(credential('jit-bad', `{secretRef: {name: jit-wrong}, baseUrl: "${double.baseUrl}"}`, 'jit-bad'));
    const res = await run(['sync', '-f', file, ...kube()]);
    printed.push(res.stdout, res.stderr);
    assert.equal(res.code, 1, `${res.stdout}\n${res.stderr}`);
    const lines = res.stderr.split('\n').filter((l) => l.includes('ClusterRegistryCredential/jit-bad'));
    assert.equal(lines.length, 1, res.stderr);
    console.log(`# ${lines[0]}`);
    assert.match(lines[0]!, /jit login: HTTP 401 \(bad credentials\)$/);
    assert.doesNotMatch(res.stderr, /\n\s+at /, 'no stack trace');
    assert.equal(await secretOrUndefined(core, 'jit-bad', 'pull-jit-bad'), undefined, 'nothing written');
  });

  test('the API down (503): exit 1, the line says HTTP 503', async () => {
    double.failWith = 503;
    try {
      const file = writeConfig(credential('jit-down', `{secretRef: {name: jit-api}, baseUrl: "${double.baseUrl}"}`, 'jit-bad'));
      const res = await run(['sync', '-f', file, ...kube()]);
      printed.push(res.stdout, res.stderr);
      assert.equal(res.code, 1, `${res.stdout}\n${res.stderr}`);
      assert.match(res.stderr, /ClusterRegistryCredential\/jit-down: .*jit login: HTTP 503$/m);
    } finally {
      double.failWith = undefined;
    }
  });

  test('a source Secret without `secret`: exit 2, naming the missing key', async () => {
    await core.createNamespacedSecret({ namespace: 'regcred-system', body: { metadata: { name: 'jit-half' }, stringData: { client_id: CLIENT_ID } } });
    const file = writeConfig(credential('jit-half', `{secretRef: {name: jit-half}, baseUrl: "${double.baseUrl}"}`, 'jit-bad'));
    const res = await run(['sync', '-f', file, ...kube()]);
    printed.push(res.stdout, res.stderr);
    assert.equal(res.code, 2, `${res.stdout}\n${res.stderr}`);
    assert.match(res.stderr, /Secret regcred-system\/jit-half lacks key\(s\) "secret"/);
  });

  test('no secret, access token or password appears in any output', () => {
    const all = printed.join('\n');
    assertNothingSecret(all, [SECRET, WRONG_SECRET, ...double.accessTokens, ...double.passwords], 'CLI output');
  });
});

describe('the controller with the jit provider (Jit API double + real API server)', () => {
  let ctl: TestController;

  before(async () => {
    for (const [name, labels] of [['ctl-jit-1', { jit: 'yes' }], ['ctl-jit-2', { jit: 'yes' }], ['ctl-jit-no', {}]] as const) {
      await core.createNamespace({ body: { metadata: { name, labels } } });
    }
    ctl = await startTestController(cp, { minRefreshDelayMs: 500, retryBaseMs: 300, retryMaxMs: 4000 });
  });

  after(async () => {
    await ctl?.stop();
    double.failWith = undefined;
    double.expect = { clientId: CLIENT_ID, secret: SECRET };
  });

  test('fills the selected namespaces and is Ready, and refreshes on the assumed lifetime', async () => {
    await ctl.createClusterCredential('ctl-jit', {
      // Assumed 5 minutes, renewed 4m57s before: with the renewal jitter that is sooner than allowed,
      // so refreshes come at the minimum delay (500 ms).
      provider: { jit: { secretRef: { name: 'jit-api' }, baseUrl: double.baseUrl, assumedLifetime: '5m' } },
      target: { secretName: 'jit-pull', namespaces: { selector: { matchLabels: { jit: 'yes' } } }, serviceAccounts: [] },
      refresh: { renewBefore: '4m57s' },
    });
    const status = await ctl.waitForStatus('ctl-jit', (s) => readyOf(s)?.status === 'True');
    assert.equal(readyOf(status)?.reason, 'Synced');
    assert.equal(status.targets?.synced, 2);
    for (const ns of ['ctl-jit-1', 'ctl-jit-2']) {
      const auths = authsOf(await secretOrUndefined(core, ns, 'jit-pull'));
      assert.ok(double.passwords.includes(auths['registry.jit.io']!.password), 'a password the double handed out');
    }
    assert.equal(await secretOrUndefined(core, 'ctl-jit-no', 'jit-pull'), undefined);
    const deadline = Date.now() + 15_000;
    while ((await ctl.refreshes('ctl-jit', 'success')) < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    assert.ok((await ctl.refreshes('ctl-jit', 'success')) >= 2, 'refreshed before the assumed expiry');
  });

  test('the API down (503): Degraded, retried with backoff, the Secrets kept; back up: Ready again', async () => {
    const errorsBefore = await ctl.refreshes('ctl-jit', 'error');
    double.failWith = 503;
    const degraded = await ctl.waitForStatus('ctl-jit', (s) => degradedOf(s)?.status === 'True');
    assert.match(degradedOf(degraded)!.message, /^jit login: HTTP 503; the previous credential is still in place$/);
    // Nothing is written while it fails: the Secret keeps the last good content.
    const kept = (await secretOrUndefined(core, 'ctl-jit-1', 'jit-pull'))?.data?.['.dockerconfigjson'];
    await assertRetriedWithBackoff(ctl, 'ctl-jit', errorsBefore, Date.now());
    await assertRemoteTextInLogOnly(cp.kubeConfig, ctl.logLines, 'ctl-jit', degraded, /Service Unavailable/);
    assert.equal((await secretOrUndefined(core, 'ctl-jit-1', 'jit-pull'))?.data?.['.dockerconfigjson'], kept, 'the Secret is kept byte for byte');
    assert.ok(kept);
    double.failWith = undefined;
    await ctl.waitForStatus('ctl-jit', (s) => readyOf(s)?.status === 'True' && degradedOf(s)?.status !== 'True', 15_000);
  });

  test('credentials Jit refuses: a permanent error, one attempt then the longest delay', async () => {
    double.expect = { clientId: CLIENT_ID, secret: 'rotated-elsewhere' };
    const errorsBefore = await ctl.refreshes('ctl-jit', 'error');
    const degraded = await ctl.waitForStatus('ctl-jit', (s) => s.conditions?.some((c) => c.type === 'Degraded' && c.status === 'True' && c.message.includes('HTTP 401')) ?? false);
    assert.match(degradedOf(degraded)!.message, /^jit login: HTTP 401 \(bad credentials\); the previous credential is still in place$/);
    await assertRemoteTextInLogOnly(cp.kubeConfig, ctl.logLines, 'ctl-jit', degraded, /Invalid client credentials/);
    await assertNotRetried(ctl, 'ctl-jit', errorsBefore);
    double.expect = { clientId: CLIENT_ID, secret: SECRET };
  });

  test('no secret, access token or password in the controller logs', () => {
    const all = ctl.logLines.join('');
    assert.ok(all.length > 0);
    assertNoSecret(all, [SECRET, ...double.accessTokens, ...double.passwords], 'the controller logs');
  });
});
