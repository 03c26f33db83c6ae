// The webhook's decisions as pure functions: image references parsed as the distribution reference
// grammar does, .dockerconfigjson keys matched as the kubelet matches them, and the JSON patch; and
// admit's contract: never refuse, nothing written on a dry run, errors admit unchanged.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decidePod, decideServiceAccount, type PullSecretCandidate } from '../../src/webhook/admission.js';
import { imageLocation, registryMatchesImage } from '../../src/credential/keyring.js';
import { admit, type PodAdmissionBackend } from '../../src/webhook/server.js';
import { capturingLogger } from '../harness/provider-tests.js';

test('imageLocation: hosts, Docker Hub defaults, tags and digests', () => {
  assert.deepEqual(imageLocation('busybox'), { host: 'docker.io', path: 'library/busybox' });
  assert.deepEqual(imageLocation('busybox:1.36'), { host: 'docker.io', path: 'library/busybox' });
  assert.deepEqual(imageLocation('acme/tool:2'), { host: 'docker.io', path: 'acme/tool' });
  assert.deepEqual(imageLocation('index.docker.io/acme/tool'), { host: 'docker.io', path: 'acme/tool' });
  assert.deepEqual(imageLocation('localhost/app'), { host: 'localhost', path: 'app' });
  assert.deepEqual(imageLocation('Registry.Example:5000/team/app:1.0'), { host: 'registry.example:5000', path: 'team/app' });
  assert.deepEqual(imageLocation(`123456789012.dkr.ecr.eu-west-1.amazonaws.com/app@sha256:${'b'.repeat(64)}`), { host: '123456789012.dkr.ecr.eu-west-1.amazonaws.com', path: 'app' });
  assert.deepEqual(imageLocation('europe-docker.pkg.dev/proj/repo/img:tag@sha256:abc'), { host: 'europe-docker.pkg.dev', path: 'proj/repo/img' });
});

test('registryMatchesImage: host and port exact, "*" for one label, path prefixes at "/" boundaries, Docker Hub aliases', () => {
  const yes: Array<[string, string]> = [
    ['registry.example:5000', 'registry.example:5000/team/app:1'],
    ['https://registry.example:5000', 'registry.example:5000/team/app'],
    ['https://index.docker.io/v1/', 'busybox'],
    ['docker.io', 'acme/tool'],
    ['*.gcr.io', 'eu.gcr.io/proj/img'],
    ['europe-docker.pkg.dev/proj', 'europe-docker.pkg.dev/proj/repo/img'],
    ['cgr.dev', 'cgr.dev/acme.com/python:latest'],
    // Go's filepath.Match per label, as the kubelet applies it.
    ['*.dkr.ecr.*.amazonaws.com', '123456789012.dkr.ecr.eu-west-1.amazonaws.com/app'],
    ['r?.example.com', 'r1.example.com/app'],
    ['r[0-9].example.com', 'r7.example.com/app'],
  ];
  const no: Array<[string, string]> = [
    ['registry.example', 'registry.example:5000/team/app'],
    ['registry.example:5000', 'registry.example/team/app'],
    ['*.gcr.io', 'gcr.io/proj/img'],
    ['*.gcr.io', 'a.b.gcr.io/proj/img'],
    ['europe-docker.pkg.dev/proj', 'europe-docker.pkg.dev/project2/img'],
    ['ghcr.io', 'busybox'],
    ['docker.io', 'ghcr.io/acme/tool'],
    ['r?.example.com', 'r10.example.com/app'],
    ['r[0-9].example.com', 'ra.example.com/app'],
  ];
  for (const [key, image] of yes) assert.equal(registryMatchesImage(key, image), true, `${key} should match ${image}`);
  for (const [key, image] of no) assert.equal(registryMatchesImage(key, image), false, `${key} should not match ${image}`);
});

const ecr: PullSecretCandidate = { key: 'ClusterRegistryCredential/ecr', secretName: 'ecr-pull', registries: ['123456789012.dkr.ecr.eu-west-1.amazonaws.com'] };
const hub: PullSecretCandidate = { key: 'ClusterRegistryCredential/hub', secretName: 'hub-pull', registries: ['https://index.docker.io/v1/'] };
const ECR_IMAGE = '123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:1';

test('decidePod: adds only the matching secrets; a whole list when there is none, appends otherwise', () => {
  const bare = decidePod({ spec: { containers: [{ image: ECR_IMAGE }] } }, [ecr, hub]);
  assert.deepEqual(bare.patch, [{ op: 'add', path: '/spec/imagePullSecrets', value: [{ name: 'ecr-pull' }] }]);
  const withList = decidePod({ spec: { containers: [{ image: ECR_IMAGE }], initContainers: [{ image: 'busybox' }], imagePullSecrets: [{ name: 'mine' }] } }, [ecr, hub]);
  assert.deepEqual(withList.patch, [
    { op: 'add', path: '/spec/imagePullSecrets/-', value: { name: 'ecr-pull' } },
    { op: 'add', path: '/spec/imagePullSecrets/-', value: { name: 'hub-pull' } },
  ]);
  const ephemeral = decidePod({ spec: { containers: [{ image: 'ghcr.io/x/y' }], ephemeralContainers: [{ image: ECR_IMAGE }] } }, [ecr]);
  assert.equal(ephemeral.added.length, 1);
});

test('decidePod: unchanged when already referenced, no image matches, no images, or opted out; one reference per name', () => {
  assert.equal(decidePod({ spec: { containers: [{ image: ECR_IMAGE }], imagePullSecrets: [{ name: 'ecr-pull' }] } }, [ecr]).skipped, 'already-referenced');
  assert.equal(decidePod({ spec: { containers: [{ image: 'ghcr.io/x/y' }] } }, [ecr]).skipped, 'no-match');
  assert.equal(decidePod({ spec: { containers: [] } }, [ecr]).skipped, 'no-images');
  assert.equal(decidePod({ metadata: { annotations: { 'regcred.dev/inject': 'false' } }, spec: { containers: [{ image: ECR_IMAGE }] } }, [ecr]).skipped, 'opted-out');
  const twin = { ...ecr, key: 'RegistryCredential/team/ecr' };
  assert.equal(decidePod({ spec: { containers: [{ image: ECR_IMAGE }] } }, [ecr, twin]).added.length, 1);
});

function backend(over: Partial<PodAdmissionBackend> = {}, calls: string[] = []): PodAdmissionBackend {
  return {
    candidatesFor: async () => ({ candidates: [ecr] }),
    ensureSecret: async (c, ns) => {
      calls.push(`${ns}/${c.secretName}`);
      return 'created';
    },
    ...over,
  };
}
const podRequest = (extra: Record<string, unknown> = {}) => ({
  uid: 'u-1',
  kind: { group: '', version: 'v1', kind: 'Pod' },
  namespace: 'team-a',
  operation: 'CREATE',
  object: { metadata: { generateName: 'web-' }, spec: { containers: [{ image: ECR_IMAGE }] } },
  ...extra,
});

test('admit: writes the Secret, then answers with the patch', async () => {
  const calls: string[] = [];
  const { response, result } = await admit(podRequest(), { backend: backend({}, calls), log: capturingLogger([]) });
  assert.equal(result, 'patched');
  assert.equal(response.uid, 'u-1');
  assert.equal(response.allowed, true);
  assert.equal(response.patchType, 'JSONPatch');
  assert.deepEqual(JSON.parse(Buffer.from(response.patch!, 'base64').toString('utf8')), [{ op: 'add', path: '/spec/imagePullSecrets', value: [{ name: 'ecr-pull' }] }]);
  assert.deepEqual(calls, ['team-a/ecr-pull']);
});

test('admit: a dry run gets the patch and writes nothing', async () => {
  const calls: string[] = [];
  const { response } = await admit(podRequest({ dryRun: true }), { backend: backend({}, calls), log: capturingLogger([]) });
  assert.ok(response.patch);
  assert.deepEqual(calls, []);
});

test('admit: the Secret cannot be written → still referenced, with a warning; the controller writes it later', async () => {
  const lines: string[] = [];
  const { response, result } = await admit(podRequest(), {
    backend: backend({ ensureSecret: async () => Promise.reject(new Error('forbidden')) }),
    log: capturingLogger(lines),
  });
  assert.equal(result, 'patched');
  assert.match(response.warnings?.[0] ?? '', /ecr-pull is not written yet/);
  assert.match(lines.join(''), /cannot write the pull secret/);
});

test('admit: never refuses; errors and other objects are admitted unchanged', async () => {
  const failing = await admit(podRequest(), { backend: backend({ candidatesFor: async () => Promise.reject(new Error('API down')) }), log: capturingLogger([]) });
  assert.deepEqual(failing, { response: { uid: 'u-1', allowed: true }, result: 'error' });
  const update = await admit(podRequest({ operation: 'UPDATE' }), { backend: backend(), log: capturingLogger([]) });
  assert.deepEqual(update.response, { uid: 'u-1', allowed: true });
  const sa = await admit(podRequest({ kind: { group: '', version: 'v1', kind: 'ServiceAccount' } }), { backend: backend(), log: capturingLogger([]) });
  assert.deepEqual(sa.response, { uid: 'u-1', allowed: true });
  const optedOutNs = await admit(podRequest(), { backend: backend({ candidatesFor: async () => ({ candidates: [ecr], optedOut: true }) }), log: capturingLogger([]) });
  assert.equal(optedOutNs.result, 'unchanged');
});

test('admit: a slow backend is cut off by the time budget, and the Pod admitted', async () => {
  const t0 = Date.now();
  const keepAlive = setTimeout(() => undefined, 5000); // AbortSignal.timeout's timer does not hold the loop
  const { result } = await admit(podRequest(), {
    backend: backend({
      candidatesFor: (_ns, signal) => new Promise((_, reject) => signal.addEventListener('abort', () => reject(new Error('budget spent')))),
    }),
    log: capturingLogger([]),
    budgetMs: 100,
  });
  clearTimeout(keepAlive);
  assert.equal(result, 'error');
  assert.ok(Date.now() - t0 < 2000);
});

test('decideServiceAccount: the secrets of credentials naming it (or "*"), not already there; opt-out respected', () => {
  const builders: PullSecretCandidate = { ...ecr, serviceAccounts: ['builder'] };
  const everyone: PullSecretCandidate = { ...hub, serviceAccounts: ['*'] };
  const none: PullSecretCandidate = { ...ecr, key: 'x', secretName: 'none-pull', serviceAccounts: [] };
  assert.deepEqual(decideServiceAccount({ metadata: { name: 'builder' } }, [builders, everyone, none]).patch, [
    { op: 'add', path: '/imagePullSecrets', value: [{ name: 'ecr-pull' }, { name: 'hub-pull' }] },
  ]);
  assert.deepEqual(decideServiceAccount({ metadata: { name: 'builder' }, imagePullSecrets: [{ name: 'ecr-pull' }] }, [builders, everyone]).patch, [
    { op: 'add', path: '/imagePullSecrets/-', value: { name: 'hub-pull' } },
  ]);
  assert.deepEqual(decideServiceAccount({ metadata: { name: 'web' } }, [builders]).patch, []);
  assert.deepEqual(decideServiceAccount({ metadata: { name: 'builder', annotations: { 'regcred.dev/inject': 'false' } } }, [builders]).patch, []);
});

test('admit for a ServiceAccount request: the same contract', async () => {
  const calls: string[] = [];
  const req = { uid: 'u-2', kind: { group: '', version: 'v1', kind: 'ServiceAccount' }, namespace: 'team-a', operation: 'CREATE', object: { metadata: { name: 'builder' } } };
  const b = backend({ candidatesFor: async () => ({ candidates: [{ ...ecr, serviceAccounts: ['builder'] }] }) }, calls);
  const { response, result } = await admit(req, { backend: b, log: capturingLogger([]) }, 'ServiceAccount');
  assert.equal(result, 'patched');
  assert.deepEqual(JSON.parse(Buffer.from(response.patch!, 'base64').toString('utf8')), [{ op: 'add', path: '/imagePullSecrets', value: [{ name: 'ecr-pull' }] }]);
  assert.deepEqual(calls, ['team-a/ecr-pull']);
  const asPod = await admit(req, { backend: b, log: capturingLogger([]) }, 'Pod');
  assert.equal(asPod.result, 'unchanged', 'a ServiceAccount sent to the Pod path is not touched');
});
