// The cluster's other Secrets (TLS keys, Helm releases, tokens) never enter the controller: it
// watches only the Secrets it manages (by label) and the sources credentials read (metadata only, by
// name; where a namespace holds several sources, the others pass by without being kept). Proved on the real process: 5,000 unrelated Secrets of 4 KiB (20 MiB of data, of which a
// cache would hold more than that) appear beside a tenant's source and in another namespace, and
// the controller's resident memory does not move.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { start, type ControlPlane } from '../harness/controlplane.js';
import { installCrds } from '../harness/crds.js';
import { eventually } from '../harness/eventually.js';
import { secretOrUndefined } from '../harness/kube.js';
import { spawnController, waitForClusterCredentialStatus, type ControllerProcess } from '../harness/controller-process.js';
import { readyOf } from '../harness/test-controller.js';
import { mapWithConcurrency } from '../../src/util/pool.js';
import { rememberSecret } from '../harness/leak-guard.js';

let cp: ControlPlane;
let core: CoreV1Api;
let ctl: ControllerProcess | undefined;

const UNRELATED = 5000;

function rssMiB(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'))!;
  return Number(line.replace(/\D+/g, '')) / 1024;
}

/** The highest resident size over a few seconds: growth, if any, is not missed between samples. */
async function peakRss(pid: number, ms: number): Promise<number> {
  let peak = 0;
  for (const end = Date.now() + ms; Date.now() < end; ) {
    peak = Math.max(peak, rssMiB(pid));
    await new Promise((r) => setTimeout(r, 200));
  }
  return peak;
}

before(async () => {
  rememberSecret('cluster-pw-unrelated', 'tenant-pw-unrelated', 'tenant-pw-unrelated-2', 'tenant-pw-unrelated-b');
  cp = await start();
  core = cp.kubeConfig.makeApiClient(CoreV1Api);
  await installCrds(cp.kubeConfig);
  for (const name of ['regcred-system', 'tenant-quiet', 'noise']) await core.createNamespace({ body: { metadata: { name, labels: { pulls: 'yes' } } } });
  await core.createNamespacedSecret({ namespace: 'regcred-system', body: { metadata: { name: 'cluster-src' }, stringData: { registry: 'c.example', username: 'u', password: 'cluster-pw-unrelated' } } });
  await core.createNamespacedSecret({ namespace: 'tenant-quiet', body: { metadata: { name: 'mine' }, stringData: { registry: 't.example', username: 'u', password: 'tenant-pw-unrelated' } } });
  await core.createNamespacedSecret({ namespace: 'tenant-quiet', body: { metadata: { name: 'mine-2' }, stringData: { registry: 't2.example', username: 'u', password: 'tenant-pw-unrelated-b' } } });
});

after(async () => {
  await ctl?.stop();
  await cp?.stop();
});

describe('unrelated Secrets stay out of the controller (real API server, controller process)', () => {
  test(`${UNRELATED} unrelated Secrets of 4 KiB: resident memory does not move`, async () => {
    ctl = spawnController(cp.kubeconfigPath, { args: ['--log-format', 'json', '--log-level', 'warn'] });
    const custom = cp.kubeConfig.makeApiClient(CustomObjectsApi);
    await custom.createClusterCustomObject({
      group: 'regcred.dev',
      version: 'v1alpha1',
      plural: 'clusterregistrycredentials',
      body: { apiVersion: 'regcred.dev/v1alpha1', kind: 'ClusterRegistryCredential', metadata: { name: 'everywhere' }, spec: { provider: { static: { secretRef: { name: 'cluster-src' } } }, target: { secretName: 'everywhere-pull', namespaces: { selector: { matchLabels: { pulls: 'yes' } } } } } },
    });
    await custom.createNamespacedCustomObject({
      group: 'regcred.dev',
      version: 'v1alpha1',
      namespace: 'tenant-quiet',
      plural: 'registrycredentials',
      body: { apiVersion: 'regcred.dev/v1alpha1', kind: 'RegistryCredential', metadata: { name: 'own' }, spec: { provider: { static: { secretRef: { name: 'mine' } } }, target: { secretName: 'own-pull' } } },
    });
    // A second credential in the tenant's namespace: two sources there, so its source watch is
    // namespace-wide, and the unrelated Secrets below pass through it without being kept.
    await custom.createNamespacedCustomObject({
      group: 'regcred.dev',
      version: 'v1alpha1',
      namespace: 'tenant-quiet',
      plural: 'registrycredentials',
      body: { apiVersion: 'regcred.dev/v1alpha1', kind: 'RegistryCredential', metadata: { name: 'own-2' }, spec: { provider: { static: { secretRef: { name: 'mine-2' } } }, target: { secretName: 'own-2-pull' } } },
    });
    const context = () => ctl!.output.join('');
    await waitForClusterCredentialStatus(cp.kubeConfig, 'everywhere', (s) => readyOf(s)?.status === 'True', 30_000, context);
    await eventually('tenant Secrets written', async () => (await secretOrUndefined(core, 'tenant-quiet', 'own-pull')) && secretOrUndefined(core, 'tenant-quiet', 'own-2-pull'), 30_000, context);
    const pid = ctl.child.pid!;
    // Settled: the first syncs and writes are done.
    await new Promise((r) => setTimeout(r, 3000));
    const before = await peakRss(pid, 3000);

    const payload = randomBytes(3072).toString('base64'); // 4 KiB once base64-encoded
    const names = Array.from({ length: UNRELATED }, (_, i) => ({ namespace: i % 2 ? 'noise' : 'tenant-quiet', name: `unrelated-${i}` }));
    await mapWithConcurrency(names, 32, ({ namespace, name }) =>
      core.createNamespacedSecret({ namespace, body: { metadata: { name, labels: { app: 'helm-like' } }, type: 'Opaque', data: { blob: payload } } }),
    );
    const after = await peakRss(pid, 5000);
    console.log(`# controller RSS ${before.toFixed(1)} MiB before, ${after.toFixed(1)} MiB after ${UNRELATED} unrelated Secrets (${((UNRELATED * 4096) / 2 ** 20).toFixed(0)} MiB of data)`);
    assert.ok(after - before < 8, `resident memory grew by ${(after - before).toFixed(1)} MiB`);
    // Still at work: an edit of the tenant's source (beside the 2,500 others in its namespace) goes through.
    await core.replaceNamespacedSecret({ namespace: 'tenant-quiet', name: 'mine', body: { metadata: { name: 'mine' }, stringData: { registry: 't.example', username: 'u', password: 'tenant-pw-unrelated-2' } } });
    await eventually('tenant edit applied', async () => {
      const s = await secretOrUndefined(core, 'tenant-quiet', 'own-pull');
      return Buffer.from(s?.data?.['.dockerconfigjson'] ?? '', 'base64').toString().includes('tenant-pw-unrelated-2');
    }, 10_000, context);
  });
});
