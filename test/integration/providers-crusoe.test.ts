// The `crusoe` provider end to end: the built CLI (`regcred sync` / `get`) and the controller against
// a real kube-apiserver + controller-manager and the verifying Crusoe API double of
// test/harness/doubles/crusoe.ts (HMAC signature recomputed, timestamp freshness, body checked,
// tokens listed and deleted). Includes the rotation: with an explicit alias, each mint deletes the
// tokens older than its predecessor, and the token in the pull Secrets is never a deleted one.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { CoreV1Api, CustomObjectsApi, type V1Secret } from '@kubernetes/client-node';
import { start, type ControlPlane } from '../harness/controlplane.js';
import { runCli, writeConfig, type CliResult } from '../harness/cli.js';
import {
  type Auths,
  assertCrdRefuses,
  assertNoSecret,
  assertNothingSecret,
  assertNotRetried,
  assertRemoteTextInLogOnly,
  assertRetriedWithBackoff,
  authEntry,
  authsOf,
  credentialYaml,
  degradedOf,
} from '../harness/provider-tests.js';
import { secretOrUndefined } from '../harness/kube.js';
import { installCrds } from '../harness/crds.js';
import { readyOf, startTestController, type TestController } from '../harness/test-controller.js';
import { CRUSOE_TOKENS_PATH, startCrusoeDouble, type CrusoeDouble } from '../harness/doubles/crusoe.js';

let cp: ControlPlane;
let double: CrusoeDouble;
let core: CoreV1Api;

const ACCESS_KEY = `AK${randomBytes(10).toString('hex').toUpperCase()}`;
const SECRET_KEY = randomBytes(32).toString('base64url');
const WRONG_SECRET_KEY = randomBytes(32).toString('base64url');
const REGISTRY = 'registry.us-east1.crusoecloud.com';
const USERNAME = 'puller@example.com';
/** Output of every run whose output must hold no secret (all but `get -o dockerconfigjson`'s stdout). */
const printed: string[] = [];

function kube(): string[] {
  return ['--kubeconfig', cp.kubeconfigPath];
}

function run(args: string[]): Promise<CliResult> {
  return runCli(args);
}

const credential = (name: string, spec: string, namespace: string): string => credentialYaml('crusoe', name, spec, namespace);


const entry = (password: string): Auths => ({ [REGISTRY]: authEntry(USERNAME, password) });

const spec = (extra = '') => `{secretRef: {name: crusoe-api}, registry: ${REGISTRY}, username: "${USERNAME}", baseUrl: "${double.baseUrl}"${extra}}`;

before(async () => {
  [cp, double] = await Promise.all([start(), startCrusoeDouble({ accessKey: ACCESS_KEY, secretKey: SECRET_KEY })]);
  core = cp.kubeConfig.makeApiClient(CoreV1Api);
  await installCrds(cp.kubeConfig);
  for (const ns of ['regcred-system', 'crusoe-a', 'crusoe-b', 'crusoe-bad']) await core.createNamespace({ body: { metadata: { name: ns } } });
  await core.createNamespacedSecret({
    namespace: 'regcred-system',
    body: { metadata: { name: 'crusoe-api' }, stringData: { CRUSOE_ACCESS_KEY: ACCESS_KEY, CRUSOE_SECRET_KEY: SECRET_KEY } },
  });
  await core.createNamespacedSecret({
    namespace: 'regcred-system',
    body: { metadata: { name: 'crusoe-wrong' }, stringData: { CRUSOE_ACCESS_KEY: ACCESS_KEY, CRUSOE_SECRET_KEY: WRONG_SECRET_KEY } },
  });
});

after(async () => {
  await Promise.all([cp?.stop(), double?.stop()]);
});

describe('regcred sync with the crusoe provider (Crusoe API double + real API server)', () => {
  test('writes the minted token for the configured user and registry, with the token’s expiry; signed requests', async () => {
    const file = writeConfig(credential('crusoe-one', spec(), 'crusoe-a'));
    const before = double.requests.length;
    const res = await run(['sync', '-f', file, ...kube()]);
    printed.push(res.stdout, res.stderr);
    assert.equal(res.code, 0, `${res.stdout}\n${res.stderr}`);
    assert.match(res.stdout, /ClusterRegistryCredential\/crusoe-one: synced 1\/1 namespaces/);
    const minted = double.minted.at(-1)!;
    const secret = await secretOrUndefined(core, 'crusoe-a', 'pull-crusoe-one');
    assert.deepEqual(authsOf(secret), entry(minted.token));
    assert.equal(secret?.metadata?.annotations?.['regcred.dev/expires-at'], new Date(minted.expires_at).toISOString());
    const lifetime = Date.parse(minted.expires_at) - Date.now();
    assert.ok(lifetime > 11.9 * 3600_000 && lifetime <= 12 * 3600_000, `default lifetime 12 h: ${lifetime} ms`);
    assert.equal(minted.alias, 'regcred-crusoe-one', 'the credential’s own alias (sync tells the provider which credential it mints)');
    const seen = double.requests.slice(before);
    assert.deepEqual(
      seen.map((r) => [r.method, r.path, r.status, r.signatureValid, r.accessKey]),
      [
        ['POST', CRUSOE_TOKENS_PATH, 200, true, ACCESS_KEY],
        ['GET', '/v1alpha5/users/limited-usage-api-key', 200, true, ACCESS_KEY],
      ],
      'one token request, one list; nothing to delete',
    );
    assert.equal(await secretOrUndefined(core, 'crusoe-b', 'pull-crusoe-one'), undefined, 'only the selected namespace');
  });

  test('run as a CronJob with an alias: each sync keeps the token in use and its predecessor, and deletes the older ones', async () => {
    const file = writeConfig(credential('crusoe-rot', spec(', alias: regcred-crusoe-rot, tokenLifetime: 2h'), 'crusoe-b'));
    const foreign = double.seed({ alias: 'ci-pipeline' });
    const tokens: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await run(['sync', '-f', file, ...kube()]);
      printed.push(res.stdout, res.stderr);
      assert.equal(res.code, 0, `${res.stdout}\n${res.stderr}`);
      const minted = double.minted.at(-1)!;
      tokens.push(minted.token);
      assert.deepEqual(authsOf(await secretOrUndefined(core, 'crusoe-b', 'pull-crusoe-rot')), entry(minted.token));
      const mine = double.tokens.filter((t) => t.alias === 'regcred-crusoe-rot').map((t) => t.token);
      assert.deepEqual(mine, tokens.slice(-2), `after sync ${i + 1}: the new token and its predecessor`);
    }
    const expiry = Date.parse(double.minted.at(-1)!.expires_at) - Date.now();
    assert.ok(expiry > 1.9 * 3600_000 && expiry <= 2 * 3600_000, `tokenLifetime 2h: ${expiry} ms`);
    assert.ok(double.tokens.includes(foreign), 'a token with another alias is never touched');
  });

  test('regcred get -o dockerconfigjson prints the config; -o json the expiry', async () => {
    const file = writeConfig(credential('crusoe-get', spec(), 'crusoe-a'));
    const res = await run(['get', '-f', file, '-o', 'dockerconfigjson', ...kube()]);
    printed.push(res.stderr); // stdout is the credential itself, by design
    assert.equal(res.code, 0, res.stderr);
    assert.deepEqual((JSON.parse(res.stdout) as { auths: Auths }).auths, entry(double.minted.at(-1)!.token));
    const json = await run(['get', '-f', file, '-o', 'json', ...kube()]);
    printed.push(json.stderr); // -o json prints the credential too
    assert.equal(json.code, 0, json.stderr);
    const parsed = JSON.parse(json.stdout) as { provider: string; expiresAt: string };
    assert.equal(parsed.provider, 'crusoe');
    assert.equal(parsed.expiresAt, new Date(double.minted.at(-1)!.expires_at).toISOString());
    assert.equal(await secretOrUndefined(core, 'crusoe-a', 'pull-crusoe-get'), undefined, 'get writes nothing');
  });

  test('a wrong secret key: 401 → exit 1, one clear line naming crusoe, the call and the API’s error code (not its text); nothing written', async () => {
    const file = writeConfig(credential('crusoe-bad', spec().replace('name: crusoe-api', 'name: crusoe-wrong'), 'crusoe-bad'));
    const res = await run(['sync', '-f', file, ...kube()]);
    printed.push(res.stdout, res.stderr);
    assert.equal(res.code, 1, `${res.stdout}\n${res.stderr}`);
    const lines = res.stderr.split('\n').filter((l) => l.includes('ClusterRegistryCredential/crusoe-bad'));
    assert.equal(lines.length, 1, res.stderr);
    console.log(`# ${lines[0]}`);
    assert.match(lines[0]!, /crusoe POST \/v1alpha5\/ccr\/tokens: HTTP 401 bad_credentials \(bad credentials\)$/);
    assert.equal(double.requests.at(-1)?.error, 'bad_credentials: the request signature does not match', 'refused for its signature');
    assert.doesNotMatch(res.stdout + res.stderr, /signature does not match/, 'the API’s own words are not printed');
    assert.doesNotMatch(res.stderr, /\n\s+at /, 'no stack trace');
    assert.equal(await secretOrUndefined(core, 'crusoe-bad', 'pull-crusoe-bad'), undefined, 'nothing written');
  });

  test('the API down (503): exit 1, the line says HTTP 503', async () => {
    double.failWith = 503;
    try {
      const file = writeConfig(credential('crusoe-down', spec(), 'crusoe-bad'));
      const res = await run(['sync', '-f', file, ...kube()]);
      printed.push(res.stdout, res.stderr);
      assert.equal(res.code, 1, `${res.stdout}\n${res.stderr}`);
      assert.match(res.stderr, /ClusterRegistryCredential\/crusoe-down: .*crusoe POST \/v1alpha5\/ccr\/tokens: HTTP 503 service_unavailable$/m);
      assert.doesNotMatch(res.stdout + res.stderr, /temporarily unavailable/, 'the API’s own words are not printed');
    } finally {
      double.failWith = undefined;
    }
  });

  test('the CRD refuses a lifetime out of range, a username with ":" and a missing registry', async () => {
    const custom = cp.kubeConfig.makeApiClient(CustomObjectsApi);
    const refused = (name: string, crusoe: Record<string, unknown>, message: RegExp) => assertCrdRefuses(custom, name, { crusoe }, message);
    const ok = { secretRef: { name: 'crusoe-api' }, registry: REGISTRY, username: USERNAME };
    await refused('crusoe-short', { ...ok, tokenLifetime: '5m' }, /tokenLifetime must be between 10m and 2160h/);
    await refused('crusoe-long', { ...ok, tokenLifetime: '3000h' }, /tokenLifetime must be between 10m and 2160h/);
    await refused('crusoe-user', { ...ok, username: 'a:b' }, /username/);
    await refused('crusoe-noreg', { secretRef: { name: 'crusoe-api' }, username: USERNAME }, /registry/);
  });

  test('no key or token appears in any output', () => {
    const all = printed.join('\n');
    assertNothingSecret(all, [SECRET_KEY, WRONG_SECRET_KEY, ...double.minted.map((t) => t.token)], 'CLI output');
  });
});

describe('the controller with the crusoe provider (Crusoe API double + real API server)', () => {
  let ctl: TestController;

  before(async () => {
    for (const [name, labels] of [['ctl-cr-1', { crusoe: 'yes' }], ['ctl-cr-2', { crusoe: 'yes' }], ['ctl-cr-no', {}]] as const) {
      await core.createNamespace({ body: { metadata: { name, labels } } });
    }
    ctl = await startTestController(cp, { minRefreshDelayMs: 500, retryBaseMs: 300, retryMaxMs: 4000 });
  });

  after(async () => {
    await ctl?.stop();
    double.failWith = undefined;
    double.expect = { accessKey: ACCESS_KEY, secretKey: SECRET_KEY };
  });

  test('fills the selected namespaces, Ready; rotates every 500 ms without ever leaving a deleted token in a Secret', async () => {
    const alias = 'regcred-ctl-crusoe';
    await ctl.createClusterCredential('ctl-crusoe', {
      // A 10-minute token renewed 9m57s before it expires: with the renewal jitter (up to a tenth of
      // renewBefore earlier) that is always sooner than allowed, so a refresh at the minimum delay (500 ms).
      provider: { crusoe: { secretRef: { name: 'crusoe-api' }, registry: REGISTRY, username: USERNAME, baseUrl: double.baseUrl, alias, tokenLifetime: '10m' } },
      target: { secretName: 'crusoe-pull', namespaces: { selector: { matchLabels: { crusoe: 'yes' } } }, serviceAccounts: [] },
      refresh: { renewBefore: '9m57s' },
    });
    const status = await ctl.waitForStatus('ctl-crusoe', (s) => readyOf(s)?.status === 'True');
    assert.equal(readyOf(status)?.reason, 'Synced');
    assert.equal(status.targets?.synced, 2);
    assert.equal(await secretOrUndefined(core, 'ctl-cr-no', 'crusoe-pull'), undefined, 'not selected, nothing written');

    // Watch several rotations: the Secrets always hold a token the API still has.
    const deadline = Date.now() + 20_000;
    let checks = 0;
    while ((await ctl.refreshes('ctl-crusoe', 'success')) < 4 && Date.now() < deadline) {
      for (const ns of ['ctl-cr-1', 'ctl-cr-2']) {
        const password = authsOf(await secretOrUndefined(core, ns, 'crusoe-pull'))[REGISTRY]!.password;
        assert.ok(
          double.minted.some((t) => t.token === password),
          'the Secret holds a token the double minted',
        );
        // Read the Secret first, then the API's list: a token deleted in between would be a bug.
        const live = double.tokens.some((t) => t.token === password);
        assert.ok(live, `the token in ${ns} was deleted while still in use`);
        checks++;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    const mints = await ctl.refreshes('ctl-crusoe', 'success');
    console.log(`# ${mints} mints, ${checks} Secret checks; tokens left with alias ${alias}: ${double.tokens.filter((t) => t.alias === alias).length}`);
    assert.ok(mints >= 4, `rotated: ${mints} mints`);
    assert.ok(double.tokens.filter((t) => t.alias === alias).length <= 3, 'superseded tokens are deleted (at most new + predecessor, + one being minted)');
    assert.ok(double.minted.filter((t) => t.alias === alias).length >= 4);
  });

  test('the API down (503): Degraded, retried with backoff, the Secrets kept; back up: Ready again', async () => {
    const errorsBefore = await ctl.refreshes('ctl-crusoe', 'error');
    double.failWith = 503;
    try {
      const degraded = await ctl.waitForStatus('ctl-crusoe', (s) => degradedOf(s)?.status === 'True');
      const d = degradedOf(degraded)!;
      assert.equal(d.reason, 'ProviderError');
      assert.match(d.message, /^crusoe POST \/v1alpha5\/ccr\/tokens: HTTP 503 service_unavailable; the previous credential is still in place$/);
      const kept = (await secretOrUndefined(core, 'ctl-cr-1', 'crusoe-pull'))?.data?.['.dockerconfigjson'];
      assert.ok(kept);
      await assertRetriedWithBackoff(ctl, 'ctl-crusoe', errorsBefore, Date.now());
      await assertRemoteTextInLogOnly(cp.kubeConfig, ctl.logLines, 'ctl-crusoe', degraded, /the service is temporarily unavailable/);
      assert.equal((await secretOrUndefined(core, 'ctl-cr-1', 'crusoe-pull'))?.data?.['.dockerconfigjson'], kept, 'the Secret is kept byte for byte');
    } finally {
      double.failWith = undefined;
    }
    await ctl.waitForStatus('ctl-crusoe', (s) => readyOf(s)?.status === 'True' && degradedOf(s)?.status !== 'True', 15_000);
  });

  test('keys the API refuses: a permanent error, one attempt then the longest delay', async () => {
    double.expect = { accessKey: ACCESS_KEY, secretKey: WRONG_SECRET_KEY };
    const errorsBefore = await ctl.refreshes('ctl-crusoe', 'error');
    const degraded = await ctl.waitForStatus('ctl-crusoe', (s) => s.conditions?.some((c) => c.type === 'Degraded' && c.status === 'True' && c.message.includes('HTTP 401')) ?? false);
    assert.match(degradedOf(degraded)!.message, /^crusoe POST \/v1alpha5\/ccr\/tokens: HTTP 401 bad_credentials \(bad credentials\); the previous credential is still in place$/);
    await assertRemoteTextInLogOnly(cp.kubeConfig, ctl.logLines, 'ctl-crusoe', degraded, /the request signature does not match/);
    await assertNotRetried(ctl, 'ctl-crusoe', errorsBefore);
    double.expect = { accessKey: ACCESS_KEY, secretKey: SECRET_KEY };
  });

  test('no key or token in the controller logs', () => {
    const all = ctl.logLines.join('');
    assert.ok(all.length > 0);
    assertNoSecret(all, [SECRET_KEY, WRONG_SECRET_KEY, ...double.minted.map((t) => t.token)], 'the controller logs');
  });
});
