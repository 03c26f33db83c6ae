// Unit tests for src/controller/credentials/handlers.ts: which credentials each watch event
// requeues (credential, namespace, managed Secret, service account), and how sources reach the queue.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Namespace, V1Secret, V1ServiceAccount } from '@kubernetes/client-node';
import {
  credentialEvent,
  credentialEventSources,
  credentialNeedsRun,
  eventSource,
  holdsCurrentContent,
  namespaceEventKeys,
  secretEventKeys,
  serviceAccountEventKeys,
} from '../../src/controller/credentials/handlers.js';
import { FINALIZER, type RawCredential } from '../../src/controller/credentials/object.js';
import { ownerOf } from '../../src/controller/reconcile.js';
import { OwnedSecretIndex } from '../../src/controller/secret-index.js';
import type { InformerEvent } from '../../src/kube/informer.js';
import { objectKey } from '../../src/kube/object-cache.js';
import { PackedSecretStore } from '../../src/kube/secret-store.js';
import { compactSecret } from '../../src/kube/slim.js';
import { identityCodec, NamespacedStore, type Store } from '../../src/kube/store.js';
import { crc, keyOf, labelledSecret, minted, namespace, namespaces, rawCredential, rc, serviceAccount, specMap, writtenSecret } from './controller-fixtures.js';

const team = crc('team', { secretName: 'pull', namespaces: { selector: { matchLabels: { team: 'a' } } } });
const named = crc('named', { secretName: 'pull', namespaces: { names: ['web'] }, serviceAccounts: ['builder'] });
const everyone = crc('everyone', { secretName: 'other', namespaces: { all: true }, serviceAccounts: ['*'] });

class RecordingQueue {
  readonly added: string[] = [];
  readonly rateLimited: string[] = [];
  add(key: string): void {
    this.added.push(key);
  }
  addRateLimited(key: string): void {
    this.rateLimited.push(key);
  }
  addAfter(key: string): void {
    this.rateLimited.push(key);
  }
}

/** A watch the test fires by hand. */
/** A watch that fires the events it is given, after keeping them in `store` as an Informer would. */
class FakeWatch<T extends { metadata?: { name?: string; namespace?: string } }> {
  private handlers: Array<(event: InformerEvent, obj: T, old?: T) => void> = [];
  constructor(readonly store?: Store<T>) {}
  on(handler: (event: InformerEvent, obj: T, old?: T) => void): void {
    this.handlers.push(handler);
  }
  fire(event: InformerEvent, obj: T, old?: T): void {
    if (event === 'delete') this.store?.delete(objectKey(obj));
    else this.store?.set(objectKey(obj), obj);
    for (const h of this.handlers) h(event, obj, old);
  }
}

function raw(name: string, target: Record<string, unknown>, over: Parameters<typeof rawCredential>[4] = {}): RawCredential {
  return rawCredential('ClusterRegistryCredential', name, undefined, target, over);
}

describe('credential events', () => {
  const target = { secretName: 'pull', namespaces: { all: true } };

  test('an added credential is parsed into the spec map and queued, after the credentials sharing its Secret name', () => {
    const specs = specMap(team, everyone);
    const r = credentialEvent(specs, 'add', raw('new', target));
    assert.deepEqual(r, { requeue: [keyOf(team), 'ClusterRegistryCredential/new'] });
    assert.equal(specs.get('ClusterRegistryCredential/new')?.spec.target.secretName, 'pull');
  });

  test('a renamed Secret requeues the sharers of the old name and of the new one', () => {
    const specs = specMap(team, everyone);
    const before = raw('team', { secretName: 'pull', namespaces: { all: true } }, { generation: 1 });
    const after = raw('team', { secretName: 'other', namespaces: { all: true } }, { generation: 2 });
    assert.deepEqual(credentialEvent(specs, 'update', after, before).requeue, [keyOf(everyone), keyOf(team)]);
  });

  test('a status-only update requeues nothing, for Delete (finalizer present) and Retain (none) alike', () => {
    const specs = specMap();
    const del = raw('d', target, { finalizers: [FINALIZER] });
    assert.deepEqual(credentialEvent(specs, 'update', { ...del, status: { targetsSummary: '1/1' } }, del).requeue, []);
    const retain = raw('r', target, { cleanupPolicy: 'Retain' });
    assert.deepEqual(credentialEvent(specs, 'update', { ...retain, status: { targetsSummary: '1/1' } }, retain).requeue, []);
  });

  test('an invalid spec leaves the spec map but the object is still queued (its status says why)', () => {
    const specs = specMap(team);
    const bad = { ...raw('team', target), spec: { target } };
    assert.deepEqual(credentialEvent(specs, 'add', bad).requeue, [keyOf(team)]);
    assert.equal(specs.has(keyOf(team)), false);
  });

  test('a deleted credential is forgotten and its sharers requeued', () => {
    const specs = specMap(team, crc('sharer', target));
    const r = credentialEvent(specs, 'delete', raw('team', target));
    assert.deepEqual(r, { forget: keyOf(team), requeue: ['ClusterRegistryCredential/sharer'] });
    assert.equal(specs.has(keyOf(team)), false);
  });

  test('what needs a run: a new generation, deletion, annotations, or a finalizer to add or remove', () => {
    const old = raw('c', target, { finalizers: [FINALIZER] });
    const spec = crc('c', target);
    assert.equal(credentialNeedsRun(old, undefined, spec), true, 'first seen');
    assert.equal(credentialNeedsRun(old, old, spec), false);
    assert.equal(credentialNeedsRun({ ...old, metadata: { ...old.metadata, generation: 2 } }, old, spec), true);
    assert.equal(credentialNeedsRun({ ...old, metadata: { ...old.metadata, deletionTimestamp: 'now' } }, old, spec), true);
    assert.equal(credentialNeedsRun({ ...old, metadata: { ...old.metadata, annotations: { a: 'b' } } }, old, spec), true);
    const noFinalizer = raw('c', target);
    assert.equal(credentialNeedsRun(noFinalizer, noFinalizer, spec), true, 'Delete policy without its finalizer');
    assert.equal(credentialNeedsRun(old, old, crc('c', target, { cleanupPolicy: 'Retain' })), true, 'Retain policy still holding it');
  });
});

describe('namespace events', () => {
  const specs = specMap(team, named);
  const none = { get: () => undefined };

  test('a namespace gained: the credentials that target it', () => {
    assert.deepEqual(namespaceEventKeys(specs, 'add', namespace('app', { team: 'a' }), undefined, none), [keyOf(team)]);
    assert.deepEqual(namespaceEventKeys(specs, 'add', namespace('web'), undefined, none), [keyOf(named)]);
  });

  test('labels changed: the credentials that targeted it before as well (to clean up)', () => {
    assert.deepEqual(namespaceEventKeys(specs, 'update', namespace('app', { team: 'b' }), namespace('app', { team: 'a' }), none), [keyOf(team)]);
  });

  test('an update changing neither labels nor phase requeues nothing', () => {
    const ns = namespace('app', { team: 'a' });
    assert.deepEqual(namespaceEventKeys(specs, 'update', { ...ns, metadata: { ...ns.metadata, annotations: { x: 'y' } } }, ns, none), []);
  });

  test('a namespace being deleted: also the credentials holding a Secret there', () => {
    const store = new PackedSecretStore();
    store.set('old/pull', compactSecret(labelledSecret(ownerOf(team), 'old', 'pull')));
    const owned = new OwnedSecretIndex(store);
    const ns = namespace('old');
    assert.deepEqual(namespaceEventKeys(specs, 'update', namespace('old', {}, 'Terminating'), ns, owned), [keyOf(team)]);
  });
});

describe('managed-Secret events', () => {
  const m = minted('v1');
  const specs = specMap(team);
  const upToDate = writtenSecret(team, m, 'app');

  test('a Secret already holding what its credential wants needs nothing (our own write coming back)', () => {
    assert.equal(holdsCurrentContent(team, m, upToDate), true);
    assert.deepEqual(secretEventKeys(specs, 'update', { owner: keyOf(team), oldOwner: keyOf(team) }, () => true), []);
  });

  test('an edited or deleted Secret requeues its credential', () => {
    const edited = writtenSecret(team, minted('by-hand'), 'app');
    assert.equal(holdsCurrentContent(team, m, edited), false);
    assert.equal(holdsCurrentContent(team, undefined, upToDate), false, 'nothing minted here');
    assert.deepEqual(secretEventKeys(specs, 'update', { owner: keyOf(team), oldOwner: keyOf(team) }, () => false), [keyOf(team)]);
    assert.deepEqual(secretEventKeys(specs, 'delete', { owner: keyOf(team), oldOwner: undefined }, () => true), [keyOf(team)]);
  });

  test('the same mint under an edited spec is checked against the edited spec (labels added)', () => {
    assert.equal(holdsCurrentContent(team, m, upToDate), true);
    const relabelled = crc('team', { secretName: 'pull', namespaces: { selector: { matchLabels: { team: 'a' } } }, labels: { tier: 'gold' } });
    assert.equal(holdsCurrentContent(relabelled, m, upToDate), false, 'the Secret lacks the new label');
    assert.equal(holdsCurrentContent(relabelled, m, writtenSecret(relabelled, m, 'app')), true);
    assert.equal(holdsCurrentContent(team, minted('v2'), upToDate), false, 'a new mint');
  });

  test('labels moved to another owner: both credentials; unknown owners none', () => {
    const two = specMap(team, named);
    assert.deepEqual(secretEventKeys(two, 'update', { owner: keyOf(named), oldOwner: keyOf(team) }, (k) => k === keyOf(named)), [keyOf(team)]);
    assert.deepEqual(secretEventKeys(two, 'add', { owner: 'ClusterRegistryCredential/nobody', oldOwner: undefined }, () => false), []);
  });
});

describe('service-account events', () => {
  const specs = specMap(team, named, everyone);

  test('an account a credential patches, lacking its Secret, in a namespace it targets', () => {
    assert.deepEqual(serviceAccountEventKeys(specs, serviceAccount('web', 'builder'), {}), [keyOf(named), keyOf(everyone)]);
    assert.deepEqual(serviceAccountEventKeys(specs, serviceAccount('app', 'default'), { team: 'a' }), [keyOf(team), keyOf(everyone)]);
  });

  test('an account that already references the Secret needs nothing', () => {
    assert.deepEqual(serviceAccountEventKeys(specs, serviceAccount('web', 'builder', ['pull', 'other']), {}), []);
  });
});

describe('event sources', () => {
  test('an event source hands its answer to the queue: now, or within the rate limit', () => {
    const watch = new FakeWatch<V1Secret>();
    const queue = new RecordingQueue();
    eventSource('test', watch, (event) => (event === 'add' ? { now: ['a', 'b'] } : { rateLimited: ['c'] })).register(queue);
    watch.fire('add', {});
    watch.fire('update', {});
    assert.deepEqual(queue.added, ['a', 'b']);
    assert.deepEqual(queue.rateLimited, ['c']);
  });

  test('the credential sources keep the spec map, the Secret and service-account indexes, and forget deleted credentials', () => {
    const caches = {
      crc: new FakeWatch<RawCredential>(),
      rc: new FakeWatch<RawCredential>(),
      namespaces: Object.assign(new FakeWatch<V1Namespace>(), namespaces(namespace('app', { team: 'a' }))),
      secrets: new FakeWatch<V1Secret>(new PackedSecretStore()),
      serviceAccounts: new FakeWatch<V1ServiceAccount>(new NamespacedStore(identityCodec<V1ServiceAccount>())),
    };
    const specs = specMap();
    const ownedSecrets = new OwnedSecretIndex(caches.secrets.store!);
    const serviceAccounts = caches.serviceAccounts.store as NamespacedStore<V1ServiceAccount, V1ServiceAccount>;
    const forgotten: string[] = [];
    const queue = new RecordingQueue();
    const sources = credentialEventSources({ specs, caches, ownedSecrets, minted: () => undefined, forget: (k) => forgotten.push(k) });
    assert.deepEqual(sources.map((s) => s.name), ['clusterregistrycredentials', 'registrycredentials', 'namespaces', 'secrets', 'serviceaccounts']);
    for (const s of sources) s.register(queue);

    const tenant = rawCredential('RegistryCredential', 'tenant', 'app', { secretName: 'pull' });
    caches.rc.fire('add', tenant);
    assert.deepEqual(queue.added, ['RegistryCredential/app/tenant']);
    assert.equal(specs.size, 1);

    caches.secrets.fire('add', compactSecret(labelledSecret(ownerOf(rc('app', 'tenant', { secretName: 'pull' })), 'app', 'pull')));
    assert.deepEqual(queue.rateLimited, ['RegistryCredential/app/tenant']);
    assert.ok(ownedSecrets.get('RegistryCredential/app/tenant', 'app', 'pull'));

    caches.serviceAccounts.fire('add', serviceAccount('app', 'default'));
    assert.deepEqual(serviceAccounts.inNamespace('app').map((sa) => sa.metadata?.name), ['default']);
    assert.deepEqual(queue.added, ['RegistryCredential/app/tenant', 'RegistryCredential/app/tenant']);
    caches.serviceAccounts.fire('delete', serviceAccount('app', 'default'));
    assert.deepEqual(serviceAccounts.inNamespace('app'), []);
    assert.equal(queue.added.length, 2, 'a deleted account requeues nothing');

    caches.rc.fire('delete', tenant);
    assert.deepEqual(forgotten, ['RegistryCredential/app/tenant']);
    assert.equal(specs.size, 0);
  });
});
