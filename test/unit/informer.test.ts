// Unit tests for src/kube/informer.ts: the list+watch cache, with a scripted fake watch, a fake list
// and a FakeClock, so failures, 410s and stalls happen on cue.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { KubeConfig } from '@kubernetes/client-node';
import { Informer, MultiInformer, StaticCache, objectKey, type InformerEvent, type InformerOptions, type ListPage, type WatchFn } from '../../src/kube/informer.js';
import { FakeClock } from '../../src/util/clock.js';
import { silentLogger } from '../../src/log.js';
import { settle as settleTurns, settledSoon as settledAfter } from './async-helpers.js';

interface Obj {
  metadata: { name: string; namespace?: string; resourceVersion: string; managedFields?: unknown[] };
  data?: string;
}

function obj(name: string, rv: string, extra: Partial<Obj> & { namespace?: string } = {}): Obj {
  const { namespace, ...rest } = extra;
  return { metadata: { name, resourceVersion: rv, ...(namespace ? { namespace } : {}) }, ...rest };
}

// The informer's loop takes more turns than the queue's: wait 10 by default.
const settle = (n = 10) => settleTurns(n);
const settledSoon = (p: Promise<unknown>) => settledAfter(p, 10);

interface WatchCall {
  path: string;
  params: Record<string, string | number | boolean | undefined>;
  ctrl: AbortController;
  event(type: string, o: unknown): void;
  end(err?: unknown): void;
}

/** A scripted watch: records each call, and lets the test push events into it and end it. */
class FakeWatch {
  readonly calls: WatchCall[] = [];
  /** When set, the next watch() call rejects with it. */
  rejectNext: Error | undefined;
  /**
   * While set, every watch() call fails as client-node's does when the request fails (connection
   * refused, a non-200 answer): onDone(err) before the returned promise resolves.
   */
  failWith: Error | undefined;
  /** Every call, the failed ones too: the resourceVersion each asked for. */
  readonly attempts: Array<string | number | boolean | undefined> = [];
  readonly fn: WatchFn = async (path, params, onEvent, onDone) => {
    this.attempts.push(params.resourceVersion);
    if (this.rejectNext) {
      const err = this.rejectNext;
      this.rejectNext = undefined;
      throw err;
    }
    const ctrl = new AbortController();
    if (this.failWith) {
      onDone(this.failWith);
      return ctrl;
    }
    this.calls.push({
      path,
      params: { ...params },
      ctrl,
      event: (type, o) => onEvent(type, o),
      end: (err) => onDone(err ?? null),
    });
    return ctrl;
  };
  get last(): WatchCall {
    const c = this.calls.at(-1);
    assert.ok(c, 'no watch was started');
    return c;
  }
}

/** A list that serves `pages` (keyed by continue token, '' for the first), or fails while `fail` is set. */
class FakeList {
  readonly calls: Array<{ limit: number; _continue?: string }> = [];
  pages = new Map<string, ListPage<Obj>>();
  fail: Error | undefined;
  /** When set, list calls wait for this before answering. */
  gate: Promise<void> | undefined;
  readonly fn = async (params: { limit: number; _continue?: string }): Promise<ListPage<Obj>> => {
    this.calls.push({ ...params });
    if (this.gate) await this.gate;
    if (this.fail) throw this.fail;
    const page = this.pages.get(params._continue ?? '');
    assert.ok(page, `no page for continue=${params._continue ?? ''}`);
    return structuredClone(page);
  };
  /** Serves `items` as a single page at `rv`. */
  serve(rv: string, items: Obj[]): void {
    this.pages = new Map([['', { items, metadata: { resourceVersion: rv } }]]);
  }
}

function setup(over: Partial<InformerOptions<Obj>> = {}) {
  const clock = new FakeClock();
  const watch = new FakeWatch();
  const list = new FakeList();
  const events: Array<[InformerEvent, string, string | undefined, string | undefined]> = [];
  const informer = new Informer<Obj>({
    name: 'things',
    kubeConfig: new KubeConfig(),
    list: list.fn,
    watchPath: '/api/v1/things',
    log: silentLogger(),
    clock,
    watch: watch.fn,
    watchTimeoutSeconds: [300, 300],
    stallGraceMs: 30_000,
    ...over,
  });
  // [event, key, rv of obj, rv of old]
  informer.on((ev, o, old) => events.push([ev, objectKey(o), o.metadata.resourceVersion, old?.metadata.resourceVersion]));
  return { clock, watch, list, informer, events };
}

function cacheOf(informer: Informer<Obj>): Record<string, string> {
  return Object.fromEntries(informer.list().map((o) => [objectKey(o), o.metadata.resourceVersion]));
}

describe('Informer: initial list', () => {
  test('start() resolves after the whole paginated list, and the cache holds every item', async () => {
    const t = setup({ pageSize: 2, watchParams: { labelSelector: 'app=x' } });
    t.list.pages = new Map<string, ListPage<Obj>>([
      ['', { items: [obj('a', '1'), obj('b', '2')], metadata: { resourceVersion: '10', _continue: 'page2' } }],
      ['page2', { items: [obj('c', '3', { namespace: 'ns1' })], metadata: { resourceVersion: '10' } }],
    ]);
    let release!: () => void;
    t.list.gate = new Promise((r) => (release = r));
    const started = t.informer.start();
    assert.equal(await settledSoon(started), false, 'start() waits for the list');
    assert.equal(t.informer.hasSynced(), false);
    release();
    await started;
    assert.equal(t.informer.hasSynced(), true);
    assert.deepEqual(t.list.calls, [{ limit: 2 }, { limit: 2, _continue: 'page2' }]);
    assert.deepEqual(cacheOf(t.informer), { a: '1', b: '2', 'ns1/c': '3' });
    assert.equal(t.informer.get('ns1/c')?.metadata.name, 'c');
    assert.equal(t.informer.get('c'), undefined, 'namespaced objects are keyed namespace/name');
    assert.deepEqual(t.events, [
      ['add', 'a', '1', undefined],
      ['add', 'b', '2', undefined],
      ['add', 'ns1/c', '3', undefined],
    ]);
    await settle();
    // Then it watches from the list's resourceVersion.
    assert.equal(t.watch.calls.length, 1);
    assert.equal(t.watch.last.path, '/api/v1/things');
    assert.deepEqual(t.watch.last.params, { labelSelector: 'app=x', resourceVersion: '10', allowWatchBookmarks: true, timeoutSeconds: 300 });
    assert.deepEqual(t.informer.stats, { lists: 1, watches: 1, restarts: 0, resumes: 0, gone: 0, stalls: 0 });
    // start() again resolves at once and starts nothing new.
    assert.equal(await settledSoon(t.informer.start()), true);
    assert.equal(t.list.calls.length, 2);
    await t.informer.stop();
  });

  test('the default page size is 500 and the watch timeout is picked within the configured range', async () => {
    const t = setup({ watchTimeoutSeconds: [10, 20] });
    t.list.serve('5', []);
    await t.informer.start();
    await settle();
    assert.deepEqual(t.list.calls, [{ limit: 500 }]);
    const ts = t.watch.last.params.timeoutSeconds as number;
    assert.ok(Number.isInteger(ts) && ts >= 10 && ts <= 20, `timeoutSeconds=${ts}`);
    await t.informer.stop();
  });
});

describe('Informer: watch events', () => {
  test('ADDED/MODIFIED/DELETED update the cache and call handlers with (event, obj, old)', async () => {
    const t = setup();
    t.list.serve('10', [obj('a', '1')]);
    await t.informer.start();
    await settle();
    t.events.length = 0;
    const w = t.watch.last;
    w.event('ADDED', obj('b', '11'));
    w.event('MODIFIED', obj('a', '12', { data: 'new' }));
    w.event('ADDED', obj('x', '13', { namespace: 'ns' }));
    w.event('DELETED', obj('b', '14'));
    assert.deepEqual(t.events, [
      ['add', 'b', '11', undefined],
      ['update', 'a', '12', '1'],
      ['add', 'ns/x', '13', undefined],
      ['delete', 'b', '14', undefined],
    ]);
    assert.deepEqual(cacheOf(t.informer), { a: '12', 'ns/x': '13' });
    assert.equal(t.informer.get('a')?.data, 'new');
    assert.equal(t.informer.get('b'), undefined);
    // An ADDED for a key already cached is reported as an update.
    w.event('ADDED', obj('a', '15'));
    assert.deepEqual(t.events.at(-1), ['update', 'a', '15', '12']);
    await t.informer.stop();
  });

  test('a throwing handler does not stop the others or the informer', async () => {
    const t = setup();
    t.list.serve('10', []);
    const seen: string[] = [];
    t.informer.on(() => {
      throw new Error('handler bug');
    });
    t.informer.on((ev, o) => seen.push(`${ev} ${objectKey(o)}`));
    await t.informer.start();
    await settle();
    t.watch.last.event('ADDED', obj('a', '11'));
    t.watch.last.event('ADDED', obj('b', '12'));
    assert.deepEqual(seen, ['add a', 'add b']);
    assert.deepEqual(cacheOf(t.informer), { a: '11', b: '12' });
    await t.informer.stop();
  });

  test('a watch that ends normally is restarted from the last resourceVersion, without a relist', async () => {
    const t = setup();
    t.list.serve('10', [obj('a', '1')]);
    await t.informer.start();
    await settle();
    t.watch.last.event('MODIFIED', obj('a', '17'));
    t.watch.last.end();
    await settle();
    assert.equal(t.watch.calls.length, 2);
    assert.equal(t.watch.last.params.resourceVersion, '17');
    assert.equal(t.list.calls.length, 1, 'no relist');
    assert.equal(t.informer.stats.lists, 1);
    assert.equal(t.informer.unhealthyForMs(), 0);
    // A DELETED event also moves the resourceVersion.
    t.watch.last.event('DELETED', obj('a', '18'));
    t.watch.last.end();
    await settle();
    assert.equal(t.watch.last.params.resourceVersion, '18');
    assert.equal(t.list.calls.length, 1);
    await t.informer.stop();
  });

  test('keep: objects it refuses are neither cached nor reported, from the list or the watch, and still move the resourceVersion', async () => {
    const t = setup({ keep: (o) => o.metadata.name.startsWith('want') });
    t.list.serve('10', [obj('want-a', '1'), obj('other', '2')]);
    await t.informer.start();
    await settle();
    assert.deepEqual(cacheOf(t.informer), { 'want-a': '1' });
    t.watch.last.event('ADDED', obj('other-2', '11'));
    t.watch.last.event('MODIFIED', obj('other', '12'));
    t.watch.last.event('DELETED', obj('other', '13'));
    t.watch.last.event('MODIFIED', obj('want-a', '14'));
    t.watch.last.end();
    await settle();
    assert.deepEqual(cacheOf(t.informer), { 'want-a': '14' });
    assert.deepEqual(t.events.map(([ev, key]) => `${ev} ${key}`), ['add want-a', 'update want-a']);
    t.watch.last.event('ADDED', obj('other-3', '15'));
    t.watch.last.end();
    await settle();
    assert.equal(t.watch.last.params.resourceVersion, '15', 'a refused object still moves the resourceVersion');
    await t.informer.stop();
  });

  test('BOOKMARK moves the resourceVersion of the next watch without calling handlers', async () => {
    const t = setup();
    t.list.serve('10', [obj('a', '1')]);
    await t.informer.start();
    await settle();
    t.events.length = 0;
    t.watch.last.event('BOOKMARK', { metadata: { resourceVersion: '99' } });
    assert.deepEqual(t.events, []);
    assert.deepEqual(cacheOf(t.informer), { a: '1' }, 'a bookmark is not an object');
    t.watch.last.end();
    await settle();
    assert.equal(t.watch.last.params.resourceVersion, '99');
    assert.equal(t.list.calls.length, 1);
    await t.informer.stop();
  });

  test('events arriving after the watch ended are ignored', async () => {
    const t = setup();
    t.list.serve('10', []);
    await t.informer.start();
    await settle();
    const first = t.watch.last;
    first.end();
    await settle();
    first.event('ADDED', obj('ghost', '50'));
    assert.equal(t.informer.get('ghost'), undefined);
    t.watch.last.end();
    await settle();
    assert.equal(t.watch.last.params.resourceVersion, '10', 'the late event did not move the resourceVersion');
    await t.informer.stop();
  });
});

describe('Informer: 410 Gone', () => {
  test('an ERROR event with code 410 relists at once and emits the differences', async () => {
    const t = setup();
    t.list.serve('10', [obj('keep', '1'), obj('change', '2'), obj('remove', '3')]);
    await t.informer.start();
    await settle();
    t.events.length = 0;
    t.list.serve('40', [obj('keep', '1'), obj('change', '25'), obj('new', '30')]);
    const gone = t.watch.last;
    gone.event('ERROR', { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version' });
    await settle();
    assert.equal(t.informer.stats.gone, 1);
    assert.equal(t.informer.stats.restarts, 0, 'a 410 is not a failure');
    assert.equal(t.informer.stats.lists, 2);
    assert.ok(gone.ctrl.signal.aborted, 'the old watch request was aborted');
    assert.deepEqual(
      [...t.events].sort((x, y) => x[1].localeCompare(y[1])),
      [
        ['update', 'change', '25', '2'],
        ['add', 'new', '30', undefined],
        ['delete', 'remove', '3', undefined],
      ],
    );
    assert.deepEqual(cacheOf(t.informer), { keep: '1', change: '25', new: '30' });
    assert.equal(t.watch.calls.length, 2, 'watching again with no backoff sleep');
    assert.equal(t.watch.last.params.resourceVersion, '40');
    assert.equal(t.informer.unhealthyForMs(), 0);
    await t.informer.stop();
  });

  test('onDone with a statusCode 410 error also relists', async () => {
    const t = setup();
    t.list.serve('10', []);
    await t.informer.start();
    await settle();
    t.list.serve('20', [obj('a', '15')]);
    t.watch.last.end(Object.assign(new Error('Gone'), { statusCode: 410 }));
    await settle();
    assert.equal(t.informer.stats.gone, 1);
    assert.equal(t.informer.stats.lists, 2);
    assert.deepEqual(t.events, [['add', 'a', '15', undefined]]);
    assert.equal(t.watch.last.params.resourceVersion, '20');
    await t.informer.stop();
  });
});

describe('Informer: failures', () => {
  test('a watch that ends with an error resumes from the last resourceVersion after a backoff, without a relist', async () => {
    const t = setup({ random: () => 1 });
    t.list.serve('10', [obj('a', '1')]);
    await t.informer.start();
    await settle();
    t.watch.last.event('MODIFIED', obj('a', '17'));
    t.events.length = 0;
    t.watch.last.end(new Error('connection reset'));
    await settle();
    assert.equal(t.informer.stats.restarts, 1);
    assert.equal(t.watch.calls.length, 1, 'no new watch before the backoff sleep');
    assert.equal(t.clock.pendingTimers(), 1, 'only the backoff sleep is pending (the stall timer was cancelled)');
    await t.clock.advance(200); // the first delay: RETRY_BASE_MS at most
    await settle();
    assert.equal(t.watch.calls.length, 2);
    assert.equal(t.watch.last.params.resourceVersion, '17', 'resumed from the last event');
    assert.equal(t.list.calls.length, 1, 'no relist');
    assert.deepEqual({ lists: t.informer.stats.lists, resumes: t.informer.stats.resumes, gone: t.informer.stats.gone }, { lists: 1, resumes: 1, gone: 0 });
    assert.deepEqual(t.events, [], 'nothing re-announced to handlers');
    assert.deepEqual(cacheOf(t.informer), { a: '17' });
    // A bookmark moves the resume point too.
    t.watch.last.event('BOOKMARK', { metadata: { resourceVersion: '42' } });
    t.watch.last.end(new Error('connection reset'));
    await settle();
    await t.clock.advance(200);
    await settle();
    assert.equal(t.watch.last.params.resourceVersion, '42');
    assert.equal(t.list.calls.length, 1);
    await t.informer.stop();
  });

  test('an API server outage: watches retried from the same resourceVersion, unhealthy until one is established, no relist', async () => {
    const t = setup();
    t.list.serve('10', [obj('a', '1')]);
    await t.informer.start();
    await settle();
    assert.equal(t.informer.unhealthyForMs(), 0);
    const t0 = t.clock.now();
    t.list.fail = new Error('connection refused');
    t.watch.failWith = new Error('connect ECONNREFUSED');
    t.watch.last.end(new Error('connection reset'));
    await settle();
    for (let i = 0; i < 20; i++) {
      await t.clock.advance(1000);
      await settle();
    }
    assert.equal(t.informer.unhealthyForMs(), t.clock.now() - t0, 'unhealthy since the first failure');
    assert.ok(t.watch.attempts.length >= 11, `retried about every second or two: ${t.watch.attempts.length} attempts`);
    assert.ok(t.watch.attempts.every((rv) => rv === '10'), 'every retry from the same resourceVersion');
    assert.equal(t.list.calls.length, 1, 'no relist');
    assert.deepEqual(cacheOf(t.informer), { a: '1' }, 'the cache is kept');
    // The API server is back: the next watch is established, and the informer healthy at once.
    t.watch.failWith = undefined;
    await t.clock.advance(2000);
    await settle();
    assert.equal(t.informer.unhealthyForMs(), 0);
    assert.equal(t.watch.last.params.resourceVersion, '10');
    assert.equal(t.informer.stats.lists, 1);
    t.watch.last.event('ADDED', obj('b', '11'));
    assert.deepEqual(cacheOf(t.informer), { a: '1', b: '11' });
    await t.informer.stop();
  });

  test('the backoff is jittered, grows from 200 ms and never exceeds 2 s', async () => {
    const measure = async (random: () => number) => {
      const t = setup({ random });
      t.list.serve('10', []);
      await t.informer.start();
      await settle();
      t.watch.failWith = new Error('connect ECONNREFUSED');
      t.watch.last.end(new Error('reset'));
      await settle();
      // The time of each retry, found by advancing 10 ms at a time.
      const at: number[] = [];
      const t0 = t.clock.now();
      while (at.length < 10) {
        const before = t.watch.attempts.length;
        await t.clock.advance(10);
        await settle();
        if (t.watch.attempts.length > before) at.push(t.clock.now() - t0);
      }
      await t.informer.stop();
      return at.map((x, i) => x - (at[i - 1] ?? 0));
    };
    const longest = await measure(() => 1);
    const shortest = await measure(() => 0);
    // Equal jitter: each delay between half and all of min(2000, 200 * 2^n).
    assert.deepEqual(longest, [200, 400, 800, 1600, 2000, 2000, 2000, 2000, 2000, 2000]);
    assert.deepEqual(shortest, [100, 200, 400, 800, 1000, 1000, 1000, 1000, 1000, 1000]);
    let seed = 7;
    const mixed = await measure(() => ((seed = (seed * 9301 + 49297) % 233280) / 233280));
    for (const [n, d] of mixed.entries()) {
      const cap = Math.min(2000, 200 * 2 ** n);
      // Measured in 10 ms steps.
      assert.ok(d >= cap / 2 - 10 && d <= cap + 10, `delay ${n}: ${d} ms not within [${cap / 2}, ${cap}]`);
    }
    assert.ok(new Set(mixed.slice(4)).size > 1, `jittered: ${mixed.join(', ')}`);
  });

  test('the backoff resets after a watch that delivers an event or ends normally', async () => {
    const t = setup({ random: () => 1 });
    t.list.serve('10', []);
    await t.informer.start();
    await settle();
    // Three failures in a row: the next sleep would be 1600 ms.
    t.watch.failWith = new Error('reset');
    t.watch.last.end(new Error('reset'));
    await settle();
    for (const delay of [200, 400, 800]) {
      await t.clock.advance(delay);
      await settle();
    }
    assert.equal(t.watch.attempts.length, 4);
    t.watch.failWith = undefined;
    await t.clock.advance(1600);
    await settle();
    assert.equal(t.watch.calls.length, 2, 'established');
    t.watch.last.event('ADDED', obj('a', '11'));
    t.watch.last.end(new Error('reset'));
    await settle();
    await t.clock.advance(200);
    await settle();
    assert.equal(t.watch.calls.length, 3, 'after a watch that delivered, the next failure waits the base delay again');
    t.watch.last.end(); // a clean end: new watch at once
    await settle();
    assert.equal(t.watch.calls.length, 4);
    t.watch.last.end(new Error('reset'));
    await settle();
    await t.clock.advance(200);
    await settle();
    assert.equal(t.watch.calls.length, 5);
    assert.equal(t.list.calls.length, 1);
    await t.informer.stop();
  });

  test('an ERROR event other than 410 is a failure: backoff, then the watch resumes', async () => {
    const t = setup();
    t.list.serve('10', []);
    await t.informer.start();
    await settle();
    const w = t.watch.last;
    w.event('ERROR', { kind: 'Status', code: 500, message: 'internal error' });
    await settle();
    assert.ok(w.ctrl.signal.aborted);
    assert.equal(t.informer.stats.restarts, 1);
    assert.equal(t.informer.stats.gone, 0);
    await t.clock.advance(200);
    await settle();
    assert.equal(t.list.calls.length, 1, 'no relist');
    assert.equal(t.watch.calls.length, 2);
    assert.equal(t.watch.last.params.resourceVersion, '10');
    await t.informer.stop();
  });

  test('a watch call that rejects is a failure too', async () => {
    const t = setup();
    t.list.serve('10', []);
    t.watch.rejectNext = new Error('ECONNREFUSED');
    await t.informer.start();
    await settle();
    assert.equal(t.informer.stats.restarts, 1);
    assert.equal(t.watch.calls.length, 0);
    await t.clock.advance(200);
    await settle();
    assert.equal(t.list.calls.length, 1);
    assert.equal(t.watch.calls.length, 1);
    assert.equal(t.watch.last.params.resourceVersion, '10');
    await t.informer.stop();
  });

  test('a 410 followed by failing lists: the list is retried with backoff, unhealthy until it succeeds', async () => {
    const t = setup({ random: () => 1 });
    t.list.serve('10', [obj('a', '1')]);
    await t.informer.start();
    await settle();
    t.list.fail = new Error('connection refused');
    const t0 = t.clock.now();
    t.watch.last.event('ERROR', { code: 410 });
    await settle();
    assert.equal(t.informer.stats.gone, 1);
    assert.equal(t.list.calls.length, 2, 'relisted at once');
    for (const delay of [200, 400, 800, 1600, 2000]) {
      const lists: number = t.list.calls.length;
      await t.clock.advance(delay);
      await settle();
      assert.equal(t.list.calls.length, lists + 1, `relist after ${delay} ms`);
      assert.equal(t.informer.unhealthyForMs(), t.clock.now() - t0);
    }
    assert.equal(t.watch.calls.length, 1, 'no watch without a successful list');
    assert.equal(t.informer.stats.resumes, 0);
    assert.deepEqual(cacheOf(t.informer), { a: '1' }, 'the cache is kept while lists fail');
    t.list.fail = undefined;
    t.list.serve('50', [obj('a', '1'), obj('b', '2')]);
    await t.clock.advance(2000);
    await settle();
    assert.equal(t.informer.unhealthyForMs(), 0);
    assert.equal(t.watch.calls.length, 2);
    assert.equal(t.watch.last.params.resourceVersion, '50');
    assert.deepEqual(t.events.at(-1), ['add', 'b', '2', undefined]);
    await t.informer.stop();
  });

  test('a failing first list keeps start() pending until a list succeeds', async () => {
    const t = setup();
    t.list.fail = new Error('forbidden');
    const started = t.informer.start();
    assert.equal(await settledSoon(started), false);
    assert.equal(t.informer.hasSynced(), false);
    await t.clock.advance(200);
    await settle();
    assert.equal(await settledSoon(started), false);
    assert.equal(t.list.calls.length, 2);
    t.list.fail = undefined;
    t.list.serve('3', [obj('a', '1')]);
    await t.clock.advance(400);
    await settle();
    assert.equal(await settledSoon(started), true);
    assert.deepEqual(cacheOf(t.informer), { a: '1' });
    await t.informer.stop();
  });
});

describe('Informer: stalls', () => {
  test('a watch silent for longer than timeoutSeconds*1000 + stallGraceMs is aborted and followed by a relist', async () => {
    const t = setup({ watchTimeoutSeconds: [5, 5], stallGraceMs: 1000 });
    t.list.serve('10', [obj('a', '1')]);
    await t.informer.start();
    await settle();
    const w = t.watch.last;
    assert.equal(w.params.timeoutSeconds, 5);
    // Events re-arm the stall timer.
    await t.clock.advance(4000);
    w.event('MODIFIED', obj('a', '2'));
    await t.clock.advance(5999);
    await settle();
    assert.equal(w.ctrl.signal.aborted, false, 'not stalled: the last event was 5999ms ago');
    assert.equal(t.informer.stats.stalls, 0);
    t.list.serve('20', [obj('a', '2')]);
    await t.clock.advance(1);
    await settle();
    assert.equal(w.ctrl.signal.aborted, true, 'the stalled watch request was aborted');
    assert.equal(t.informer.stats.stalls, 1);
    assert.equal(t.informer.stats.lists, 2, 'a stall is followed by a relist');
    assert.equal(t.watch.calls.length, 2);
    assert.equal(t.watch.last.params.resourceVersion, '20');
    // The new watch has its own stall timer.
    await t.clock.advance(6000);
    await settle();
    assert.equal(t.informer.stats.stalls, 2);
    assert.equal(t.watch.calls.length, 3);
    await t.informer.stop();
  });

  test('a stall followed by a relist that hangs: unhealthy from the stall, the list times out, backoff, recovery', async () => {
    const t = setup({ watchTimeoutSeconds: [5, 5], stallGraceMs: 1000, listTimeoutMs: 2000 });
    t.list.serve('10', [obj('a', '1')]);
    await t.informer.start();
    await settle();
    // The path freezes: the next list never answers.
    let release!: () => void;
    t.list.gate = new Promise((r) => (release = r));
    await t.clock.advance(6000);
    await settle();
    assert.equal(t.informer.stats.stalls, 1);
    assert.ok(t.informer.unhealthyForMs() >= 0 && t.informer.stats.lists === 2, 'relisting');
    await t.clock.advance(1500);
    assert.equal(t.informer.unhealthyForMs(), 1500, 'unhealthy since the stall, while the relist hangs');
    await t.clock.advance(500);
    await settle();
    assert.equal(t.informer.stats.restarts, 1, 'the hanging list timed out and counts as a failure');
    t.list.gate = undefined;
    release();
    t.list.serve('20', [obj('a', '2')]);
    // The backoff (200 ms base, with jitter), then a relist that answers.
    for (let i = 0; i < 10 && t.informer.unhealthyForMs() > 0; i++) {
      await t.clock.advance(100);
      await settle();
    }
    assert.equal(t.informer.unhealthyForMs(), 0, 'healthy again after a list succeeds');
    assert.deepEqual(cacheOf(t.informer), { a: '2' });
    await t.informer.stop();
  });

  test('a bookmark counts as activity', async () => {
    const t = setup({ watchTimeoutSeconds: [5, 5], stallGraceMs: 1000 });
    t.list.serve('10', []);
    await t.informer.start();
    await settle();
    await t.clock.advance(5000);
    t.watch.last.event('BOOKMARK', { metadata: { resourceVersion: '11' } });
    await t.clock.advance(5000);
    await settle();
    assert.equal(t.informer.stats.stalls, 0);
    assert.equal(t.watch.calls.length, 1);
    await t.informer.stop();
  });
});

describe('Informer: transform', () => {
  test('transform is applied to listed and to watched objects, before caching and handlers', async () => {
    const strip = (o: Obj): Obj => {
      const { managedFields: _mf, ...metadata } = o.metadata;
      return { ...o, metadata };
    };
    const t = setup({ transform: strip });
    const handled: Obj[] = [];
    t.informer.on((_ev, o) => handled.push(o));
    const mf = [{ manager: 'kubectl' }];
    t.list.serve('10', [{ metadata: { name: 'a', resourceVersion: '1', managedFields: mf } }]);
    await t.informer.start();
    await settle();
    t.watch.last.event('ADDED', { metadata: { name: 'b', resourceVersion: '11', managedFields: mf } });
    t.watch.last.event('MODIFIED', { metadata: { name: 'a', resourceVersion: '12', managedFields: mf } });
    for (const k of ['a', 'b']) {
      const cached = t.informer.get(k);
      assert.ok(cached);
      assert.equal('managedFields' in cached.metadata, false, `${k} was cached untransformed`);
    }
    assert.equal(handled.length, 3);
    for (const o of handled) assert.equal('managedFields' in o.metadata, false);
    // Relisted objects too.
    t.list.serve('20', [{ metadata: { name: 'c', resourceVersion: '13', managedFields: mf } }]);
    t.watch.last.event('ERROR', { code: 410 });
    await settle();
    const c = t.informer.get('c');
    assert.ok(c);
    assert.equal('managedFields' in c.metadata, false);
    await t.informer.stop();
  });
});

describe('Informer: stop', () => {
  test('stop() aborts the running watch and ends the loop', async () => {
    const t = setup();
    t.list.serve('10', []);
    await t.informer.start();
    await settle();
    const w = t.watch.last;
    await t.informer.stop();
    assert.ok(w.ctrl.signal.aborted);
    await t.clock.advance(3_600_000);
    await settle();
    assert.equal(t.watch.calls.length, 1, 'no watch after stop()');
    assert.equal(t.list.calls.length, 1, 'no list after stop()');
    assert.equal(t.clock.pendingTimers(), 0, 'no stall timer left behind');
  });

  test('stop() during a backoff sleep returns without waiting for the clock', async () => {
    const t = setup();
    t.list.fail = new Error('down');
    const started = t.informer.start();
    await settle();
    assert.equal(t.clock.pendingTimers(), 1);
    assert.equal(await settledSoon(t.informer.stop()), true);
    assert.equal(await settledSoon(started), true, 'a pending start() is released by stop()');
    await t.clock.advance(60_000);
    await settle();
    assert.equal(t.list.calls.length, 1);
  });

  test('stop() while a list is in flight starts no new watch once the list returns', async () => {
    const t = setup();
    t.list.serve('10', []);
    await t.informer.start();
    await settle();
    let release!: () => void;
    t.list.gate = new Promise((r) => (release = r));
    t.list.serve('20', []);
    t.watch.last.event('ERROR', { code: 410 }); // relist, held by the gate
    await settle();
    assert.equal(t.list.calls.length, 2);
    const stopped = t.informer.stop();
    release();
    const done = await settledSoon(stopped);
    assert.equal(t.watch.calls.length, 1, 'a watch was started after stop()');
    assert.equal(done, true, 'stop() did not return once the list had');
  });
});

describe('MultiInformer and StaticCache (namespaced mode)', () => {
  test('one informer per namespace, seen as one cache: keys route by namespace, sync waits for all, handlers see every namespace', async () => {
    const parts = new Map<string, ReturnType<typeof setup>>();
    const multi = new MultiInformer<Obj>(['ns1', 'ns2'], (ns) => {
      const t = setup({ watchPath: `/api/v1/namespaces/${ns}/things` });
      t.list.serve('5', [obj('a', '1', { namespace: ns })]);
      parts.set(ns, t);
      return t.informer;
    });
    const seen: string[] = [];
    multi.on((ev, o) => seen.push(`${ev} ${objectKey(o)}`));
    assert.equal(multi.hasSynced(), false);
    await multi.start();
    assert.equal(multi.hasSynced(), true);
    assert.deepEqual(seen.sort(), ['add ns1/a', 'add ns2/a']);
    assert.equal(multi.get('ns2/a')?.metadata.namespace, 'ns2');
    assert.equal(multi.get('ns3/a'), undefined);
    assert.equal(multi.get('a'), undefined, 'a cluster-scoped key is in no namespace');
    assert.deepEqual(multi.list().map(objectKey).sort(), ['ns1/a', 'ns2/a']);
    assert.equal(multi.unhealthyForMs(), 0);
    await multi.stop();
  });

  test('StaticCache: a fixed, always-synced set', async () => {
    const cache = new StaticCache<Obj>([obj('x', '1'), obj('y', '1', { namespace: 'n' })]);
    await cache.start();
    assert.equal(cache.hasSynced(), true);
    assert.equal(cache.get('n/y')?.metadata.name, 'y');
    assert.equal(cache.get('x')?.metadata.name, 'x');
    assert.deepEqual([...cache.values()].length, 2);
    await cache.stop();
  });
});
