// The mutating admission webhook against a real API server, which calls it over HTTPS on loopback
// (a MutatingWebhookConfiguration with a URL client config, failurePolicy Ignore, sideEffects
// NoneOnDryRun, reinvocationPolicy IfNeeded, kube-system and regcred-system excluded, as the chart
// renders it). `regcred controller --webhook-bind-address` runs as its own process, makes its own CA
// and certificate, and patches the CA bundle into the configuration.
//  - a namespace and a Pod in it created at once: the Pod as stored references the Secret and the
//    Secret exists when the Pod is admitted;
//  - the race itself, with the controller's queue stopped (in process): only the webhook can write
//    the Secret, from the credential minted in memory; a standby replica (caches only, nothing
//    minted) copies it from a Secret the leader wrote elsewhere;
//  - Pods whose images match no credential, or that already list the Secret, are unchanged;
//  - a dry run gets the patch but writes nothing;
//  - the webhook down: Pods are admitted unchanged (failurePolicy Ignore);
//  - certificate and CA renewal every few seconds: every Pod created meanwhile is patched.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:tls';
import { AdmissionregistrationV1Api, CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import { freePort, start, type ControlPlane } from '../harness/controlplane.js';
import { installCrds } from '../harness/crds.js';
import { spawnController, createClusterCredential, type ControllerProcess } from '../harness/controller-process.js';
import { eventually } from '../harness/eventually.js';
import { createPodWhenAdmissible, secretOrUndefined } from '../harness/kube.js';
import { capturingLogger } from '../harness/provider-tests.js';
import { rememberLogin, rememberSecret, assertNoLeak } from '../harness/leak-guard.js';
import { Controller } from '../../src/controller/controller.js';
import { SelfManagedCertificates } from '../../src/webhook/tls.js';
import { startWebhookServer, type WebhookServer } from '../../src/webhook/server.js';
import { certInfo } from '../../src/webhook/certs.js';

const REGISTRY = 'registry.webhook.test:5000';
const IMAGE = `${REGISTRY}/team/app:1.0`;
const PASSWORD = 'webhook-test-password-7f3a9c';
const SECRET = 'wh-pull';
const LABEL = { pulls: 'private' };

let cp: ControlPlane;
let core: CoreV1Api;
let admission: AdmissionregistrationV1Api;
let ctl: ControllerProcess;
let webhookPort: number;
let nsCounter = 0;

function webhookConfiguration(name: string, port: number) {
  const hook = (resource: string, path: string) => ({
    name: `${resource}.regcred.dev`,
    admissionReviewVersions: ['v1'],
    clientConfig: { url: `https://127.0.0.1:${port}${path}` },
    rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: [resource], scope: 'Namespaced' }],
    failurePolicy: 'Ignore',
    sideEffects: 'NoneOnDryRun',
    timeoutSeconds: 5,
    reinvocationPolicy: 'IfNeeded',
    namespaceSelector: { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system', 'regcred-system'] }] },
  });
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name },
    webhooks: [hook('pods', '/mutate-v1-pod'), hook('serviceaccounts', '/mutate-v1-serviceaccount')],
  };
}

async function newNamespace(labels: Record<string, string> = LABEL): Promise<string> {
  const name = `wh-${++nsCounter}-${Date.now() % 100000}`;
  await core.createNamespace({ body: { metadata: { name, labels } } });
  return name;
}

function pod(name: string, images: string[], extra: Partial<NonNullable<V1Pod['spec']>> = {}): V1Pod {
  return { metadata: { name }, spec: { containers: images.map((image, i) => ({ name: `c${i}`, image })), ...extra } };
}

function createPod(namespace: string, body: V1Pod, dryRun = false): Promise<V1Pod> {
  return createPodWhenAdmissible(core, namespace, body, { dryRun });
}

/** Plain objects: client-node returns class instances. */
function refs(list: Array<{ name?: string }> | undefined): Array<{ name?: string }> | undefined {
  return list?.map((r) => ({ name: r.name }));
}

async function secretExists(namespace: string, name = SECRET): Promise<boolean> {
  return (await secretOrUndefined(core, namespace, name)) !== undefined;
}

async function caBundleOf(name: string): Promise<string> {
  const c = await admission.readMutatingWebhookConfiguration({ name });
  return c.webhooks?.[0]?.clientConfig.caBundle ?? '';
}

/** The serial number of the certificate a TLS server presents. */
function servedSerial(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      resolve(s.getPeerCertificate().serialNumber);
      s.end();
    });
    s.on('error', reject);
  });
}

before(async () => {
  cp = await start();
  core = cp.kubeConfig.makeApiClient(CoreV1Api);
  admission = cp.kubeConfig.makeApiClient(AdmissionregistrationV1Api);
  await installCrds(cp.kubeConfig);
  await core.createNamespace({ body: { metadata: { name: 'regcred-system' } } });
  rememberSecret(PASSWORD);
  rememberLogin('robot', PASSWORD);
  await core.createNamespacedSecret({ namespace: 'regcred-system', body: { metadata: { name: 'wh-src' }, stringData: { registry: REGISTRY, username: 'robot', password: PASSWORD } } });
  await createClusterCredential(cp.kubeConfig, 'wh', {
    provider: { static: { secretRef: { name: 'wh-src' } } },
    // No service-account patching here: the API server's ServiceAccount admission copies a patched
    // service account's imagePullSecrets into every Pod before webhooks run, which would hide what
    // the webhook does (docs/webhook.md: how the two work together).
    target: { secretName: SECRET, namespaces: { selector: { matchLabels: LABEL } }, serviceAccounts: [] },
  });
  // Another registry, for service accounts named "builder" (the service-account webhook).
  await core.createNamespacedSecret({ namespace: 'regcred-system', body: { metadata: { name: 'wh-builder-src' }, stringData: { registry: 'builder.webhook.test', username: 'builder', password: `${PASSWORD}-b` } } });
  rememberSecret(`${PASSWORD}-b`);
  await createClusterCredential(cp.kubeConfig, 'wh-builder', {
    provider: { static: { secretRef: { name: 'wh-builder-src' } } },
    target: { secretName: 'wh-builder-pull', namespaces: { selector: { matchLabels: LABEL } }, serviceAccounts: ['builder'] },
  });
  webhookPort = await freePort();
  await admission.createMutatingWebhookConfiguration({ body: webhookConfiguration('regcred-test', webhookPort) });
  ctl = spawnController(cp.kubeconfigPath, {
    args: ['--webhook-bind-address', `127.0.0.1:${webhookPort}`, '--webhook-host', '127.0.0.1', '--webhook-configuration-name', 'regcred-test', '--log-format', 'json'],
  });
  await eventually('the CA bundle patched into the configuration', async () => (await caBundleOf('regcred-test')).length > 0, 30_000, () => ctl.output.join(''));
});

after(async () => {
  await ctl?.stop();
  await cp?.stop();
});

describe('webhook served by `regcred controller`', () => {
  test('its CA and certificate are kept in a Secret; the bundle verifies the served certificate', async () => {
    const tls = await core.readNamespacedSecret({ namespace: 'regcred-system', name: 'regcred-webhook-tls' });
    assert.equal(tls.type, 'kubernetes.io/tls');
    const bundle = Buffer.from(await caBundleOf('regcred-test'), 'base64').toString('utf8');
    assert.equal(bundle, Buffer.from(tls.data!['ca.crt']!, 'base64').toString('utf8'));
    const serving = certInfo(Buffer.from(tls.data!['tls.crt']!, 'base64').toString('utf8'))!;
    assert.deepEqual(serving.hosts, ['127.0.0.1']);
    assert.equal(await servedSerial(webhookPort), serving.serial);
  });

  test('a namespace and a Pod created at once: the stored Pod references the Secret, and the Secret exists', async () => {
    const ns = await newNamespace();
    const created = await createPod(ns, pod('app', [IMAGE]));
    assert.deepEqual(refs(created.spec?.imagePullSecrets), [{ name: SECRET }]);
    assert.ok(await secretExists(ns), 'the Secret exists when the Pod has been admitted');
    const stored = await core.readNamespacedPod({ namespace: ns, name: 'app' });
    assert.deepEqual(refs(stored.spec?.imagePullSecrets), [{ name: SECRET }]);
  });

  test('init containers count; an image on another registry alone does not', async () => {
    const ns = await newNamespace();
    const p = pod('mixed', ['docker.io/library/busybox:1.36'], { initContainers: [{ name: 'init', image: `${REGISTRY}/team/init@sha256:${'a'.repeat(64)}` }] });
    assert.deepEqual(refs((await createPod(ns, p)).spec?.imagePullSecrets), [{ name: SECRET }]);
    const other = await createPod(ns, pod('public', ['busybox:1.36', 'ghcr.io/acme/tool:2']));
    assert.equal(other.spec?.imagePullSecrets, undefined, 'images on no credential\'s registry: unchanged');
  });

  test('a Pod that already lists the Secret is unchanged (one entry, not two); other references are kept', async () => {
    const ns = await newNamespace();
    const same = await createPod(ns, pod('listed', [IMAGE], { imagePullSecrets: [{ name: SECRET }] }));
    assert.deepEqual(refs(same.spec?.imagePullSecrets), [{ name: SECRET }]);
    const others = await createPod(ns, pod('others', [IMAGE], { imagePullSecrets: [{ name: 'team-secret' }] }));
    assert.deepEqual(refs(others.spec?.imagePullSecrets), [{ name: 'team-secret' }, { name: SECRET }]);
  });

  test('namespaces the credential does not target, and Pods that opt out, are unchanged', async () => {
    const untargeted = await newNamespace({ pulls: 'public' });
    assert.equal((await createPod(untargeted, pod('app', [IMAGE]))).spec?.imagePullSecrets, undefined);
    assert.equal(await secretExists(untargeted), false);
    const ns = await newNamespace();
    const optOut = await createPod(ns, { ...pod('opt-out', [IMAGE]), metadata: { name: 'opt-out', annotations: { 'regcred.dev/inject': 'false' } } });
    assert.equal(optOut.spec?.imagePullSecrets, undefined);
  });

  test('a service account created in a targeted namespace is born with the pull secrets of credentials that name it', async () => {
    const ns = await newNamespace();
    // The create response is the object as admitted: the controller cannot have patched it yet.
    const builder = await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: 'builder' } } });
    assert.deepEqual(refs(builder.imagePullSecrets), [{ name: 'wh-builder-pull' }]);
    assert.ok(await secretExists(ns, 'wh-builder-pull'), 'and its Secret exists');
    const other = await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: 'other' } } });
    assert.equal(other.imagePullSecrets, undefined, 'a service account no credential names: unchanged');
    // A Pod of that service account gets the reference from it (ServiceAccount admission), once.
    const p = await createPod(ns, pod('built', ['builder.webhook.test/tools/kaniko:1'], { serviceAccountName: 'builder' }));
    assert.deepEqual(refs(p.spec?.imagePullSecrets), [{ name: 'wh-builder-pull' }]);
  });

  test('metrics count what the webhook answered', async () => {
    const port = await eventually('metrics port', async () => Number(/"metricsPort":(\d+)/.exec(ctl.output.join(''))?.[1]) || undefined);
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const patched = Number(/regcred_webhook_admissions_total\{result="patched"\} (\d+)/.exec(text)?.[1]);
    const unchanged = Number(/regcred_webhook_admissions_total\{result="unchanged"\} (\d+)/.exec(text)?.[1]);
    assert.ok(patched >= 3, `patched ${patched}`);
    assert.ok(unchanged >= 3, `unchanged ${unchanged}`);
  });
});

describe('the admission race, with the controller doing nothing (in process)', () => {
  let leader: Controller;
  let standby: Controller;
  let servers: WebhookServer[] = [];
  let certs: SelfManagedCertificates[] = [];
  const logLines: string[] = [];

  async function serve(controller: Controller, configuration: string): Promise<number> {
    const port = await freePort();
    await admission.createMutatingWebhookConfiguration({ body: webhookConfiguration(configuration, port) });
    const log = capturingLogger(logLines);
    const c = new SelfManagedCertificates({
      kubeConfig: cp.kubeConfig,
      namespace: 'regcred-system',
      secretName: `${configuration}-tls`,
      configurationName: configuration,
      hosts: ['127.0.0.1'],
      caValidityMs: 3600_000,
      certValidityMs: 3600_000,
      log,
    });
    await c.start();
    certs.push(c);
    servers.push(
      await startWebhookServer({
        host: '127.0.0.1',
        port,
        certificates: c,
        log,
        backend: {
          candidatesFor: (ns, signal) => controller.admissionCandidates(ns, signal),
          ensureSecret: (candidate, ns, signal) => controller.admissionEnsureSecret(candidate, ns, signal),
        },
      }),
    );
    // The API server reads webhook configurations through its own watch.
    await new Promise((r) => setTimeout(r, 1500));
    return port;
  }

  before(async () => {
    // The process-level controller and its webhook go away: only the in-process ones below act.
    await ctl.stop();
    await admission.deleteMutatingWebhookConfiguration({ name: 'regcred-test' });
    const make = () =>
      new Controller({ kubeConfig: cp.kubeConfig, namespace: 'regcred-system', allowCrossNamespaceRefs: false, log: capturingLogger(logLines), minRefreshDelayMs: 1000 });
    leader = make();
    await leader.start();
    await eventually('the leader minted and wrote the credential', async () => {
      const seeded = await core.listSecretForAllNamespaces({ labelSelector: 'regcred.dev/owner-name=wh' });
      return seeded.items.length > 0;
    });
    // From here on the leader reconciles nothing: its queue is stopped, its caches and the
    // credential it minted stay. Any Secret that appears is the webhook's doing.
    await leader.queue.stop();
    standby = make();
    await standby.startCaches();
  });

  after(async () => {
    for (const s of servers) await s.close();
    for (const c of certs) await c.stop();
    await leader?.stop();
    await standby?.stop();
    assertNoLeak(logLines.join(''), 'the in-process webhook logs');
  });

  test('leader: the webhook writes the Secret from the credential in memory before admitting the Pod', async () => {
    await serve(leader, 'regcred-leader');
    const ns = await newNamespace();
    assert.equal(await secretExists(ns), false, 'nobody wrote it yet');
    const created = await createPod(ns, pod('app', [IMAGE]));
    assert.deepEqual(refs(created.spec?.imagePullSecrets), [{ name: SECRET }]);
    const secret = await core.readNamespacedSecret({ namespace: ns, name: SECRET });
    const auths = JSON.parse(Buffer.from(secret.data!['.dockerconfigjson']!, 'base64').toString('utf8')) as { auths: Record<string, { password: string }> };
    assert.equal(auths.auths[REGISTRY]?.password, PASSWORD);
    assert.equal(secret.metadata?.labels?.['regcred.dev/owner-name'], 'wh', 'written as regcred writes it, so the controller owns it afterwards');
  });

  test('dry run: the patch is returned, nothing is written', async () => {
    const ns = await newNamespace();
    const dry = await createPod(ns, pod('dry', [IMAGE]), true);
    assert.deepEqual(refs(dry.spec?.imagePullSecrets), [{ name: SECRET }]);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(await secretExists(ns), false, 'a dry run writes no Secret');
    await assert.rejects(core.readNamespacedPod({ namespace: ns, name: 'dry' }), 'nor a Pod');
  });

  test('standby replica (caches only, nothing minted): copies the Secret the leader wrote elsewhere', async () => {
    for (const s of servers.splice(0)) await s.close();
    await admission.deleteMutatingWebhookConfiguration({ name: 'regcred-leader' });
    await serve(standby, 'regcred-standby');
    const ns = await newNamespace();
    const created = await createPod(ns, pod('app', [IMAGE]));
    assert.deepEqual(refs(created.spec?.imagePullSecrets), [{ name: SECRET }]);
    const secret = await core.readNamespacedSecret({ namespace: ns, name: SECRET });
    assert.match(Buffer.from(secret.data!['.dockerconfigjson']!, 'base64').toString('utf8'), new RegExp(REGISTRY.replace(/\./g, '\\.')));
  });

  test('the webhook down: the Pod is admitted unchanged (failurePolicy Ignore)', async () => {
    for (const s of servers.splice(0)) await s.close();
    const ns = await newNamespace();
    const created = await createPod(ns, pod('app', [IMAGE]));
    assert.equal(created.spec?.imagePullSecrets, undefined);
  });
});

describe('certificate renewal under load', () => {
  test('serving certificate every 4 s and the CA once: every Pod created meanwhile is patched', async () => {
    for (const name of ['regcred-standby']) await admission.deleteMutatingWebhookConfiguration({ name }).catch(() => undefined);
    const port = await freePort();
    await admission.createMutatingWebhookConfiguration({ body: webhookConfiguration('regcred-rotating', port) });
    const rotating = spawnController(cp.kubeconfigPath, {
      args: [
        '--webhook-bind-address', `127.0.0.1:${port}`,
        '--webhook-host', '127.0.0.1',
        '--webhook-configuration-name', 'regcred-rotating',
        '--webhook-secret-name', 'regcred-rotating-tls',
        '--webhook-cert-validity', '6s',
        '--webhook-ca-validity', '30s',
        '--log-format', 'json',
      ],
    });
    try {
      await eventually('the rotating webhook serves', async () => (await caBundleOf('regcred-rotating')).length > 0 && (await servedSerial(port)), 30_000, () => rotating.output.join(''));
      await new Promise((r) => setTimeout(r, 1500));
      const ns = await newNamespace();
      const serials = new Set<string>();
      let pods = 0;
      const failures: string[] = [];
      for (const end = Date.now() + 32_000; Date.now() < end; ) {
        serials.add(await servedSerial(port));
        const created = await createPod(ns, pod(`p-${pods}`, [IMAGE]));
        if (created.spec?.imagePullSecrets?.[0]?.name !== SECRET) failures.push(created.metadata?.name ?? '?');
        pods++;
        await new Promise((r) => setTimeout(r, 400));
      }
      const renewals = rotating.output.join('').match(/webhook serving certificate issued/g)?.length ?? 0;
      const caRenewals = rotating.output.join('').match(/"renewed":\["ca","serving"\]/g)?.length ?? 0;
      console.log(`[webhook] ${pods} Pods over 32 s, ${serials.size} serving certificates seen, ${renewals} issued (${caRenewals} with a new CA); unpatched: ${failures.length}`);
      assert.deepEqual(failures, [], 'every Pod was patched: the API server kept trusting the webhook');
      assert.ok(serials.size >= 4, `served certificates: ${serials.size}`);
      assert.ok(caRenewals >= 2, 'the CA was renewed at least once after the first');
    } finally {
      assert.equal(await rotating.stop(), 0);
    }
  });
});
