// The leak guard's cluster scan (test/harness/leak-guard.ts) against a real kube-apiserver: a
// remembered secret in an Event or in a credential's status fails the scan, a password stored in a
// Secret is remembered by the scan itself, and a cluster without the CRDs is scanned all the same.
// Every planted leak is removed again, so the automatic scan at the control plane's stop passes.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { start, type ControlPlane } from '../harness/controlplane.js';
import { createClusterCredential } from '../harness/controller-process.js';
import { installCrds } from '../harness/crds.js';
import { rememberSecret, scanClusterForLeaks } from '../harness/leak-guard.js';

const NS = 'leak-guard-test';
let cp: ControlPlane;
let core: CoreV1Api;

before(async () => {
  cp = await start();
  core = cp.kubeConfig.makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: NS } } });
});

after(async () => {
  await cp?.stop();
});

const secret = (prefix: string) => `${prefix}-${randomBytes(12).toString('base64url')}`;

/** Creates a core/v1 Event (about a ConfigMap, which need not exist) with this message; returns its name. */
async function plantEvent(message: string): Promise<string> {
  const name = `leak-${randomBytes(4).toString('hex')}`;
  await core.createNamespacedEvent({
    namespace: NS,
    body: {
      metadata: { name, namespace: NS },
      involvedObject: { kind: 'ConfigMap', namespace: NS, name: 'app-config', apiVersion: 'v1' },
      reason: 'RefreshFailed',
      message,
      type: 'Warning',
      firstTimestamp: new Date(),
      lastTimestamp: new Date(),
      count: 1,
    },
  });
  return name;
}

/** Asserts the scan fails, naming `where` and never the secret itself. */
async function assertScanFinds(where: RegExp, value: string): Promise<void> {
  await assert.rejects(scanClusterForLeaks(cp.kubeConfig), (err: unknown) => {
    assert.ok(err instanceof assert.AssertionError, String(err));
    assert.match(err.message, where);
    assert.ok(!err.message.includes(value), 'the report must not reveal the secret');
    return true;
  });
}

describe('scanClusterForLeaks on a real API server', () => {
  test('passes on a clean cluster without the CRDs installed (404 is skipped)', async () => {
    await scanClusterForLeaks(cp.kubeConfig);
  });

  test('a remembered secret in an Event message fails the scan', async () => {
    const value = secret('evt');
    rememberSecret(value);
    const name = await plantEvent(`refresh failed: the broker answered password=${value}`);
    await assertScanFinds(new RegExp(`Event ${NS}/${name}.*message`), value);
    await core.deleteNamespacedEvent({ namespace: NS, name });
    await scanClusterForLeaks(cp.kubeConfig);
  });

  test('a password stored in a Secret is remembered by the scan itself', async () => {
    const value = secret('src');
    await core.createNamespacedSecret({ namespace: NS, body: { metadata: { name: 'source' }, stringData: { username: 'robot', password: value } } });
    const name = await plantEvent(`static: using ${value}`);
    await assertScanFinds(/Event .* message/, value);
    await core.deleteNamespacedEvent({ namespace: NS, name });
    await scanClusterForLeaks(cp.kubeConfig);
  });

  test("a remembered secret in a ClusterRegistryCredential's status fails the scan", async () => {
    await installCrds(cp.kubeConfig);
    const value = secret('sts');
    rememberSecret(value);
    const custom = cp.kubeConfig.makeApiClient(CustomObjectsApi);
    await createClusterCredential(cp.kubeConfig, 'leaky', {
      provider: { static: { secretRef: { name: 'absent' } } },
      target: { secretName: 'leaky-pull', namespaces: { names: [NS] }, serviceAccounts: [] },
    });
    const ref = { group: 'regcred.dev', version: 'v1alpha1', plural: 'clusterregistrycredentials', name: 'leaky' };
    const condition = { type: 'Ready', status: 'False', reason: 'RefreshFailed', message: `token ${value} refused`, lastTransitionTime: new Date().toISOString() };
    await custom.patchClusterCustomObjectStatus({ ...ref, body: [{ op: 'add', path: '/status', value: { conditions: [condition] } }] });
    await assertScanFinds(/ClusterRegistryCredential leaky status/, value);
    await custom.deleteClusterCustomObject(ref);
    await scanClusterForLeaks(cp.kubeConfig);
  });
});
