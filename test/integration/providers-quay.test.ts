// The `quay` provider end to end: the built CLI and the controller against a real kube-apiserver +
// controller-manager and the Quay robot-federation double (test/harness/doubles/quay.ts), which
// checks HTTP Basic <robot>:<service-account token>, verifying the token against the API server's
// own JWKS, its issuer, audience and subject (the robot's federation configuration).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CoreV1Api, CustomObjectsApi, type V1Secret } from '@kubernetes/client-node';
import { start, type ControlPlane } from '../harness/controlplane.js';
import { runCli, writeConfig, type CliResult } from '../harness/cli.js';
import { assertCrdRefuses, assertNoSecret, assertNotRetried, assertRemoteTextInLogOnly, assertRetriedWithBackoff, authsOf, credentialYaml, degradedOf, jwtExp, patchClusterProvider } from '../harness/provider-tests.js';
import { secretOrUndefined } from '../harness/kube.js';
import { installCrds } from '../harness/crds.js';
import { apiServerJwks } from '../harness/doubles/sa-token.js';
import { startQuayDouble, type QuayDouble } from '../harness/doubles/quay.js';
import { readyOf, startTestController, type TestController } from '../harness/test-controller.js';

let cp: ControlPlane;
let quay: QuayDouble;
let core: CoreV1Api;

const ROBOT = 'regcredtest+puller';
const UNFEDERATED = 'regcredtest+legacy';
const PULLER = 'system:serviceaccount:regcred-system:quay-puller';
const OWN = 'system:serviceaccount:regcred-system:regcred';

/** Output of every run whose output must hold no secret (all but `get -o dockerconfigjson`'s stdout). */
const printed: string[] = [];

function run(args: string[]): Promise<CliResult> {
  return runCli([...args, '--kubeconfig', cp.kubeconfigPath]);
}

function credential(name: string, fields: string, namespace: string, robot = ROBOT): string {
  return credentialYaml('quay', name, `{robot: "${robot}", baseUrl: "${quay.url}"${fields ? `, ${fields}` : ''}}`, namespace);
}


/** The Secret holds one login for `registry` as the robot, with a token the double issued; returns it. */
async function assertQuaySecret(namespace: string, name: string, registry = quay.host): Promise<string> {
  const secret = await secretOrUndefined(core, namespace, name);
  const auths = authsOf(secret);
  assert.deepEqual(Object.keys(auths), [registry]);
  const entry = auths[registry]!;
  assert.equal(entry.username, ROBOT);
  assert.ok(quay.issued.includes(entry.password), 'the password is a robot token the double issued');
  assert.equal(Buffer.from(entry.auth, 'base64').toString('utf8'), `${ROBOT}:${entry.password}`);
  assert.equal(secret?.metadata?.annotations?.['regcred.dev/expires-at'], new Date(jwtExp(entry.password) * 1000).toISOString(), 'expiry = the JWT exp');
  return entry.password;
}

before(async () => {
  cp = await start();
  const jwks = await apiServerJwks(cp);
  quay = await startQuayDouble({ jwks, robots: {} });
  // The federation's audience: the default regcred derives from baseUrl (the double's host, known once it listens).
  quay.robots[ROBOT] = { issuer: cp.issuer, subjects: [PULLER, OWN], audience: quay.host };
  core = cp.kubeConfig.makeApiClient(CoreV1Api);
  await installCrds(cp.kubeConfig);
  for (const ns of ['regcred-system', 'quay-a', 'quay-own', 'quay-reg', 'quay-bad', 'quay-robot', 'quay-503', 'quay-tenant']) {
    await core.createNamespace({ body: { metadata: { name: ns } } });
  }
  for (const sa of ['quay-puller', 'regcred', 'not-federated']) {
    await core.createNamespacedServiceAccount({ namespace: 'regcred-system', body: { metadata: { name: sa } } });
  }
});

after(async () => {
  await Promise.all([cp?.stop(), quay?.stop()]);
});

describe('regcred sync with the quay provider (robot federation double + real API server)', () => {
  test('GET /oauth2/federation/robot/token with Basic robot:SA token; the robot token under baseUrl’s host, expiry = exp', async () => {
    const file = writeConfig(credential('quay-a', 'serviceAccount: {name: quay-puller}', 'quay-a'));
    const before = quay.requests.length;
    const res = await run(['sync', '-f', file]);
    printed.push(res.stdout, res.stderr);
    assert.equal(res.code, 0, `${res.stdout}\n${res.stderr}`);
    assert.match(res.stdout, /ClusterRegistryCredential\/quay-a: synced 1\/1 namespaces/);
    const seen = quay.requests.slice(before);
    assert.deepEqual(seen, [{ robot: ROBOT, subject: PULLER, tokenAud: [quay.host], status: 200 }]);
    assert.equal(await assertQuaySecret('quay-a', 'pull-quay-a'), quay.issued.at(-1));
  });

  test('no serviceAccount: regcred’s own; registry set explicitly is the auths key', async () => {
    const file = writeConfig(credential('quay-own', '', 'quay-own'));
    const res = await run(['sync', '-f', file]);
    printed.push(res.stdout, res.stderr);
    assert.equal(res.code, 0, `${res.stdout}\n${res.stderr}`);
    assert.equal(quay.requests.at(-1)?.subject, OWN);
    await assertQuaySecret('quay-own', 'pull-quay-own');

    const reg = writeConfig(credential('quay-reg', 'registry: quay.example.com, serviceAccount: {name: quay-puller}', 'quay-reg'));
    const res2 = await run(['sync', '-f', reg]);
    printed.push(res2.stdout, res2.stderr);
    assert.equal(res2.code, 0, `${res2.stdout}\n${res2.stderr}`);
    await assertQuaySecret('quay-reg', 'pull-quay-reg', 'quay.example.com');
  });

  test('a service account the robot is not federated with: exit 1, one line with the status and a hint, nothing written', async () => {
    const file = writeConfig(credential('quay-bad', 'serviceAccount: {name: not-federated}', 'quay-bad'));
    const res = await run(['sync', '-f', file]);
    printed.push(res.stdout, res.stderr);
    assert.equal(res.code, 1, `${res.stdout}\n${res.stderr}`);
    const lines = res.stderr.split('\n').filter((l) => l.includes('ClusterRegistryCredential/quay-bad'));
    assert.equal(lines.length, 1, res.stderr);
    console.log(`# ${lines[0]}`);
    assert.match(
      lines[0]!,
      /quay robot federation for regcredtest\+puller \(http:\/\/127\.0\.0\.1:\d+\): HTTP 401 \(is the robot federated with this service account’s issuer and subject\?\)$/,
    );
    assert.doesNotMatch(res.stderr, /\n\s+at /, 'no stack trace');
    assert.equal(await secretOrUndefined(core, 'quay-bad', 'pull-quay-bad'), undefined);
  });

  test('a robot without federation, and a token with another audience: exit 1 each', async () => {
    const file = writeConfig(credential('quay-robot', 'serviceAccount: {name: quay-puller}', 'quay-robot', UNFEDERATED));
    const res = await run(['sync', '-f', file]);
    printed.push(res.stdout, res.stderr);
    assert.equal(res.code, 1, `${res.stdout}\n${res.stderr}`);
    assert.match(res.stderr, /quay robot federation for regcredtest\+legacy .*HTTP 401 \(is the robot federated/);
    const aud = writeConfig(credential('quay-robot', 'serviceAccount: {name: quay-puller}, audience: quay', 'quay-robot'));
    const res2 = await run(['sync', '-f', aud]);
    printed.push(res2.stdout, res2.stderr);
    assert.equal(res2.code, 1, `${res2.stdout}\n${res2.stderr}`);
    assert.match(res2.stderr, /HTTP 401 \(is the robot federated/);
    assert.equal(await secretOrUndefined(core, 'quay-robot', 'pull-quay-robot'), undefined);
  });

  test('Quay answering 503: exit 1 with the status, nothing written', async () => {
    quay.failNext(503, { error: 'temporarily_unavailable' });
    const file = writeConfig(credential('quay-503', 'serviceAccount: {name: quay-puller}', 'quay-503'));
    const res = await run(['sync', '-f', file]);
    printed.push(res.stdout, res.stderr);
    assert.equal(res.code, 1, `${res.stdout}\n${res.stderr}`);
    assert.match(res.stderr, /ClusterRegistryCredential\/quay-503: .*quay robot federation .*: HTTP 503 temporarily_unavailable$/m);
    assert.equal(await secretOrUndefined(core, 'quay-503', 'pull-quay-503'), undefined);
  });

  test('regcred get -o dockerconfigjson prints the login', async () => {
    const file = writeConfig(credential('quay-get', 'serviceAccount: {name: quay-puller}', 'quay-a'));
    const res = await run(['get', '-f', file, '-o', 'dockerconfigjson']);
    printed.push(res.stderr); // stdout is the credential itself, by design
    assert.equal(res.code, 0, res.stderr);
    const token = quay.issued.at(-1)!;
    assert.deepEqual(JSON.parse(res.stdout), { auths: { [quay.host]: { username: ROBOT, password: token, auth: Buffer.from(`${ROBOT}:${token}`).toString('base64') } } });
  });

  test('a RegistryCredential naming a service account of another namespace: CrossNamespaceRef, exit 2, no call', async () => {
    const file = writeConfig(`apiVersion: regcred.dev/v1alpha1
kind: RegistryCredential
metadata: {name: sneaky, namespace: quay-tenant}
spec:
  provider:
    quay: {robot: "${ROBOT}", baseUrl: "${quay.url}", serviceAccount: {namespace: regcred-system, name: quay-puller}}
  target: {secretName: stolen, serviceAccounts: []}
`);
    const before = quay.requests.length;
    const res = await run(['sync', '-f', file]);
    printed.push(res.stdout, res.stderr);
    assert.equal(res.code, 2, `${res.stdout}\n${res.stderr}`);
    assert.match(res.stderr, /service account regcred-system\/quay-puller is not allowed for a token/);
    assert.equal(quay.requests.length, before);
    assert.equal(await secretOrUndefined(core, 'quay-tenant', 'stolen'), undefined);
  });

  test('the API server refuses a malformed robot or registry (CRD schema; unknown fields are pruned, as for every CRD)', async () => {
    const custom = cp.kubeConfig.makeApiClient(CustomObjectsApi);
    for (const [name, q] of [
      ['quay-crd-robot', { robot: 'puller' }],
      ['quay-crd-reg', { robot: ROBOT, registry: 'https://quay.io' }],
    ] as const) {
      await assertCrdRefuses(custom, name, { quay: q });
    }
  });

  test('no service-account token or robot token appears in any output', () => {
    const all = printed.join('\n');
    assert.ok(all.length > 0);
    assert.ok(quay.bearers.length > 0 && quay.issued.length > 0);
    const tokens = [...quay.bearers, ...quay.issued];
    assertNoSecret(all, [...tokens, ...tokens.map((t) => t.split('.')[2]!)], 'CLI output');
    for (const bearer of quay.bearers) assert.ok(!all.includes(Buffer.from(`${ROBOT}:${bearer}`).toString('base64')), 'the Basic header appeared');
  });
});

describe('the controller with the quay provider', () => {
  let ctl: TestController;
  const patchProvider = (value: Record<string, unknown>) => patchClusterProvider(cp.kubeConfig.makeApiClient(CustomObjectsApi), 'quay-ctl', 'quay', value);

  before(async () => {
    for (const [name, labels] of [['quay-ctl-1', { quay: 'yes' }], ['quay-ctl-2', { quay: 'yes' }], ['quay-ctl-no', {}]] as const) {
      await core.createNamespace({ body: { metadata: { name, labels } } });
    }
    ctl = await startTestController(cp, { retryBaseMs: 300, retryMaxMs: 4000 });
  });

  after(async () => {
    await ctl?.stop();
    quay.clearFailures();
  });

  test('fills the selected namespaces, Ready=True; a 503 is retried with backoff, a refusal is not; no token in the logs', async () => {
    const spec = { robot: ROBOT, baseUrl: quay.url, serviceAccount: { name: 'quay-puller' } };
    await ctl.createClusterCredential('quay-ctl', {
      provider: { quay: spec },
      target: { secretName: 'quay-pull', namespaces: { selector: { matchLabels: { quay: 'yes' } } }, serviceAccounts: [] },
    });
    const status = await ctl.waitForStatus('quay-ctl', (s) => readyOf(s)?.status === 'True');
    assert.equal(readyOf(status)?.reason, 'Synced');
    assert.equal(status.targets?.synced, 2);
    const kept: string[] = [];
    for (const ns of ['quay-ctl-1', 'quay-ctl-2']) {
      await assertQuaySecret(ns, 'quay-pull');
      kept.push((await secretOrUndefined(core, ns, 'quay-pull'))!.data!['.dockerconfigjson']!);
    }
    assert.equal(await secretOrUndefined(core, 'quay-ctl-no', 'quay-pull'), undefined, 'an unselected namespace gets nothing');

    // Quay answers 503: retryable, exponential backoff from 300 ms.
    quay.failNext(503, { error: 'temporarily_unavailable' }, 1000);
    const errorsBefore = await ctl.refreshes('quay-ctl', 'error');
    await patchProvider({ ...spec, audience: quay.host }); // a spec change re-mints at once (same behaviour)
    const t0 = Date.now();
    const d = await ctl.waitForStatus('quay-ctl', (s) => degradedOf(s)?.status === 'True');
    assert.equal(degradedOf(d)?.reason, 'ProviderError');
    assert.match(degradedOf(d)!.message, /^quay robot federation for regcredtest\+puller .*: HTTP 503 temporarily_unavailable; the previous credential is still in place$/);
    await assertRetriedWithBackoff(ctl, 'quay-ctl', errorsBefore, t0, { logged: 'HTTP 503' });
    for (const [i, ns] of ['quay-ctl-1', 'quay-ctl-2'].entries()) {
      assert.equal((await secretOrUndefined(core, ns, 'quay-pull'))?.data?.['.dockerconfigjson'], kept[i], 'the last good Secret is kept');
    }

    quay.clearFailures();
    await ctl.waitForStatus('quay-ctl', (s) => degradedOf(s)?.status !== 'True' && readyOf(s)?.status === 'True');

    // A service account the robot is not federated with: permanent, straight to the longest delay.
    const permanentBefore = await ctl.refreshes('quay-ctl', 'error');
    await patchProvider({ ...spec, serviceAccount: { name: 'not-federated' } });
    const p = await ctl.waitForStatus('quay-ctl', (s) => degradedOf(s)?.status === 'True');
    assert.match(degradedOf(p)!.message, /^quay robot federation for regcredtest\+puller .*: HTTP 401 \(is the robot federated with this service account’s issuer and subject\?\); the previous credential is still in place$/);
    await assertRemoteTextInLogOnly(cp.kubeConfig, ctl.logLines, 'quay-ctl', p, /^Invalid token: /);
    await assertNotRetried(ctl, 'quay-ctl', permanentBefore);

    const logs = ctl.logLines.join('');
    assertNoSecret(logs, [...quay.bearers, ...quay.issued], 'the controller logs');
  });
});
