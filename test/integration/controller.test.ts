// The controller against a real kube-apiserver + kube-controller-manager, with the chart's CRDs.
// It runs in-process (so the test can read its metrics and shorten its delays) but talks to the
// API server only through the network, like the deployed controller.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { CoreV1Api, CustomObjectsApi, EventsV1Api, RbacAuthorizationV1Api, Watch, type V1Secret } from '@kubernetes/client-node';
import { start, type ControlPlane } from '../harness/controlplane.js';
import { installCrds } from '../harness/crds.js';
import { Controller } from '../../src/controller/controller.js';
import { createMetrics, type Metrics } from '../../src/metrics.js';
import { EventRecorder } from '../../src/kube/events.js';
import { passwordIn as passwordInSecret, putSource as putSourceSecret, secretOrUndefined } from '../harness/kube.js';
import { capturingLogger } from '../harness/provider-tests.js';

let cp: ControlPlane;
let core: CoreV1Api;
let custom: CustomObjectsApi;
let controller: Controller;
let metrics: Metrics;
const logLines: string[] = [];
const secretsUsed: string[] = [];

const GROUP = 'regcred.dev';
const VERSION = 'v1alpha1';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function password(): string {
  const p = `ctl-${randomBytes(10).toString('hex')}`;
  secretsUsed.push(p);
  return p;
}

/** Polls until `check` returns a truthy value; returns it with the elapsed time. */
async function eventually<T>(what: string, check: () => Promise<T | undefined | null | false>, timeoutMs = 10_000): Promise<{ value: T; ms: number }> {
  const t0 = Date.now();
  let last: unknown;
  while (Date.now() - t0 < timeoutMs) {
    try {
      const v = await check();
      if (v) return { value: v, ms: Date.now() - t0 };
    } catch (err) {
      last = err;
    }
    await sleep(25);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}

function getSecret(namespace: string, name: string): Promise<V1Secret | undefined> {
  return secretOrUndefined(core, namespace, name);
}

function passwordIn(secret: V1Secret | undefined): string | undefined {
  return passwordInSecret(secret);
}

function putSource(name: string, data: Record<string, string>, namespace = 'regcred-system'): Promise<void> {
  return putSourceSecret(core, name, data, namespace);
}

async function createCrc(name: string, spec: object): Promise<void> {
  await custom.createClusterCustomObject({
    group: GROUP,
    version: VERSION,
    plural: 'clusterregistrycredentials',
    body: { apiVersion: `${GROUP}/${VERSION}`, kind: 'ClusterRegistryCredential', metadata: { name }, spec },
  });
}

async function getCrc(name: string): Promise<{ metadata: { generation: number; finalizers?: string[] }; status?: any } | undefined> {
  try {
    return (await custom.getClusterCustomObject({ group: GROUP, version: VERSION, plural: 'clusterregistrycredentials', name })) as never;
  } catch (err) {
    if ((err as { code?: number }).code === 404) return undefined;
    throw err;
  }
}

async function deleteCrc(name: string): Promise<void> {
  await custom.deleteClusterCustomObject({ group: GROUP, version: VERSION, plural: 'clusterregistrycredentials', name });
}

async function metricValue(name: string, labels: Record<string, string>): Promise<number | undefined> {
  const metric = (await metrics.registry.getMetricsAsJSON()).find((m) => m.name === name);
  const value = (metric?.values as Array<{ labels: Record<string, string | number>; value: number }> | undefined)?.find((v) =>
    Object.entries(labels).every(([k, x]) => String(v.labels[k]) === x),
  );
  return value?.value;
}

function newController(): Controller {
  metrics = createMetrics();
  const log = capturingLogger(logLines);
  return new Controller({
    kubeConfig: cp.kubeConfig,
    namespace: 'regcred-system',
    allowCrossNamespaceRefs: false,
    log,
    metrics,
    events: new EventRecorder({ kubeConfig: cp.kubeConfig, controller: 'regcred.dev/controller', instance: 'test', log }),
    minRefreshDelayMs: 1000,
    retryBaseMs: 300,
    retryMaxMs: 2000,
  });
}

before(async () => {
  cp = await start();
  core = cp.kubeConfig.makeApiClient(CoreV1Api);
  custom = cp.kubeConfig.makeApiClient(CustomObjectsApi);
  await installCrds(cp.kubeConfig);
  await core.createNamespace({ body: { metadata: { name: 'regcred-system' } } });
  controller = newController();
  await controller.start();
});

after(async () => {
  await controller?.stop();
  await cp?.stop();
  const logs = logLines.join('');
  for (const p of secretsUsed) assert.ok(!logs.includes(p), 'a password appeared in the controller logs');
});

describe('controller (real API server)', () => {
  test('syncs matching namespaces, sets status, finalizer and metrics', async () => {
    const pw = password();
    await putSource('src-basic', { registry: 'basic.example', username: 'u', password: pw });
    for (const ns of ['basic-1', 'basic-2']) await core.createNamespace({ body: { metadata: { name: ns, labels: { basic: 'yes' } } } });
    await createCrc('basic', {
      provider: { static: { secretRef: { name: 'src-basic' } } },
      target: { secretName: 'basic-pull', namespaces: { selector: { matchLabels: { basic: 'yes' } } } },
    });
    for (const ns of ['basic-1', 'basic-2']) {
      await eventually(`secret in ${ns}`, async () => passwordIn(await getSecret(ns, 'basic-pull')) === pw);
    }
    const { value: crc } = await eventually('Ready status', async () => {
      const c = await getCrc('basic');
      return c?.status?.conditions?.find((x: { type: string; status: string }) => x.type === 'Ready' && x.status === 'True') ? c : undefined;
    });
    assert.deepEqual(crc.status.targets, { total: 2, synced: 2, failed: 0 });
    assert.equal(crc.status.targetsSummary, '2/2');
    assert.equal(crc.status.provider, 'static');
    assert.equal(crc.status.observedGeneration, crc.metadata.generation);
    assert.equal(crc.status.expiresAt, undefined);
    assert.ok(crc.status.nextRefreshTime, 'next refresh is reported');
    assert.deepEqual(crc.metadata.finalizers, ['regcred.dev/cleanup']);
    const degraded = crc.status.conditions.find((x: { type: string }) => x.type === 'Degraded');
    assert.equal(degraded.status, 'False');
    const labels = { kind: 'ClusterRegistryCredential', namespace: '', name: 'basic', provider: 'static' };
    // The status write and the metrics update end the same reconcile; the status may be seen first.
    await eventually('ready metric', async () => (await metricValue('regcred_credential_ready', labels)) === 1);
    assert.equal(await metricValue('regcred_credential_ready', labels), 1);
    assert.equal(await metricValue('regcred_target_secrets', { ...labels, state: 'synced' }), 2);
    assert.ok(((await metricValue('regcred_refresh_total', { ...labels, result: 'success' })) ?? 0) >= 1);
  });

  test('a new matching namespace gets the Secret within about a second, and its late default SA is patched', async () => {
    const t0 = Date.now();
    await core.createNamespace({ body: { metadata: { name: 'basic-late', labels: { basic: 'yes' } } } });
    const { ms } = await eventually('secret in new namespace', async () => getSecret('basic-late', 'basic-pull'), 5000);
    console.log(`# new namespace -> Secret in ${Date.now() - t0} ms (poll saw it after ${ms} ms)`);
    assert.ok(Date.now() - t0 < 1500, `secret took ${Date.now() - t0} ms`);
    // The controller-manager creates "default" after the namespace; the controller patches it when it appears.
    const sa = await eventually('default SA patched', async () => {
      const s = await core.readNamespacedServiceAccount({ namespace: 'basic-late', name: 'default' });
      return s.imagePullSecrets?.some((r) => r.name === 'basic-pull') ? s : undefined;
    }, 5000);
    console.log(`# default SA patched ${Date.now() - t0} ms after the namespace was created`);
    assert.ok(sa.value);
  });

  test('namespaces created while runs follow one another: each keeps the Secret written for it (none deleted as untargeted)', async () => {
    const names = Array.from({ length: 24 }, (_, i) => `basic-burst-${i}`);
    const deleted: string[] = [];
    const watching = await new Watch(cp.kubeConfig).watch(
      '/api/v1/secrets',
      { fieldSelector: 'metadata.name=basic-pull' },
      (type: string, obj: V1Secret) => void (type === 'DELETED' && deleted.push(obj.metadata?.namespace ?? '')),
      () => {},
    );
    try {
      // Created in small groups: each group's writes bring runs of the credential, which the next group overlaps.
      for (let i = 0; i < names.length; i += 3) {
        await Promise.all(names.slice(i, i + 3).map((name) => core.createNamespace({ body: { metadata: { name, labels: { basic: 'yes' } } } })));
        await new Promise((r) => setTimeout(r, 15));
      }
      for (const ns of names) await eventually(`secret in ${ns}`, async () => getSecret(ns, 'basic-pull'), 10_000);
      await new Promise((r) => setTimeout(r, 2_000)); // the runs that follow the namespaces' writes
      assert.deepEqual(deleted, []);
      for (const ns of names) assert.ok(await getSecret(ns, 'basic-pull'), `${ns} still holds its Secret`);
    } finally {
      watching.abort();
    }
  });

  test('a deleted managed Secret is restored within about a second, and an edited one too (in place)', async () => {
    const before = (await getSecret('basic-1', 'basic-pull'))!;
    const pw = passwordIn(before);
    let t0 = Date.now();
    await core.deleteNamespacedSecret({ namespace: 'basic-1', name: 'basic-pull' });
    await eventually('restored after delete', async () => passwordIn(await getSecret('basic-1', 'basic-pull')) === pw, 5000);
    const restoreMs = Date.now() - t0;
    console.log(`# deleted Secret restored in ${restoreMs} ms`);
    assert.ok(restoreMs < 1500);

    const current = (await getSecret('basic-1', 'basic-pull'))!;
    t0 = Date.now();
    await core.replaceNamespacedSecret({
      namespace: 'basic-1',
      name: 'basic-pull',
      body: { ...current, data: { '.dockerconfigjson': Buffer.from('{"auths":{"evil.example":{"auth":"eDp5"}}}').toString('base64') } },
    });
    await eventually('restored after edit', async () => passwordIn(await getSecret('basic-1', 'basic-pull')) === pw, 5000);
    const editMs = Date.now() - t0;
    console.log(`# edited Secret restored in ${editMs} ms`);
    assert.ok(editMs < 1500);
    assert.equal((await getSecret('basic-1', 'basic-pull'))!.metadata?.uid, current.metadata?.uid, 'restored in place');
  });

  test('a namespace that stops matching loses the Secret and the SA reference (cleanupPolicy Delete)', async () => {
    await eventually('default SA in basic-2 patched', async () => {
      const s = await core.readNamespacedServiceAccount({ namespace: 'basic-2', name: 'default' });
      return s.imagePullSecrets?.some((r) => r.name === 'basic-pull');
    });
    const ns = await core.readNamespace({ name: 'basic-2' });
    await core.replaceNamespace({ name: 'basic-2', body: { ...ns, metadata: { ...ns.metadata, labels: { other: 'x' } } } });
    await eventually('secret removed', async () => (await getSecret('basic-2', 'basic-pull')) === undefined, 5000);
    await eventually('SA reference removed', async () => {
      const s = await core.readNamespacedServiceAccount({ namespace: 'basic-2', name: 'default' });
      return !s.imagePullSecrets?.some((r) => r.name === 'basic-pull');
    });
    // And back.
    const again = await core.readNamespace({ name: 'basic-2' });
    await core.replaceNamespace({ name: 'basic-2', body: { ...again, metadata: { ...again.metadata, labels: { basic: 'yes' } } } });
    await eventually('secret back', async () => getSecret('basic-2', 'basic-pull'), 5000);
  });

  test('refresh follows the credential expiry (renewBefore defaults to a third of the lifetime)', async () => {
    await core.createNamespace({ body: { metadata: { name: 'expiring' } } });
    const first = password();
    const lifetimeMs = 6000;
    await putSource('src-expiring', { registry: 'exp.example', username: 'u', password: first, expiresAt: new Date(Date.now() + lifetimeMs).toISOString() });
    await createCrc('expiring', {
      provider: { static: { secretRef: { name: 'src-expiring' } } },
      target: { secretName: 'exp-pull', namespaces: { names: ['expiring'] }, serviceAccounts: [] },
    });
    const t0 = Date.now();
    await eventually('first credential', async () => passwordIn(await getSecret('expiring', 'exp-pull')) === first);
    const secret = (await getSecret('expiring', 'exp-pull'))!;
    assert.ok(secret.metadata?.annotations?.['regcred.dev/expires-at'], 'expiry annotation written');
    // The source is left alone (an edit would be picked up at once by its watch): the second mint is the expiry-driven one.
    const labels = { kind: 'ClusterRegistryCredential', namespace: '', name: 'expiring', provider: 'static', result: 'success' };
    assert.equal(await metricValue('regcred_refresh_total', labels), 1);
    await eventually('renewed', async () => ((await metricValue('regcred_refresh_total', labels)) ?? 0) >= 2, 10_000);
    const renewedAfter = Date.now() - t0;
    console.log(`# renewed ${renewedAfter} ms after the first mint (lifetime ${lifetimeMs} ms, expected about ${(lifetimeMs * 2) / 3} ms)`);
    assert.ok(renewedAfter >= lifetimeMs * 0.5 && renewedAfter < lifetimeMs, `renewal at ${renewedAfter} ms`);
    const second = password();
    await putSource('src-expiring', { registry: 'exp.example', username: 'u', password: second, expiresAt: new Date(Date.now() + 3_600_000).toISOString() });
    await eventually('edited source picked up', async () => passwordIn(await getSecret('expiring', 'exp-pull')) === second, 10_000);
    // The status is written after the Secrets (the fan-out first): it follows within moments.
    await eventually('status carries the new expiry', async () => Date.parse((await getCrc('expiring'))?.status?.expiresAt ?? '') > Date.now() + 3_000_000, 5_000);
  });

  test('an already-expired credential does not cause a hot loop (clamped to the minimum delay)', async () => {
    await core.createNamespace({ body: { metadata: { name: 'expired-ns' } } });
    await putSource('src-expired', { registry: 'old.example', username: 'u', password: password(), expiresAt: '2015-01-01T00:00:00Z' });
    await createCrc('expired', {
      provider: { static: { secretRef: { name: 'src-expired' } } },
      target: { secretName: 'old-pull', namespaces: { names: ['expired-ns'] }, serviceAccounts: [] },
    });
    const labels = { kind: 'ClusterRegistryCredential', namespace: '', name: 'expired', provider: 'static', result: 'success' };
    await eventually('first mint', async () => (await metricValue('regcred_refresh_total', labels)) ?? 0);
    const startCount = (await metricValue('regcred_refresh_total', labels))!;
    await sleep(4000);
    const mints = (await metricValue('regcred_refresh_total', labels))! - startCount;
    console.log(`# ${mints} refreshes in 4 s for an expired credential (minimum delay 1 s)`);
    assert.ok(mints <= 5, `${mints} refreshes in 4 s is a hot loop`);
    assert.ok(mints >= 2, 'it keeps retrying');
    const crc = await getCrc('expired');
    const ready = crc!.status.conditions.find((c: { type: string }) => c.type === 'Ready');
    assert.equal(ready.status, 'False');
    assert.equal(ready.reason, 'CredentialExpired');
    await deleteCrc('expired');
  });

  test('a failed refresh keeps the previous Secret byte for byte, sets Degraded, emits a warning, and recovers', async () => {
    await core.createNamespace({ body: { metadata: { name: 'fragile' } } });
    const pw = password();
    await putSource('src-fragile', { registry: 'fragile.example', username: 'u', password: pw, expiresAt: new Date(Date.now() + 3000).toISOString() });
    await createCrc('fragile', {
      provider: { static: { secretRef: { name: 'src-fragile' } } },
      target: { secretName: 'fragile-pull', namespaces: { names: ['fragile'] }, serviceAccounts: [] },
    });
    await eventually('first credential', async () => passwordIn(await getSecret('fragile', 'fragile-pull')) === pw);
    const good = (await getSecret('fragile', 'fragile-pull'))!;
    await core.deleteNamespacedSecret({ namespace: 'regcred-system', name: 'src-fragile' });
    const { value: crc } = await eventually('Degraded', async () => {
      const c = await getCrc('fragile');
      return c?.status?.conditions?.find((x: { type: string; status: string }) => x.type === 'Degraded' && x.status === 'True') ? c : undefined;
    }, 10_000);
    const degraded = crc.status.conditions.find((x: { type: string }) => x.type === 'Degraded');
    assert.equal(degraded.reason, 'SourceNotFound');
    assert.match(degraded.message, /source Secret regcred-system\/src-fragile not found; the credential reads keys [^;]*"password"[^;]*; the previous credential is still in place/);
    await sleep(1500); // a few failed retries
    const kept = (await getSecret('fragile', 'fragile-pull'))!;
    assert.equal(kept.metadata?.resourceVersion, good.metadata?.resourceVersion, 'not written at all');
    assert.deepEqual(kept.data, good.data, 'byte for byte');
    const events = await cp.kubeConfig.makeApiClient(EventsV1Api).listNamespacedEvent({ namespace: 'default' });
    const warning = events.items.find((e) => e.regarding?.name === 'fragile' && e.type === 'Warning' && e.reason === 'SourceNotFound');
    assert.ok(warning, 'warning event');
    assert.ok(!JSON.stringify(events.items).includes(pw), 'no password in events');
    const errors = (await metricValue('regcred_refresh_total', { name: 'fragile', result: 'error' })) ?? 0;
    assert.ok(errors >= 2 && errors < 12, `${errors} retries in ~2.5 s: backoff, not a tight loop`);

    const fresh = password();
    await putSource('src-fragile', { registry: 'fragile.example', username: 'u', password: fresh });
    await eventually('recovered', async () => passwordIn(await getSecret('fragile', 'fragile-pull')) === fresh, 10_000);
    await eventually('Degraded cleared', async () => {
      const c = await getCrc('fragile');
      return c?.status?.conditions?.find((x: { type: string; status: string }) => x.type === 'Degraded' && x.status === 'False');
    });
  });

  test('one bad credential never blocks the others', async () => {
    await core.createNamespace({ body: { metadata: { name: 'mixed' } } });
    await createCrc('bad-source', {
      provider: { static: { secretRef: { name: 'does-not-exist' } } },
      target: { secretName: 'bad-pull', namespaces: { names: ['mixed'] }, serviceAccounts: [] },
    });
    const pw = password();
    await putSource('src-good', { registry: 'good.example', username: 'u', password: pw });
    await createCrc('good', {
      provider: { static: { secretRef: { name: 'src-good' } } },
      target: { secretName: 'good-pull', namespaces: { names: ['mixed'] }, serviceAccounts: [] },
    });
    await eventually('good synced', async () => passwordIn(await getSecret('mixed', 'good-pull')) === pw);
    assert.equal(await getSecret('mixed', 'bad-pull'), undefined, 'never an empty Secret');
    const bad = await eventually('bad not ready', async () => (await getCrc('bad-source'))?.status);
    const ready = bad.value.conditions.find((c: { type: string }) => c.type === 'Ready');
    assert.equal(ready.status, 'False');
    assert.equal(ready.reason, 'SourceNotFound');
  });

  test('a ClusterRegistryCredential cannot read source Secrets outside the controller namespace', async () => {
    await core.createNamespace({ body: { metadata: { name: 'victim' } } });
    await putSource('private', { registry: 'victim.example', username: 'v', password: password() }, 'victim');
    await core.createNamespace({ body: { metadata: { name: 'thief' } } });
    await createCrc('cross-ns', {
      provider: { static: { secretRef: { namespace: 'victim', name: 'private' } } },
      target: { secretName: 'stolen', namespaces: { names: ['thief'] }, serviceAccounts: [] },
    });
    const { value: status } = await eventually('refused', async () => (await getCrc('cross-ns'))?.status);
    assert.equal(status.conditions.find((c: { type: string }) => c.type === 'Ready').reason, 'CrossNamespaceRef');
    assert.equal(await getSecret('thief', 'stolen'), undefined);
  });

  test('a tenant cannot use a RegistryCredential to copy a Secret it could not read', async () => {
    await core.createNamespace({ body: { metadata: { name: 'tenant-a' } } });
    await putSource('tenant-source', { registry: 'tenant.example', username: 't', password: password() }, 'tenant-a');
    // The tenant may manage RegistryCredentials in its namespace, and nothing else.
    const rbac = cp.kubeConfig.makeApiClient(RbacAuthorizationV1Api);
    await rbac.createNamespacedRole({
      namespace: 'tenant-a',
      body: { metadata: { name: 'rc-editor' }, rules: [{ apiGroups: [GROUP], resources: ['registrycredentials'], verbs: ['create', 'get', 'list', 'delete'] }] },
    });
    await rbac.createNamespacedRoleBinding({
      namespace: 'tenant-a',
      body: {
        metadata: { name: 'rc-editor' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'rc-editor' },
        subjects: [{ kind: 'ServiceAccount', name: 'tenant', namespace: 'tenant-a' }],
      },
    });
    const tenantKc = new (await import('@kubernetes/client-node')).KubeConfig();
    tenantKc.loadFromFile(await cp.kubeconfigFor('tenant-a', 'tenant'));
    const tenant = tenantKc.makeApiClient(CustomObjectsApi);
    // Not a cluster-scoped credential...
    await assert.rejects(
      tenant.createClusterCustomObject({
        group: GROUP,
        version: VERSION,
        plural: 'clusterregistrycredentials',
        body: {
          apiVersion: `${GROUP}/${VERSION}`,
          kind: 'ClusterRegistryCredential',
          metadata: { name: 'tenant-escape' },
          spec: { provider: { static: { secretRef: { name: 'src-basic' } } }, target: { secretName: 'x', namespaces: { names: ['tenant-a'] } } },
        },
      }),
      (err: { code?: number }) => err.code === 403,
    );
    // ...and a namespaced one cannot reach another namespace's Secret.
    await tenant.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: 'tenant-a',
      plural: 'registrycredentials',
      body: {
        apiVersion: `${GROUP}/${VERSION}`,
        kind: 'RegistryCredential',
        metadata: { name: 'escape', namespace: 'tenant-a' },
        spec: { provider: { static: { secretRef: { namespace: 'regcred-system', name: 'src-basic' } } }, target: { secretName: 'escaped', serviceAccounts: [] } },
      },
    });
    const { value: status } = await eventually('refused', async () => {
      const o = (await custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: 'tenant-a', plural: 'registrycredentials', name: 'escape' })) as { status?: any };
      return o.status;
    });
    assert.equal(status.conditions.find((c: { type: string }) => c.type === 'Ready').reason, 'CrossNamespaceRef');
    assert.equal(await getSecret('tenant-a', 'escaped'), undefined);
    // Its own namespace works.
    await tenant.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: 'tenant-a',
      plural: 'registrycredentials',
      body: {
        apiVersion: `${GROUP}/${VERSION}`,
        kind: 'RegistryCredential',
        metadata: { name: 'own', namespace: 'tenant-a' },
        spec: { provider: { static: { secretRef: { name: 'tenant-source' } } }, target: { secretName: 'own-pull', serviceAccounts: [] } },
      },
    });
    await eventually('own secret', async () => getSecret('tenant-a', 'own-pull'));
  });

  test('deleting a credential applies cleanupPolicy: Delete removes its Secrets and SA references, Retain keeps them', async () => {
    for (const ns of ['gone-1', 'kept-1']) await core.createNamespace({ body: { metadata: { name: ns } } });
    const pw = password();
    await putSource('src-cleanup', { registry: 'cleanup.example', username: 'u', password: pw });
    await createCrc('deleter', {
      provider: { static: { secretRef: { name: 'src-cleanup' } } },
      target: { secretName: 'del-pull', namespaces: { names: ['gone-1'] } },
      cleanupPolicy: 'Delete',
    });
    await createCrc('retainer', {
      provider: { static: { secretRef: { name: 'src-cleanup' } } },
      target: { secretName: 'ret-pull', namespaces: { names: ['kept-1'] } },
      cleanupPolicy: 'Retain',
    });
    await eventually('both synced', async () => (await getSecret('gone-1', 'del-pull')) && (await getSecret('kept-1', 'ret-pull')));
    await eventually('SA patched', async () => {
      const s = await core.readNamespacedServiceAccount({ namespace: 'gone-1', name: 'default' });
      return s.imagePullSecrets?.some((r) => r.name === 'del-pull');
    });
    await deleteCrc('deleter');
    await deleteCrc('retainer');
    await eventually('deleter gone', async () => (await getCrc('deleter')) === undefined);
    await eventually('retainer gone', async () => (await getCrc('retainer')) === undefined);
    assert.equal(await getSecret('gone-1', 'del-pull'), undefined);
    const sa = await core.readNamespacedServiceAccount({ namespace: 'gone-1', name: 'default' });
    assert.ok(!sa.imagePullSecrets?.some((r) => r.name === 'del-pull'), 'SA reference removed');
    assert.equal(passwordIn(await getSecret('kept-1', 'ret-pull')), pw, 'Retain keeps the Secret');
  });

  test('the controller survives an API server restart and converges', async () => {
    await cp.restartApiServer();
    assert.equal(controller.healthz().ok, true);
    await core.createNamespace({ body: { metadata: { name: 'after-restart', labels: { basic: 'yes' } } } });
    const { ms } = await eventually('secret after restart', async () => getSecret('after-restart', 'basic-pull'), 30_000);
    console.log(`# after an API server restart, a new namespace got its Secret in ${ms} ms`);
    assert.equal(controller.readyz().ok, true);
  });
});
