// Unit tests for src/kube/informer-updates.ts: the informer's cache bookkeeping and its failure
// decisions, without a list/watch loop around them.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { InformerEvent } from '../../src/kube/informer.js';
import {
  afterFailure,
  applyWatchEvent,
  GoneError,
  readList,
  replaceContents,
  StalledError,
  toError,
  watchEndError,
  watchTimeouts,
} from '../../src/kube/informer-updates.js';
import { MapStore } from '../../src/kube/store.js';

interface Obj {
  metadata: { name: string; resourceVersion?: string };
  code?: number;
}

const obj = (name: string, rv?: string): Obj => ({ metadata: { name, ...(rv ? { resourceVersion: rv } : {}) } });

function recorder() {
  const seen: string[] = [];
  const emit = (event: InformerEvent, o: Obj, old?: Obj) => {
    seen.push(`${event} ${o.metadata.name}@${o.metadata.resourceVersion ?? ''}${old ? ` was ${old.metadata.resourceVersion ?? ''}` : ''}`);
  };
  return { seen, emit };
}

describe('informer updates: lists', () => {
  test('readList follows continue tokens, keeps what keep accepts, prepared, and returns the last resourceVersion', async () => {
    const asked: Array<string | undefined> = [];
    const pages = new Map<string | undefined, { items: Obj[]; metadata: { resourceVersion: string; continue?: string; _continue?: string } }>([
      [undefined, { items: [obj('a', '1'), obj('skip', '1')], metadata: { resourceVersion: '5', _continue: 'p2' } }],
      ['p2', { items: [obj('b', '2')], metadata: { resourceVersion: '6', continue: 'p3' } }],
      ['p3', { items: [obj('c', '3')], metadata: { resourceVersion: '7' } }],
    ]);
    const { fresh, resourceVersion } = await readList(
      async (cont) => {
        asked.push(cont);
        return pages.get(cont)!;
      },
      (o) => o.metadata.name !== 'skip',
      (o) => ({ ...o, code: 1 }),
    );
    assert.deepEqual(asked, [undefined, 'p2', 'p3']);
    assert.deepEqual([...fresh.keys()], ['a', 'b', 'c']);
    assert.equal(fresh.get('a')?.code, 1, 'prepared');
    assert.equal(resourceVersion, '7');
  });

  test('replaceContents swaps the store and reports adds, changed resourceVersions and deletes', () => {
    const store = new MapStore<Obj>();
    store.set('same', obj('same', '1'));
    store.set('changed', obj('changed', '1'));
    store.set('gone', obj('gone', '1'));
    const { seen, emit } = recorder();
    replaceContents(store, new Map([['same', obj('same', '1')], ['changed', obj('changed', '2')], ['new', obj('new', '1')]]), emit);
    assert.deepEqual(seen, ['update changed@2 was 1', 'add new@1', 'delete gone@1']);
    assert.deepEqual([...store.values()].map((o) => o.metadata.name).sort(), ['changed', 'new', 'same']);
  });
});

describe('informer updates: watch events', () => {
  test('ADDED, MODIFIED and DELETED change the store, are reported and move the resourceVersion', () => {
    const store = new MapStore<Obj>();
    const { seen, emit } = recorder();
    assert.deepEqual(applyWatchEvent(store, undefined, 'ADDED', obj('a', '2'), '1', emit), { resourceVersion: '2' });
    assert.deepEqual(applyWatchEvent(store, undefined, 'MODIFIED', obj('a', '3'), '2', emit), { resourceVersion: '3' });
    assert.deepEqual(applyWatchEvent(store, undefined, 'DELETED', obj('a', '4'), '3', emit), { resourceVersion: '4' });
    assert.deepEqual(seen, ['add a@2', 'update a@3 was 2', 'delete a@4']);
    assert.equal(store.size, 0);
  });

  test('an object keep refuses is dropped unreported; its resourceVersion still counts', () => {
    const store = new MapStore<Obj>();
    store.set('a', obj('a', '1'));
    const { seen, emit } = recorder();
    const keep = (o: Obj) => o.metadata.name !== 'a';
    assert.deepEqual(applyWatchEvent(store, keep, 'MODIFIED', obj('a', '2'), '1', emit), { resourceVersion: '2' });
    assert.equal(store.get('a'), undefined, 'no longer kept: dropped');
    assert.deepEqual(applyWatchEvent(store, keep, 'DELETED', obj('a', '3'), '2', emit), { resourceVersion: '3' });
    assert.deepEqual(seen, []);
  });

  test('BOOKMARK only moves the resourceVersion; an event without one keeps the current', () => {
    const store = new MapStore<Obj>();
    const { seen, emit } = recorder();
    assert.deepEqual(applyWatchEvent(store, undefined, 'BOOKMARK', obj('', '9'), '1', emit), { resourceVersion: '9' });
    assert.deepEqual(applyWatchEvent(store, undefined, 'ADDED', obj('a'), '9', emit), { resourceVersion: '9' });
    assert.deepEqual(applyWatchEvent(store, undefined, 'SOMETHING', obj('b', '10'), '9', emit), { resourceVersion: '9' });
    assert.deepEqual(seen, ['add a@']);
  });

  test('an ERROR event ends the watch: 410 as a GoneError, any other code as an Error', () => {
    const store = new MapStore<Obj>();
    const { emit } = recorder();
    const gone = applyWatchEvent(store, undefined, 'ERROR', { ...obj('', '9'), code: 410 }, '1', emit);
    assert.equal(gone.resourceVersion, '1');
    assert.ok(gone.end instanceof GoneError);
    const other = applyWatchEvent(store, undefined, 'ERROR', { ...obj(''), code: 500 }, '1', emit);
    assert.ok(other.end && !(other.end instanceof GoneError));
    assert.equal(other.end.message, 'watch error 500');
  });
});

describe('informer updates: failures', () => {
  test('afterFailure: a stall and a 410 relist; a failed list retries the list; a failed watch resumes when it can', () => {
    assert.equal(afterFailure(new StalledError('stalled'), false, '5'), 'stalled');
    assert.equal(afterFailure(new GoneError('gone'), false, '5'), 'gone');
    assert.equal(afterFailure(new Error('refused'), true, '5'), 'list');
    assert.equal(afterFailure(new Error('refused'), false, undefined), 'list');
    assert.equal(afterFailure(new Error('refused'), false, '5'), 'resume');
  });

  test('watchEndError: a 410 status is Gone; other values become Errors', () => {
    assert.ok(watchEndError(Object.assign(new Error('x'), { statusCode: 410 })) instanceof GoneError);
    const err = new Error('reset');
    assert.equal(watchEndError(err), err);
    assert.equal(watchEndError('text').message, 'text');
    assert.equal(toError(42).message, '42');
  });

  test('watchTimeouts picks within the range and allows the grace on top', () => {
    assert.deepEqual(watchTimeouts([240, 360], 30_000, () => 0), { timeoutSeconds: 240, stallAfterMs: 270_000 });
    assert.deepEqual(watchTimeouts([240, 360], 30_000, () => 0.5), { timeoutSeconds: 300, stallAfterMs: 330_000 });
    assert.deepEqual(watchTimeouts([1, 1], 0), { timeoutSeconds: 1, stallAfterMs: 1000 });
  });
});
