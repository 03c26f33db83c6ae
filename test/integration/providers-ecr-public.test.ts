// The `ecrPublic` provider end to end: the built CLI against a local ECR Public double
// (test/harness/doubles/ecr-public.ts; moto has no ECR Public) and a real kube-apiserver.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { CoreV1Api, CustomObjectsApi, type V1Secret } from '@kubernetes/client-node';
import { start, type ControlPlane } from '../harness/controlplane.js';
import { runCli, writeConfig, type CliResult } from '../harness/cli.js';
import { assertNotRetried, credentialYaml, degradedOf, forceRefresh } from '../harness/provider-tests.js';
import { ECR_PUBLIC_TARGET, startEcrPublicDouble, type EcrPublicDouble } from '../harness/doubles/ecr-public.js';
import { secretOrUndefined } from '../harness/kube.js';
import { installCrds } from '../harness/crds.js';
import { readyOf, startTestController, type TestController } from '../harness/test-controller.js';

let cp: ControlPlane;
let double: EcrPublicDouble;
let core: CoreV1Api;

const KEY_ID = `AKIA${randomBytes(8).toString('hex').toUpperCase()}`;
const SECRET_KEY = randomBytes(30).toString('base64');
const printed: string[] = [];

function kube(): string[] {
  return ['--kubeconfig', cp.kubeconfigPath];
}

function run(args: string[]): Promise<CliResult> {
  return runCli(args, {
    env: {
      AWS_ACCESS_KEY_ID: '',
      AWS_SECRET_ACCESS_KEY: '',
      AWS_SESSION_TOKEN: '',
      AWS_PROFILE: '',
      AWS_CONFIG_FILE: '/nonexistent/aws-config',
      AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/aws-credentials',
      AWS_EC2_METADATA_DISABLED: 'true',
    },
  });
}

const credential = (name: string, spec: string, namespace: string): string => credentialYaml('ecrPublic', name, spec, namespace);

function readSecret(namespace: string, name: string): Promise<V1Secret | undefined> {
  return secretOrUndefined(core, namespace, name);
}

before(async () => {
  [cp, double] = await Promise.all([start(), startEcrPublicDouble({ accessKeyId: KEY_ID, secretAccessKey: SECRET_KEY })]);
  core = cp.kubeConfig.makeApiClient(CoreV1Api);
  for (const ns of ['regcred-system', 'ecrpub-a', 'ecrpub-bad']) await core.createNamespace({ body: { metadata: { name: ns } } });
  await core.createNamespacedSecret({
    namespace: 'regcred-system',
    body: { metadata: { name: 'aws-keys' }, stringData: { AWS_ACCESS_KEY_ID: KEY_ID, AWS_SECRET_ACCESS_KEY: SECRET_KEY } },
  });
});

after(async () => {
  await Promise.all([cp?.stop(), double?.stop()]);
});

describe('regcred sync with the ecrPublic provider (ECR Public double + real API server)', () => {
  test('auth.secretRef: writes auths["public.ecr.aws"] with user AWS and the served password', async () => {
    const file = writeConfig(
      credential('ecrpub-one', `{endpoint: "${double.endpoint}", auth: {secretRef: {namespace: regcred-system, name: aws-keys}}}`, 'ecrpub-a'),
    );
    const before = double.requests.length;
    const res = await run(['sync', '-f', file, ...kube()]);
    printed.push(res.stdout, res.stderr);
    assert.equal(res.code, 0, `${res.stdout}\n${res.stderr}`);
    assert.match(res.stdout, /ClusterRegistryCredential\/ecrpub-one: synced 1\/1 namespaces/);
    const secret = await readSecret('ecrpub-a', 'pull-ecrpub-one');
    assert.ok(secret, 'the Secret was written');
    assert.equal(secret.type, 'kubernetes.io/dockerconfigjson');
    assert.equal(secret.metadata?.annotations?.['regcred.dev/expires-at'], double.expiresAt.toISOString());
    const auths = JSON.parse(Buffer.from(secret.data?.['.dockerconfigjson'] ?? '', 'base64').toString('utf8')).auths;
    assert.deepEqual(auths, {
      'public.ecr.aws': { username: 'AWS', password: double.password, auth: Buffer.from(`AWS:${double.password}`).toString('base64') },
    });
    const seen = double.requests.slice(before);
    assert.equal(seen.length, 1, 'one GetAuthorizationToken call');
    const r = seen[0]!;
    assert.equal(r.target, ECR_PUBLIC_TARGET);
    assert.equal(r.accessKeyId, KEY_ID);
    assert.equal(r.region, 'us-east-1');
    assert.equal(r.service, 'ecr-public');
    assert.match(r.date ?? '', /^\d{8}$/);
    assert.equal(r.signatureValid, true, 'the SigV4 signature checks out with the secret key');
    assert.equal(r.status, 200);
  });

  test('keys the API does not know: exit 1, one clear line naming ecrPublic GetAuthorizationToken, no secret', async () => {
    double.expect = { accessKeyId: `AKIA${randomBytes(8).toString('hex').toUpperCase()}`, secretAccessKey: 'other' };
    try {
      const file = writeConfig(credential('ecrpub-bad', `{endpoint: "${double.endpoint}", auth: {secretRef: {name: aws-keys}}}`, 'ecrpub-bad'));
      const res = await run(['sync', '-f', file, ...kube()]);
      printed.push(res.stdout, res.stderr);
      assert.equal(res.code, 1, `${res.stdout}\n${res.stderr}`);
      assert.match(res.stderr, /ClusterRegistryCredential\/ecrpub-bad: .*ecrPublic GetAuthorizationToken in us-east-1: .*UnrecognizedClient/);
      assert.doesNotMatch(res.stderr, /\n\s+at /, 'no stack trace');
      assert.equal(await readSecret('ecrpub-bad', 'pull-ecrpub-bad'), undefined, 'nothing written');
      assert.equal(double.requests.at(-1)?.status, 400);
    } finally {
      double.expect = { accessKeyId: KEY_ID, secretAccessKey: SECRET_KEY };
    }
  });

  test('regcred get -o dockerconfigjson prints the config, -o json its expiry', async () => {
    const file = writeConfig(credential('ecrpub-get', `{endpoint: "${double.endpoint}", auth: {secretRef: {name: aws-keys}}}`, 'ecrpub-a'));
    const res = await run(['get', '-f', file, '-o', 'dockerconfigjson', ...kube()]);
    printed.push(res.stderr); // stdout is the credential itself, by design
    assert.equal(res.code, 0, res.stderr);
    assert.deepEqual(JSON.parse(res.stdout), {
      auths: { 'public.ecr.aws': { username: 'AWS', password: double.password, auth: Buffer.from(`AWS:${double.password}`).toString('base64') } },
    });
    const json = await run(['get', '-f', file, '-o', 'json', ...kube()]);
    assert.equal(json.code, 0, json.stderr);
    const parsed = JSON.parse(json.stdout) as { provider: string; expiresAt: string };
    assert.equal(parsed.provider, 'ecrPublic');
    assert.equal(parsed.expiresAt, double.expiresAt.toISOString());
    assert.ok(!(await readSecret('ecrpub-a', 'pull-ecrpub-get')), 'get writes nothing');
  });

  test('no output held a secret', () => {
    const all = printed.join('\n');
    for (const value of [SECRET_KEY, double.password, Buffer.from(`AWS:${double.password}`).toString('base64')]) {
      assert.ok(!all.includes(value), 'a secret value was printed');
    }
  });
});

describe('the controller with the ecrPublic provider (ECR Public double + real API server)', () => {
  let ctl: TestController;

  before(async () => {
    await installCrds(cp.kubeConfig);
    for (const [name, labels] of [['ctl-pub-1', { pub: 'yes' }], ['ctl-pub-2', { pub: 'yes' }], ['ctl-pub-no', {}]] as const) {
      await core.createNamespace({ body: { metadata: { name, labels } } });
    }
    ctl = await startTestController(cp, { retryBaseMs: 500, retryMaxMs: 4000 });
  });

  after(async () => {
    await ctl?.stop();
    double.expect = { accessKeyId: KEY_ID, secretAccessKey: SECRET_KEY };
  });

  test('fills the selected namespaces and is Ready; keys the API refuses: Degraded ProviderError, the Secrets kept, retries backed off', async () => {
    await ctl.createClusterCredential('ctl-pub', {
      provider: { ecrPublic: { endpoint: double.endpoint, auth: { secretRef: { name: 'aws-keys' } } } },
      target: { secretName: 'ecr-public-pull', namespaces: { selector: { matchLabels: { pub: 'yes' } } }, serviceAccounts: [] },
    });
    const status = await ctl.waitForStatus('ctl-pub', (s) => readyOf(s)?.status === 'True');
    assert.equal(readyOf(status)?.reason, 'Synced');
    assert.equal(status.targets?.synced, 2);
    const want = { 'public.ecr.aws': { username: 'AWS', password: double.password, auth: Buffer.from(`AWS:${double.password}`).toString('base64') } };
    const before: string[] = [];
    for (const ns of ['ctl-pub-1', 'ctl-pub-2']) {
      const secret = await readSecret(ns, 'ecr-public-pull');
      assert.equal(secret?.metadata?.annotations?.['regcred.dev/expires-at'], double.expiresAt.toISOString());
      assert.deepEqual(JSON.parse(Buffer.from(secret?.data?.['.dockerconfigjson'] ?? '', 'base64').toString('utf8')).auths, want);
      before.push(secret!.data!['.dockerconfigjson']!);
    }
    assert.equal(await readSecret('ctl-pub-no', 'ecr-public-pull'), undefined);

    // The API stops accepting the keys (rotated on the AWS side): a permanent error.
    double.expect = { accessKeyId: `AKIA${randomBytes(8).toString('hex').toUpperCase()}`, secretAccessKey: 'rotated' };
    const errorsBefore = await ctl.refreshes('ctl-pub', 'error');
    await forceRefresh(cp.kubeConfig.makeApiClient(CustomObjectsApi), 'ctl-pub');
    const degraded = await ctl.waitForStatus('ctl-pub', (s) => degradedOf(s)?.status === 'True');
    const d = degradedOf(degraded)!;
    assert.equal(d.reason, 'ProviderError');
    assert.match(d.message, /^ecrPublic GetAuthorizationToken in us-east-1: UnrecognizedClient.*; the previous credential is still in place$/);
    // A permanent error: no backoff ladder (500 ms, 1 s, 2 s...), straight to the longest delay (4 s here).
    await assertNotRetried(ctl, 'ctl-pub', errorsBefore, 3500);
    for (const [i, ns] of ['ctl-pub-1', 'ctl-pub-2'].entries()) {
      assert.equal((await readSecret(ns, 'ecr-public-pull'))?.data?.['.dockerconfigjson'], before[i], 'the last good Secret is kept byte for byte');
    }
    assert.ok(!ctl.logLines.join('').includes(double.password), 'no password in the controller logs');
    assert.ok(!ctl.logLines.join('').includes(SECRET_KEY), 'no AWS secret key in the controller logs');
  });
});
