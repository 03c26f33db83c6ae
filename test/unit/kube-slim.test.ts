// Unit tests for src/kube/slim.ts: what the Secret cache keeps (metadata, type, a digest of the
// data, never the data), through an Informer fed by a scripted list and watch.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { KubeConfig, type V1Secret } from '@kubernetes/client-node';
import { Informer, type ListPage, type WatchFn } from '../../src/kube/informer.js';
import { PackedSecretStore } from '../../src/kube/secret-store.js';
import { compactSecret, dataHashOf, Interner, isCompact, secretDataHash, WrittenVersions } from '../../src/kube/slim.js';
import { FakeClock } from '../../src/util/clock.js';
import { silentLogger } from '../../src/log.js';
import { settle } from './async-helpers.js';

const big = Buffer.alloc(64 * 1024, 'x').toString('base64');

function labelled(name: string, rv: string, data: Record<string, string>): V1Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name,
      namespace: 'tenant',
      resourceVersion: rv,
      uid: `uid-${name}`,
      labels: { 'app.kubernetes.io/managed-by': 'regcred' },
      annotations: { keep: 'me' },
      finalizers: ['example.com/f'],
      managedFields: [{ manager: 'kubectl' }],
    },
    type: 'Opaque',
    data,
  };
}

test('compactSecret keeps identity, labels, annotations, type and a digest of the data, never the data', () => {
  const full = labelled('a', '1', { blob: big });
  const slim = compactSecret(full);
  assert.equal(slim.data, undefined);
  assert.equal(slim.stringData, undefined);
  assert.equal(JSON.stringify(slim).includes(big.slice(0, 100)), false);
  assert.equal(slim.metadata?.managedFields, undefined);
  assert.equal(slim.metadata?.finalizers, undefined, 'what others set is kept by updating with a JSON patch, not cached');
  assert.deepEqual(slim.metadata?.annotations, { keep: 'me' });
  assert.equal(slim.type, 'Opaque');
  assert.equal(dataHashOf(slim), secretDataHash({ blob: big }));
  assert.equal(dataHashOf(full), secretDataHash({ blob: big }), 'a full Secret is hashed from its data');
  assert.notEqual(secretDataHash({ a: 'b' }), secretDataHash({ a: 'c' }));
  assert.notEqual(secretDataHash({ ab: 'c' }), secretDataHash({ a: 'bc' }), 'keys and values are delimited');
  assert.equal(secretDataHash({ a: '1', b: '2' }), secretDataHash({ b: '2', a: '1' }), 'key order does not matter');
});

test('an Informer with the compactSecret transform caches no data, from the list or the watch', async () => {
  const watches: Array<(type: string, o: unknown) => void> = [];
  const watch: WatchFn = async (_path, _params, onEvent) => {
    watches.push(onEvent);
    return new AbortController();
  };
  const informer = new Informer<V1Secret>({
    name: 'secrets',
    kubeConfig: new KubeConfig(),
    list: async (): Promise<ListPage<V1Secret>> => ({ items: [labelled('listed', '1', { blob: big })], metadata: { resourceVersion: '1' } }),
    watchPath: '/api/v1/secrets',
    log: silentLogger(),
    clock: new FakeClock(),
    watch,
    transform: (s) => compactSecret(s),
  });
  const seen: V1Secret[] = [];
  informer.on((_e, o) => seen.push(o));
  await informer.start();
  await settle(10);
  watches.at(-1)!('ADDED', labelled('watched', '2', { blob: big }));
  watches.at(-1)!('MODIFIED', labelled('listed', '3', { blob: big, more: 'eA==' }));
  assert.equal(informer.list().length, 2);
  for (const s of [...informer.list(), ...seen]) {
    assert.equal(s.data, undefined, `${s.metadata?.name} has no data in the cache`);
    assert.ok(dataHashOf(s), 'but a digest of it');
  }
  assert.equal(dataHashOf(informer.get('tenant/listed')!), secretDataHash({ blob: big, more: 'eA==' }));
  await informer.stop();
});

describe('compact managed Secrets', () => {
  const full = (): V1Secret => ({
    metadata: {
      name: 'pull',
      namespace: 'ns',
      uid: 'u1',
      resourceVersion: '7',
      labels: { 'app.kubernetes.io/managed-by': 'regcred', 'regcred.dev/owner-name': 'c' },
      annotations: { 'regcred.dev/content-hash': 'h' },
      ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'x', uid: 'y' }],
      finalizers: ['example.com/keep'],
      managedFields: [{ manager: 'kubectl' }],
      creationTimestamp: new Date(),
    },
    type: 'kubernetes.io/dockerconfigjson',
    data: { '.dockerconfigjson': Buffer.from('{"auths":{}}').toString('base64') },
  });

  test('from a full object (a list): identity, labels, annotations, type and the digest; no data, nothing else', () => {
    const s = full();
    const c = compactSecret(s);
    assert.ok(isCompact(c));
    assert.deepEqual(Object.keys(c.metadata!).sort(), ['annotations', 'labels', 'name', 'namespace', 'resourceVersion', 'uid']);
    assert.equal(c.data, undefined);
    assert.equal(c.type, 'kubernetes.io/dockerconfigjson');
    assert.equal(dataHashOf(c), secretDataHash(s.data));
  });

  test('from a metadata-only event: the digest only for the version regcred wrote, taken once', () => {
    const written = new WrittenVersions();
    const meta = (rv: string): V1Secret => ({ metadata: { ...full().metadata, resourceVersion: rv } });
    written.record('ns', 'pull', '8', 'digest-8', 'kubernetes.io/dockerconfigjson');
    const mine = compactSecret(meta('8'), written);
    assert.equal(dataHashOf(mine), 'digest-8');
    assert.equal(mine.type, 'kubernetes.io/dockerconfigjson');
    assert.equal(written.size, 0, 'the record is dropped once its event came');
    const theirs = compactSecret(meta('9'), written);
    assert.equal(dataHashOf(theirs), undefined, 'a version someone else made: content unknown');
    assert.equal(theirs.type, undefined);
  });

  test('a write whose watch event came first completes the cached form in place', () => {
    const store = new PackedSecretStore();
    const written = new WrittenVersions(store.complete.bind(store));
    store.set('ns/pull', compactSecret({ metadata: { name: 'pull', namespace: 'ns', resourceVersion: '12' } }, written));
    assert.equal(dataHashOf(store.get('ns/pull')!), undefined);
    written.record('ns', 'pull', '11', 'digest-11', 'kubernetes.io/dockerconfigjson');
    assert.equal(dataHashOf(store.get('ns/pull')!), undefined, 'another version: not this one');
    assert.equal(written.size, 1, 'kept for its own event');
    written.record('ns', 'pull', '12', 'digest-12', 'kubernetes.io/dockerconfigjson');
    const cached = store.get('ns/pull')!;
    assert.equal(dataHashOf(cached), 'digest-12');
    assert.equal(cached.type, 'kubernetes.io/dockerconfigjson');
    assert.equal(written.size, 1, 'completed in the cache, not kept (the record of 11 waits for its event, within the bound)');
  });

  test('bounded: pending records are capped; oversized labels and annotations are cut to regcred\'s own keys', () => {
    const written = new WrittenVersions(undefined, 3);
    for (let i = 0; i < 5; i++) written.record('ns', `s${i}`, '1', 'd', 't');
    assert.equal(written.size, 3);
    const s = full();
    s.metadata!.annotations = { ...s.metadata!.annotations, 'example.com/huge': 'x'.repeat(10_000) };
    const c = compactSecret(s);
    assert.deepEqual(c.metadata!.annotations, { 'regcred.dev/content-hash': 'h' });
    assert.deepEqual(c.metadata!.labels, s.metadata!.labels);
  });
});

describe('Interner: what compact Secrets repeat, held once', () => {
  const target = (ns: string, hash: string): V1Secret => ({
    metadata: { name: 'pull', namespace: ns, uid: `u-${ns}`, resourceVersion: '1', labels: { 'app.kubernetes.io/managed-by': 'regcred', 'regcred.dev/owner-name': 'a' }, annotations: { 'regcred.dev/content-hash': hash } },
    type: 'kubernetes.io/dockerconfigjson',
    data: { '.dockerconfigjson': 'e30=' },
  });

  test("a credential's targets share one frozen label map, annotation map and name", () => {
    const intern = new Interner();
    const [a, b] = [compactSecret(target('ns-a', 'h1'), undefined, intern), compactSecret(target('ns-b', 'h1'), undefined, intern)];
    assert.equal(a.metadata!.labels, b.metadata!.labels);
    assert.equal(a.metadata!.annotations, b.metadata!.annotations);
    assert.ok(Object.isFrozen(a.metadata!.labels) && Object.isFrozen(a.metadata!.annotations));
    assert.throws(() => {
      (a.metadata!.labels as Record<string, string>)['x'] = 'y';
    }, TypeError);
    assert.notEqual(a.metadata!.namespace, b.metadata!.namespace);
    // Another content: its own annotation map, the same labels.
    const c = compactSecret(target('ns-c', 'h2'), undefined, intern);
    assert.notEqual(c.metadata!.annotations, a.metadata!.annotations);
    assert.deepEqual(c.metadata!.annotations, { 'regcred.dev/content-hash': 'h2' });
    assert.equal(c.metadata!.labels, a.metadata!.labels);
  });

  test('bounded: values others choose cannot grow it past its size', () => {
    const intern = new Interner(100);
    for (let i = 0; i < 1_000; i++) compactSecret({ metadata: { name: `n-${i}`, namespace: 'x', labels: { 'app.kubernetes.io/managed-by': 'regcred', junk: String(i) } } }, undefined, intern);
    assert.ok(intern.size <= 100, `${intern.size} entries`);
    // Still correct after it was emptied.
    const s = compactSecret({ metadata: { name: 'n-5', namespace: 'x', labels: { junk: '5' } } }, undefined, intern);
    assert.deepEqual(s.metadata!.labels, { junk: '5' });
  });
});
