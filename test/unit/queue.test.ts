// Unit tests for src/controller/queue.ts: WorkQueue, driven by a FakeClock and handlers the test holds open.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { WorkQueue, type QueueResult, type WorkQueueOptions } from '../../src/controller/queue.js';
import { FakeClock } from '../../src/util/clock.js';
import { silentLogger } from '../../src/log.js';
import { capturingLogger } from '../harness/provider-tests.js';
import { deferred, settle, settledSoon, type Deferred } from './async-helpers.js';

interface Call {
  key: string;
  at: number;
  done: Deferred<QueueResult | void>;
}

/**
 * A queue whose handler records each call and stays open until the test resolves or rejects it
 * (`auto` answers at once instead). Tracks how many runs of each key overlap.
 */
function harness(opts: Partial<WorkQueueOptions> & { auto?: (key: string, n: number) => QueueResult | void | Error } = {}) {
  const clock = new FakeClock(0);
  const calls: Call[] = [];
  const active = new Map<string, number>();
  let maxPerKey = 0;
  let running = 0;
  let maxRunning = 0;
  const { auto, ...rest } = opts;
  const queue = new WorkQueue({
    log: silentLogger(),
    clock,
    ...rest,
    handler: async (key) => {
      const done = deferred<QueueResult | void>();
      calls.push({ key, at: clock.now(), done });
      const n = (active.get(key) ?? 0) + 1;
      active.set(key, n);
      maxPerKey = Math.max(maxPerKey, n);
      running++;
      maxRunning = Math.max(maxRunning, running);
      if (auto) {
        const r = auto(key, calls.filter((c) => c.key === key).length);
        if (r instanceof Error) done.reject(r);
        else done.resolve(r);
      }
      try {
        return await done.promise;
      } finally {
        active.set(key, (active.get(key) ?? 1) - 1);
        running--;
      }
    },
  });
  return {
    clock,
    queue,
    calls,
    keys: () => calls.map((c) => c.key),
    maxPerKey: () => maxPerKey,
    maxRunning: () => maxRunning,
    running: () => running,
    /** The single open call for `key`. */
    open(key: string): Call {
      const open = calls.filter((c) => c.key === key);
      const last = open.at(-1);
      assert.ok(last, `no call for ${key}`);
      return last;
    },
  };
}

describe('WorkQueue: deduplication and serialisation', () => {
  test('a key added three times while queued runs once', async () => {
    const h = harness({ auto: () => undefined });
    h.queue.add('a');
    h.queue.add('a');
    h.queue.add('a');
    assert.equal(h.queue.length, 1);
    assert.equal(h.queue.stats.deduplicated, 2);
    assert.deepEqual(h.keys(), [], 'nothing runs before start()');
    h.queue.start();
    await h.queue.idle();
    assert.deepEqual(h.keys(), ['a']);
    assert.equal(h.queue.stats.runs, 1);
  });

  test('a key queued behind a busy worker is still deduplicated', async () => {
    const h = harness({ workers: 1 });
    h.queue.start();
    h.queue.add('busy');
    for (let i = 0; i < 3; i++) h.queue.add('a');
    assert.equal(h.queue.length, 1);
    h.open('busy').done.resolve();
    await settle();
    h.open('a').done.resolve();
    await h.queue.idle();
    assert.deepEqual(h.keys(), ['busy', 'a']);
  });

  test('a key added while its handler runs is run again afterwards, never concurrently', async () => {
    const h = harness({ workers: 4 });
    h.queue.start();
    h.queue.add('a');
    assert.equal(h.calls.length, 1);
    // Added twice while running: marked dirty, not started alongside.
    h.queue.add('a');
    h.queue.add('a');
    await settle();
    assert.equal(h.calls.length, 1);
    assert.equal(h.queue.length, 0, 'a running key is not queued a second time');
    h.calls[0]!.done.resolve();
    await settle();
    assert.equal(h.calls.length, 2, 'the key runs again once the first run has finished');
    // Again while the second run is open.
    h.queue.add('a');
    await settle();
    assert.equal(h.calls.length, 2);
    h.calls[1]!.done.resolve();
    await settle();
    assert.equal(h.calls.length, 3);
    h.calls[2]!.done.resolve();
    await h.queue.idle();
    assert.equal(h.calls.length, 3, 'no further runs once nothing was added');
    assert.equal(h.maxPerKey(), 1, 'a key never ran twice at the same time');
  });

  test('different keys run in parallel, up to `workers`', async () => {
    const h = harness({ workers: 2 });
    h.queue.start();
    for (const k of ['a', 'b', 'c', 'd']) h.queue.add(k);
    await settle();
    assert.deepEqual(h.keys(), ['a', 'b']);
    assert.equal(h.running(), 2);
    assert.equal(h.queue.length, 2);
    h.open('b').done.resolve();
    await settle();
    assert.deepEqual(h.keys(), ['a', 'b', 'c'], 'a freed worker takes the next queued key in order');
    h.open('a').done.resolve();
    await settle();
    assert.deepEqual(h.keys(), ['a', 'b', 'c', 'd']);
    h.open('c').done.resolve();
    h.open('d').done.resolve();
    await h.queue.idle();
    assert.equal(h.maxRunning(), 2);
  });

  test('defaults to 4 workers', async () => {
    const h = harness();
    h.queue.start();
    for (const k of ['a', 'b', 'c', 'd', 'e', 'f']) h.queue.add(k);
    await settle();
    assert.equal(h.running(), 4);
    for (const c of [...h.calls]) c.done.resolve();
    await settle();
    for (const c of h.calls.slice(4)) c.done.resolve();
    await h.queue.idle();
    assert.equal(h.calls.length, 6);
    assert.equal(h.maxRunning(), 4);
  });
});

describe('WorkQueue: delayed adds', () => {
  test('addAfter keeps the earliest time per key and fires on clock advance', async () => {
    const h = harness({ auto: () => undefined });
    h.queue.start();
    h.queue.addAfter('a', 1000);
    assert.equal(h.queue.scheduledAt('a'), 1000);
    h.queue.addAfter('a', 500);
    assert.equal(h.queue.scheduledAt('a'), 500, 'an earlier time replaces a later one');
    h.queue.addAfter('a', 2000);
    assert.equal(h.queue.scheduledAt('a'), 500, 'a later time does not replace an earlier one');
    assert.equal(h.clock.pendingTimers(), 1, 'only one timer per key');
    await h.clock.advance(499);
    await settle();
    assert.deepEqual(h.keys(), []);
    await h.clock.advance(1);
    await settle();
    assert.deepEqual(h.calls.map((c) => [c.key, c.at]), [['a', 500]]);
    assert.equal(h.queue.scheduledAt('a'), undefined);
    await h.clock.advance(5000);
    await settle();
    assert.equal(h.calls.length, 1, 'the replaced schedules never fire');
  });

  test('addAfter with a non-positive delay adds at once', async () => {
    const h = harness({ auto: () => undefined });
    h.queue.start();
    h.queue.addAfter('a', 0);
    h.queue.addAfter('b', -5);
    await h.queue.idle();
    assert.deepEqual(h.keys(), ['a', 'b']);
    assert.equal(h.clock.pendingTimers(), 0);
  });

  test('add() cancels a pending schedule', async () => {
    const h = harness({ auto: () => undefined });
    h.queue.start();
    h.queue.addAfter('a', 1000);
    h.queue.add('a');
    await h.queue.idle();
    assert.equal(h.queue.scheduledAt('a'), undefined);
    await h.clock.advance(2000);
    await settle();
    assert.equal(h.calls.length, 1);
  });

  test('a handler returning {requeueAfterMs} is run again after that delay', async () => {
    const h = harness({ auto: (_k, n) => (n === 1 ? { requeueAfterMs: 5000 } : {}) });
    h.queue.start();
    h.queue.add('a');
    await h.queue.idle();
    assert.equal(h.calls.length, 1);
    assert.equal(h.queue.scheduledAt('a'), 5000);
    await h.clock.advance(4999);
    await settle();
    assert.equal(h.calls.length, 1);
    await h.clock.advance(1);
    await settle();
    assert.deepEqual(h.calls.map((c) => c.at), [0, 5000]);
    // The second run returned no requeue: nothing more is scheduled.
    assert.equal(h.queue.scheduledAt('a'), undefined);
    assert.equal(h.clock.pendingTimers(), 0);
  });

  test('forget() cancels a schedule and the failure count', async () => {
    const h = harness({ auto: () => new Error('boom') });
    h.queue.start();
    h.queue.add('a');
    await h.queue.idle();
    assert.equal(h.queue.failureCount('a'), 1);
    assert.notEqual(h.queue.scheduledAt('a'), undefined);
    h.queue.forget('a');
    assert.equal(h.queue.scheduledAt('a'), undefined);
    assert.equal(h.queue.failureCount('a'), 0);
    await h.clock.advance(3_600_000);
    await settle();
    assert.equal(h.calls.length, 1, 'a forgotten key does not run again');
  });
});

describe('WorkQueue: retries', () => {
  async function failTimes(random: () => number, times: number) {
    const h = harness({ auto: () => new Error('registry down'), retryBaseMs: 1000, retryMaxMs: 8000, random });
    h.queue.start();
    h.queue.add('a');
    const delays: number[] = [];
    for (let i = 0; i < times; i++) {
      await h.queue.idle();
      await settle();
      const at = h.queue.scheduledAt('a');
      assert.ok(at !== undefined, `failure ${i + 1} scheduled a retry`);
      assert.equal(h.queue.failureCount('a'), i + 1);
      delays.push(at - h.clock.now());
      await h.clock.advance(at - h.clock.now());
      await settle();
    }
    return { h, delays };
  }

  test('a throwing handler is retried with growing, capped backoff (random=1: base, 2*base, ... max)', async () => {
    const { h, delays } = await failTimes(() => 1, 6);
    assert.deepEqual(delays, [1000, 2000, 4000, 8000, 8000, 8000]);
    // Each loop step fired the retry, so there was one more run than the delays measured.
    assert.equal(h.queue.stats.errors, 7);
    assert.equal(h.queue.stats.runs, 7);
    // The retries ran exactly when scheduled.
    assert.deepEqual(h.calls.map((c) => c.at).slice(0, 5), [0, 1000, 3000, 7000, 15000]);
  });

  test('with random=0 each retry waits half the exponential delay (equal jitter)', async () => {
    const { delays } = await failTimes(() => 0, 6);
    assert.deepEqual(delays, [500, 1000, 2000, 4000, 4000, 4000]);
  });

  test('defaults: 1s base, 5min cap', async () => {
    const h = harness({ auto: () => new Error('x'), random: () => 1 });
    h.queue.start();
    h.queue.add('a');
    await h.queue.idle();
    assert.equal(h.queue.scheduledAt('a'), 1000);
    for (let i = 0; i < 12; i++) {
      await h.clock.advance(h.queue.scheduledAt('a')! - h.clock.now());
      await settle();
    }
    assert.equal(h.queue.scheduledAt('a')! - h.clock.now(), 300_000);
  });

  test('a success resets the failure count, so the next failure starts from the base delay again', async () => {
    let fail = true;
    const h = harness({ auto: () => (fail ? new Error('x') : undefined), retryBaseMs: 1000, retryMaxMs: 60_000, random: () => 1 });
    h.queue.start();
    h.queue.add('a');
    await h.queue.idle();
    await h.clock.advance(1000);
    await settle();
    await h.clock.advance(2000);
    await settle();
    assert.equal(h.queue.failureCount('a'), 3);
    assert.equal(h.queue.scheduledAt('a')! - h.clock.now(), 4000);
    fail = false;
    await h.clock.advance(4000);
    await settle();
    assert.equal(h.queue.failureCount('a'), 0);
    assert.equal(h.queue.scheduledAt('a'), undefined, 'a success without requeueAfterMs schedules nothing');
    fail = true;
    h.queue.add('a');
    await h.queue.idle();
    assert.equal(h.queue.failureCount('a'), 1);
    assert.equal(h.queue.scheduledAt('a')! - h.clock.now(), 1000);
  });

  test('failure counts are per key', async () => {
    const h = harness({ auto: (k) => (k === 'bad' ? new Error('x') : undefined), random: () => 1 });
    h.queue.start();
    h.queue.add('bad');
    h.queue.add('good');
    await h.queue.idle();
    assert.equal(h.queue.failureCount('bad'), 1);
    assert.equal(h.queue.failureCount('good'), 0);
    assert.equal(h.queue.scheduledAt('good'), undefined);
  });
});

describe('WorkQueue: stop and idle', () => {
  test('stop() waits for running handlers and drops delayed keys', async () => {
    const h = harness({ workers: 2 });
    h.queue.start();
    h.queue.add('a');
    h.queue.addAfter('later', 1000);
    const stopped = h.queue.stop();
    assert.equal(await settledSoon(stopped), false, 'stop() waits for the running handler');
    assert.equal(h.queue.scheduledAt('later'), undefined);
    assert.equal(h.clock.pendingTimers(), 0);
    // A requeue asked for by the handler that was running is dropped too.
    h.open('a').done.resolve({ requeueAfterMs: 10 });
    assert.equal(await settledSoon(stopped), true);
    await h.clock.advance(10_000);
    await settle();
    assert.deepEqual(h.keys(), ['a']);
    assert.equal(h.queue.scheduledAt('a'), undefined);
    // Nothing is taken after stop().
    h.queue.add('b');
    h.queue.addAfter('c', 5);
    await h.clock.advance(100);
    await settle();
    assert.deepEqual(h.keys(), ['a']);
    assert.equal(h.queue.length, 0);
  });

  test('stop() resolves at once when nothing is running', async () => {
    const h = harness();
    h.queue.start();
    assert.equal(await settledSoon(h.queue.stop()), true);
  });

  test('a handler failing during stop() is not retried, nor logged as a failure (its work was cut short)', async () => {
    const lines: string[] = [];
    const h = harness({ log: capturingLogger(lines) });
    h.queue.start();
    h.queue.add('a');
    const stopped = h.queue.stop();
    h.open('a').done.reject(new Error('aborted'));
    await stopped;
    assert.equal(h.queue.scheduledAt('a'), undefined);
    assert.equal(h.clock.pendingTimers(), 0);
    assert.equal(h.queue.stats.errors, 0);
    const logged = lines.map((l) => JSON.parse(l) as { level: string; msg: string; key?: string });
    assert.deepEqual(logged.map((l) => [l.level, l.msg, l.key]), [['info', 'reconcile cut short by the shutdown', 'a']]);
  });

  test('stop() resolves when the running handlers finish even if keys are still queued', async () => {
    const h = harness({ workers: 1 });
    h.queue.start();
    h.queue.add('a');
    h.queue.add('b'); // waits for the only worker
    const stopped = h.queue.stop();
    h.open('a').done.resolve();
    assert.equal(await settledSoon(stopped), true, 'stop() hung: a key was still queued when the last handler finished');
    assert.deepEqual(h.keys(), ['a'], 'the queued key is not started after stop()');
  });

  test('idle() resolves once nothing is queued or running, ignoring delayed keys', async () => {
    const h = harness({ workers: 1 });
    h.queue.start();
    assert.equal(await settledSoon(h.queue.idle()), true, 'idle at once when empty');
    h.queue.add('a');
    h.queue.add('b');
    h.queue.addAfter('c', 60_000);
    const idle = h.queue.idle();
    assert.equal(await settledSoon(idle), false);
    h.open('a').done.resolve();
    assert.equal(await settledSoon(idle), false, 'b is still to run');
    h.open('b').done.resolve();
    assert.equal(await settledSoon(idle), true);
    assert.equal(h.queue.scheduledAt('c'), 60_000);
  });
});

describe('WorkQueue: addRateLimited', () => {
  test('a burst runs at once, then one run per interval however often the key is re-triggered', async () => {
    const h = harness({ auto: () => undefined, rateLimit: { burst: 3, intervalMs: 1000 } });
    h.queue.start();
    // A writer fighting another: every run's write comes back as an event that triggers it again.
    for (let t = 0; t < 10_000; t += 50) {
      h.queue.addRateLimited('k');
      await settle();
      await h.clock.advance(50);
    }
    await settle();
    const runs = h.calls.length;
    assert.ok(runs >= 3 + 9 && runs <= 3 + 11, `${runs} runs in 10 s (burst 3, then 1/s)`);
    assert.equal(h.maxPerKey(), 1);
    assert.ok(h.queue.stats.throttled > 0);
  });

  test('keys have separate buckets; a pending throttled run absorbs further triggers', async () => {
    const h = harness({ auto: () => undefined, rateLimit: { burst: 1, intervalMs: 1000 } });
    h.queue.start();
    h.queue.addRateLimited('a');
    h.queue.addRateLimited('b');
    await settle();
    assert.deepEqual(h.keys().sort(), ['a', 'b']);
    for (let i = 0; i < 5; i++) h.queue.addRateLimited('a');
    await settle();
    assert.equal(h.calls.length, 2, 'out of tokens: delayed');
    assert.equal(h.queue.scheduledAt('a'), 1000);
    await h.clock.advance(1000);
    await settle();
    assert.deepEqual(h.keys(), ['a', 'b', 'a'], 'one delayed run for five triggers');
  });

  test('a plain add() is never rate-limited, and forget() resets the bucket', async () => {
    const h = harness({ auto: () => undefined, rateLimit: { burst: 1, intervalMs: 60_000 } });
    h.queue.start();
    h.queue.addRateLimited('k');
    await settle();
    h.queue.add('k');
    await settle();
    assert.equal(h.calls.length, 2);
    h.queue.addRateLimited('k');
    await settle();
    assert.equal(h.calls.length, 2, 'throttled');
    h.queue.forget('k');
    h.queue.addRateLimited('k');
    await settle();
    assert.equal(h.calls.length, 3);
  });

  test('triggers with stillNeeded during a run: weighed after it, an echo of its own writes spends no token', async () => {
    const h = harness({ rateLimit: { burst: 1, intervalMs: 60_000 } });
    h.queue.start();
    h.queue.add('k');
    await settle();
    assert.equal(h.calls.length, 1);
    // A thousand watch events of the run's own writes, each settled once the run is over.
    let asked = 0;
    for (let i = 0; i < 1000; i++) h.queue.addRateLimited('k', () => (asked++, false));
    h.calls[0]!.done.resolve();
    await settle();
    assert.equal(asked, 1000);
    assert.equal(h.calls.length, 1, 'no run for echoes');
    // The bucket is untouched: the next real trigger runs at once.
    h.queue.addRateLimited('k');
    await settle();
    assert.equal(h.calls.length, 2);
    h.calls[1]!.done.resolve();
    await settle();
  });

  test('a trigger with stillNeeded during a run that the run did not settle: one rate-limited run after it', async () => {
    const h = harness({ rateLimit: { burst: 5, intervalMs: 1000 } });
    h.queue.start();
    h.queue.add('k');
    await settle();
    h.queue.addRateLimited('k', () => false);
    h.queue.addRateLimited('k', () => true); // someone else's edit during the run
    h.queue.addRateLimited('k', () => true);
    h.calls[0]!.done.resolve();
    await settle();
    assert.equal(h.calls.length, 2, 'run again once');
    h.calls[1]!.done.resolve();
    await settle();
    assert.equal(h.calls.length, 2);
    // Outside a run the predicate is not consulted: a plain rate-limited trigger.
    h.queue.addRateLimited('k', () => false);
    await settle();
    assert.equal(h.calls.length, 3);
    h.calls[2]!.done.resolve();
    await settle();
  });

  test('triggers waiting for a run are bounded: past the bound they count as one that needs a run', async () => {
    const h = harness({ rateLimit: { burst: 5, intervalMs: 1000 } });
    h.queue.start();
    h.queue.add('k');
    await settle();
    let asked = 0;
    for (let i = 0; i < 25_000; i++) h.queue.addRateLimited('k', () => (asked++, false));
    h.calls[0]!.done.resolve();
    await settle();
    assert.ok(asked < 10_000, `${asked} checks kept`);
    assert.equal(h.calls.length, 2, 'the flood is taken as a change: one more run');
    h.calls[1]!.done.resolve();
    await settle();
  });

  test('forget() drops triggers waiting for a run to end', async () => {
    const h = harness({ rateLimit: { burst: 5, intervalMs: 1000 } });
    h.queue.start();
    h.queue.add('k');
    await settle();
    h.queue.addRateLimited('k', () => true);
    h.queue.forget('k');
    h.calls[0]!.done.resolve();
    await settle();
    assert.equal(h.calls.length, 1);
  });
});

test('working: only between start and stop', async () => {
  const { queue } = harness({ auto: () => undefined });
  assert.equal(queue.working, false, 'not started');
  queue.start();
  assert.equal(queue.working, true);
  await queue.stop();
  assert.equal(queue.working, false, 'stopped');
});
