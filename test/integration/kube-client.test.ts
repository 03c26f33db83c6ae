// regcred's own Kubernetes client (src/kube/api/) against a real kube-apiserver: every verb the
// product uses, the API server's errors as KubeApiError, list paging, watches (JSON and
// metadata-only), and the kubeconfig authentication kinds (client certificate files and data,
// bearer token, a token file that rotates, exec plugins of both API versions, insecure-skip-tls-verify).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AdmissionregistrationV1Api, CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { start, type ControlPlane } from '../harness/controlplane.js';
import { installCrds } from '../harness/crds.js';
import { eventually } from '../harness/eventually.js';
import { KubeClient, kubeClient } from '../../src/kube/api/client.js';
import { KubeApiError } from '../../src/kube/api/http.js';
import { microTime } from '../../src/kube/api/resources.js';
import { apiReason, loadKubeConfig, statusCode } from '../../src/kube/client.js';
import { apiServerIssuer } from '../../src/kube/issuer.js';
import { listSecretMetadata, metadataWatch } from '../../src/kube/metadata.js';
import { silentLogger } from '../../src/log.js';

const NS = 'kube-client';
let cp: ControlPlane;
let kube: KubeClient;

const b64 = (file: string) => readFileSync(join(cp.dir, file)).toString('base64');

function kubeconfig(name: string, cluster: string, user: string): string {
  const path = join(cp.dir, `${name}.kubeconfig`);
  writeFileSync(path, `apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: ${cluster}\nusers:\n- name: u\n  user: ${user}\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\ncurrent-context: x\n`);
  return path;
}

const withCa = () => `{server: "${cp.server}", certificate-authority-data: ${b64('ca.crt')}}`;
const adminCert = () => `{client-certificate-data: ${b64('admin.crt')}, client-key-data: ${b64('admin.key')}}`;

before(async () => {
  cp = await start();
  kube = loadKubeConfig({ kubeconfig: cp.kubeconfigPath });
  await kube.http.request({ method: 'POST', path: '/api/v1/namespaces', body: { metadata: { name: NS, labels: { 'kube-client': 'yes' } } } });
});

after(async () => {
  kube?.close();
  await cp?.stop();
});

async function rejects(p: Promise<unknown>, code: number, reason?: string): Promise<KubeApiError> {
  const err = await p.then(
    () => assert.fail(`expected HTTP ${code}`),
    (e: unknown) => e,
  );
  assert.ok(err instanceof KubeApiError, String(err));
  assert.equal(statusCode(err), code, err.message);
  if (reason) assert.equal(apiReason(err), reason);
  return err;
}

describe('Secrets', () => {
  test('create (field manager), read, list by label and field, replace, JSON patch, delete with a UID precondition', async () => {
    const { core } = kube;
    const data = { '.dockerconfigjson': Buffer.from('{"auths":{}}').toString('base64') };
    const created = await core.createNamespacedSecret({ namespace: NS, fieldManager: 'regcred-test', body: { metadata: { name: 's1', labels: { app: 'x' } }, type: 'kubernetes.io/dockerconfigjson', data } });
    assert.equal(created.metadata?.managedFields?.[0]?.manager, 'regcred-test');
    assert.equal(typeof created.metadata?.creationTimestamp, 'string', 'objects are the JSON as is');
    await rejects(core.createNamespacedSecret({ namespace: NS, body: { metadata: { name: 's1' } } }), 409, 'AlreadyExists');
    await rejects(core.createNamespacedSecret({ namespace: 'no-such-namespace', body: { metadata: { name: 's1' } } }), 404, 'NotFound');
    const read = await core.readNamespacedSecret({ namespace: NS, name: 's1' });
    assert.deepEqual(read.data, data);
    const byLabel = await core.listSecretForAllNamespaces({ labelSelector: 'app=x', fieldSelector: 'metadata.name=s1' });
    assert.deepEqual(byLabel.items.map((s) => `${s.metadata?.namespace}/${s.metadata?.name}`), [`${NS}/s1`]);

    const replaced = await core.replaceNamespacedSecret({ namespace: NS, name: 's1', body: { ...read, metadata: { ...read.metadata, labels: { app: 'y' } } } });
    assert.equal(replaced.metadata?.uid, created.metadata?.uid, 'updated in place');
    await rejects(core.replaceNamespacedSecret({ namespace: NS, name: 's1', body: read }), 409, 'Conflict');

    const patched = await core.patchNamespacedSecret({
      namespace: NS,
      name: 's1',
      body: [
        { op: 'test', path: '/metadata/resourceVersion', value: replaced.metadata?.resourceVersion },
        { op: 'add', path: '/metadata/labels/regcred.dev~1owner', value: 'me' },
      ],
    });
    assert.equal(patched.metadata?.labels?.['regcred.dev/owner'], 'me');
    await rejects(core.patchNamespacedSecret({ namespace: NS, name: 's1', body: [{ op: 'test', path: '/metadata/resourceVersion', value: '1' }] }), 422);

    await rejects(core.deleteNamespacedSecret({ namespace: NS, name: 's1', body: { preconditions: { uid: 'not-the-uid' } } }), 409, 'Conflict');
    await core.deleteNamespacedSecret({ namespace: NS, name: 's1', body: { preconditions: { uid: created.metadata?.uid } } });
    await rejects(core.readNamespacedSecret({ namespace: NS, name: 's1' }), 404, 'NotFound');
  });

  test('a list in pages: limit and continue', async () => {
    for (let i = 0; i < 5; i++) await kube.core.createNamespacedSecret({ namespace: NS, body: { metadata: { name: `page-${i}`, labels: { page: 'yes' } } } });
    const names: string[] = [];
    let cont: string | undefined;
    let pages = 0;
    do {
      const page = await kube.core.listNamespacedSecret({ namespace: NS, labelSelector: 'page=yes', limit: 2, _continue: cont });
      names.push(...page.items.map((s) => s.metadata?.name ?? ''));
      cont = page.metadata?._continue;
      pages++;
    } while (cont);
    assert.equal(pages, 3);
    assert.deepEqual(names.sort(), ['page-0', 'page-1', 'page-2', 'page-3', 'page-4']);
  });

  test('metadata-only: a list and a watch that never carry the data', async () => {
    await kube.core.createNamespacedSecret({ namespace: NS, body: { metadata: { name: 'meta' }, stringData: { password: 'metadata-only-value' } } });
    const page = await listSecretMetadata(kube, { namespace: NS, fieldSelector: 'metadata.name=meta', limit: 10 });
    assert.equal(page.items.length, 1);
    assert.ok(page.metadata?.resourceVersion);
    assert.ok(!JSON.stringify(page).includes('"data"'));
    const events: Array<[string, unknown]> = [];
    const watch = metadataWatch(kube);
    const ctrl = await watch(`/api/v1/namespaces/${NS}/secrets`, { resourceVersion: page.metadata?.resourceVersion, fieldSelector: 'metadata.name=meta' }, (type, obj) => events.push([type, obj]), () => undefined);
    await kube.core.patchNamespacedSecret({ namespace: NS, name: 'meta', body: [{ op: 'add', path: '/data/password', value: Buffer.from('changed-value').toString('base64') }] });
    await eventually('the MODIFIED event', async () => events.length > 0);
    ctrl.abort();
    const [type, obj] = events[0]!;
    assert.equal(type, 'MODIFIED');
    assert.equal((obj as { kind?: string }).kind, 'PartialObjectMetadata');
    assert.ok(!JSON.stringify(obj).includes('"data"'));
  });
});

describe('watches', () => {
  test('from a list resourceVersion, bookmarks asked for: ADDED, MODIFIED, DELETED; a server-side timeout ends the watch cleanly', async () => {
    const list = await kube.core.listNamespacedSecret({ namespace: NS, labelSelector: 'watched=yes' });
    const events: string[] = [];
    let ended: unknown = 'open';
    await kube.watch(`/api/v1/namespaces/${NS}/secrets`, { labelSelector: 'watched=yes', resourceVersion: list.metadata?.resourceVersion, allowWatchBookmarks: true, timeoutSeconds: 3 }, (type, obj: { metadata?: { name?: string } }) => {
      if (type !== 'BOOKMARK') events.push(`${type} ${obj.metadata?.name}`);
    }, (err) => (ended = err));
    await kube.core.createNamespacedSecret({ namespace: NS, body: { metadata: { name: 'w', labels: { watched: 'yes' } } } });
    await kube.core.patchNamespacedSecret({ namespace: NS, name: 'w', body: [{ op: 'add', path: '/metadata/annotations', value: { a: 'b' } }] });
    await kube.core.deleteNamespacedSecret({ namespace: NS, name: 'w' });
    await eventually('three events', async () => events.length === 3, 5000);
    assert.deepEqual(events, ['ADDED w', 'MODIFIED w', 'DELETED w']);
    await eventually('the watch to end after its timeoutSeconds', async () => ended !== 'open', 10_000);
    assert.equal(ended, null);
  });

  test('a watch the server refuses reports its status', async () => {
    const limited = loadKubeConfig({ kubeconfig: await cp.kubeconfigFor(NS, 'watcher') });
    const err = await new Promise<unknown>((resolve) => void limited.watch('/api/v1/secrets', {}, () => undefined, resolve));
    assert.equal(statusCode(err), 403);
    limited.close();
  });
});

describe('the other kinds regcred writes', () => {
  test('namespaces, service accounts and TokenRequest', async () => {
    const nsList = await kube.core.listNamespace({ labelSelector: 'kube-client=yes' });
    assert.deepEqual(nsList.items.map((n) => n.metadata?.name), [NS]);
    assert.equal((await kube.core.readNamespace({ name: NS })).status?.phase, 'Active');
    await kube.http.request({ method: 'POST', path: `/api/v1/namespaces/${NS}/serviceaccounts`, body: { metadata: { name: 'robot' } } });
    const accounts = await kube.core.listNamespacedServiceAccount({ namespace: NS });
    assert.ok(accounts.items.some((a) => a.metadata?.name === 'robot'));
    assert.ok((await kube.core.listServiceAccountForAllNamespaces({ fieldSelector: `metadata.namespace=${NS}` })).items.length >= 1);
    const sa = await kube.core.readNamespacedServiceAccount({ namespace: NS, name: 'robot' });
    const patched = await kube.core.patchNamespacedServiceAccount({
      namespace: NS,
      name: 'robot',
      body: [
        { op: 'test', path: '/metadata/resourceVersion', value: sa.metadata?.resourceVersion },
        { op: 'add', path: '/imagePullSecrets', value: [{ name: 'pull' }] },
      ],
    });
    assert.deepEqual(patched.imagePullSecrets, [{ name: 'pull' }]);
    const token = await kube.core.createNamespacedServiceAccountToken({ namespace: NS, name: 'robot', body: { spec: { audiences: ['sts.amazonaws.com'], expirationSeconds: 600 } } });
    const claims = JSON.parse(Buffer.from(token.status?.token?.split('.')[1] ?? '', 'base64url').toString()) as { aud?: string[]; sub?: string };
    assert.deepEqual(claims.aud, ['sts.amazonaws.com']);
    assert.equal(claims.sub, `system:serviceaccount:${NS}:robot`);
    await rejects(kube.core.createNamespacedServiceAccountToken({ namespace: NS, name: 'nobody', body: { spec: { audiences: [] } } }), 404);
  });

  test('custom objects: lists of both kinds, JSON patches of the object and of its status', async () => {
    await installCrds(cp.kubeConfig);
    const custom = cp.kubeConfig.makeApiClient(CustomObjectsApi);
    const spec = { provider: { static: { secretRef: { name: 'src' } } }, target: { secretName: 'pull' } };
    await custom.createClusterCustomObject({ group: 'regcred.dev', version: 'v1alpha1', plural: 'clusterregistrycredentials', body: { apiVersion: 'regcred.dev/v1alpha1', kind: 'ClusterRegistryCredential', metadata: { name: 'crc' }, spec: { ...spec, target: { ...spec.target, namespaces: { all: true } } } } });
    await custom.createNamespacedCustomObject({ group: 'regcred.dev', version: 'v1alpha1', namespace: NS, plural: 'registrycredentials', body: { apiVersion: 'regcred.dev/v1alpha1', kind: 'RegistryCredential', metadata: { name: 'rc' }, spec } });
    const co = kube.customObjects;
    const base = { group: 'regcred.dev', version: 'v1alpha1' };
    const crcs = (await co.listClusterCustomObject({ ...base, plural: 'clusterregistrycredentials', limit: 10 })) as { items: Array<{ metadata: { name: string; resourceVersion: string } }> };
    assert.deepEqual(crcs.items.map((i) => i.metadata.name), ['crc']);
    const all = (await co.listCustomObjectForAllNamespaces({ ...base, plural: 'registrycredentials' })) as { items: unknown[] };
    const inNs = (await co.listNamespacedCustomObject({ ...base, plural: 'registrycredentials', namespace: NS })) as { items: unknown[] };
    assert.equal(all.items.length, 1);
    assert.equal(inNs.items.length, 1);

    const rv = crcs.items[0]!.metadata.resourceVersion;
    const withFinalizer = (await co.patchClusterCustomObject({ ...base, plural: 'clusterregistrycredentials', name: 'crc', body: [{ op: 'test', path: '/metadata/resourceVersion', value: rv }, { op: 'add', path: '/metadata/finalizers', value: ['regcred.dev/cleanup'] }] })) as { metadata: { finalizers?: string[] } };
    assert.deepEqual(withFinalizer.metadata.finalizers, ['regcred.dev/cleanup']);
    await rejects(co.patchClusterCustomObject({ ...base, plural: 'clusterregistrycredentials', name: 'crc', body: [{ op: 'test', path: '/metadata/resourceVersion', value: rv }] }), 422);
    const status = { conditions: [], provider: 'static', observedGeneration: 1 };
    const s1 = (await co.patchClusterCustomObjectStatus({ ...base, plural: 'clusterregistrycredentials', name: 'crc', body: [{ op: 'add', path: '/status', value: status }] })) as { status?: unknown };
    assert.deepEqual(s1.status, status);
    const s2 = (await co.patchNamespacedCustomObjectStatus({ ...base, plural: 'registrycredentials', namespace: NS, name: 'rc', body: [{ op: 'add', path: '/status', value: status }] })) as { status?: unknown };
    assert.deepEqual(s2.status, status);
    const rc = (await co.patchNamespacedCustomObject({ ...base, plural: 'registrycredentials', namespace: NS, name: 'rc', body: [{ op: 'add', path: '/metadata/finalizers', value: ['x.dev/y'] }] })) as { metadata: { finalizers?: string[] } };
    assert.deepEqual(rc.metadata.finalizers, ['x.dev/y']);
    await co.patchNamespacedCustomObject({ ...base, plural: 'registrycredentials', namespace: NS, name: 'rc', body: [{ op: 'remove', path: '/metadata/finalizers' }] });
    await co.patchClusterCustomObject({ ...base, plural: 'clusterregistrycredentials', name: 'crc', body: [{ op: 'remove', path: '/metadata/finalizers' }] });
  });

  test('Leases (MicroTime, optimistic concurrency) and events.k8s.io Events (series by merge patch)', async () => {
    const now = Date.now();
    const body = { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'l', namespace: NS }, spec: { holderIdentity: 'me', leaseDurationSeconds: 15, acquireTime: microTime(now), renewTime: microTime(now), leaseTransitions: 0 } };
    const created = await kube.leases.createNamespacedLease({ namespace: NS, body });
    assert.match(created.spec?.renewTime ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    const read = await kube.leases.readNamespacedLease({ namespace: NS, name: 'l' });
    const renewed = await kube.leases.replaceNamespacedLease({ namespace: NS, name: 'l', body: { ...read, spec: { ...read.spec, renewTime: microTime(now + 2000) } } });
    assert.equal(Date.parse(renewed.spec?.renewTime ?? ''), now + 2000);
    await rejects(kube.leases.replaceNamespacedLease({ namespace: NS, name: 'l', body: read }), 409);

    const event = await kube.events.createNamespacedEvent({
      namespace: NS,
      body: { apiVersion: 'events.k8s.io/v1', kind: 'Event', metadata: { name: 'e1', namespace: NS }, eventTime: microTime(now), type: 'Normal', reason: 'Tested', action: 'Tested', note: 'n', regarding: { apiVersion: 'v1', kind: 'Secret', namespace: NS, name: 'page-0' }, reportingController: 'regcred.dev/test', reportingInstance: 'i' },
    });
    assert.equal(event.reason, 'Tested');
    const series = await kube.events.patchNamespacedEvent({ namespace: NS, name: 'e1', body: { series: { count: 2, lastObservedTime: microTime(now + 1000) } } });
    assert.equal(series.series?.count, 2);
    assert.equal(series.note, 'n', 'a merge patch keeps the rest');
  });

  test('the MutatingWebhookConfiguration CA bundle; the issuer discovery document', async () => {
    const admission = cp.kubeConfig.makeApiClient(AdmissionregistrationV1Api);
    await admission.createMutatingWebhookConfiguration({
      body: {
        metadata: { name: 'kube-client-test' },
        webhooks: [{ name: 'pods.kube-client.test', admissionReviewVersions: ['v1'], sideEffects: 'None', failurePolicy: 'Ignore', clientConfig: { url: 'https://127.0.0.1:1/x' }, rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'] }] }],
      },
    });
    const config = await kube.webhookConfigurations.readMutatingWebhookConfiguration({ name: 'kube-client-test' });
    const bundle = b64('ca.crt');
    const patched = await kube.webhookConfigurations.patchMutatingWebhookConfiguration({
      name: 'kube-client-test',
      body: [{ op: 'test', path: '/metadata/resourceVersion', value: config.metadata?.resourceVersion }, { op: 'add', path: '/webhooks/0/clientConfig/caBundle', value: bundle }],
    });
    assert.equal(patched.webhooks?.[0]?.clientConfig.caBundle, bundle);
    assert.deepEqual(await apiServerIssuer(kube, silentLogger()), [cp.issuer]);
    assert.deepEqual(await apiServerIssuer(cp.kubeConfig, silentLogger()), [cp.issuer], "from client-node's KubeConfig too");
  });
});

describe('authentication', () => {
  const whoami = async (client: KubeClient): Promise<string> => {
    const review = await client.http.request<{ status?: { userInfo?: { username?: string } } }>({ method: 'POST', path: '/apis/authentication.k8s.io/v1/selfsubjectreviews', body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' } });
    client.close();
    return review.status?.userInfo?.username ?? '';
  };

  test('client certificate files (the harness kubeconfig) and inline data; a bearer token', async () => {
    assert.equal(await whoami(loadKubeConfig({ kubeconfig: cp.kubeconfigPath })), 'admin');
    assert.equal(await whoami(loadKubeConfig({ kubeconfig: kubeconfig('inline', withCa(), adminCert()) })), 'admin');
    assert.equal(await whoami(loadKubeConfig({ kubeconfig: await cp.kubeconfigFor(NS, 'token-user') })), `system:serviceaccount:${NS}:token-user`);
  });

  test("client-node's KubeConfig as the source: one shared connection per object", async () => {
    const a = kubeClient(cp.kubeConfig);
    assert.equal(kubeClient(cp.kubeConfig), a);
    assert.equal((await a.core.readNamespace({ name: NS })).metadata?.name, NS);
  });

  test('a token file: rotated, the new token is used after the API server refused the old one', async () => {
    const file = join(cp.dir, 'rotating.token');
    writeFileSync(file, 'not-a-valid-token');
    const client = loadKubeConfig({ kubeconfig: kubeconfig('token-file', withCa(), `{tokenFile: ${JSON.stringify(file)}}`) });
    await rejects(client.core.readNamespace({ name: NS }), 401);
    writeFileSync(file, await cp.tokenFor(NS, 'rotated'));
    assert.equal(await whoami(client), `system:serviceaccount:${NS}:rotated`);
  });

  test('exec plugins: v1 with a token kept until its expiry, v1beta1 with a client certificate', async () => {
    const runs = join(cp.dir, 'plugin-runs');
    writeFileSync(runs, '');
    const tokenFile = join(cp.dir, 'plugin.token');
    writeFileSync(tokenFile, await cp.tokenFor(NS, 'plugin-user'));
    const script = join(cp.dir, 'token-plugin.sh');
    // Expires 3 s from now: the second request within that reuses it, a request after runs the plugin again.
    writeFileSync(script, `#!/bin/sh\necho run >> ${runs}\nexp=$(date -u -d @$(( $(date +%s) + 3 )) +%Y-%m-%dT%H:%M:%SZ)\nprintf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"%s","expirationTimestamp":"%s"}}' "$(cat ${tokenFile})" "$exp"\n`);
    chmodSync(script, 0o755);
    const client = loadKubeConfig({ kubeconfig: kubeconfig('exec-v1', withCa(), `{exec: {apiVersion: client.authentication.k8s.io/v1, command: ${JSON.stringify(script)}, interactiveMode: Never}}`) });
    await client.core.readNamespace({ name: NS }).catch((e: unknown) => assert.equal(statusCode(e), 403, 'authenticated, not authorized'));
    await client.core.readNamespace({ name: NS }).catch(() => undefined);
    assert.equal(readFileSync(runs, 'utf8'), 'run\n', 'one run for both requests');
    await new Promise((r) => setTimeout(r, 3500));
    assert.equal(await whoami(client), `system:serviceaccount:${NS}:plugin-user`);
    assert.equal(readFileSync(runs, 'utf8'), 'run\nrun\n', 'expired: run again');

    const pem = (f: string) => JSON.stringify(readFileSync(join(cp.dir, f), 'utf8'));
    const certScript = join(cp.dir, 'cert-plugin.sh');
    writeFileSync(certScript, `#!/bin/sh\ncat <<'EOF'\n{"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential","status":{"clientCertificateData":${pem('admin.crt')},"clientKeyData":${pem('admin.key')}}}\nEOF\n`);
    chmodSync(certScript, 0o755);
    assert.equal(await whoami(loadKubeConfig({ kubeconfig: kubeconfig('exec-v1beta1', withCa(), `{exec: {apiVersion: client.authentication.k8s.io/v1beta1, command: ${JSON.stringify(certScript)}}}`) })), 'admin');
  });

  test('insecure-skip-tls-verify connects without the CA; without it, an unknown CA is refused', async () => {
    assert.equal(await whoami(loadKubeConfig({ kubeconfig: kubeconfig('insecure', `{server: "${cp.server}", insecure-skip-tls-verify: true}`, adminCert()) })), 'admin');
    const noCa = loadKubeConfig({ kubeconfig: kubeconfig('no-ca', `{server: "${cp.server}"}`, adminCert()) });
    await assert.rejects(noCa.core.readNamespace({ name: NS }), /certificate/);
    noCa.close();
  });
});
