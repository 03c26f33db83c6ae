// The webhook's limits, on `regcred controller` as its own process with a real API server calling
// it: a body larger than any AdmissionReview the API server sends is refused (413) without the heap
// growing; 40 slow requests at once exceed the in-flight cap (16) and the rest are answered 429
// while the controller stays healthy; normal admission works before and after.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Agent } from 'node:https';
import { AdmissionregistrationV1Api, CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import { freePort, start, type ControlPlane } from '../harness/controlplane.js';
import { installCrds } from '../harness/crds.js';
import { spawnController, createClusterCredential, type ControllerProcess } from '../harness/controller-process.js';
import { eventually } from '../harness/eventually.js';
import { createPodWhenAdmissible, httpStatus } from '../harness/kube.js';
import { rememberLogin, rememberSecret } from '../harness/leak-guard.js';
import { postToWebhook } from '../harness/webhook-post.js';
import { chartContainerNodeFlags } from '../harness/chart-container.js';

const REGISTRY = 'registry.limits.test:5000';
const IMAGE = `${REGISTRY}/team/app:1.0`;
const PASSWORD = 'webhook-limits-password-91b2';
const SECRET = 'limits-pull';
const LABEL = { pulls: 'limits' };

let cp: ControlPlane;
let core: CoreV1Api;
let ctl: ControllerProcess;
let webhookPort: number;
let nsCounter = 0;
// Keep-alive, as the API server's client: a refused upload is then drained, not cut off.
const agent = new Agent({ keepAlive: true, maxSockets: Infinity });

async function newNamespace(): Promise<string> {
  const name = `whl-${++nsCounter}-${Date.now() % 100000}`;
  await core.createNamespace({ body: { metadata: { name, labels: LABEL } } });
  return name;
}

function pod(name: string): V1Pod {
  return { metadata: { name }, spec: { containers: [{ name: 'c', image: IMAGE }] } };
}

function portFromOutput(key: 'metricsPort' | 'healthPort'): Promise<number> {
  return eventually(key, async () => Number(new RegExp(`"${key}":(\\d+)`).exec(ctl.output.join(''))?.[1]) || undefined);
}

async function metrics(): Promise<string> {
  return (await fetch(`http://127.0.0.1:${await portFromOutput('metricsPort')}/metrics`)).text();
}

function metric(text: string, pattern: string): number {
  return Number(new RegExp(`^${pattern} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
}

function review(uid: string): string {
  return JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: { uid, kind: { group: '', version: 'v1', kind: 'Pod' }, namespace: 'nowhere', operation: 'CREATE', object: pod('direct') },
  });
}

/**
 * POSTs straight to the webhook (as anything that reaches its port could): `body` whole, or
 * `chunks` written `gapMs` apart with no declared length. Resolves with the status.
 */
async function post(opts: { body?: Buffer; chunks?: Buffer[]; gapMs?: number }): Promise<number> {
  return (await postToWebhook(webhookPort, agent, opts)).status;
}

before(async () => {
  cp = await start();
  core = cp.kubeConfig.makeApiClient(CoreV1Api);
  await installCrds(cp.kubeConfig);
  await core.createNamespace({ body: { metadata: { name: 'regcred-system' } } });
  rememberSecret(PASSWORD);
  rememberLogin('robot', PASSWORD);
  await core.createNamespacedSecret({ namespace: 'regcred-system', body: { metadata: { name: 'limits-src' }, stringData: { registry: REGISTRY, username: 'robot', password: PASSWORD } } });
  await createClusterCredential(cp.kubeConfig, 'limits', {
    provider: { static: { secretRef: { name: 'limits-src' } } },
    target: { secretName: SECRET, namespaces: { selector: { matchLabels: LABEL } }, serviceAccounts: [] },
  });
  webhookPort = await freePort();
  await cp.kubeConfig.makeApiClient(AdmissionregistrationV1Api).createMutatingWebhookConfiguration({
    body: {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'MutatingWebhookConfiguration',
      metadata: { name: 'regcred-limits' },
      webhooks: [
        {
          name: 'pods.regcred.dev',
          admissionReviewVersions: ['v1'],
          clientConfig: { url: `https://127.0.0.1:${webhookPort}/mutate-v1-pod` },
          rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], scope: 'Namespaced' }],
          failurePolicy: 'Ignore',
          sideEffects: 'NoneOnDryRun',
          timeoutSeconds: 5,
          namespaceSelector: { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system', 'regcred-system'] }] },
        },
      ],
    },
  });
  ctl = spawnController(cp.kubeconfigPath, {
    // The heap the chart's container gives the controller: the limits must hold within it.
    nodeFlags: chartContainerNodeFlags(),
    args: ['--webhook-bind-address', `127.0.0.1:${webhookPort}`, '--webhook-host', '127.0.0.1', '--webhook-configuration-name', 'regcred-limits', '--webhook-max-in-flight', '16', '--log-format', 'json'],
  });
  await eventually('the webhook is ready', async () => (await httpStatus(`http://127.0.0.1:${await portFromOutput('healthPort')}/readyz`)) === 200, 30_000, () => ctl.output.join(''));
  await new Promise((r) => setTimeout(r, 1500)); // the API server's watch of the configuration
});

after(async () => {
  agent.destroy();
  assert.equal(await ctl?.stop(), 0);
  await cp?.stop();
});

async function assertAdmissionWorks(): Promise<void> {
  const ns = await newNamespace();
  const created = await createPodWhenAdmissible(core, ns, pod('app'), { context: () => ctl.output.join('') });
  assert.deepEqual(created.spec?.imagePullSecrets?.map((r) => r.name), [SECRET]);
}

test('normal admission: the Pod is patched', async () => {
  await assertAdmissionWorks();
});

test('4 MiB bodies: 413, and the heap does not grow by more than a few MB', async () => {
  const big = Buffer.alloc(4 * 1024 * 1024, 0x61);
  const heap = async () => metric(await metrics(), 'nodejs_heap_size_used_bytes');
  // Warm up the metrics path itself, then measure.
  await heap();
  const before = await heap();
  const statuses: number[] = [];
  // Declared lengths (refused before reading) and chunked uploads (refused as they cross the limit), at once.
  const declared = await Promise.all(Array.from({ length: 10 }, () => post({ body: big })));
  // Five chunked uploads hold up to 3.5 MiB each until refused: past the shared 16 MiB budget
  // one may be answered 429 instead.
  const chunked = await Promise.all(Array.from({ length: 5 }, () => post({ chunks: Array.from({ length: 64 }, () => big.subarray(0, 64 * 1024)) })));
  const afterBytes = await heap();
  console.log(`[webhook-limits] heap used ${(before / 1e6).toFixed(1)} MB before, ${(afterBytes / 1e6).toFixed(1)} MB after 15 bodies of 4 MiB (${chunked.join(',')})`);
  assert.deepEqual(declared, Array.from({ length: 10 }, () => 413));
  assert.ok(chunked.every((s) => s === 413 || s === 429) && chunked.includes(413), chunked.join(','));
  assert.ok(afterBytes - before < 6 * 1024 * 1024, `heap grew by ${afterBytes - before} bytes`);
  const text = await metrics();
  assert.equal(metric(text, 'regcred_webhook_admissions_total\\{result="too_large"\\}'), 10 + chunked.filter((s) => s === 413).length);
});

test('40 slow requests at once: 16 served, the rest 429; the controller stays healthy; admission works afterwards', async () => {
  const healthPort = await portFromOutput('healthPort');
  // Each sends a valid review one piece every 150 ms (about 3 s in all).
  const slow = (i: number) => {
    const text = Buffer.from(review(`slow-${i}`));
    const pieces = Array.from({ length: 20 }, (_, k) => text.subarray(Math.floor((k * text.length) / 20), Math.floor(((k + 1) * text.length) / 20)));
    return post({ chunks: pieces, gapMs: 150 });
  };
  const requests = Array.from({ length: 40 }, (_, i) => slow(i));
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(await httpStatus(`http://127.0.0.1:${healthPort}/healthz`), 200, 'healthy while the slots are taken');
  assert.equal(await httpStatus(`http://127.0.0.1:${healthPort}/readyz`), 200, 'ready too');
  const statuses = await Promise.all(requests);
  const count = (s: number) => statuses.filter((x) => x === s).length;
  console.log(`[webhook-limits] 40 slow requests: ${count(200)} answered, ${count(429)} refused with 429`);
  assert.equal(count(200) + count(429), 40, `statuses: ${statuses.join(',')}`);
  assert.ok(count(429) >= 24 - 2 && count(200) >= 14, `answered ${count(200)}, refused ${count(429)}`);
  assert.ok(metric(await metrics(), 'regcred_webhook_admissions_total\\{result="throttled"\\}') >= count(429));
  assert.equal(await httpStatus(`http://127.0.0.1:${healthPort}/healthz`), 200);
  await assertAdmissionWorks();
});
