// The `gcp` provider end to end: the built CLI (and `regcred controller`) against a real
// kube-apiserver + controller-manager and the local Google doubles of test/harness/doubles/gcp.ts
// (OAuth token endpoint, metadata server, STS, IAM Credentials). Federation's subject token is
// minted by the real API server (TokenRequest) and verified by the STS double against the API
// server's own JWKS.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CoreV1Api, CustomObjectsApi, type V1Secret } from '@kubernetes/client-node';
import { start, type ControlPlane } from '../harness/controlplane.js';
import { runCli, writeConfig, type CliResult } from '../harness/cli.js';
import { type Auths, assertNothingSecret, authsOf, credentialYaml } from '../harness/provider-tests.js';
import { secretOrUndefined } from '../harness/kube.js';
import { apiServerJwks } from '../harness/doubles/sa-token.js';
import { createClusterCredential, spawnController, waitForClusterCredentialStatus, type ControllerProcess } from '../harness/controller-process.js';
import { readyOf } from '../harness/test-controller.js';
import { installCrds } from '../harness/crds.js';
import { startGcpDoubles, type GcpDoubles } from '../harness/doubles/gcp.js';

let cp: ControlPlane;
let doubles: GcpDoubles;
let core: CoreV1Api;

const EMAIL = 'regcred-puller@my-project.iam.gserviceaccount.com';
const IMPERSONATED = 'registry-reader@my-project.iam.gserviceaccount.com';
const AUDIENCE = '//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/k8s-pool/providers/test-cluster';
const REGISTRIES = ['gcr.io', 'europe-docker.pkg.dev'];

// Test keys, generated now: the "never printed" checks look for them.
const keyPair = generateKeyPairSync('rsa', { modulusLength: 2048 });
const wrongPair = generateKeyPairSync('rsa', { modulusLength: 2048 });
const PRIVATE_PEM = keyPair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const WRONG_PEM = wrongPair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
let KEY_JSON = '';
let WRONG_KEY_JSON = '';

/** Output of every run whose output must hold no secret (all but `get -o dockerconfigjson`'s stdout). */
const printed: string[] = [];

function keyJson(pem: string): string {
  return JSON.stringify(
    {
      type: 'service_account',
      project_id: 'my-project',
      private_key_id: 'f00dfeed',
      private_key: pem,
      client_email: EMAIL,
      client_id: '109876543210',
      auth_uri: 'https://accounts.google.com/o/oauth2/auth',
      token_uri: doubles.tokenUri,
    },
    null,
    2,
  );
}

/** The API server's JWKS (test/harness/doubles/sa-token.ts). */
const fetchJwks = () => apiServerJwks(cp);

function kube(): string[] {
  return ['--kubeconfig', cp.kubeconfigPath];
}

async function run(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  // No ambient Google configuration: only what each test gives.
  return runCli(args, { env: { GOOGLE_APPLICATION_CREDENTIALS: '', GCE_METADATA_HOST: '', GCE_METADATA_IP: '', ...env } });
}

const credential = (name: string, spec: string, namespace: string): string => credentialYaml('gcp', name, spec, namespace);


function entries(username: string, password: string): Auths {
  const entry = { username, password, auth: Buffer.from(`${username}:${password}`).toString('base64') };
  return Object.fromEntries(REGISTRIES.map((r) => [r, entry]));
}

const registries = `[${REGISTRIES.join(', ')}]`;

before(async () => {
  cp = await start();
  // The STS double verifies subject tokens against this control plane's issuer and JWKS.
  doubles = await startGcpDoubles({
    keys: new Map([[EMAIL, keyPair.publicKey]]),
    users: new Map([[ADC_CLIENT_ID, { clientSecret: ADC_CLIENT_SECRET, refreshToken: ADC_REFRESH_TOKEN }]]),
    fetchJwks,
    issuer: cp.issuer,
    stsAudience: AUDIENCE,
    subjectTokenAudience: `https:${AUDIENCE}`,
    allowedSubjects: ['system:serviceaccount:regcred-system:gcp-puller'],
    impersonable: [IMPERSONATED],
  });
  KEY_JSON = keyJson(PRIVATE_PEM);
  WRONG_KEY_JSON = keyJson(WRONG_PEM);
  core = cp.kubeConfig.makeApiClient(CoreV1Api);
  await installCrds(cp.kubeConfig);
  for (const ns of ['regcred-system', 'gcp-key', 'gcp-json', 'gcp-md', 'gcp-wif', 'gcp-wif-imp', 'gcp-bad', 'gcp-adc']) {
    await core.createNamespace({ body: { metadata: { name: ns } } });
  }
  await core.createNamespacedServiceAccount({ namespace: 'regcred-system', body: { metadata: { name: 'gcp-puller' } } });
  await core.createNamespacedSecret({ namespace: 'regcred-system', body: { metadata: { name: 'gcp-key' }, stringData: { 'key.json': KEY_JSON } } });
  await core.createNamespacedSecret({ namespace: 'regcred-system', body: { metadata: { name: 'gcp-wrong-key' }, stringData: { 'sa.json': WRONG_KEY_JSON } } });
  // What `gcloud auth application-default login` writes, as registry-creds took it for GCR.
  ADC_JSON = JSON.stringify({ type: 'authorized_user', client_id: ADC_CLIENT_ID, client_secret: ADC_CLIENT_SECRET, refresh_token: ADC_REFRESH_TOKEN, token_uri: `${doubles.url}/token` });
  await core.createNamespacedSecret({ namespace: 'regcred-system', body: { metadata: { name: 'gcp-adc' }, stringData: { 'application_default_credentials.json': ADC_JSON } } });
});

const ADC_CLIENT_ID = '764086051850-example.apps.googleusercontent.com';
const ADC_CLIENT_SECRET = `d-FL95Q${randomBytes(8).toString('hex')}`;
const ADC_REFRESH_TOKEN = `1//0g${randomBytes(24).toString('base64url')}`;
let ADC_JSON = '';

after(async () => {
  await Promise.all([cp?.stop(), doubles?.stop()]);
});

describe('regcred sync with the gcp provider (Google doubles + real API server)', () => {
  test('auth.secretRef: a JWT-bearer token for two registries; expiry from expires_in', async () => {
    const file = writeConfig(credential('gcp-key', `{registries: ${registries}, auth: {secretRef: {name: gcp-key}}}`, 'gcp-key'));
    const t0 = Date.now();
    const res = await run(['sync', '-f', file, ...kube()]);
    const t1 = Date.now();
    printed.push(res.stdout, res.stderr);
    assert.equal(res.code, 0, `${res.stdout}\n${res.stderr}`);
    assert.match(res.stdout, /ClusterRegistryCredential\/gcp-key: synced 1\/1 namespaces/);
    assert.equal(doubles.assertions.at(-1)?.['iss'], EMAIL, 'the double verified the assertion');
    const token = doubles.issued.key.at(-1)!;
    const secret = await secretOrUndefined(core, 'gcp-key', 'pull-gcp-key');
    assert.deepEqual(authsOf(secret), entries('oauth2accesstoken', token));
    const expiresAt = Date.parse(secret!.metadata?.annotations?.['regcred.dev/expires-at'] ?? '');
    assert.ok(expiresAt >= t0 + 3599_000 - 1000 && expiresAt <= t1 + 3599_000, 'expires-at = now + expires_in (3599 s)');
  });

  test('auth.secretRef with a user’s Application Default Credentials (authorized_user): refresh-token grant', async () => {
    const file = writeConfig(
      credential('gcp-adc', `{registries: [gcr.io], auth: {secretRef: {name: gcp-adc, key: application_default_credentials.json}}}`, 'gcp-adc'),
    );
    const res = await run(['sync', '-f', file, ...kube()]);
    printed.push(res.stdout, res.stderr);
    assert.equal(res.code, 0, `${res.stdout}\n${res.stderr}`);
    const token = doubles.issued.key.at(-1)!;
    assert.match(token, /^ya29\.user\./, 'a token the double gave for the refresh token');
    assert.deepEqual(authsOf(await secretOrUndefined(core, 'gcp-adc', 'pull-gcp-adc')), { 'gcr.io': { username: 'oauth2accesstoken', password: token, auth: Buffer.from(`oauth2accesstoken:${token}`).toString('base64') } });
    const json = writeConfig(credential('gcp-adc-json', `{registries: [gcr.io], jsonKey: true, auth: {secretRef: {name: gcp-adc, key: application_default_credentials.json}}}`, 'gcp-adc'));
    const refused = await run(['sync', '-f', json, ...kube()]);
    printed.push(refused.stdout, refused.stderr);
    assert.equal(refused.code, 2, 'jsonKey with user credentials is invalid input');
    assert.match(refused.stderr, /jsonKey: true needs a service-account key/);
  });

  test('jsonKey: `_json_key` with the key JSON, no expiry, no token request', async () => {
    const file = writeConfig(credential('gcp-json', `{registries: ${registries}, jsonKey: true, auth: {secretRef: {namespace: regcred-system, name: gcp-key, key: key.json}}}`, 'gcp-json'));
    const before = doubles.assertions.length;
    const res = await run(['sync', '-f', file, ...kube()]);
    printed.push(res.stdout, res.stderr);
    assert.equal(res.code, 0, `${res.stdout}\n${res.stderr}`);
    const secret = await secretOrUndefined(core, 'gcp-json', 'pull-gcp-json');
    assert.deepEqual(authsOf(secret), entries('_json_key', KEY_JSON));
    assert.equal(secret!.metadata?.annotations?.['regcred.dev/expires-at'], undefined, 'a key does not expire');
    assert.equal(doubles.assertions.length, before, 'no token request');
  });

  test('auth.metadataServer via GCE_METADATA_HOST; the double refuses requests without Metadata-Flavor', async () => {
    const refused = await fetch(`${doubles.url}/computeMetadata/v1/instance/service-accounts/default/token`);
    assert.equal(refused.status, 403, 'no Metadata-Flavor header: 403');
    const rejectedBefore = doubles.metadataRejected;
    const file = writeConfig(credential('gcp-md', `{registries: ${registries}, auth: {metadataServer: {}}}`, 'gcp-md'));
    const res = await run(['sync', '-f', file, ...kube()], { GCE_METADATA_HOST: doubles.host });
    printed.push(res.stdout, res.stderr);
    assert.equal(res.code, 0, `${res.stdout}\n${res.stderr}`);
    assert.equal(doubles.metadataRejected, rejectedBefore, 'regcred sent Metadata-Flavor: Google');
    assert.deepEqual(doubles.metadataRequests.at(-1), { account: 'default', scopes: 'https://www.googleapis.com/auth/cloud-platform' });
    const secret = await secretOrUndefined(core, 'gcp-md', 'pull-gcp-md');
    assert.deepEqual(authsOf(secret), entries('oauth2accesstoken', doubles.issued.metadata.at(-1)!));
    assert.ok(secret!.metadata?.annotations?.['regcred.dev/expires-at']);
  });

  test('auth.workloadIdentityFederation: a token minted by the API server, verified against its JWKS by STS', async () => {
    const file = writeConfig(
      credential('gcp-wif', `{registries: ${registries}, auth: {workloadIdentityFederation: {audience: "${AUDIENCE}", serviceAccount: {name: gcp-puller}, stsEndpoint: "${doubles.url}"}}}`, 'gcp-wif'),
    );
    const res = await run(['sync', '-f', file, ...kube()]);
    printed.push(res.stdout, res.stderr);
    assert.equal(res.code, 0, `${res.stdout}\n${res.stderr}`);
    const subject = doubles.stsSubjects.at(-1)!;
    assert.equal(subject['iss'], cp.issuer);
    assert.equal(subject['sub'], 'system:serviceaccount:regcred-system:gcp-puller');
    assert.deepEqual(subject['aud'], [`https:${AUDIENCE}`]);
    assert.equal(doubles.stsRequests.at(-1)?.['audience'], AUDIENCE);
    const secret = await secretOrUndefined(core, 'gcp-wif', 'pull-gcp-wif');
    assert.deepEqual(authsOf(secret), entries('oauth2accesstoken', doubles.issued.sts.at(-1)!));
  });

  test('auth.workloadIdentityFederation with serviceAccountImpersonation: generateAccessToken with the STS token', async () => {
    const file = writeConfig(
      credential(
        'gcp-wif-imp',
        `{registries: ${registries}, auth: {workloadIdentityFederation: {audience: "${AUDIENCE}", serviceAccount: {namespace: regcred-system, name: gcp-puller}, serviceAccountImpersonation: {email: ${IMPERSONATED}, lifetimeSeconds: 1200}, stsEndpoint: "${doubles.url}", iamCredentialsEndpoint: "${doubles.url}"}}}`,
        'gcp-wif-imp',
      ),
    );
    const t0 = Date.now();
    const res = await run(['sync', '-f', file, ...kube()]);
    printed.push(res.stdout, res.stderr);
    assert.equal(res.code, 0, `${res.stdout}\n${res.stderr}`);
    assert.deepEqual(doubles.iamRequests.at(-1), { email: IMPERSONATED, body: { scope: ['https://www.googleapis.com/auth/cloud-platform'], lifetime: '1200s' } });
    const secret = await secretOrUndefined(core, 'gcp-wif-imp', 'pull-gcp-wif-imp');
    assert.deepEqual(authsOf(secret), entries('oauth2accesstoken', doubles.issued.iam.at(-1)!));
    const expiresAt = Date.parse(secret!.metadata?.annotations?.['regcred.dev/expires-at'] ?? '');
    assert.ok(Math.abs(expiresAt - (t0 + 1200_000)) < 30_000, 'expires-at from expireTime');
  });

  test('regcred get -o dockerconfigjson prints the config', async () => {
    const file = writeConfig(credential('gcp-get', `{registries: ${registries}, auth: {secretRef: {name: gcp-key}}}`, 'gcp-key'));
    const res = await run(['get', '-f', file, '-o', 'dockerconfigjson', ...kube()]);
    printed.push(res.stderr); // stdout is the credential itself, by design
    assert.equal(res.code, 0, res.stderr);
    const parsed = JSON.parse(res.stdout) as { auths: Auths };
    assert.deepEqual(parsed.auths, entries('oauth2accesstoken', doubles.issued.key.at(-1)!));
    assert.ok(!res.stdout.includes('PRIVATE KEY'), 'no key in the printed config');
  });

  test('a wrong key: 400 invalid_grant → exit 1, one clear line naming gcp and the call, no secret', async () => {
    const file = writeConfig(credential('gcp-bad', `{registries: ${registries}, auth: {secretRef: {name: gcp-wrong-key, key: sa.json}}}`, 'gcp-bad'));
    const res = await run(['sync', '-f', file, ...kube()]);
    printed.push(res.stdout, res.stderr);
    assert.equal(res.code, 1, `${res.stdout}\n${res.stderr}`);
    const lines = res.stderr.split('\n').filter((l) => l.includes('ClusterRegistryCredential/gcp-bad'));
    assert.equal(lines.length, 1, res.stderr);
    console.log(`# ${lines[0]}`);
    assert.match(lines[0]!, /gcp token request \(http:\/\/127\.0\.0\.1:\d+\): HTTP 400 invalid_grant$/);
    assert.doesNotMatch(res.stderr, /\n\s+at /, 'no stack trace');
    assert.equal(await secretOrUndefined(core, 'gcp-bad', 'pull-gcp-bad'), undefined, 'nothing written');
  });

  test('a RegistryCredential minting a token for another namespace’s service account: CrossNamespaceRef, exit 2', async () => {
    await core.createNamespace({ body: { metadata: { name: 'gcp-tenant' } } });
    const file = writeConfig(`apiVersion: regcred.dev/v1alpha1
kind: RegistryCredential
metadata: {name: sneaky, namespace: gcp-tenant}
spec:
  provider:
    gcp: {registries: [gcr.io], auth: {workloadIdentityFederation: {audience: "${AUDIENCE}", serviceAccount: {namespace: regcred-system, name: gcp-puller}, stsEndpoint: "${doubles.url}"}}}
  target: {secretName: stolen, serviceAccounts: []}
`);
    const stsBefore = doubles.stsRequests.length;
    const res = await run(['sync', '-f', file, ...kube()]);
    printed.push(res.stdout, res.stderr);
    assert.equal(res.code, 2, `${res.stdout}\n${res.stderr}`);
    assert.match(res.stderr, /RegistryCredential\/gcp-tenant\/sneaky: .*service account regcred-system\/gcp-puller is not allowed for a token/);
    assert.equal(doubles.stsRequests.length, stsBefore, 'no STS call');
    assert.equal(await secretOrUndefined(core, 'gcp-tenant', 'stolen'), undefined);
  });

  test('the CRD’s CEL rules refuse two auth modes and jsonKey without secretRef', async () => {
    const custom = cp.kubeConfig.makeApiClient(CustomObjectsApi);
    const create = (name: string, gcp: unknown) =>
      custom.createClusterCustomObject({
        group: 'regcred.dev',
        version: 'v1alpha1',
        plural: 'clusterregistrycredentials',
        body: { apiVersion: 'regcred.dev/v1alpha1', kind: 'ClusterRegistryCredential', metadata: { name }, spec: { provider: { gcp }, target: { secretName: 'x', namespaces: { all: true } } } },
      });
    const refused = async (name: string, gcp: unknown, message: RegExp) => {
      await assert.rejects(create(name, gcp), (err: unknown) => {
        const e = err as { code?: number; body?: unknown };
        assert.equal(e.code, 422, String(err));
        assert.match(typeof e.body === 'string' ? e.body : JSON.stringify(e.body), message);
        return true;
      });
    };
    await refused('gcp-two', { registries: ['gcr.io'], auth: { secretRef: { name: 'k' }, metadataServer: {} } }, /auth: exactly one of secretRef, metadataServer, workloadIdentityFederation/);
    await refused('gcp-none', { registries: ['gcr.io'], auth: {} }, /auth: exactly one of secretRef, metadataServer, workloadIdentityFederation/);
    await refused('gcp-json', { registries: ['gcr.io'], jsonKey: true, auth: { metadataServer: {} } }, /jsonKey: true needs auth.secretRef/);
    await refused('gcp-host', { registries: ['docker.io'], auth: { metadataServer: {} } }, /registries/);
  });

  test('no private key, key JSON or token appears in any output', () => {
    const all = printed.join('\n');
    assert.ok(all.length > 0);
    const secrets = [
      PRIVATE_PEM,
      WRONG_PEM,
      ...PRIVATE_PEM.split('\n').filter((l) => l.length > 20 && !l.startsWith('-----')),
      ...WRONG_PEM.split('\n').filter((l) => l.length > 20 && !l.startsWith('-----')),
      KEY_JSON,
      ADC_JSON,
      ADC_CLIENT_SECRET,
      ADC_REFRESH_TOKEN,
      ...doubles.issued.key,
      ...doubles.issued.metadata,
      ...doubles.issued.sts,
      ...doubles.issued.iam,
    ];
    assertNothingSecret(all, secrets, 'CLI output');
    assert.doesNotMatch(all, /PRIVATE KEY/);
  });
});

describe('regcred controller with the gcp provider', () => {
  let ctl: ControllerProcess | undefined;

  after(async () => {
    await ctl?.stop('SIGKILL');
  });

  test('a ClusterRegistryCredential (gcp, secretRef) fills the selected namespaces and reports Ready', async () => {
    for (const [name, labels] of [
      ['ctl-a', { gcp: 'yes' }],
      ['ctl-b', { gcp: 'yes' }],
      ['ctl-c', { gcp: 'no' }],
    ] as const) {
      await core.createNamespace({ body: { metadata: { name, labels } } });
    }
    await createClusterCredential(cp.kubeConfig, 'gcp-ctl', {
      provider: { gcp: { registries: REGISTRIES, auth: { secretRef: { name: 'gcp-key' } } } },
      target: { secretName: 'gcp-pull', namespaces: { selector: { matchLabels: { gcp: 'yes' } } }, serviceAccounts: [] },
    });
    const issuedBefore = doubles.issued.key.length;
    ctl = spawnController(cp.kubeconfigPath, { env: { GOOGLE_APPLICATION_CREDENTIALS: '', GCE_METADATA_HOST: '' } });
    const output = ctl.output;
    const status = await waitForClusterCredentialStatus(cp.kubeConfig, 'gcp-ctl', (st) => readyOf(st)?.status === 'True', 30_000, () => output.join(''));
    assert.equal(status.targets?.synced, 2);
    const tokens = doubles.issued.key.slice(issuedBefore);
    assert.ok(tokens.length >= 1, 'the controller asked the token endpoint');
    for (const ns of ['ctl-a', 'ctl-b']) {
      const secret = await secretOrUndefined(core, ns, 'gcp-pull');
      const auths = authsOf(secret);
      assert.deepEqual(Object.keys(auths).sort(), [...REGISTRIES].sort());
      const entry = auths['gcr.io']!;
      assert.equal(entry.username, 'oauth2accesstoken');
      assert.ok(tokens.includes(entry.password), 'the double’s token');
      assert.deepEqual(auths['europe-docker.pkg.dev'], entry, 'one token for every registry');
      assert.ok(secret?.metadata?.annotations?.['regcred.dev/expires-at']);
    }
    assert.equal(await secretOrUndefined(core, 'ctl-c', 'gcp-pull'), undefined, 'a namespace the selector does not match gets nothing');

    assert.equal(await ctl.stop(), 0);
    const all = output.join('');
    assert.ok(all.length > 0);
    for (const value of [PRIVATE_PEM, KEY_JSON, ...PRIVATE_PEM.split('\n').filter((l) => l.length > 20 && !l.startsWith('-----')), ...doubles.issued.key]) {
      assert.ok(!all.includes(value), 'a secret value appeared in controller output');
    }
    assert.doesNotMatch(all, /PRIVATE KEY/);
  });
});
