// Unit tests for src/util/pool.ts: mapWithConcurrency and eventLoopTurns.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { eventLoopTurns, mapWithConcurrency } from '../../src/util/pool.js';
import { deferred, settle, type Deferred } from './async-helpers.js';

/** Runs mapWithConcurrency over `n` items whose work finishes only when the test says so. */
function controlled(n: number, limit: number) {
  const pending = new Map<number, Deferred<string>>();
  const started: number[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const run = mapWithConcurrency(
    Array.from({ length: n }, (_, i) => i),
    limit,
    async (item, index) => {
      assert.equal(item, index);
      started.push(item);
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      const d = deferred<string>();
      pending.set(item, d);
      try {
        return await d.promise;
      } finally {
        inFlight--;
      }
    },
  );
  return {
    run,
    pending,
    started,
    get inFlight() {
      return inFlight;
    },
    get maxInFlight() {
      return maxInFlight;
    },
  };
}

describe('mapWithConcurrency', () => {
  test('never runs more than `limit` at once, and starts the next as soon as one finishes', async () => {
    const c = controlled(7, 3);
    await settle();
    assert.deepEqual(c.started, [0, 1, 2]);
    assert.equal(c.inFlight, 3);

    c.pending.get(1)!.resolve('r1');
    await settle();
    assert.deepEqual(c.started, [0, 1, 2, 3]);
    assert.equal(c.inFlight, 3);

    c.pending.get(0)!.resolve('r0');
    c.pending.get(3)!.resolve('r3');
    await settle();
    assert.deepEqual(c.started, [0, 1, 2, 3, 4, 5]);
    assert.equal(c.inFlight, 3);

    for (const i of [2, 4, 5]) c.pending.get(i)!.resolve(`r${i}`);
    await settle();
    assert.deepEqual(c.started, [0, 1, 2, 3, 4, 5, 6]);
    assert.equal(c.inFlight, 1);
    c.pending.get(6)!.resolve('r6');

    assert.deepEqual(await c.run, ['r0', 'r1', 'r2', 'r3', 'r4', 'r5', 'r6']);
    assert.equal(c.maxInFlight, 3);
    assert.equal(c.inFlight, 0);
  });

  test('keeps input order when work finishes in reverse order', async () => {
    const c = controlled(5, 5);
    await settle();
    assert.equal(c.inFlight, 5);
    for (const i of [4, 3, 2, 1, 0]) {
      c.pending.get(i)!.resolve(`item-${i}`);
      await settle();
    }
    assert.deepEqual(await c.run, ['item-0', 'item-1', 'item-2', 'item-3', 'item-4']);
  });

  test('a limit of 1 runs strictly one after another', async () => {
    const c = controlled(3, 1);
    await settle();
    assert.deepEqual(c.started, [0]);
    c.pending.get(0)!.resolve('a');
    await settle();
    assert.deepEqual(c.started, [0, 1]);
    c.pending.get(1)!.resolve('b');
    await settle();
    c.pending.get(2)!.resolve('c');
    assert.deepEqual(await c.run, ['a', 'b', 'c']);
    assert.equal(c.maxInFlight, 1);
  });

  test('a limit larger than the input runs everything at once', async () => {
    const c = controlled(3, 100);
    await settle();
    assert.equal(c.inFlight, 3);
    for (const i of [0, 1, 2]) c.pending.get(i)!.resolve(String(i));
    assert.deepEqual(await c.run, ['0', '1', '2']);
  });

  test('a limit of 0 still makes progress (one at a time)', async () => {
    const c = controlled(2, 0);
    await settle();
    assert.deepEqual(c.started, [0]);
    c.pending.get(0)!.resolve('x');
    await settle();
    c.pending.get(1)!.resolve('y');
    assert.deepEqual(await c.run, ['x', 'y']);
    assert.equal(c.maxInFlight, 1);
  });

  test('an empty input gives an empty result without calling work', async () => {
    let calls = 0;
    assert.deepEqual(
      await mapWithConcurrency([], 4, async () => {
        calls++;
      }),
      [],
    );
    assert.equal(calls, 0);
  });

  test('each item is processed exactly once, with synchronous-looking work too', async () => {
    const seen: number[] = [];
    const items = Array.from({ length: 50 }, (_, i) => i);
    const out = await mapWithConcurrency(items, 7, async (x) => {
      seen.push(x);
      return x * 2;
    });
    assert.deepEqual(out, items.map((x) => x * 2));
    assert.deepEqual([...seen].sort((a, b) => a - b), items);
  });

  test('a failing item rejects the whole call', async () => {
    await assert.rejects(
      mapWithConcurrency([1, 2, 3], 2, async (x) => {
        if (x === 2) throw new Error('item 2 failed');
        return x;
      }),
      { message: 'item 2 failed' },
    );
  });
});

describe('eventLoopTurns', () => {
  test('every n-th call is a turn of the event loop; callers that come while it is due share it', async () => {
    const turn = eventLoopTurns(3);
    assert.equal(turn(), undefined);
    assert.equal(turn(), undefined);
    let immediateRan = false;
    setImmediate(() => (immediateRan = true));
    const due = turn();
    assert.ok(due instanceof Promise);
    assert.equal(turn(), due, 'a call while the turn is due waits for the same turn');
    await due;
    assert.ok(immediateRan, 'an immediate queued before it ran first');
    assert.equal(turn(), undefined, 'counting starts again after the turn');
  });
});
