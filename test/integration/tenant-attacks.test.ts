// The tenant boundary, tried as a hostile team would, against the real API server: a user whose RBAC
// lets it create RegistryCredentials, Secrets and ServiceAccounts in its own namespace only tries to
// borrow the controller's cloud identity, mint tokens for other service accounts or for the API
// server, and drive the controller into a refresh loop. Each attempt is refused with a condition
// naming the rule, an event and a metric; nothing is written; another team's Secret stays byte for
// byte; the controller stays healthy. ClusterRegistryCredentials keep their ambient modes.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CoreV1Api, CustomObjectsApi, KubeConfig, PatchStrategy, RbacAuthorizationV1Api, setHeaderOptions } from '@kubernetes/client-node';
import { start, type ControlPlane } from '../harness/controlplane.js';
import type { Controller } from '../../src/controller/controller.js';
import { startTestController, type TestController } from '../harness/test-controller.js';
import type { Metrics } from '../../src/metrics.js';
import { capturingLogger } from '../harness/provider-tests.js';
import { eventually } from '../harness/eventually.js';
import { apiServerIssuer } from '../../src/kube/issuer.js';
import { API_SERVER_AUDIENCES, kubeProviderDeps } from '../../src/kube/sources.js';
import { RegcredError } from '../../src/errors.js';
import { runCli } from '../harness/cli.js';
import { installCrds } from '../harness/crds.js';

const GROUP = 'regcred.dev';
const VERSION = 'v1alpha1';
const TENANT = 'team-a';
const VICTIM = 'team-b';

interface Condition {
  type: string;
  status: string;
  reason: string;
  message: string;
}

describe('tenant attacks: a RegistryCredential cannot borrow the controller\'s identity, tokens or time', { timeout: 240_000 }, () => {
  let cp: ControlPlane;
  let admin: CoreV1Api;
  let tenantCustom: CustomObjectsApi;
  let tenantCore: CoreV1Api;
  let tc: TestController;
  let controller: Controller;
  let metrics: Metrics;
  let metadata: Server;
  let metadataRequests = 0;
  let victimSecret: Record<string, string>;
  const savedMetadataHost = process.env['GCE_METADATA_HOST'];

  before(async () => {
    cp = await start({ publicIssuerDiscovery: true });
    await installCrds(cp.kubeConfig);
    admin = cp.kubeConfig.makeApiClient(CoreV1Api);
    for (const ns of [TENANT, VICTIM, 'regcred-system']) await admin.createNamespace({ body: { metadata: { name: ns } } });
    victimSecret = { '.dockerconfigjson': Buffer.from(JSON.stringify({ auths: { 'r.example.com': { auth: Buffer.from('victim:do-not-touch').toString('base64') } } })).toString('base64') };
    await admin.createNamespacedSecret({ namespace: VICTIM, body: { metadata: { name: 'pull' }, type: 'kubernetes.io/dockerconfigjson', data: victimSecret } });

    // The tenant: RBAC on its own namespace only.
    const rbac = cp.kubeConfig.makeApiClient(RbacAuthorizationV1Api);
    await rbac.createNamespacedRole({
      namespace: TENANT,
      body: {
        metadata: { name: 'tenant' },
        rules: [
          { apiGroups: [GROUP], resources: ['registrycredentials'], verbs: ['get', 'list', 'create', 'update', 'patch', 'delete'] },
          { apiGroups: [''], resources: ['secrets', 'serviceaccounts'], verbs: ['get', 'list', 'create', 'update', 'patch', 'delete'] },
        ],
      },
    });
    await rbac.createNamespacedRoleBinding({
      namespace: TENANT,
      body: { metadata: { name: 'tenant' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'tenant' }, subjects: [{ kind: 'ServiceAccount', name: 'tenant', namespace: TENANT }] },
    });
    const tenantKc = new KubeConfig();
    tenantKc.loadFromFile(await cp.kubeconfigFor(TENANT, 'tenant'));
    tenantCustom = tenantKc.makeApiClient(CustomObjectsApi);
    tenantCore = tenantKc.makeApiClient(CoreV1Api);

    // A metadata server stand-in that counts every request: the controller's own identity.
    metadata = createServer((req, res) => {
      metadataRequests++;
      res.writeHead(404).end();
    });
    await new Promise<void>((r) => metadata.listen(0, '127.0.0.1', r));
    process.env['GCE_METADATA_HOST'] = `127.0.0.1:${(metadata.address() as AddressInfo).port}`;

    // The default tenant policy; the administrator's own doubles on loopback stay reachable for ClusterRegistryCredentials.
    tc = await startTestController(cp);
    controller = tc.controller;
    metrics = tc.metrics;
  });

  after(async () => {
    await tc?.stop();
    await new Promise((r) => metadata?.close(r));
    if (savedMetadataHost === undefined) delete process.env['GCE_METADATA_HOST'];
    else process.env['GCE_METADATA_HOST'] = savedMetadataHost;
    await cp?.stop();
  });

  async function tenantCreates(name: string, provider: Record<string, unknown>, extra: Record<string, unknown> = {}): Promise<void> {
    await tenantCustom.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: TENANT,
      plural: 'registrycredentials',
      body: { apiVersion: `${GROUP}/${VERSION}`, kind: 'RegistryCredential', metadata: { name }, spec: { provider, target: { secretName: name, serviceAccounts: [] }, ...extra } },
    });
  }

  async function readyOf(name: string): Promise<Condition | undefined> {
    const obj = (await tenantCustom.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: TENANT, plural: 'registrycredentials', name })) as { status?: { conditions?: Condition[] } };
    return obj.status?.conditions?.find((c) => c.type === 'Ready');
  }

  async function refusedWith(name: string, reason: string): Promise<Condition> {
    const ready = await eventually(`${name} Ready=False/${reason}`, async () => {
      const r = await readyOf(name);
      return r?.status === 'False' && r.reason === reason ? r : undefined;
    });
    const events = await admin.listNamespacedEvent({ namespace: TENANT, fieldSelector: `involvedObject.name=${name}` });
    assert.ok(events.items.some((e) => e.reason === reason && e.type === 'Warning'), `a Warning event ${reason} on ${name}`);
    const metric = (await metrics.registry.getMetricsAsJSON()).find((m) => m.name === 'regcred_policy_refusals_total');
    const values = (metric?.values ?? []) as Array<{ labels: Record<string, string | number>; value: number }>;
    assert.ok(values.some((v) => v.labels['name'] === name && v.labels['rule'] === reason && v.value >= 1), `regcred_policy_refusals_total{name=${name},rule=${reason}}`);
    await assert.rejects(tenantCore.readNamespacedSecret({ namespace: TENANT, name }), (err: unknown) => (err as { code?: number }).code === 404, 'nothing written');
    return ready;
  }

  const ambient: Array<[string, Record<string, unknown>, string]> = [
    ['ecr, SDK default chain', { ecr: { region: 'eu-west-1', registryIds: ['111122223333'] } }, 'spec.provider.ecr.auth'],
    ['ecrPublic, SDK default chain', { ecrPublic: {} }, 'spec.provider.ecrPublic.auth'],
    ['gcp, metadata server', { gcp: { registries: ['gcr.io'], auth: { metadataServer: {} } } }, 'spec.provider.gcp.auth.metadataServer'],
    ['acr, managed identity', { acr: { registry: 'victim.azurecr.io', auth: { managedIdentity: {} } } }, 'spec.provider.acr.auth.managedIdentity'],
  ];
  ambient.forEach(([what, provider, path], i) => {
    test(`ambient identity refused: ${what}`, async () => {
      const ready = await refusedWith(`ambient-${i}`, 'AmbientCredentialsRefused');
      assert.match(ready.message, new RegExp(`refused by the tenant policy: ${path.replace(/\./g, '\\.')} uses`));
    });
    before(async () => tenantCreates(`ambient-${i}`, provider));
  });

  test('the metadata server was never asked on behalf of a tenant; a ClusterRegistryCredential still uses it', async () => {
    assert.equal(metadataRequests, 0);
    await cp.kubeConfig.makeApiClient(CustomObjectsApi).createClusterCustomObject({
      group: GROUP,
      version: VERSION,
      plural: 'clusterregistrycredentials',
      body: { apiVersion: `${GROUP}/${VERSION}`, kind: 'ClusterRegistryCredential', metadata: { name: 'admin-gcp' }, spec: { provider: { gcp: { registries: ['gcr.io'], auth: { metadataServer: {} } } }, target: { secretName: 'admin-gcp', namespaces: { names: [VICTIM] } } } },
    });
    await eventually('the ClusterRegistryCredential reaches the metadata server', async () => metadataRequests > 0);
  });

  test('tokens for a ServiceAccount that did not opt in, or for the API server, are refused; an opted-in one gets at most 1 h', async () => {
    await tenantCore.createNamespacedServiceAccount({ namespace: TENANT, body: { metadata: { name: 'builder' } } });
    // What the controller hands a RegistryCredential's provider: the minter scoped to that credential.
    const issuer = await apiServerIssuer(cp.kubeConfig, capturingLogger(tc.logLines));
    assert.deepEqual(issuer, [cp.issuer], 'the controller learns the API server\'s issuer');
    const deps = kubeProviderDeps(admin, { kind: 'RegistryCredential', metadata: { namespace: TENANT, name: 'puller' } }, 'regcred-system', false, { now: () => new Date(), fetch, log: capturingLogger(tc.logLines) }, true, [...API_SERVER_AUDIENCES, ...issuer]);
    const mint = deps.tokenRequest!;
    const refused = (code: string, re: RegExp) => (err: unknown) => err instanceof RegcredError && err.code === code && re.test(err.message);

    await assert.rejects(mint({ name: 'builder' }, ['broker.example.com'], 86400), refused('TokenNotAllowed', /does not allow tokens for RegistryCredential puller: annotate it regcred\.dev\/token-for=puller/));
    await tenantCore.patchNamespacedServiceAccount({ namespace: TENANT, name: 'builder', body: [{ op: 'add', path: '/metadata/annotations', value: { 'regcred.dev/token-for': 'someone-else' } }] }, setHeaderOptions('Content-Type', PatchStrategy.JsonPatch));
    await assert.rejects(mint({ name: 'builder' }, ['broker.example.com'], 86400), refused('TokenNotAllowed', /does not allow tokens/));
    await tenantCore.patchNamespacedServiceAccount({ namespace: TENANT, name: 'builder', body: [{ op: 'replace', path: '/metadata/annotations/regcred.dev~1token-for', value: 'someone-else, puller' }] }, setHeaderOptions('Content-Type', PatchStrategy.JsonPatch));

    for (const audience of [cp.issuer, `${cp.issuer}/`, 'https://kubernetes.default.svc.cluster.local', 'kubernetes']) {
      await assert.rejects(mint({ name: 'builder' }, [audience], 600), refused('TokenNotAllowed', /accepted by the API server/), audience);
    }
    await assert.rejects(mint({ name: 'builder' }, [], 600), refused('TokenNotAllowed', /accepted by the API server/), 'no audience means the API server\'s');
    await assert.rejects(mint({ namespace: VICTIM, name: 'default' }, ['broker.example.com'], 600), refused('CrossNamespaceRef', /own namespace/));

    const token = await mint({ name: 'builder' }, ['broker.example.com'], 86400);
    const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { aud: string[]; exp: number; iat: number; sub: string };
    assert.deepEqual(claims.aud, ['broker.example.com']);
    assert.equal(claims.sub, `system:serviceaccount:${TENANT}:builder`);
    assert.ok(claims.exp - claims.iat <= 3600, `lifetime ${claims.exp - claims.iat} s, asked 86400`);
  });

  test('a credential that claims a 2 s lifetime is refreshed once per tenant floor, not every second', async () => {
    const expiresAt = new Date(Date.now() + 2000).toISOString();
    const data = { username: Buffer.from('u').toString('base64'), password: Buffer.from('short-lived-password-1').toString('base64'), registry: Buffer.from('r.example.com').toString('base64'), expiresAt: Buffer.from(expiresAt).toString('base64') };
    await tenantCore.createNamespacedSecret({ namespace: TENANT, body: { metadata: { name: 'short' }, data } });
    await admin.createNamespacedSecret({ namespace: 'regcred-system', body: { metadata: { name: 'short' }, data } });
    await tenantCreates('short', { static: { secretRef: { name: 'short' } } });
    await cp.kubeConfig.makeApiClient(CustomObjectsApi).createClusterCustomObject({
      group: GROUP,
      version: VERSION,
      plural: 'clusterregistrycredentials',
      body: { apiVersion: `${GROUP}/${VERSION}`, kind: 'ClusterRegistryCredential', metadata: { name: 'short' }, spec: { provider: { static: { secretRef: { name: 'short' } } }, target: { secretName: 'short', namespaces: { names: [VICTIM] } } } },
    });
    await eventually('the tenant Secret is written', () => tenantCore.readNamespacedSecret({ namespace: TENANT, name: 'short' }));
    await new Promise((r) => setTimeout(r, 8000));
    const refreshes = async (kind: string) => {
      const metric = (await metrics.registry.getMetricsAsJSON()).find((m) => m.name === 'regcred_refresh_total');
      return ((metric?.values ?? []) as Array<{ labels: Record<string, string | number>; value: number }>).filter((v) => v.labels['kind'] === kind && v.labels['name'] === 'short').reduce((a, v) => a + v.value, 0);
    };
    assert.equal(await refreshes('RegistryCredential'), 1, 'one mint in 8 s: the floor is a minute');
    assert.ok((await refreshes('ClusterRegistryCredential')) >= 3, 'the administrator\'s credential follows its expiry (minimum delay 1 s here)');
  });

  test('a refresh interval beyond a year is refused at admission, and validate refuses tenant-unsafe files with exit 2', async () => {
    await assert.rejects(
      tenantCreates('forever', { static: { secretRef: { name: 'x' } } }, { refresh: { interval: '99999999999999h' } }),
      (err: unknown) => (err as { code?: number }).code === 422 && /8760h/.test(String((err as { body?: unknown }).body)),
    );
    const file = ambient
      .map(([, provider], i) => JSON.stringify({ apiVersion: `${GROUP}/${VERSION}`, kind: 'RegistryCredential', metadata: { name: `a${i}`, namespace: TENANT }, spec: { provider, target: { secretName: 'p' } } }))
      .join('\n---\n');
    const res = await runCli(['validate', '-f', '-'], { input: file });
    assert.equal(res.code, 2, res.stderr);
    for (const [, , path] of ambient) assert.ok(res.stderr.includes(`: ${path}: uses `), `${path} in: ${res.stderr}`);
    const cluster = file.replace(/"kind":"RegistryCredential"/g, '"kind":"ClusterRegistryCredential"').replace(/"target":\{"secretName":"p"\}/g, '"target":{"secretName":"p","namespaces":{"all":true}}').replace(/,"namespace":"team-a"/g, '');
    const ok = await runCli(['validate', '-f', '-'], { input: cluster });
    assert.equal(ok.code, 0, ok.stderr);
    const opted = await runCli(['validate', '--tenant-allow-ambient-credentials', '-f', '-'], { input: file });
    assert.equal(opted.code, 0, opted.stderr);
  });

  test("the other team's Secret is byte for byte as it was, and the controller is healthy", async () => {
    const s = await admin.readNamespacedSecret({ namespace: VICTIM, name: 'pull' });
    assert.deepEqual(s.data, victimSecret);
    assert.deepEqual(controller.healthz(), { ok: true });
  });
});
