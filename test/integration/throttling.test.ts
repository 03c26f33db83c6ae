// `regcred sync` against an API server that throttles: max one mutating request in flight and no
// priority-and-fairness queueing, so concurrent writes get real 429 responses with Retry-After.
// system:masters is exempt from those limits, so sync runs as a service account bound to cluster-admin.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:https';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CoreV1Api, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { start, type ControlPlane } from '../harness/controlplane.js';
import { runCli, writeConfig } from '../harness/cli.js';
import { withApiRetry } from '../../src/kube/client.js';

let cp: ControlPlane;
let core: CoreV1Api;
let syncerKubeconfig: string;
const COUNT = 40;

/** Sums apiserver_request_total samples with code="429" from the API server's /metrics. */
function throttledRequests(): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${cp.server}/metrics`,
      { ca: readFileSync(cp.caPath), cert: readFileSync(join(cp.dir, 'admin.crt')), key: readFileSync(join(cp.dir, 'admin.key')) },
      (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => {
          let sum = 0;
          for (const line of body.split('\n')) {
            if (line.startsWith('apiserver_request_total{') && line.includes('code="429"')) sum += Number(line.split(' ').pop());
          }
          resolve(sum);
        });
      },
    );
    req.on('error', reject);
    req.end();
  });
}

before(async () => {
  cp = await start({
    apiServerFlags: ['--enable-priority-and-fairness=false', '--max-mutating-requests-inflight=1', '--max-requests-inflight=2'],
  });
  core = cp.kubeConfig.makeApiClient(CoreV1Api);
  await withApiRetry(() => core.createNamespace({ body: { metadata: { name: 'regcred-system' } } }), { attempts: 20 });
  await withApiRetry(
    () =>
      core.createNamespacedSecret({
        namespace: 'regcred-system',
        body: { metadata: { name: 'src' }, stringData: { registry: 'r.example', username: 'u', password: 'throttle-password-1' } },
      }),
    { attempts: 20 },
  );
  for (let i = 0; i < COUNT; i++) {
    await withApiRetry(() => core.createNamespace({ body: { metadata: { name: `busy-${i}`, labels: { busy: 'yes' } } } }), { attempts: 20 });
  }
  syncerKubeconfig = await cp.kubeconfigFor('regcred-system', 'syncer');
  await cp.kubeConfig.makeApiClient(RbacAuthorizationV1Api).createClusterRoleBinding({
    body: {
      metadata: { name: 'syncer-admin' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
      subjects: [{ kind: 'ServiceAccount', name: 'syncer', namespace: 'regcred-system' }],
    },
  });
});

after(async () => cp?.stop());

test('sync respects 429 Retry-After and still writes every namespace', async () => {
  const before = await throttledRequests();
  const file = writeConfig(`apiVersion: regcred.dev/v1alpha1
kind: ClusterRegistryCredential
metadata: {name: busy}
spec:
  provider: {static: {secretRef: {name: src}}}
  target:
    secretName: busy-pull
    namespaces: {selector: {matchLabels: {busy: "yes"}}}
    serviceAccounts: []
`);
  const res = await runCli(['sync', '-f', file, '--kubeconfig', syncerKubeconfig, '--concurrency', '16'], { timeoutMs: 120_000 });
  assert.equal(res.code, 0, res.stderr);
  assert.match(res.stdout, new RegExp(`synced ${COUNT}/${COUNT} namespaces \\(created ${COUNT},`));
  const throttled = (await throttledRequests()) - before;
  console.log(`# ${throttled} requests were answered 429 during the sync, all retried`);
  assert.ok(throttled > 0, 'the API server throttled some requests (else this test proves nothing)');
  const secrets = await withApiRetry(() => core.listSecretForAllNamespaces({ labelSelector: 'regcred.dev/owner-name=busy' }), { attempts: 20 });
  assert.equal(secrets.items.length, COUNT);
});
