// The `acr` provider end to end: the built CLI (and the controller) with the real @azure/identity
// against Entra, IMDS and ACR doubles (test/harness/doubles/azure.ts) and a real kube-apiserver +
// controller-manager. Entra is HTTPS with a test CA (MSAL refuses plain-http authorities): each
// child process gets NODE_EXTRA_CA_CERTS, as users behind a TLS-inspecting proxy would.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { CoreV1Api, CustomObjectsApi, type V1Secret } from '@kubernetes/client-node';
import { start, type ControlPlane } from '../harness/controlplane.js';
import { runCli, writeConfig, type CliResult } from '../harness/cli.js';
import { type Auths, assertNothingSecret, authsOf, credentialYaml } from '../harness/provider-tests.js';
import { secretOrUndefined } from '../harness/kube.js';
import { createClusterCredential, spawnController, waitForClusterCredentialStatus, type ControllerProcess } from '../harness/controller-process.js';
import { readyOf, type CredentialStatus } from '../harness/test-controller.js';
import { installCrds } from '../harness/crds.js';
import { startAzureDoubles, type AzureDoubles } from '../harness/doubles/azure.js';

let cp: ControlPlane;
let az: AzureDoubles;
let core: CoreV1Api;

const TENANT = randomUUID();
const MI_TENANT = randomUUID();
const SP_CLIENT = randomUUID();
const WI_CLIENT = randomUUID();
const MI_CLIENT = randomUUID();
const SECRET = `Q8~${randomBytes(24).toString('base64url')}`;
const WRONG_SECRET = `Q8~${randomBytes(24).toString('base64url')}`;
const REGISTRY = 'regcredtest.azurecr.io';
const DENIED = 'denied.azurecr.io';
const SCOPE = 'https://management.azure.com/.default';
const USER = '00000000-0000-0000-0000-000000000000';

/** Output of every run whose output must hold no secret (all but `get -o dockerconfigjson`'s stdout). */
const printed: string[] = [];

function kube(): string[] {
  return ['--kubeconfig', cp.kubeconfigPath];
}

// No ambient Azure configuration of the machine running the tests reaches the children: removed from
// this process's environment (the CLI inherits it). Not blanked: the library reads some with `??`,
// where "" counts as set.
const AMBIENT_AZURE = [
  'AZURE_CLIENT_ID',
  'AZURE_TENANT_ID',
  'AZURE_CLIENT_SECRET',
  'AZURE_FEDERATED_TOKEN_FILE',
  'AZURE_AUTHORITY_HOST',
  'AZURE_POD_IDENTITY_AUTHORITY_HOST',
  'IDENTITY_ENDPOINT',
  'IDENTITY_HEADER',
  'IDENTITY_SERVER_THUMBPRINT',
  'IMDS_ENDPOINT',
  'MSI_ENDPOINT',
  'MSI_SECRET',
  'AZURE_LOG_LEVEL',
];
for (const k of AMBIENT_AZURE) delete process.env[k];

/** The doubles' CA trusted, plus what a test adds. */
function azureEnv(extra: Record<string, string> = {}): Record<string, string> {
  return { NODE_EXTRA_CA_CERTS: az.tls.caPath, ...extra };
}

async function run(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return runCli(args, { env: azureEnv(env) });
}

function acrYaml(fields: string): string {
  return `{registry: ${REGISTRY}, authorityHost: "${az.authorityHost}", endpoint: "${az.acrEndpoint}", ${fields}}`;
}

const credential = (name: string, spec: string, namespace: string): string => credentialYaml('acr', name, spec, namespace);


/** Checks the Secret holds one ACR login with a refresh token the double issued; returns the token. */
async function assertAcrSecret(namespace: string, name: string): Promise<string> {
  const secret = await secretOrUndefined(core, namespace, name);
  const auths = authsOf(secret);
  assert.deepEqual(Object.keys(auths), [REGISTRY]);
  const entry = auths[REGISTRY]!;
  assert.equal(entry.username, USER);
  assert.equal(entry.auth, Buffer.from(`${USER}:${entry.password}`).toString('base64'));
  const issued = az.refreshTokens.get(entry.password);
  assert.ok(issued, 'the password is a refresh token the ACR double issued');
  assert.equal(issued.registry, REGISTRY);
  assert.equal(secret?.metadata?.annotations?.['regcred.dev/expires-at'], new Date(issued.exp * 1000).toISOString(), 'expiry = the JWT exp');
  return entry.password;
}

function outcomes(server: 'entra' | 'imds' | 'acr', since: number): string[] {
  return az.requests.slice(since).filter((r) => r.server === server).map((r) => r.outcome);
}

before(async () => {
  cp = await start({ publicIssuerDiscovery: true });
  az = await startAzureDoubles({
    principals: [
      { tenantId: TENANT, clientId: SP_CLIENT, secret: SECRET },
      { tenantId: TENANT, clientId: WI_CLIENT, federatedSubject: 'system:serviceaccount:regcred-system:acr-puller' },
    ],
    scope: SCOPE,
    assertion: { issuer: cp.issuer, jwksUri: `${cp.server}/openid/v1/jwks`, ca: readFileSync(cp.caPath, 'utf8'), audience: 'api://AzureADTokenExchange' },
    managedIdentities: { system: MI_TENANT, [MI_CLIENT]: MI_TENANT },
    registries: [REGISTRY],
    refusing: {
      [DENIED]: { status: 401, errors: [{ code: 'UNAUTHORIZED', message: 'authentication required, visit https://aka.ms/acr/authorization for more information.' }] },
    },
  });
  core = cp.kubeConfig.makeApiClient(CoreV1Api);
  await installCrds(cp.kubeConfig);
  for (const ns of ['regcred-system', 'acr-sp', 'acr-wi', 'acr-mi', 'acr-mi-user', 'acr-bad', 'acr-denied', 'acr-other-sa']) {
    await core.createNamespace({ body: { metadata: { name: ns } } });
  }
  await core.createNamespacedServiceAccount({ namespace: 'regcred-system', body: { metadata: { name: 'acr-puller' } } });
  await core.createNamespacedServiceAccount({ namespace: 'regcred-system', body: { metadata: { name: 'not-federated' } } });
  await core.createNamespacedSecret({ namespace: 'regcred-system', body: { metadata: { name: 'acr-sp' }, stringData: { AZURE_CLIENT_SECRET: SECRET } } });
  await core.createNamespacedSecret({ namespace: 'regcred-system', body: { metadata: { name: 'acr-wrong' }, stringData: { AZURE_CLIENT_SECRET: WRONG_SECRET } } });
});

after(async () => {
  await Promise.all([cp?.stop(), az?.stop()]);
});

describe('regcred sync with the acr provider (Entra/IMDS/ACR doubles + real API server)', () => {
  test('auth.secretRef: client secret → Entra token → ACR refresh token in a dockerconfigjson Secret', async () => {
    const since = az.requests.length;
    const file = writeConfig(credential('acr-sp', acrYaml(`tenantId: ${TENANT}, clientId: ${SP_CLIENT}, auth: {secretRef: {name: acr-sp}}`), 'acr-sp'));
    const res = await run(['sync', '-f', file, ...kube()]);
    printed.push(res.stdout, res.stderr);
    assert.equal(res.code, 0, `${res.stdout}\n${res.stderr}`);
    const password = await assertAcrSecret('acr-sp', 'pull-acr-sp');
    const exp = az.refreshTokens.get(password)!.exp;
    assert.match(res.stdout, new RegExp(`ClusterRegistryCredential/acr-sp: synced 1/1 namespaces.*expires ${new Date(exp * 1000).toISOString().replace(/[.]/g, '\\.')}`));
    assert.deepEqual(outcomes('entra', since), ['discovery', 'issued (secret)']);
    const tokenCall = az.requests.slice(since).find((r) => r.outcome === 'issued (secret)')!;
    assert.equal(tokenCall.path.split('?')[0], `/${TENANT}/oauth2/v2.0/token`);
    assert.equal(tokenCall.form['grant_type'], 'client_credentials');
    assert.equal(tokenCall.form['client_id'], SP_CLIENT);
    assert.equal(tokenCall.form['scope'], SCOPE);
    const exchange = az.requests.slice(since).find((r) => r.server === 'acr')!;
    assert.equal(exchange.outcome, 'issued');
    assert.deepEqual(Object.keys(exchange.form).sort(), ['access_token', 'grant_type', 'service', 'tenant']);
    assert.equal(exchange.form['service'], REGISTRY);
    assert.equal(exchange.form['tenant'], TENANT);
  });

  test('auth.workloadIdentity: a service-account token minted by the API server is the client assertion', async () => {
    const since = az.requests.length;
    const file = writeConfig(
      credential('acr-wi', acrYaml(`tenantId: ${TENANT}, clientId: ${WI_CLIENT}, auth: {workloadIdentity: {serviceAccount: {name: acr-puller}}}`), 'acr-wi'),
    );
    const res = await run(['sync', '-f', file, ...kube()]);
    printed.push(res.stdout, res.stderr);
    assert.equal(res.code, 0, `${res.stdout}\n${res.stderr}`);
    await assertAcrSecret('acr-wi', 'pull-acr-wi');
    // The double verified the JWT's RS256 signature against the API server's JWKS, iss, aud, sub and exp.
    assert.deepEqual(outcomes('entra', since), ['discovery', 'issued (assertion)']);
    const call = az.requests.slice(since).find((r) => r.outcome === 'issued (assertion)')!;
    assert.equal(call.form['client_assertion_type'], 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
    assert.equal(call.form['client_secret'], undefined);
  });

  test('auth.workloadIdentity with a service account Entra has no federated credential for: exit 1, a clear line', async () => {
    const file = writeConfig(
      credential('acr-other-sa', acrYaml(`tenantId: ${TENANT}, clientId: ${WI_CLIENT}, auth: {workloadIdentity: {serviceAccount: {name: not-federated}}}`), 'acr-other-sa'),
    );
    const res = await run(['sync', '-f', file, ...kube()]);
    printed.push(res.stdout, res.stderr);
    assert.equal(res.code, 1, `${res.stdout}\n${res.stderr}`);
    assert.match(res.stderr, /ClusterRegistryCredential\/acr-other-sa: ProviderError: acr regcredtest\.azurecr\.io: Entra token \(workload identity\): .*AADSTS700213/);
    assert.doesNotMatch(res.stderr, /\n\s+at /, 'no stack trace');
  });

  test('auth.workloadIdentity with another audience: the double refuses the assertion (its aud is checked)', async () => {
    const file = writeConfig(
      credential(
        'acr-wrong-aud',
        acrYaml(`tenantId: ${TENANT}, clientId: ${WI_CLIENT}, auth: {workloadIdentity: {serviceAccount: {name: acr-puller}, audience: "api://SomethingElse"}}`),
        'acr-other-sa',
      ),
    );
    const res = await run(['sync', '-f', file, ...kube()]);
    printed.push(res.stdout, res.stderr);
    assert.equal(res.code, 1, `${res.stdout}\n${res.stderr}`);
    assert.match(res.stderr, /Entra token \(workload identity\): invalid_client AADSTS700211$/m);
  });

  test('auth.managedIdentity: system-assigned, through the IMDS double (AZURE_POD_IDENTITY_AUTHORITY_HOST)', async () => {
    const since = az.requests.length;
    const file = writeConfig(credential('acr-mi', acrYaml('auth: {managedIdentity: {}}'), 'acr-mi'));
    const res = await run(['sync', '-f', file, ...kube()], { AZURE_POD_IDENTITY_AUTHORITY_HOST: az.imdsHost });
    printed.push(res.stdout, res.stderr);
    assert.equal(res.code, 0, `${res.stdout}\n${res.stderr}`);
    await assertAcrSecret('acr-mi', 'pull-acr-mi');
    assert.deepEqual(outcomes('imds', since), ['issued']);
    const imds = az.requests.slice(since).find((r) => r.server === 'imds')!;
    assert.equal(imds.headers['metadata'], 'true');
    assert.equal(imds.form['client_id'], undefined);
    assert.equal(imds.form['resource'], 'https://management.azure.com');
    const exchange = az.requests.slice(since).find((r) => r.server === 'acr')!;
    assert.equal(exchange.form['tenant'], MI_TENANT, 'the tenant from the token’s tid claim');
  });

  test('auth.managedIdentity.clientId: the user-assigned identity', async () => {
    const since = az.requests.length;
    const file = writeConfig(credential('acr-mi-user', acrYaml(`auth: {managedIdentity: {clientId: ${MI_CLIENT}}}`), 'acr-mi-user'));
    const res = await run(['sync', '-f', file, ...kube()], { AZURE_POD_IDENTITY_AUTHORITY_HOST: az.imdsHost });
    printed.push(res.stdout, res.stderr);
    assert.equal(res.code, 0, `${res.stdout}\n${res.stderr}`);
    await assertAcrSecret('acr-mi-user', 'pull-acr-mi-user');
    const imds = az.requests.slice(since).find((r) => r.server === 'imds')!;
    assert.equal(imds.form['client_id'], MI_CLIENT);
  });

  test('regcred get -o dockerconfigjson prints the login', async () => {
    const file = writeConfig(credential('acr-get', acrYaml(`tenantId: ${TENANT}, clientId: ${SP_CLIENT}, auth: {secretRef: {name: acr-sp}}`), 'acr-sp'));
    const res = await run(['get', '-f', file, '-o', 'dockerconfigjson', ...kube()]);
    printed.push(res.stderr); // stdout is the credential itself, by design
    assert.equal(res.code, 0, res.stderr);
    const auths = (JSON.parse(res.stdout) as { auths: Auths }).auths;
    assert.deepEqual(Object.keys(auths), [REGISTRY]);
    assert.equal(auths[REGISTRY]!.username, USER);
    assert.ok(az.refreshTokens.has(auths[REGISTRY]!.password));
    assert.ok(!res.stdout.includes(SECRET), 'no client secret in the printed config');
  });

  test('a wrong client secret: exit 1, one line naming acr and the Entra call, no secret', async () => {
    const file = writeConfig(credential('acr-bad', acrYaml(`tenantId: ${TENANT}, clientId: ${SP_CLIENT}, auth: {secretRef: {name: acr-wrong}}`), 'acr-bad'));
    const res = await run(['sync', '-f', file, ...kube()]);
    printed.push(res.stdout, res.stderr);
    assert.equal(res.code, 1, `${res.stdout}\n${res.stderr}`);
    const lines = res.stderr.split('\n').filter((l) => l.includes('ClusterRegistryCredential/'));
    assert.equal(lines.length, 1, res.stderr);
    assert.match(
      lines[0]!,
      /^ClusterRegistryCredential\/acr-bad: ProviderError: acr regcredtest\.azurecr\.io: Entra token \(client secret\): invalid_client AADSTS7000215$/m,
    );
    assert.doesNotMatch(res.stderr, /\n\s+at /, 'no stack trace');
    assert.equal(await secretOrUndefined(core, 'acr-bad', 'pull-acr-bad'), undefined, 'nothing written');
  });

  test('ACR answering 401 {"errors":[{"code":"UNAUTHORIZED",...}]}: exit 1 with that code and message', async () => {
    const file = writeConfig(
      credential(
        'acr-denied',
        `{registry: ${DENIED}, authorityHost: "${az.authorityHost}", endpoint: "${az.acrEndpoint}", tenantId: ${TENANT}, clientId: ${SP_CLIENT}, auth: {secretRef: {name: acr-sp}}}`,
        'acr-denied',
      ),
    );
    const res = await run(['sync', '-f', file, ...kube()]);
    printed.push(res.stdout, res.stderr);
    assert.equal(res.code, 1, `${res.stdout}\n${res.stderr}`);
    assert.match(
      res.stderr,
      /ClusterRegistryCredential\/acr-denied: ProviderError: acr denied\.azurecr\.io: oauth2\/exchange: HTTP 401 UNAUTHORIZED \(does the identity have the AcrPull role on the registry\?\)/,
    );
    assert.doesNotMatch(res.stderr, /\n\s+at /, 'no stack trace');
  });

  test('without the test CA trusted, the Entra call fails with one clear line', async () => {
    const file = writeConfig(credential('acr-tls', acrYaml(`tenantId: ${TENANT}, clientId: ${SP_CLIENT}, auth: {secretRef: {name: acr-sp}}`), 'acr-sp'));
    const res = await runCli(['sync', '-f', file, ...kube()], { env: { ...azureEnv(), NODE_EXTRA_CA_CERTS: '' } });
    printed.push(res.stdout, res.stderr);
    assert.equal(res.code, 1, `${res.stdout}\n${res.stderr}`);
    assert.match(res.stderr, /acr regcredtest\.azurecr\.io: Entra token \(client secret\): .*endpoints_resolution_error.*OpenID configuration: network, TLS trust or authorityHost/);
  });
});

describe('regcred controller with the acr provider', () => {
  let ctl: ControllerProcess | undefined;

  after(async () => {
    await ctl?.stop('SIGKILL');
  });

  test('a ClusterRegistryCredential selecting namespaces by label: each gets the Secret, Ready=True', async () => {
    for (const [name, labels] of [
      ['ctrl-a', { acr: 'yes' }],
      ['ctrl-b', { acr: 'yes' }],
      ['ctrl-c', { acr: 'no' }],
    ] as const) {
      await core.createNamespace({ body: { metadata: { name, labels } } });
    }
    ctl = spawnController(cp.kubeconfigPath, { args: ['--log-format', 'json'], env: azureEnv() });
    const output = ctl.output;
    await createClusterCredential(cp.kubeConfig, 'acr-ctrl', {
      provider: {
        acr: {
          registry: REGISTRY,
          tenantId: TENANT,
          clientId: SP_CLIENT,
          authorityHost: az.authorityHost,
          endpoint: az.acrEndpoint,
          auth: { secretRef: { name: 'acr-sp' } },
        },
      },
      target: { secretName: 'acr-pull', namespaces: { selector: { matchLabels: { acr: 'yes' } } }, serviceAccounts: [] },
    });
    const status = (await waitForClusterCredentialStatus(cp.kubeConfig, 'acr-ctrl', (st) => readyOf(st)?.status === 'True', 30_000, () => output.join(''))) as CredentialStatus & {
      provider?: string;
    };
    assert.equal(status.provider, 'acr');
    assert.deepEqual(status.targets, { total: 2, synced: 2, failed: 0 });
    const a = await assertAcrSecret('ctrl-a', 'acr-pull');
    const b = await assertAcrSecret('ctrl-b', 'acr-pull');
    assert.equal(a, b, 'one refresh token for every namespace');
    assert.equal(status.expiresAt, new Date(az.refreshTokens.get(a)!.exp * 1000).toISOString());
    assert.equal(await secretOrUndefined(core, 'ctrl-c', 'acr-pull'), undefined, 'an unselected namespace gets nothing');
    assert.equal(await ctl.stop(), 0);
    printed.push(output.join(''));
  });
});

describe('the API server enforces the acr rules (CEL in the CRD)', () => {
  async function create(name: string, acr: Record<string, unknown>): Promise<{ ok: boolean; message: string; stored?: any }> {
    const custom = cp.kubeConfig.makeApiClient(CustomObjectsApi);
    try {
      const stored = await custom.createClusterCustomObject({
        group: 'regcred.dev',
        version: 'v1alpha1',
        plural: 'clusterregistrycredentials',
        fieldValidation: 'Strict',
        body: {
          apiVersion: 'regcred.dev/v1alpha1',
          kind: 'ClusterRegistryCredential',
          metadata: { name },
          spec: { provider: { acr }, target: { secretName: 'x', namespaces: { names: ['nowhere'] }, serviceAccounts: [] } },
        },
      });
      return { ok: true, message: '', stored };
    } catch (err) {
      return { ok: false, message: String((err as { body?: unknown }).body ?? err) };
    }
  }

  test('managedIdentity: {} is kept; two modes, no mode, or a missing tenantId are refused', async () => {
    const mi = await create('acr-adm-mi', { registry: REGISTRY, auth: { managedIdentity: {} } });
    assert.ok(mi.ok, mi.message);
    assert.deepEqual(mi.stored.spec.provider.acr.auth, { managedIdentity: {} }, 'the empty object survives pruning');
    const two = await create('acr-adm-two', { registry: REGISTRY, tenantId: TENANT, clientId: SP_CLIENT, auth: { managedIdentity: {}, secretRef: { name: 'x' } } });
    assert.ok(!two.ok);
    assert.match(two.message, /auth: needs exactly one of secretRef, workloadIdentity, managedIdentity/);
    const none = await create('acr-adm-none', { registry: REGISTRY, tenantId: TENANT, clientId: SP_CLIENT, auth: {} });
    assert.match(none.message, /needs exactly one of/);
    const noTenant = await create('acr-adm-tenant', { registry: REGISTRY, clientId: SP_CLIENT, auth: { secretRef: { name: 'x' } } });
    assert.ok(!noTenant.ok);
    assert.match(noTenant.message, /auth.secretRef and auth.workloadIdentity need tenantId and clientId/);
    const mixed = await create('acr-adm-mixed', { registry: REGISTRY, clientId: SP_CLIENT, auth: { managedIdentity: {} } });
    assert.match(mixed.message, /set a user-assigned identity as auth\.managedIdentity\.clientId, not clientId/);
    const http = await create('acr-adm-http', { registry: REGISTRY, authorityHost: 'http://login.example', auth: { managedIdentity: {} } });
    assert.ok(!http.ok);
    assert.match(http.message, /authorityHost/);
  });
});

describe('secrets', () => {
  test('the client secrets, Entra tokens, ACR refresh tokens and client assertions appear in no output', () => {
    const all = printed.join('\n');
    assert.ok(all.length > 0);
    const assertions = az.requests.map((r) => r.form['client_assertion']).filter((x): x is string => x !== undefined);
    assert.ok(assertions.length > 0);
    const secrets = [SECRET, WRONG_SECRET, ...az.issued.keys(), ...az.refreshTokens.keys(), ...assertions];
    assertNothingSecret(all, secrets, 'CLI output');
  });
});
