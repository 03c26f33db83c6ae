// Throttling, both sides of it.
// The server's: `regcred sync` against an API server that throttles: max one mutating request in
// flight and no priority-and-fairness queueing, so concurrent writes get real 429 responses with
// Retry-After. system:masters is exempt from those limits, so sync runs as a service account bound
// to cluster-admin.
// The client's: `--kube-qps`/`--kube-burst` hold a fan-out to their rate, in `sync` and in the
// controller. These run as system:masters, which the API server does not throttle, so the time
// they take is the client-side limit's.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:https';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CoreV1Api, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { start, type ControlPlane } from '../harness/controlplane.js';
import { runCli, writeConfig } from '../harness/cli.js';
import { installCrds } from '../harness/crds.js';
import { createClusterCredential, spawnController } from '../harness/controller-process.js';
import { withApiRetry } from '../../src/kube/client.js';

let cp: ControlPlane;
let core: CoreV1Api;
let syncerKubeconfig: string;
const COUNT = 40;
/** Namespaces of the client-side limit's fan-outs. */
const PACED = 100;

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
  // As system:masters (not throttled by the server): the namespaces of the client-side tests.
  const admin = cp.kubeConfig.makeApiClient(CoreV1Api);
  for (let i = 0; i < PACED; i += 25) {
    await Promise.all(
      Array.from({ length: Math.min(25, PACED - i) }, (_, k) => admin.createNamespace({ body: { metadata: { name: `paced-${i + k}`, labels: { paced: 'yes' } } } })),
    );
  }
  await installCrds(cp.kubeConfig);
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

test('server-side: sync respects 429 Retry-After and still writes every namespace', async () => {
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

function pacedConfig(name: string): string {
  return `apiVersion: regcred.dev/v1alpha1
kind: ClusterRegistryCredential
metadata: {name: ${name}}
spec:
  provider: {static: {secretRef: {name: src}}}
  target:
    secretName: ${name}-pull
    namespaces: {selector: {matchLabels: {paced: "yes"}}}
    serviceAccounts: []
`;
}

async function pacedSecrets(name: string): Promise<number> {
  const list = await cp.kubeConfig.makeApiClient(CoreV1Api).listSecretForAllNamespaces({ labelSelector: `regcred.dev/owner-name=${name}` });
  return list.items.filter((s) => s.metadata?.name === `${name}-pull`).length;
}

// 100 writes at 20 a second after a burst of 5: at least (100 - 5) / 20 = 4.75 s, whatever else is sent.
const LIMIT_ARGS = ['--kube-qps', '20', '--kube-burst', '5'];
const LOWER_BOUND_MS = ((PACED - 5) / 20) * 1000;

describe(`client-side rate limit: a fan-out to ${PACED} namespaces with ${LIMIT_ARGS.join(' ')}`, () => {
  test('sync: holds to the limit and writes every namespace', { timeout: 120_000 }, async () => {
    const t0 = Date.now();
    const res = await runCli(['sync', '-f', writeConfig(pacedConfig('paced-sync')), '--kubeconfig', cp.kubeconfigPath, ...LIMIT_ARGS], { timeoutMs: 60_000 });
    const limitedMs = Date.now() - t0;
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, new RegExp(`synced ${PACED}/${PACED} namespaces \\(created ${PACED},`));
    assert.equal(await pacedSecrets('paced-sync'), PACED);
    // The same fan-out with the limit off, for comparison.
    const t1 = Date.now();
    const free = await runCli(['sync', '-f', writeConfig(pacedConfig('paced-free')), '--kubeconfig', cp.kubeconfigPath, '--kube-qps', '0'], { timeoutMs: 60_000 });
    const freeMs = Date.now() - t1;
    assert.equal(free.code, 0, free.stderr);
    console.log(`# sync to ${PACED} namespaces: ${limitedMs} ms with ${LIMIT_ARGS.join(' ')} (at least ${LOWER_BOUND_MS} ms), ${freeMs} ms with --kube-qps 0`);
    assert.ok(limitedMs >= LOWER_BOUND_MS, `took ${limitedMs} ms`);
  });

  test('controller: holds to the limit and writes every namespace', { timeout: 120_000 }, async () => {
    const ctl = spawnController(cp.kubeconfigPath, { args: ['--log-format', 'json', ...LIMIT_ARGS] });
    try {
      // Started (caches filled) and idle for a second: the burst is back before the fan-out.
      const startedBy = Date.now() + 60_000;
      while (!ctl.output.join('').includes('"msg":"controller started"')) {
        assert.ok(Date.now() < startedBy && ctl.child.exitCode === null, `the controller did not start:\n${ctl.output.join('').slice(-2000)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      await new Promise((r) => setTimeout(r, 1000));
      const t0 = Date.now();
      await createClusterCredential(cp.kubeConfig, 'paced-ctl', {
        provider: { static: { secretRef: { name: 'src' } } },
        target: { secretName: 'paced-ctl-pull', namespaces: { selector: { matchLabels: { paced: 'yes' } } }, serviceAccounts: [] },
      });
      let written = 0;
      while (written < PACED) {
        assert.ok(Date.now() - t0 < 60_000, `${written}/${PACED} Secrets after 60 s:\n${ctl.output.join('').slice(-2000)}`);
        written = await pacedSecrets('paced-ctl');
        if (written < PACED) await new Promise((r) => setTimeout(r, 100));
      }
      const ms = Date.now() - t0;
      console.log(`# controller fan-out to ${PACED} namespaces with ${LIMIT_ARGS.join(' ')}: all written ${ms} ms after the credential was created (at least ${LOWER_BOUND_MS} ms)`);
      assert.ok(ms >= LOWER_BOUND_MS, `took ${ms} ms`);
    } finally {
      assert.equal(await ctl.stop(), 0);
    }
  });
});
