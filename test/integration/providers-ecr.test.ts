// The `ecr` provider end to end: the built CLI against a moto server (a fake AWS API, see
// test/harness/moto.ts) and a real kube-apiserver + controller-manager.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CoreV1Api, EventsV1Api, type V1Secret } from '@kubernetes/client-node';
import { ECRClient, GetAuthorizationTokenCommand } from '@aws-sdk/client-ecr';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { installCrds } from '../harness/crds.js';
import { readyOf, startTestController, type TestController } from '../harness/test-controller.js';
import { start, type ControlPlane } from '../harness/controlplane.js';
import { runCli, writeConfig, type CliResult } from '../harness/cli.js';
import { type Auths, assertNothingSecret, authsOf, credentialYaml } from '../harness/provider-tests.js';
import { MOTO_ACCOUNT, startMoto, type Moto } from '../harness/moto.js';
import { secretOrUndefined } from '../harness/kube.js';

let cp: ControlPlane;
let moto: Moto;
let core: CoreV1Api;

// Fake keys (moto accepts any), random so the "never printed" checks mean something.
const KEY_ID = `AKIA${randomBytes(8).toString('hex').toUpperCase()}`;
const SECRET_KEY = randomBytes(30).toString('base64');
const SESSION_TOKEN = `session-${randomBytes(16).toString('hex')}`;
const ENV_KEY_ID = `AKIA${randomBytes(8).toString('hex').toUpperCase()}`;
const ENV_SECRET_KEY = randomBytes(30).toString('base64');

/** Output of every run whose output must hold no secret (all but `get -o dockerconfigjson`'s stdout). */
const printed: string[] = [];
/** Accounts of the roles assumed (moto keeps one backend per account). */
const ROLE_ACCOUNT = '111111111111';
const WEB_ACCOUNT = '222222222222';
const POD_IDENTITY_ACCOUNT = '333333333333';
const POD_IDENTITY_TOKEN = `pod-identity-${randomBytes(16).toString('hex')}`;
/** ECR passwords handed out to assumed roles, for the "never printed" check. */
const passwords: string[] = [];
/** What moto hands out, per region, asked directly with the SDK. */
const expected = new Map<string, { host: string; password: string; expiresAt: Date }>();

async function motoToken(region: string): Promise<{ host: string; password: string; expiresAt: Date }> {
  const client = new ECRClient({ region, endpoint: moto.endpoint, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });
  try {
    const res = await client.send(new GetAuthorizationTokenCommand({}));
    const entry = res.authorizationData?.[0];
    assert.ok(entry?.authorizationToken && entry.proxyEndpoint && entry.expiresAt, 'moto answered GetAuthorizationToken');
    const decoded = Buffer.from(entry.authorizationToken, 'base64').toString('utf8');
    assert.ok(decoded.startsWith('AWS:'));
    return { host: entry.proxyEndpoint.replace(/^https:\/\//, ''), password: decoded.slice(4), expiresAt: entry.expiresAt };
  } finally {
    client.destroy();
  }
}

function kube(): string[] {
  return ['--kubeconfig', cp.kubeconfigPath];
}

async function run(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  // No ambient AWS configuration of the machine running the tests: only what each test gives.
  const res = await runCli(args, {
    env: {
      AWS_ACCESS_KEY_ID: '',
      AWS_SECRET_ACCESS_KEY: '',
      AWS_SESSION_TOKEN: '',
      AWS_PROFILE: '',
      AWS_CONFIG_FILE: '/nonexistent/aws-config',
      AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/aws-credentials',
      AWS_EC2_METADATA_DISABLED: 'true',
      ...env,
    },
  });
  return res;
}

const credential = (name: string, spec: string, namespace: string): string => credentialYaml('ecr', name, spec, namespace);

function readSecret(namespace: string, name: string): Promise<V1Secret | undefined> {
  return secretOrUndefined(core, namespace, name);
}


function entryFor(region: string): Auths[string] {
  const want = expected.get(region)!;
  return { username: 'AWS', password: want.password, auth: Buffer.from(`AWS:${want.password}`).toString('base64') };
}

before(async () => {
  [cp, moto] = await Promise.all([start(), startMoto()]);
  core = cp.kubeConfig.makeApiClient(CoreV1Api);
  for (const region of ['us-east-1', 'eu-west-1']) expected.set(region, await motoToken(region));
  for (const ns of ['regcred-system', 'ecr-a', 'ecr-b', 'ecr-env', 'ecr-pod', 'ecr-bad', 'ecr-role', 'ecr-web', 'ecr-web-role', 'ecr-tenant']) {
    await core.createNamespace({ body: { metadata: { name: ns } } });
  }
  // The service account regcred mints web identity tokens for (TokenRequest, by the real API server).
  await core.createNamespacedServiceAccount({ namespace: 'regcred-system', body: { metadata: { name: 'ecr-puller' } } });
  await core.createNamespacedSecret({
    namespace: 'regcred-system',
    body: {
      metadata: { name: 'aws-keys' },
      stringData: { AWS_ACCESS_KEY_ID: KEY_ID, AWS_SECRET_ACCESS_KEY: SECRET_KEY, AWS_SESSION_TOKEN: SESSION_TOKEN },
    },
  });
  await core.createNamespacedSecret({
    namespace: 'regcred-system',
    body: { metadata: { name: 'aws-partial' }, stringData: { AWS_ACCESS_KEY_ID: KEY_ID } },
  });
});

after(async () => {
  await Promise.all([cp?.stop(), moto?.stop()]);
});

describe('regcred sync with the ecr provider (moto + real API server)', () => {
  test('moto’s token: host of its default account, user AWS, expiry as moto returned it', () => {
    const want = expected.get('us-east-1')!;
    assert.equal(want.host, `${MOTO_ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com`);
    assert.ok(want.password.length > 0);
  });

  test('auth.secretRef: writes a dockerconfigjson Secret for the region’s registry', async () => {
    const file = writeConfig(
      credential('ecr-one', `{region: us-east-1, endpoint: "${moto.endpoint}", auth: {secretRef: {namespace: regcred-system, name: aws-keys}}}`, 'ecr-a'),
    );
    const res = await run(['sync', '-f', file, ...kube()]);
    printed.push(res.stdout, res.stderr);
    assert.equal(res.code, 0, `${res.stdout}\n${res.stderr}`);
    const want = expected.get('us-east-1')!;
    assert.match(res.stdout, /ClusterRegistryCredential\/ecr-one: synced 1\/1 namespaces/);
    assert.match(res.stdout, new RegExp(`expires ${want.expiresAt.toISOString().replace(/[.]/g, '\\.')}`), 'the expiry moto returned, as is');
    // moto's tokens expired in 2015: written as they are, with one clear warning.
    assert.ok(want.expiresAt.getTime() < Date.now());
    const warnings = res.stderr.split('\n').filter((l) => l.includes('already expired'));
    assert.equal(warnings.length, 1, res.stderr);
    assert.match(warnings[0]!, /^ClusterRegistryCredential\/ecr-one: warning: the provider returned a credential that already expired at 20\d\d-/);
    const secret = await readSecret('ecr-a', 'pull-ecr-one');
    assert.equal(secret?.metadata?.annotations?.['regcred.dev/expires-at'], want.expiresAt.toISOString());
    const auths = authsOf(secret);
    assert.deepEqual(Object.keys(auths), [`${MOTO_ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com`]);
    assert.deepEqual(auths[want.host], entryFor('us-east-1'));
  });

  test('two regions: one Secret with two auths entries', async () => {
    const file = writeConfig(
      credential('ecr-two', `{regions: [us-east-1, eu-west-1], endpoint: "${moto.endpoint}", auth: {secretRef: {name: aws-keys}}}`, 'ecr-b'),
    );
    const res = await run(['sync', '-f', file, ...kube()]);
    printed.push(res.stdout, res.stderr);
    assert.equal(res.code, 0, `${res.stdout}\n${res.stderr}`);
    const auths = authsOf(await readSecret('ecr-b', 'pull-ecr-two'));
    assert.deepEqual(Object.keys(auths).sort(), [`${MOTO_ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com`, `${MOTO_ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com`]);
    assert.deepEqual(auths[`${MOTO_ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com`], entryFor('us-east-1'));
    assert.deepEqual(auths[`${MOTO_ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com`], entryFor('eu-west-1'));
  });

  test('no auth: the SDK default chain (keys from the environment)', async () => {
    const file = writeConfig(credential('ecr-env', `{region: eu-west-1, endpoint: "${moto.endpoint}"}`, 'ecr-env'));
    const res = await run(['sync', '-f', file, ...kube(), '--log-level', 'debug'], {
      AWS_ACCESS_KEY_ID: ENV_KEY_ID,
      AWS_SECRET_ACCESS_KEY: ENV_SECRET_KEY,
    });
    printed.push(res.stdout, res.stderr);
    assert.equal(res.code, 0, `${res.stdout}\n${res.stderr}`);
    const auths = authsOf(await readSecret('ecr-env', 'pull-ecr-env'));
    assert.deepEqual(auths, { [`${MOTO_ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com`]: entryFor('eu-west-1') });
  });

  // EKS Pod Identity: the pod identity agent serves credentials at a link-local address; the SDK's
  // default chain finds it through AWS_CONTAINER_CREDENTIALS_FULL_URI and sends the projected token
  // from AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE as the Authorization header
  // (https://docs.aws.amazon.com/eks/latest/userguide/pod-id-how-it-works.html). The SDK accepts a
  // loopback http URL too, so a local agent stands in for it here. It hands out credentials of a role
  // in account 333333333333 (assumed in moto), so the registry host shows which credentials ECR saw.
  test('no auth: the SDK default chain via an EKS Pod Identity (container credentials) endpoint', async () => {
    const sts = new STSClient({ region: 'us-east-1', endpoint: moto.endpoint, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });
    const assumed = await sts.send(new AssumeRoleCommand({ RoleArn: `arn:aws:iam::${POD_IDENTITY_ACCOUNT}:role/pod-identity`, RoleSessionName: 'agent' }));
    sts.destroy();
    const c = assumed.Credentials!;
    const seen: Array<{ path: string | undefined; authorization: string | undefined }> = [];
    const agent: Server = createServer((req, res) => {
      seen.push({ path: req.url, authorization: req.headers.authorization });
      if (req.url !== '/v1/credentials' || req.headers.authorization !== POD_IDENTITY_TOKEN) {
        res.writeHead(403, { 'content-type': 'application/json' }).end('{"message":"bad token"}');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          AccessKeyId: c.AccessKeyId,
          SecretAccessKey: c.SecretAccessKey,
          Token: c.SessionToken,
          AccountId: POD_IDENTITY_ACCOUNT,
          Expiration: new Date(Date.now() + 3600_000).toISOString(),
        }),
      );
    });
    await new Promise<void>((r) => agent.listen(0, '127.0.0.1', r));
    try {
      const tokenFile = writeConfig(POD_IDENTITY_TOKEN, 'eks-pod-identity-token');
      const file = writeConfig(credential('ecr-pod', `{region: us-east-1, endpoint: "${moto.endpoint}"}`, 'ecr-pod'));
      const res = await run(['sync', '-f', file, ...kube()], {
        AWS_CONTAINER_CREDENTIALS_FULL_URI: `http://127.0.0.1:${(agent.address() as AddressInfo).port}/v1/credentials`,
        AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: tokenFile,
      });
      printed.push(res.stdout, res.stderr);
      assert.equal(res.code, 0, `${res.stdout}\n${res.stderr}`);
      assert.ok(seen.length >= 1, 'the SDK asked the container credentials endpoint');
      assert.deepEqual(seen[0], { path: '/v1/credentials', authorization: POD_IDENTITY_TOKEN });
      const auths = authsOf(await readSecret('ecr-pod', 'pull-ecr-pod'));
      assert.deepEqual(Object.keys(auths), [`${POD_IDENTITY_ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com`], 'ECR saw the pod identity’s credentials');
      passwords.push(auths[`${POD_IDENTITY_ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com`]!.password, c.SecretAccessKey!, c.SessionToken!, POD_IDENTITY_TOKEN);
    } finally {
      await new Promise((r) => agent.close(r));
    }
  });

  test('regcred get -o dockerconfigjson prints the config', async () => {
    const file = writeConfig(credential('ecr-get', `{region: us-east-1, endpoint: "${moto.endpoint}", auth: {secretRef: {name: aws-keys}}}`, 'ecr-a'));
    const res = await run(['get', '-f', file, '-o', 'dockerconfigjson', ...kube()]);
    printed.push(res.stderr); // stdout is the credential itself, by design
    assert.equal(res.code, 0, res.stderr);
    const parsed = JSON.parse(res.stdout) as { auths: Auths };
    assert.deepEqual(parsed.auths, { [`${MOTO_ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com`]: entryFor('us-east-1') });
    for (const value of [KEY_ID, SECRET_KEY, SESSION_TOKEN]) assert.ok(!res.stdout.includes(value), 'no AWS key in the printed config');
  });

  test('a source Secret lacking AWS_SECRET_ACCESS_KEY exits 2 with one clear line', async () => {
    const file = writeConfig(credential('ecr-bad', `{region: us-east-1, endpoint: "${moto.endpoint}", auth: {secretRef: {name: aws-partial}}}`, 'ecr-bad'));
    const res = await run(['sync', '-f', file, ...kube()]);
    printed.push(res.stdout, res.stderr);
    assert.equal(res.code, 2, `${res.stdout}\n${res.stderr}`);
    assert.match(res.stderr, /ClusterRegistryCredential\/ecr-bad: .*Secret regcred-system\/aws-partial lacks key\(s\) "AWS_SECRET_ACCESS_KEY"/);
    assert.doesNotMatch(res.stderr, /\n\s+at /, 'no stack trace');
    assert.equal(await readSecret('ecr-bad', 'pull-ecr-bad'), undefined, 'nothing written');
  });

  // moto implements STS AssumeRole and AssumeRoleWithWebIdentity and keeps one backend per account:
  // temporary credentials of a role in account 111111111111 act as that account, so GetAuthorizationToken
  // with them answers with 111111111111's registry. That host is how these tests see which credentials
  // the ECR call was signed with.
  test('auth.assumeRole on top of secretRef keys: the ECR call is made as the assumed role’s account', async () => {
    const file = writeConfig(
      credential(
        'ecr-role',
        `{region: us-east-1, endpoint: "${moto.endpoint}", stsEndpoint: "${moto.endpoint}", auth: {secretRef: {name: aws-keys}, assumeRole: {roleArn: "arn:aws:iam::${ROLE_ACCOUNT}:role/puller", externalId: ext-1234, durationSeconds: 900}}}`,
        'ecr-role',
      ),
    );
    const res = await run(['sync', '-f', file, ...kube()]);
    printed.push(res.stdout, res.stderr);
    assert.equal(res.code, 0, `${res.stdout}\n${res.stderr}`);
    const auths = authsOf(await readSecret('ecr-role', 'pull-ecr-role'));
    assert.deepEqual(Object.keys(auths), [`${ROLE_ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com`], 'the assumed account’s registry, not moto’s default');
    const entry = auths[`${ROLE_ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com`]!;
    assert.equal(entry.username, 'AWS');
    assert.ok(entry.password.length > 0);
    passwords.push(entry.password);
  });

  // moto does NOT verify the web identity token (no signature, issuer or audience check): these tests
  // prove regcred mints a token with the real API server (TokenRequest) and makes the STS call with
  // it, not that AWS would accept the token. The token's audience is checked in the unit tests.
  test('auth.webIdentity: a token minted by the API server, exchanged with AssumeRoleWithWebIdentity', async () => {
    const file = writeConfig(
      credential(
        'ecr-web',
        `{region: us-east-1, endpoint: "${moto.endpoint}", stsEndpoint: "${moto.endpoint}", auth: {webIdentity: {roleArn: "arn:aws:iam::${WEB_ACCOUNT}:role/web-puller", serviceAccount: {name: ecr-puller}}}}`,
        'ecr-web',
      ),
    );
    // No AWS keys at all in the environment: webIdentity needs none.
    const res = await run(['sync', '-f', file, ...kube()]);
    printed.push(res.stdout, res.stderr);
    assert.equal(res.code, 0, `${res.stdout}\n${res.stderr}`);
    assert.match(res.stdout, /ClusterRegistryCredential\/ecr-web: synced 1\/1 namespaces/);
    const auths = authsOf(await readSecret('ecr-web', 'pull-ecr-web'));
    assert.deepEqual(Object.keys(auths), [`${WEB_ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com`]);
    passwords.push(auths[`${WEB_ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com`]!.password);
  });

  test('auth.webIdentity then auth.assumeRole: the chain ends in the assumed role’s account', async () => {
    const file = writeConfig(
      credential(
        'ecr-web-role',
        `{region: eu-west-1, endpoint: "${moto.endpoint}", stsEndpoint: "${moto.endpoint}", auth: {webIdentity: {roleArn: "arn:aws:iam::${WEB_ACCOUNT}:role/web-puller", serviceAccount: {namespace: regcred-system, name: ecr-puller}, audience: sts.amazonaws.com, sessionName: web-session}, assumeRole: {roleArn: "arn:aws:iam::${ROLE_ACCOUNT}:role/puller"}}}`,
        'ecr-web-role',
      ),
    );
    const res = await run(['sync', '-f', file, ...kube()]);
    printed.push(res.stdout, res.stderr);
    assert.equal(res.code, 0, `${res.stdout}\n${res.stderr}`);
    const auths = authsOf(await readSecret('ecr-web-role', 'pull-ecr-web-role'));
    assert.deepEqual(Object.keys(auths), [`${ROLE_ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com`]);
    passwords.push(auths[`${ROLE_ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com`]!.password);
  });

  test('a RegistryCredential minting a token for another namespace’s service account: CrossNamespaceRef, exit 2', async () => {
    const file = writeConfig(`apiVersion: regcred.dev/v1alpha1
kind: RegistryCredential
metadata: {name: sneaky, namespace: ecr-tenant}
spec:
  provider:
    ecr: {region: us-east-1, endpoint: "${moto.endpoint}", stsEndpoint: "${moto.endpoint}", auth: {webIdentity: {roleArn: "arn:aws:iam::${WEB_ACCOUNT}:role/web-puller", serviceAccount: {namespace: regcred-system, name: ecr-puller}}}}
  target: {secretName: stolen, serviceAccounts: []}
`);
    const res = await run(['sync', '-f', file, ...kube()]);
    printed.push(res.stdout, res.stderr);
    assert.equal(res.code, 2, `${res.stdout}\n${res.stderr}`);
    const lines = res.stderr.split('\n').filter((l) => l.includes('RegistryCredential/'));
    assert.equal(lines.length, 1, res.stderr);
    assert.match(
      lines[0]!,
      /RegistryCredential\/ecr-tenant\/sneaky: .*service account regcred-system\/ecr-puller is not allowed for a token: a RegistryCredential uses service accounts in its own namespace only/,
    );
    assert.doesNotMatch(res.stderr, /\n\s+at /, 'no stack trace');
    assert.equal(await readSecret('ecr-tenant', 'stolen'), undefined, 'nothing written');
  });

  test('the AWS keys and the ECR password appear in no output', () => {
    const all = printed.join('\n');
    assert.ok(all.length > 0);
    const secrets = [KEY_ID, SECRET_KEY, SESSION_TOKEN, ENV_KEY_ID, ENV_SECRET_KEY, ...[...expected.values()].map((e) => e.password), ...passwords];
    assertNothingSecret(all, secrets, 'CLI output');
    for (const e of expected.values()) assert.ok(!all.includes(Buffer.from(`AWS:${e.password}`).toString('base64')), 'an auth field appeared');
  });
});

// The controller (in-process, so the test can shorten its minimum refresh delay and read its
// metrics; it reaches the API server and moto only over the network) with an ecr credential.
describe('the controller with the ecr provider (moto + real API server)', () => {
  let ctl: TestController;
  const MIN_REFRESH_MS = 1000;

  before(async () => {
    await installCrds(cp.kubeConfig);
    for (const [name, labels] of [['ctl-ecr-1', { ecr: 'yes' }], ['ctl-ecr-2', { ecr: 'yes' }], ['ctl-ecr-no', {}]] as const) {
      await core.createNamespace({ body: { metadata: { name, labels } } });
    }
    ctl = await startTestController(cp, { minRefreshDelayMs: MIN_REFRESH_MS });
  });

  after(async () => {
    await ctl?.stop();
  });

  test('fills the selected namespaces with moto’s two regions; the 2015 expiry: Ready=False CredentialExpired, retried at the minimum delay with a warning', async () => {
    await ctl.createClusterCredential('ctl-ecr', {
      provider: { ecr: { regions: ['us-east-1', 'eu-west-1'], endpoint: moto.endpoint, auth: { secretRef: { name: 'aws-keys' } } } },
      target: { secretName: 'ecr-pull', namespaces: { selector: { matchLabels: { ecr: 'yes' } } }, serviceAccounts: [] },
    });
    // Synced everywhere, but honest about moto's expiry: Ready=False, reason CredentialExpired.
    const status = await ctl.waitForStatus('ctl-ecr', (s) => readyOf(s)?.reason === 'CredentialExpired' && s.targets?.synced === 2);
    assert.equal(readyOf(status)?.status, 'False');
    assert.match(
      readyOf(status)?.message ?? '',
      /^the credential expired at 2015-.*: the provider returned it already expired \(2\/2 namespaces hold it\); retried at the minimum delay$/,
    );
    for (const ns of ['ctl-ecr-1', 'ctl-ecr-2']) {
      const auths = authsOf(await readSecret(ns, 'ecr-pull'));
      assert.deepEqual(auths, {
        [`${MOTO_ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com`]: entryFor('us-east-1'),
        [`${MOTO_ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com`]: entryFor('eu-west-1'),
      });
    }
    assert.equal(await readSecret('ctl-ecr-no', 'ecr-pull'), undefined, 'a namespace the selector does not match gets nothing');

    // The controller neither spins (the renewal time is in the past) nor waits 12 hours: it retries
    // at the minimum delay. Over ~4.5 s that is 3-6 mints, not hundreds.
    const first = await ctl.refreshes('ctl-ecr');
    const t0 = Date.now();
    await new Promise((r) => setTimeout(r, 4.5 * MIN_REFRESH_MS));
    const made = (await ctl.refreshes('ctl-ecr')) - first;
    console.log(`# ${made} refreshes in ${Date.now() - t0} ms with a minimum refresh delay of ${MIN_REFRESH_MS} ms`);
    assert.ok(made >= 3 && made <= 6, `refreshes in 4.5 s: ${made}`);
    const warnings = ctl.logLines.filter((l) => l.includes('already expired'));
    assert.ok(warnings.length >= 3, 'each mint logs the clamp');
    assert.match(warnings[0]!, /"level":"?(40|warn)"?/);
    // Cluster-scoped objects' Events live in namespace "default".
    const events = await cp.kubeConfig.makeApiClient(EventsV1Api).listNamespacedEvent({ namespace: 'default' });
    assert.ok(
      events.items.some((e) => e.reason === 'ShortLivedCredential' && e.regarding?.name === 'ctl-ecr' && /already expired \(2015-/.test(e.note ?? '')),
      'a ShortLivedCredential warning Event on the credential',
    );
    const logs = ctl.logLines.join('');
    for (const value of [KEY_ID, SECRET_KEY, SESSION_TOKEN, ...[...expected.values()].map((e) => e.password)]) {
      assert.ok(!logs.includes(value), 'no secret in the controller logs');
    }
  });
});
