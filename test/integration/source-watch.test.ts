// The Secrets credentials read (their sources) are watched: an edit, a delete and a re-create
// reach every target at once, only the credentials that read the Secret mint again, and a broken
// source keeps the last good content in place while the status says which Secret and key.
// Real kube-apiserver; the controller in-process.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { CoreV1Api, CustomObjectsApi, EventsV1Api, type V1Secret } from '@kubernetes/client-node';
import { start, type ControlPlane } from '../harness/controlplane.js';
import { installCrds } from '../harness/crds.js';
import { eventually } from '../harness/eventually.js';
import { passwordIn as passwordInSecret, putSource as putSourceSecret, secretOrUndefined } from '../harness/kube.js';
import { readyOf, startTestController, type TestController } from '../harness/test-controller.js';
import { rememberSecret } from '../harness/leak-guard.js';

let cp: ControlPlane;
let core: CoreV1Api;
let custom: CustomObjectsApi;
let ctl: TestController;

const TARGETS = ['src-t1', 'src-t2', 'src-t3'];

function password(): string {
  const p = `src-${randomBytes(10).toString('hex')}`;
  rememberSecret(p);
  return p;
}

function passwordIn(secret: V1Secret | undefined): string | undefined {
  return passwordInSecret(secret);
}

function putSource(name: string, data: Record<string, string>, namespace = 'regcred-system'): Promise<void> {
  return putSourceSecret(core, name, data, namespace);
}

async function allHold(secretName: string, pw: string, namespaces = TARGETS): Promise<boolean> {
  for (const ns of namespaces) if (passwordIn(await secretOrUndefined(core, ns, secretName)) !== pw) return false;
  return true;
}

async function rawData(secretName: string): Promise<string[]> {
  return Promise.all(TARGETS.map(async (ns) => JSON.stringify((await secretOrUndefined(core, ns, secretName))?.data ?? null)));
}

async function gauge(name: string, credential: string): Promise<number | undefined> {
  const metric = (await ctl.metrics.registry.getMetricsAsJSON()).find((m) => m.name === name);
  const values = (metric?.values ?? []) as Array<{ labels: Record<string, string | number>; value: number }>;
  return values.find((v) => v.labels['name'] === credential)?.value;
}

before(async () => {
  cp = await start();
  core = cp.kubeConfig.makeApiClient(CoreV1Api);
  custom = cp.kubeConfig.makeApiClient(CustomObjectsApi);
  await installCrds(cp.kubeConfig);
  await core.createNamespace({ body: { metadata: { name: 'regcred-system' } } });
  for (const ns of TARGETS) await core.createNamespace({ body: { metadata: { name: ns, labels: { sources: 'yes' } } } });
  ctl = await startTestController(cp, { retryBaseMs: 300, retryMaxMs: 2000 });
});

after(async () => {
  await ctl?.stop();
  await cp?.stop();
});

const target = (secretName: string) => ({ secretName, namespaces: { selector: { matchLabels: { sources: 'yes' } } } });

describe('source Secrets are watched (real API server)', () => {
  test('an edit reaches every target at once; only the credentials reading that Secret mint again', async () => {
    const a1 = password();
    const b1 = password();
    await putSource('watched-a', { registry: 'a.example', username: 'u', password: a1 });
    await putSource('watched-b', { registry: 'b.example', username: 'u', password: b1 });
    // Refreshes are hours apart: only the watch can bring an edit in time.
    await ctl.createClusterCredential('reads-a', { provider: { static: { secretRef: { name: 'watched-a' } } }, target: target('pull-a'), refresh: { interval: '6h' } });
    await ctl.createClusterCredential('reads-b', { provider: { static: { secretRef: { name: 'watched-b' } } }, target: target('pull-b'), refresh: { interval: '6h' } });
    await eventually('first fan-out', async () => (await allHold('pull-a', a1)) && allHold('pull-b', b1));
    assert.deepEqual(ctl.controller.sourceWatch.sourcesOf('ClusterRegistryCredential/reads-a'), ['regcred-system/watched-a']);
    const bRefreshes = await ctl.refreshes('reads-b');

    for (let i = 0; i < 3; i++) {
      const next = password();
      const t0 = Date.now();
      await putSource('watched-a', { registry: 'a.example', username: 'u', password: next });
      await eventually(`edit ${i + 1} in every target`, () => allHold('pull-a', next), 10_000);
      console.log(`# source edit ${i + 1} reached ${TARGETS.length} targets in ${Date.now() - t0} ms`);
    }
    assert.equal(await ctl.refreshes('reads-b'), bRefreshes, 'a credential that does not read the edited Secret did not mint');
    assert.ok(await allHold('pull-b', b1));
  });

  test('a deleted source: targets keep their content byte for byte, Ready=False names the Secret and key, event and metric; it recovers when the Secret returns', async () => {
    const pw = password();
    await putSource('watched-del', { registry: 'del.example', username: 'u', password: pw });
    await ctl.createClusterCredential('reads-del', { provider: { static: { secretRef: { name: 'watched-del' } } }, target: target('pull-del'), refresh: { interval: '6h' } });
    await eventually('first fan-out', () => allHold('pull-del', pw));
    const before = await rawData('pull-del');

    await core.deleteNamespacedSecret({ namespace: 'regcred-system', name: 'watched-del' });
    const status = await ctl.waitForStatus('reads-del', (s) => readyOf(s)?.status === 'False', 10_000);
    const ready = readyOf(status)!;
    assert.equal(ready.reason, 'SourceNotFound');
    assert.match(ready.message, /regcred-system\/watched-del/);
    assert.match(ready.message, /"password"/);
    assert.deepEqual(await rawData('pull-del'), before, 'every target keeps its last good content');
    await eventually('source-problem metric', async () => (await gauge('regcred_source_secret_problem', 'reads-del')) === 1);
    const events = await cp.kubeConfig.makeApiClient(EventsV1Api).listEventForAllNamespaces({ fieldSelector: 'regarding.name=reads-del' });
    assert.ok(events.items.some((e) => e.type === 'Warning' && e.reason === 'SourceNotFound' && (e.note ?? '').includes('watched-del')), 'a Warning event names the Secret');
    assert.ok(await gauge('regcred_source_changes_total', 'reads-del'));

    const back = password();
    await putSource('watched-del', { registry: 'del.example', username: 'u', password: back });
    await eventually('recovered in every target', () => allHold('pull-del', back), 10_000);
    await ctl.waitForStatus('reads-del', (s) => readyOf(s)?.status === 'True', 10_000);
    assert.equal(await gauge('regcred_source_secret_problem', 'reads-del'), 0);
  });

  test('a source made invalid (key removed) keeps the targets and names the key; fixing it recovers', async () => {
    const pw = password();
    await putSource('watched-bad', { registry: 'bad.example', username: 'u', password: pw });
    await ctl.createClusterCredential('reads-bad', { provider: { static: { secretRef: { name: 'watched-bad' } } }, target: target('pull-bad'), refresh: { interval: '6h' } });
    await eventually('first fan-out', () => allHold('pull-bad', pw));
    const before = await rawData('pull-bad');
    await putSource('watched-bad', { registry: 'bad.example', username: 'u' });
    const ready = readyOf(await ctl.waitForStatus('reads-bad', (s) => readyOf(s)?.status === 'False', 10_000))!;
    assert.equal(ready.reason, 'InvalidSource');
    assert.match(ready.message, /watched-bad/);
    assert.match(ready.message, /password/);
    assert.deepEqual(await rawData('pull-bad'), before);
    const fixed = password();
    await putSource('watched-bad', { registry: 'bad.example', username: 'u', password: fixed });
    await eventually('fixed in every target', () => allHold('pull-bad', fixed), 10_000);
  });

  test('a Secret created after the credential that needs it is picked up at once', async () => {
    await ctl.createClusterCredential('reads-late', { provider: { static: { secretRef: { name: 'watched-late' } } }, target: target('pull-late'), refresh: { interval: '6h' } });
    await ctl.waitForStatus('reads-late', (s) => readyOf(s)?.reason === 'SourceNotFound', 10_000);
    const pw = password();
    await putSource('watched-late', { registry: 'late.example', username: 'u', password: pw });
    await eventually('late source in every target', () => allHold('pull-late', pw), 10_000);
  });

  test("a RegistryCredential's source in its own namespace is watched alone (field selector): the namespace's other Secrets are not", async () => {
    await core.createNamespace({ body: { metadata: { name: 'src-tenant' } } });
    const pw = password();
    await putSource('tenant-src', { registry: 'tenant.example', username: 'u', password: pw }, 'src-tenant');
    await putSource('unrelated', { 'tls.key': 'not read' }, 'src-tenant');
    await custom.createNamespacedCustomObject({
      group: 'regcred.dev',
      version: 'v1alpha1',
      namespace: 'src-tenant',
      plural: 'registrycredentials',
      body: { apiVersion: 'regcred.dev/v1alpha1', kind: 'RegistryCredential', metadata: { name: 'own' }, spec: { provider: { static: { secretRef: { name: 'tenant-src' } } }, target: { secretName: 'own-pull' }, refresh: { interval: '6h' } } },
    });
    await eventually('tenant fan-out', async () => passwordIn(await secretOrUndefined(core, 'src-tenant', 'own-pull')) === pw);
    assert.deepEqual(
      ctl.controller.sourceWatch.watched().find((w) => w.namespace === 'src-tenant'),
      { namespace: 'src-tenant', fieldSelector: 'metadata.name=tenant-src' },
    );
    const next = password();
    await putSource('tenant-src', { registry: 'tenant.example', username: 'u', password: next }, 'src-tenant');
    await eventually('tenant edit applied', async () => passwordIn(await secretOrUndefined(core, 'src-tenant', 'own-pull')) === next, 10_000);
  });

  test('a deleted credential stops the watch of its sources', async () => {
    await custom.deleteClusterCustomObject({ group: 'regcred.dev', version: 'v1alpha1', plural: 'clusterregistrycredentials', name: 'reads-late' });
    await eventually('sources forgotten', async () => ctl.controller.sourceWatch.sourcesOf('ClusterRegistryCredential/reads-late').length === 0);
  });
});
