import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KubeConfig } from '@kubernetes/client-node';
import { SourceWatch, type SourceChange } from '../../src/controller/sources/source-watch.js';
import { recordingReader, withKeysNamed, type SourceRead } from '../../src/controller/sources/reads.js';
import type { InformerEvent, ObjectCache } from '../../src/kube/informer.js';
import type { SecretMetadata } from '../../src/kube/metadata.js';
import { RegcredError } from '../../src/errors.js';
import { createLogger } from '../../src/log.js';

/** A namespace's source cache the test drives by hand. */
class FakeCache implements ObjectCache<SecretMetadata> {
  readonly store = new Map<string, SecretMetadata>();
  private handler: ((e: InformerEvent, o: SecretMetadata) => void) | undefined;
  stopped = false;
  private synced!: () => void;
  readonly startedOnce = new Promise<void>((r) => (this.synced = r));
  constructor(readonly namespace: string, readonly fieldSelector: string | undefined, readonly keep: (name: string) => boolean = () => true) {}
  on(h: (e: InformerEvent, o: SecretMetadata) => void): void {
    this.handler = h;
  }
  get(key: string) {
    return this.store.get(key);
  }
  list() {
    return [...this.store.values()];
  }
  values() {
    return this.store.values();
  }
  hasSynced() {
    return true;
  }
  unhealthyForMs() {
    return 0;
  }
  start(): Promise<void> {
    return this.startedOnce;
  }
  async stop() {
    this.stopped = true;
  }
  /** The first list: objects present, then start() resolves. */
  listed(...objs: Array<[string, string]>): Promise<void> {
    for (const [name, rv] of objs) this.emit('add', name, rv);
    this.synced();
    return new Promise((r) => setImmediate(r));
  }
  emit(event: InformerEvent, name: string, rv: string): void {
    const obj = { metadata: { namespace: this.namespace, name, resourceVersion: rv } };
    if (event === 'delete') this.store.delete(`${this.namespace}/${name}`);
    else this.store.set(`${this.namespace}/${name}`, obj);
    this.handler?.(event, obj);
  }
}

function setup() {
  const caches: FakeCache[] = [];
  const changes: Array<{ credentials: string[]; source: string; change: SourceChange }> = [];
  const watch = new SourceWatch({
    kubeConfig: new KubeConfig(),
    log: createLogger({ level: 'silent' }),
    onChange: (credentials, source, change) => changes.push({ credentials, source, change }),
    makeCache: (ns, fs, keep) => {
      const c = new FakeCache(ns, fs, keep);
      caches.push(c);
      return c;
    },
  });
  watch.start();
  return { watch, caches, changes };
}

const read = (namespace: string, name: string, rv: string | null, keys: string[] = []): SourceRead => ({ namespace, name, resourceVersion: rv, keys });

test('one watch per namespace; a field selector when one Secret is read there, none when several', () => {
  const { watch, caches } = setup();
  watch.record('c1', [read('sys', 'a', '1')]);
  watch.record('c2', [read('tenant', 'x', '5')]);
  assert.deepEqual(watch.watched(), [
    { namespace: 'sys', fieldSelector: 'metadata.name=a' },
    { namespace: 'tenant', fieldSelector: 'metadata.name=x' },
  ]);
  watch.record('c3', [read('sys', 'b', '2')]);
  assert.deepEqual(watch.watched().find((w) => w.namespace === 'sys'), { namespace: 'sys', fieldSelector: undefined });
  assert.ok(caches[0]!.stopped, 'the narrowed watch made way for a namespace-wide one');
  watch.forget('c2');
  assert.equal(watch.watched().find((w) => w.namespace === 'tenant'), undefined);
  assert.ok(caches[1]!.stopped);
});

test("a namespace-wide watch keeps only the Secrets read: a tenant's other Secrets are not cached", () => {
  const { watch, caches } = setup();
  watch.record('c1', [read('tenant', 'a', '1')]);
  watch.record('c2', [read('tenant', 'b', '1')]);
  watch.record('c3', [read('tenant', 'c', '1')]);
  const cache = caches.at(-1)!;
  assert.equal(cache.fieldSelector, undefined);
  assert.equal(cache.keep('a'), true);
  assert.equal(cache.keep('b'), true);
  assert.equal(cache.keep('helm-release-1'), false);
  watch.forget('c2');
  assert.equal(caches.at(-1), cache, 'still several names: the same watch, its filter follows');
  assert.equal(cache.keep('b'), false);
  assert.equal(cache.keep('c'), true);
});

test('only the credentials that read the changed Secret are named, and each change once', async () => {
  const { watch, caches, changes } = setup();
  watch.record('c1', [read('sys', 'a', '1')]);
  watch.record('c2', [read('sys', 'a', '1'), read('sys', 'b', '7')]);
  watch.record('c3', [read('sys', 'b', '7')]);
  const cache = caches.at(-1)!;
  await cache.listed(['a', '1'], ['b', '7'], ['unrelated', '3']);
  assert.deepEqual(changes, [], 'the first list matches what the mints read');
  cache.emit('update', 'a', '2');
  assert.deepEqual(changes, [{ credentials: ['c1', 'c2'], source: 'sys/a', change: 'changed' }]);
  cache.emit('update', 'a', '2');
  cache.emit('update', 'unrelated', '9');
  assert.equal(changes.length, 1, 'the same version again, or a Secret nobody reads: nothing');
  cache.emit('delete', 'b', '8');
  assert.deepEqual(changes[1], { credentials: ['c2', 'c3'], source: 'sys/b', change: 'deleted' });
  cache.emit('add', 'b', '9');
  assert.deepEqual(changes[2], { credentials: ['c2', 'c3'], source: 'sys/b', change: 'created' });
});

test('a change between the mint and the first list is seen; so is a Secret deleted meanwhile', async () => {
  const { watch, caches, changes } = setup();
  watch.record('c1', [read('sys', 'a', '1'), read('sys', 'gone', '4')]);
  await caches[0]!.listed(['a', '2']);
  assert.deepEqual(changes, [
    { credentials: ['c1'], source: 'sys/a', change: 'changed' },
    { credentials: ['c1'], source: 'sys/gone', change: 'deleted' },
  ]);
});

test('a Secret missing at mint time: its creation is the change', async () => {
  const { watch, caches, changes } = setup();
  watch.record('c1', [read('sys', 'later', null)]);
  await caches[0]!.listed();
  assert.deepEqual(changes, []);
  caches[0]!.emit('add', 'later', '3');
  assert.deepEqual(changes, [{ credentials: ['c1'], source: 'sys/later', change: 'created' }]);
});

test('nothing is watched before start()', () => {
  const caches: FakeCache[] = [];
  const watch = new SourceWatch({
    kubeConfig: new KubeConfig(),
    log: createLogger({ level: 'silent' }),
    onChange: () => undefined,
    makeCache: (ns, fs) => {
      const c = new FakeCache(ns, fs);
      caches.push(c);
      return c;
    },
  });
  watch.record('c1', [read('sys', 'a', '1')]);
  assert.equal(caches.length, 0);
  watch.start();
  assert.equal(caches.length, 1);
});

test('the recording reader notes each Secret, its version, the keys it used and a missing Secret', async () => {
  const reads: SourceRead[] = [];
  const reader = recordingReader(
    {
      async read(ref) {
        if (ref.name === 'missing') throw new RegcredError('SourceNotFound', `source Secret sys/${ref.name} not found`);
        return { namespace: ref.namespace ?? 'sys', name: ref.name, type: 'Opaque', data: { username: 'u', password: 'p' }, resourceVersion: '12' };
      },
    },
    'sys',
    reads,
  );
  const s = await reader.read({ name: 'src' });
  assert.equal(s.data['password'], 'p');
  assert.equal(s.data['token'], undefined);
  assert.deepEqual(reads[0]?.keys, ['password'], 'an optional key the Secret lacks is not one it uses');
  // Reading the whole Secret reads every key; what JSON.stringify looks up itself (toJSON) is not a key.
  JSON.stringify(s.data);
  await assert.rejects(reader.read({ name: 'missing' }), /not found/);
  assert.deepEqual(reads, [read('sys', 'src', '12', ['password', 'username']), read('sys', 'missing', null)]);
});

test('a missing Secret\'s message names the keys the credential read from it before', () => {
  const msg = 'source Secret sys/a not found';
  assert.equal(withKeysNamed(msg, [read('sys', 'a', null)], [read('sys', 'a', '3', ['username', 'password'])]), `${msg}; the credential reads keys "username", "password"`);
  assert.equal(withKeysNamed(msg, [read('sys', 'a', null)], undefined), msg);
});
