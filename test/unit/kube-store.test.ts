import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Secret, V1ServiceAccount } from '@kubernetes/client-node';
import { PackedSecretStore } from '../../src/kube/secret-store.js';
import { compactSecret, dataHashOf, isCompact, secretDataHash } from '../../src/kube/slim.js';
import { identityCodec, NamespacedStore } from '../../src/kube/store.js';

const account = (ns: string, name: string): V1ServiceAccount => ({ metadata: { name, namespace: ns, resourceVersion: '1' } });
const names = (xs: Iterable<{ metadata?: { name?: string; namespace?: string } }>) => [...xs].map((x) => `${x.metadata?.namespace}/${x.metadata?.name}`).sort();

describe('NamespacedStore', () => {
  test('objects by namespace: add, replace, delete, one namespace at a time', () => {
    const store = new NamespacedStore(identityCodec<V1ServiceAccount>());
    store.set('a/default', account('a', 'default'));
    store.set('a/builder', account('a', 'builder'));
    store.set('b/default', account('b', 'default'));
    assert.equal(store.size, 3);
    assert.deepEqual(names(store.values()), ['a/builder', 'a/default', 'b/default']);
    assert.deepEqual(names(store.inNamespace('a')), ['a/builder', 'a/default']);
    assert.deepEqual(store.inNamespace('none'), []);

    const replaced = { ...account('a', 'default'), imagePullSecrets: [{ name: 'pull' }] };
    store.set('a/default', replaced);
    assert.equal(store.size, 3, 'a replacement is not one more');
    assert.equal(store.get('a/default'), replaced);

    assert.equal(store.delete('a/builder'), true);
    assert.equal(store.delete('a/builder'), false);
    assert.equal(store.delete('c/default'), false);
    assert.deepEqual(names(store.inNamespace('a')), ['a/default'], 'back to one entry');
    assert.equal(store.delete('a/default'), true);
    assert.deepEqual(store.inNamespace('a'), []);
    assert.equal(store.get('a/default'), undefined);
    assert.equal(store.size, 1);
    store.clear();
    assert.equal(store.size, 0);
    assert.deepEqual([...store.values()], []);
  });
});

describe('PackedSecretStore', () => {
  const labels = { 'app.kubernetes.io/managed-by': 'regcred', 'regcred.dev/owner-name': 'team' };
  const full = (ns: string, rv: string, password = 'pw'): V1Secret => ({
    metadata: { name: 'pull', namespace: ns, uid: `uid-${ns}`, resourceVersion: rv, labels, annotations: { 'regcred.dev/expires-at': '2026-12-07T00:00:00Z' } },
    type: 'kubernetes.io/dockerconfigjson',
    data: { '.dockerconfigjson': Buffer.from(password).toString('base64') },
  });

  test('what goes in compact comes out the same but for the uid: name, namespace, version, labels, annotations, type, digest; never data', () => {
    const store = new PackedSecretStore();
    const compact = compactSecret(full('app', '123456'));
    store.set('app/pull', compact);
    const out = store.get('app/pull')!;
    const { uid, ...kept } = compact.metadata!;
    assert.equal(uid, 'uid-app');
    assert.deepEqual(out.metadata, kept, 'all but the uid (deletes read it)');
    assert.equal(out.type, compact.type);
    assert.equal(out.data, undefined);
    assert.ok(isCompact(out));
    assert.equal(dataHashOf(out), secretDataHash(full('app', '1').data));
  });

  test('resourceVersions of any form come back as they went in', () => {
    const store = new PackedSecretStore();
    for (const rv of ['7', '999999999', '1000000000', '18446744073709551615', '007', 'opaque-v1']) {
      store.set('app/pull', compactSecret(full('app', rv)));
      assert.equal(store.get('app/pull')!.metadata?.resourceVersion, rv);
    }
  });

  test('the targets of one credential share their labels and annotations', () => {
    const store = new PackedSecretStore();
    for (const ns of ['a', 'b', 'c']) store.set(`${ns}/pull`, compactSecret(full(ns, '5')));
    const [a, b, c] = ['a', 'b', 'c'].map((ns) => store.get(`${ns}/pull`)!);
    assert.equal(a!.metadata?.labels, b!.metadata?.labels);
    assert.equal(b!.metadata?.annotations, c!.metadata?.annotations);
    assert.deepEqual(names(store.values()), ['a/pull', 'b/pull', 'c/pull']);
  });

  test('a version whose content is unknown is completed by the write that made it, only at that version', () => {
    const store = new PackedSecretStore();
    store.set('app/pull', compactSecret({ metadata: { name: 'pull', namespace: 'app', resourceVersion: '40', labels } }));
    assert.equal(dataHashOf(store.get('app/pull')!), undefined);
    assert.equal(store.complete('app', 'pull', '39', 'd39', 'kubernetes.io/dockerconfigjson'), false);
    assert.equal(store.complete('other', 'pull', '40', 'd40', 'kubernetes.io/dockerconfigjson'), false);
    assert.equal(store.complete('app', 'pull', '40', 'd40', 'kubernetes.io/dockerconfigjson'), true);
    const s = store.get('app/pull')!;
    assert.equal(dataHashOf(s), 'd40');
    assert.equal(s.type, 'kubernetes.io/dockerconfigjson');
    assert.deepEqual(s.metadata?.labels, labels);
  });

  test('past the bound on shared shapes (others may label Secrets with anything), each Secret keeps its own labels', () => {
    const store = new PackedSecretStore(10);
    for (let i = 0; i < 100; i++) store.set(`ns-${i}/pull`, compactSecret({ metadata: { name: 'pull', namespace: `ns-${i}`, resourceVersion: '1', labels: { ...labels, junk: String(i) } } }));
    assert.equal(store.size, 100);
    assert.equal(store.get('ns-42/pull')!.metadata?.labels?.['junk'], '42', 'each keeps its own');
  });
});
