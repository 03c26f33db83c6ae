// Who may write a pull Secret, and what regcred believes of the Secrets it sees, against a real
// kube-apiserver: adopt takes only pull secrets no other credential claims; two credentials claiming
// one Secret do not write it in turn; owner labels count only where the named credential writes; and
// the Secret cache holds no data, so labelled Secrets of 1 MiB each do not fill the heap.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { CoreV1Api, CustomObjectsApi, EventsV1Api, Watch, type V1Secret } from '@kubernetes/client-node';
import { start, type ControlPlane } from '../harness/controlplane.js';
import { installCrds } from '../harness/crds.js';
import { Controller } from '../../src/controller/controller.js';
import { EventRecorder } from '../../src/kube/events.js';
import { secretOrUndefined } from '../harness/kube.js';
import { capturingLogger } from '../harness/provider-tests.js';
import type { PullSecretCandidate } from '../../src/webhook/admission.js';

let cp: ControlPlane;
let core: CoreV1Api;
let custom: CustomObjectsApi;
let eventsApi: EventsV1Api;
let controller: Controller;
const logLines: string[] = [];
const secretsUsed: string[] = [];
const GROUP = 'regcred.dev';
const VERSION = 'v1alpha1';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function password(): string {
  const p = `own-${randomBytes(10).toString('hex')}`;
  secretsUsed.push(p);
  return p;
}

async function eventually<T>(what: string, check: () => Promise<T | undefined | null | false>, timeoutMs = 15_000): Promise<T> {
  const t0 = Date.now();
  let last: unknown;
  while (Date.now() - t0 < timeoutMs) {
    try {
      const v = await check();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    await sleep(50);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}

function newController(): Controller {
  const log = capturingLogger(logLines);
  return new Controller({
    kubeConfig: cp.kubeConfig,
    namespace: 'regcred-system',
    allowCrossNamespaceRefs: false,
    log,
    events: new EventRecorder({ kubeConfig: cp.kubeConfig, controller: 'regcred.dev/controller', instance: 'test', log }),
    minRefreshDelayMs: 1000,
    retryBaseMs: 300,
    retryMaxMs: 2000,
  });
}

async function namespace(name: string, labels: Record<string, string> = {}): Promise<void> {
  await core.createNamespace({ body: { metadata: { name, labels } } });
}

async function source(ns: string, name: string, registry: string, pw: string): Promise<void> {
  await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name }, stringData: { registry, username: 'u', password: pw } } });
}

function pullSecretBody(name: string, registry: string, pw: string, labels: Record<string, string> = {}): V1Secret {
  const config = { auths: { [registry]: { username: 'u', password: pw, auth: Buffer.from(`u:${pw}`).toString('base64') } } };
  return { metadata: { name, labels }, type: 'kubernetes.io/dockerconfigjson', data: { '.dockerconfigjson': Buffer.from(JSON.stringify(config)).toString('base64') } };
}

async function createCrc(name: string, spec: object): Promise<void> {
  await custom.createClusterCustomObject({ group: GROUP, version: VERSION, plural: 'clusterregistrycredentials', body: { apiVersion: `${GROUP}/${VERSION}`, kind: 'ClusterRegistryCredential', metadata: { name }, spec } });
}

async function createRc(ns: string, name: string, spec: object): Promise<void> {
  await custom.createNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: ns, plural: 'registrycredentials', body: { apiVersion: `${GROUP}/${VERSION}`, kind: 'RegistryCredential', metadata: { name, namespace: ns }, spec } });
}

type Status = { failures?: Array<{ namespace: string; reason: string; message: string }>; conditions?: Array<{ type: string; status: string; reason: string }> };

async function crcStatus(name: string): Promise<Status | undefined> {
  const o = (await custom.getClusterCustomObject({ group: GROUP, version: VERSION, plural: 'clusterregistrycredentials', name })) as { status?: Status };
  return o.status;
}

async function rcStatus(ns: string, name: string): Promise<Status | undefined> {
  const o = (await custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: ns, plural: 'registrycredentials', name })) as { status?: Status };
  return o.status;
}

async function warning(eventNamespace: string, regarding: string, reason: string): Promise<string | undefined> {
  const list = await eventsApi.listNamespacedEvent({ namespace: eventNamespace });
  return list.items.find((e) => e.regarding?.name === regarding && e.type === 'Warning' && e.reason === reason)?.note;
}

/** Counts the writes of one Secret (every ADDED/MODIFIED/DELETED is a new resourceVersion) until stop(). */
async function countWrites(ns: string, name: string): Promise<{ versions: Set<string>; stop: () => void }> {
  const versions = new Set<string>();
  const ctl = await new Watch(cp.kubeConfig).watch(
    `/api/v1/namespaces/${ns}/secrets`,
    { fieldSelector: `metadata.name=${name}` },
    (type: string, obj: V1Secret) => {
      if (type !== 'BOOKMARK' && obj.metadata?.resourceVersion) versions.add(obj.metadata.resourceVersion);
    },
    () => {},
  );
  return { versions, stop: () => ctl.abort() };
}

before(async () => {
  cp = await start();
  core = cp.kubeConfig.makeApiClient(CoreV1Api);
  custom = cp.kubeConfig.makeApiClient(CustomObjectsApi);
  eventsApi = cp.kubeConfig.makeApiClient(EventsV1Api);
  await installCrds(cp.kubeConfig);
  await namespace('regcred-system');
  controller = newController();
  await controller.start();
});

after(async () => {
  await controller?.stop();
  await cp?.stop();
  const logs = logLines.join('');
  for (const p of secretsUsed) assert.ok(!logs.includes(p), 'a password appeared in the controller logs');
});

describe('adopt', () => {
  test('adopt on a TLS Secret is refused: the Secret stays byte for byte, the credential says SecretConflict, with a Warning event', async () => {
    await namespace('adopt-tls');
    const tls = await core.createNamespacedSecret({
      namespace: 'adopt-tls',
      body: { metadata: { name: 'pull-tls', labels: { team: 'web' } }, type: 'kubernetes.io/tls', data: { 'tls.crt': Buffer.from('certificate').toString('base64'), 'tls.key': Buffer.from('private key').toString('base64') } },
    });
    await source('regcred-system', 'src-adopt-tls', 'tls.example', password());
    await createCrc('adopt-tls', {
      provider: { static: { secretRef: { name: 'src-adopt-tls' } } },
      target: { secretName: 'pull-tls', namespaces: { names: ['adopt-tls'] }, serviceAccounts: [], adopt: true },
    });
    const status = await eventually('a SecretConflict failure', async () => {
      const s = await crcStatus('adopt-tls');
      return s?.failures?.some((f) => f.reason === 'SecretConflict') ? s : undefined;
    });
    assert.match(status.failures![0]!.message, /Secret adopt-tls\/pull-tls exists and is of type kubernetes\.io\/tls; only kubernetes\.io\/dockerconfigjson or kubernetes\.io\/dockercfg/);
    assert.equal(status.conditions?.find((c) => c.type === 'Ready')?.reason, 'SecretConflict');
    const note = await eventually('a Warning event', () => warning('default', 'adopt-tls', 'SecretConflict'));
    assert.match(note, /pull-tls/);
    await sleep(1000);
    const now = await core.readNamespacedSecret({ namespace: 'adopt-tls', name: 'pull-tls' });
    assert.equal(now.metadata?.resourceVersion, tls.metadata?.resourceVersion, 'never written');
    assert.equal(now.metadata?.uid, tls.metadata?.uid);
    assert.equal(now.type, 'kubernetes.io/tls');
    assert.deepEqual(now.data, tls.data);
    assert.deepEqual(now.metadata?.labels, { team: 'web' });
  });

  test('two credentials adopting the same Secret for 10 s: bounded writes, the owner keeps it, both report the conflict', async () => {
    await namespace('two-claims');
    const pwA = password();
    const pwB = password();
    await core.createNamespacedSecret({ namespace: 'two-claims', body: pullSecretBody('shared-pull', 'old.example', 'old-password') });
    const writes = await countWrites('two-claims', 'shared-pull');
    try {
      await source('regcred-system', 'src-claim-a', 'a.example', pwA);
      await source('two-claims', 'src-claim-b', 'b.example', pwB);
      await createCrc('claim-a', {
        provider: { static: { secretRef: { name: 'src-claim-a' } } },
        target: { secretName: 'shared-pull', namespaces: { names: ['two-claims'] }, serviceAccounts: [], adopt: true },
      });
      await createRc('two-claims', 'claim-b', {
        provider: { static: { secretRef: { name: 'src-claim-b' } } },
        target: { secretName: 'shared-pull', serviceAccounts: [], adopt: true },
      });
      await sleep(10_000);
      const current = await core.readNamespacedSecret({ namespace: 'two-claims', name: 'shared-pull' });
      const owner = current.metadata?.labels?.['regcred.dev/owner-name'];
      assert.ok(owner === 'claim-a' || owner === 'claim-b', `owned by one of them: ${owner}`);
      // The pre-existing Secret's version, at most one adoption, perhaps one lost race re-read: never a loop.
      assert.ok(writes.versions.size <= 3, `${writes.versions.size} versions of the Secret in 10 s`);
      const other = owner === 'claim-a' ? 'RegistryCredential/two-claims/claim-b' : 'ClusterRegistryCredential/claim-a';
      const a = await eventually('claim-a reports the conflict', async () => {
        const s = await crcStatus('claim-a');
        return s?.failures?.find((f) => f.namespace === 'two-claims' && f.reason === 'SecretConflict');
      });
      const b = await eventually('claim-b reports the conflict', async () => {
        const s = await rcStatus('two-claims', 'claim-b');
        return s?.failures?.find((f) => f.namespace === 'two-claims' && f.reason === 'SecretConflict');
      });
      if (owner === 'claim-a') {
        assert.match(a.message, new RegExp(`also claimed by ${other}`));
        assert.match(b.message, /managed by ClusterRegistryCredential\/claim-a; it stays with that credential/);
      } else {
        assert.match(a.message, /managed by RegistryCredential\/two-claims\/claim-b; it stays with that credential/);
        assert.match(b.message, /also claimed by ClusterRegistryCredential\/claim-a/);
      }
      for (const m of [a.message, b.message]) for (const p of [pwA, pwB]) assert.ok(!m.includes(p), 'no secret value in the status');
      await eventually('a Warning event for claim-a', () => warning('default', 'claim-a', 'SecretConflict'));
      await eventually('a Warning event for claim-b', () => warning('two-claims', 'claim-b', 'SecretConflict'));
    } finally {
      writes.stop();
    }
  });
});

describe('owner labels', () => {
  test('a Secret a tenant forges in its own namespace, naming a ClusterRegistryCredential, is never copied nor reported as its content', async () => {
    await namespace('tenant-forger');
    await namespace('trusted-app', { pull: 'trusted' });
    const fake = password();
    const forgedLabels = { 'app.kubernetes.io/managed-by': 'regcred', 'regcred.dev/owner-kind': 'ClusterRegistryCredential', 'regcred.dev/owner-name': 'trusted' };
    // Under the credential's own Secret name and under another one, in a namespace it does not target.
    for (const name of ['trusted-pull', 'anything']) {
      await core.createNamespacedSecret({ namespace: 'tenant-forger', body: pullSecretBody(name, 'evil.example', fake, forgedLabels) });
    }
    // The credential cannot mint (its source Secret is missing): nothing trustworthy exists anywhere.
    await createCrc('trusted', {
      provider: { static: { secretRef: { name: 'src-trusted-missing' } } },
      target: { secretName: 'trusted-pull', namespaces: { selector: { matchLabels: { pull: 'trusted' } } }, serviceAccounts: [] },
    });
    const standby = newController();
    await standby.startCaches();
    try {
      await eventually('the standby knows the credential', async () => standby.informers.crc.get('trusted'));
      const signal = AbortSignal.timeout(5000);
      const candidates = await standby.admissionCandidates('trusted-app', signal);
      assert.deepEqual(candidates.candidates, [], 'no content to offer: the forged Secret is not the credential\'s');
      const forgedCandidate: PullSecretCandidate = { key: 'ClusterRegistryCredential/trusted', secretName: 'trusted-pull', registries: ['evil.example'], serviceAccounts: [] };
      assert.equal(await standby.admissionEnsureSecret(forgedCandidate, 'trusted-app', signal), 'unavailable');
      await sleep(1000);
      assert.equal(await secretOrUndefined(core, 'trusted-app', 'trusted-pull'), undefined, 'nothing copied into the targeted namespace, by either replica');

      // Once the credential mints, the standby hands out what it wrote where it targets, never the forgery.
      const real = password();
      await source('regcred-system', 'src-trusted-missing', 'real.example', real);
      await custom.patchClusterCustomObject({ group: GROUP, version: VERSION, plural: 'clusterregistrycredentials', name: 'trusted', body: [{ op: 'add', path: '/spec/refresh', value: { interval: '1h' } }] });
      await eventually('the leader wrote the real Secret', async () => (await secretOrUndefined(core, 'trusted-app', 'trusted-pull'))?.metadata?.labels?.['regcred.dev/owner-name'] === 'trusted');
      await eventually('the standby saw it', async () => standby.informers.secrets.get('trusted-app/trusted-pull'));
      await namespace('trusted-new', { pull: 'trusted' });
      await eventually('the standby saw the new namespace', async () => standby.informers.namespaces.get('trusted-new'));
      const now = await standby.admissionCandidates('trusted-new', AbortSignal.timeout(5000));
      assert.deepEqual(now.candidates.map((c) => c.registries), [['real.example']]);
      // The leader writes it too: whichever comes first, the content is the credential's.
      assert.match(await standby.admissionEnsureSecret(now.candidates[0]!, 'trusted-new', AbortSignal.timeout(5000)), /^(created|exists)$/);
      const copied = await eventually('the Secret in the new namespace', () => secretOrUndefined(core, 'trusted-new', 'trusted-pull'));
      const text = Buffer.from(copied.data!['.dockerconfigjson']!, 'base64').toString('utf8');
      assert.ok(text.includes(real) && !text.includes(fake), 'the credential\'s content, not the forgery');
      for (const ns of ['trusted-app', 'trusted-new']) {
        const s = await core.readNamespacedSecret({ namespace: ns, name: 'trusted-pull' });
        assert.ok(!Buffer.from(s.data!['.dockerconfigjson']!, 'base64').toString('utf8').includes(fake), `${ns}: no forged data`);
      }
    } finally {
      await standby.stop();
    }
  });
});

describe('the Secret cache', () => {
  function gcHeap(): number {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    gc();
    gc();
    return process.memoryUsage().heapUsed;
  }

  test('100 labelled Secrets of 1 MiB each: the heap grows far less than 100 MiB; a hand-edited managed Secret is still restored', async () => {
    await namespace('heap-tenant');
    await namespace('heap-app', { heap: 'yes' });
    const pw = password();
    await source('regcred-system', 'src-heap', 'heap.example', pw);
    await createCrc('heap', {
      provider: { static: { secretRef: { name: 'src-heap' } } },
      target: { secretName: 'heap-pull', namespaces: { selector: { matchLabels: { heap: 'yes' } } }, serviceAccounts: [] },
    });
    await eventually('the managed Secret', async () => (await secretOrUndefined(core, 'heap-app', 'heap-pull'))?.metadata?.labels?.['regcred.dev/owner-name'] === 'heap');
    const baseline = gcHeap();
    const blob = randomBytes(1024 * 1024 - 4096).toString('base64').slice(0, 1024 * 1024 - 4096);
    // Only the label the informer selects on (owner labels naming a credential would make that
    // credential clean them up as Secrets of namespaces it no longer targets).
    const labels = { 'app.kubernetes.io/managed-by': 'regcred' };
    for (let i = 0; i < 100; i++) {
      await core.createNamespacedSecret({ namespace: 'heap-tenant', body: { metadata: { name: `big-${i}`, labels }, type: 'Opaque', stringData: { blob } } });
    }
    await eventually('the cache holds all 100', async () => [...controller.informers.secrets.values()].filter((s) => s.metadata?.namespace === 'heap-tenant').length === 100, 60_000);
    const cached = controller.informers.secrets.get('heap-tenant/big-7');
    assert.equal(cached?.data, undefined, 'no data in the cache');
    const grown = gcHeap() - baseline;
    console.log(`# heap after 100 x 1 MiB labelled Secrets: +${(grown / 1048576).toFixed(1)} MiB`);
    assert.ok(grown < 20 * 1048576, `heap grew by ${(grown / 1048576).toFixed(1)} MiB`);

    // A second controller starting now lists them (small pages, slimmed as they arrive).
    const base2 = gcHeap();
    const fresh = newController();
    await fresh.startCaches();
    try {
      const grown2 = gcHeap() - base2;
      console.log(`# heap of a fresh controller's caches with them: +${(grown2 / 1048576).toFixed(1)} MiB`);
      assert.ok(grown2 < 20 * 1048576, `a fresh controller's caches took ${(grown2 / 1048576).toFixed(1)} MiB`);
    } finally {
      await fresh.stop();
    }

    // Edit detection works through the digest: a hand edit of the managed Secret's data is undone.
    const managed = await core.readNamespacedSecret({ namespace: 'heap-app', name: 'heap-pull' });
    await core.replaceNamespacedSecret({ namespace: 'heap-app', name: 'heap-pull', body: { ...managed, data: pullSecretBody('x', 'edited.example', 'edited').data! } });
    const restored = await eventually('the edit undone', async () => {
      const s = await secretOrUndefined(core, 'heap-app', 'heap-pull');
      const text = s?.data?.['.dockerconfigjson'] ? Buffer.from(s.data['.dockerconfigjson'], 'base64').toString('utf8') : '';
      return text.includes(pw) ? s : undefined;
    });
    assert.equal(restored.metadata?.uid, managed.metadata?.uid, 'in place');
    await core.deleteCollectionNamespacedSecret({ namespace: 'heap-tenant' });
  });
});
