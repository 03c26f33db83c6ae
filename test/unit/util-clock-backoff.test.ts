// Unit tests for src/util/clock.ts (FakeClock, realClock) and src/util/backoff.ts (Backoff, backoffDelay).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as tick } from 'node:timers/promises';
import { FakeClock, realClock } from '../../src/util/clock.js';
import { Backoff, backoffDelay } from '../../src/util/backoff.js';

/** Reports whether `p` has settled after a few turns of the event loop. */
async function settledSoon(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  void p.then(
    () => (done = true),
    () => (done = true),
  );
  for (let i = 0; i < 5; i++) await tick();
  return done;
}

describe('FakeClock', () => {
  test('starts at the given time (default 2026-01-01) and only moves on advance()', async () => {
    assert.equal(new FakeClock().now(), Date.parse('2026-01-01T00:00:00Z'));
    const clock = new FakeClock(1000);
    assert.equal(clock.now(), 1000);
    await tick();
    assert.equal(clock.now(), 1000);
    await clock.advance(250);
    assert.equal(clock.now(), 1250);
  });

  test('advance() fires due timers in time order, with now() at each timer time', async () => {
    const clock = new FakeClock(0);
    const fired: Array<[string, number]> = [];
    clock.setTimer(() => fired.push(['c', clock.now()]), 300);
    clock.setTimer(() => fired.push(['a', clock.now()]), 100);
    clock.setTimer(() => fired.push(['b', clock.now()]), 200);
    clock.setTimer(() => fired.push(['late', clock.now()]), 1000);
    await clock.advance(250);
    assert.deepEqual(fired, [
      ['a', 100],
      ['b', 200],
    ]);
    assert.equal(clock.now(), 250);
    assert.equal(clock.pendingTimers(), 2);
    await clock.advance(50);
    assert.deepEqual(fired.at(-1), ['c', 300]);
    assert.equal(clock.pendingTimers(), 1);
  });

  test('one advance() past several timers fires them by due time, not by the order they were set', async () => {
    const clock = new FakeClock(0);
    const fired: Array<[string, number]> = [];
    clock.setTimer(() => fired.push(['third', clock.now()]), 300);
    clock.setTimer(() => fired.push(['first', clock.now()]), 100);
    clock.setTimer(() => fired.push(['second', clock.now()]), 200);
    await clock.advance(1000);
    assert.deepEqual(fired, [
      ['first', 100],
      ['second', 200],
      ['third', 300],
    ]);
    assert.equal(clock.now(), 1000);
  });

  test('timers due at the same time fire in the order they were set', async () => {
    const clock = new FakeClock(0);
    const fired: string[] = [];
    for (const name of ['x', 'y', 'z']) clock.setTimer(() => fired.push(name), 10);
    await clock.advance(10);
    assert.deepEqual(fired, ['x', 'y', 'z']);
  });

  test('a timer set by a firing timer fires in the same advance() if it is due by then', async () => {
    const clock = new FakeClock(0);
    const fired: number[] = [];
    clock.setTimer(() => {
      fired.push(clock.now());
      clock.setTimer(() => fired.push(clock.now()), 30);
    }, 50);
    await clock.advance(100);
    assert.deepEqual(fired, [50, 80]);
  });

  test('a negative delay fires on the next advance, at the current time', async () => {
    const clock = new FakeClock(500);
    let at: number | undefined;
    clock.setTimer(() => (at = clock.now()), -100);
    await clock.advance(0);
    assert.equal(at, 500);
  });

  test('cancel() stops a timer from firing and leaves the others', async () => {
    const clock = new FakeClock(0);
    const fired: string[] = [];
    const a = clock.setTimer(() => fired.push('a'), 10);
    clock.setTimer(() => fired.push('b'), 20);
    a.cancel();
    assert.equal(clock.pendingTimers(), 1);
    await clock.advance(100);
    assert.deepEqual(fired, ['b']);
    a.cancel(); // cancelling twice, or after the fact, is harmless
    assert.equal(clock.pendingTimers(), 0);
  });

  test('sleep() resolves only once time has advanced far enough', async () => {
    const clock = new FakeClock(0);
    const slept = clock.sleep(1000);
    assert.equal(await settledSoon(slept), false);
    await clock.advance(999);
    assert.equal(await settledSoon(slept), false);
    await clock.advance(1);
    assert.equal(await settledSoon(slept), true);
    assert.equal(clock.pendingTimers(), 0);
  });

  test('sleep() resolves early when its signal aborts, and drops its timer', async () => {
    const clock = new FakeClock(0);
    const ac = new AbortController();
    const slept = clock.sleep(60_000, ac.signal);
    assert.equal(await settledSoon(slept), false);
    ac.abort();
    assert.equal(await settledSoon(slept), true);
    assert.equal(clock.now(), 0);
    assert.equal(clock.pendingTimers(), 0);
  });

  test('sleep() with an already-aborted signal resolves at once, like realClock', async () => {
    const clock = new FakeClock(0);
    const ac = new AbortController();
    ac.abort();
    const slept = clock.sleep(60_000, ac.signal);
    assert.equal(await settledSoon(slept), true, 'FakeClock.sleep ignored an already-aborted signal');
  });
});

describe('realClock', () => {
  test('sleep() waits roughly the given time', async () => {
    const start = Date.now();
    await realClock.sleep(20);
    assert.ok(Date.now() - start >= 15);
  });

  test('sleep() resolves at once for an already-aborted signal and early on abort', async () => {
    const ac = new AbortController();
    ac.abort();
    const start = Date.now();
    await realClock.sleep(60_000, ac.signal);
    const ac2 = new AbortController();
    setTimeout(() => ac2.abort(), 5);
    await realClock.sleep(60_000, ac2.signal);
    assert.ok(Date.now() - start < 5_000);
  });

  test('setTimer() fires and cancel() prevents firing', async () => {
    let a = 0;
    let b = 0;
    realClock.setTimer(() => a++, 1);
    const h = realClock.setTimer(() => b++, 1);
    h.cancel();
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(a, 1);
    assert.equal(b, 0);
  });
});

describe('Backoff', () => {
  test('with random=1 the delays are the full exponential: base, 2*base, 4*base, ... capped at maxMs', () => {
    const b = new Backoff({ baseMs: 100, maxMs: 1000 }, () => 1);
    const delays = Array.from({ length: 7 }, () => b.next());
    assert.deepEqual(delays, [100, 200, 400, 800, 1000, 1000, 1000]);
    assert.equal(b.attempts, 7);
  });

  test('with random=0 the delays are half the exponential (the fixed half of equal jitter)', () => {
    const b = new Backoff({ baseMs: 100, maxMs: 1000 }, () => 0);
    const delays = Array.from({ length: 6 }, () => b.next());
    assert.deepEqual(delays, [50, 100, 200, 400, 500, 500]);
  });

  test('honours a custom factor', () => {
    const b = new Backoff({ baseMs: 10, maxMs: 10_000, factor: 3 }, () => 1);
    assert.deepEqual([b.next(), b.next(), b.next(), b.next()], [10, 30, 90, 270]);
  });

  test('every delay lies within [exp/2, exp] for any random value', () => {
    let seed = 42;
    const rnd = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const b = new Backoff({ baseMs: 250, maxMs: 30_000 }, rnd);
    for (let i = 0; i < 40; i++) {
      const exp = Math.min(30_000, 250 * 2 ** i);
      const d = b.next();
      assert.ok(d >= exp / 2 && d <= exp, `attempt ${i}: ${d} not in [${exp / 2}, ${exp}]`);
    }
  });

  test('reset() starts again from the base delay', () => {
    const b = new Backoff({ baseMs: 100, maxMs: 10_000 }, () => 1);
    b.next();
    b.next();
    b.next();
    assert.equal(b.attempts, 3);
    b.reset();
    assert.equal(b.attempts, 0);
    assert.equal(b.next(), 100);
    assert.equal(b.next(), 200);
  });

  test('uses Math.random by default and still stays in bounds', () => {
    const b = new Backoff({ baseMs: 1000, maxMs: 5000 });
    for (let i = 0; i < 10; i++) {
      const exp = Math.min(5000, 1000 * 2 ** i);
      const d = b.next();
      assert.ok(d >= exp / 2 && d <= exp);
    }
  });
});

describe('backoffDelay', () => {
  test('is exp/2 + exp/2 * random, with exp = min(max, base * 2^failures)', () => {
    assert.equal(backoffDelay(0, 1000, 300_000, () => 0), 500);
    assert.equal(backoffDelay(0, 1000, 300_000, () => 1), 1000);
    assert.equal(backoffDelay(0, 1000, 300_000, () => 0.5), 750);
    assert.equal(backoffDelay(3, 1000, 300_000, () => 1), 8000);
    assert.equal(backoffDelay(3, 1000, 300_000, () => 0), 4000);
  });

  test('is capped at maxMs however many failures', () => {
    assert.equal(backoffDelay(20, 1000, 300_000, () => 1), 300_000);
    assert.equal(backoffDelay(20, 1000, 300_000, () => 0), 150_000);
    assert.equal(backoffDelay(2000, 1000, 300_000, () => 1), 300_000); // 2^2000 is Infinity; still capped
  });

  test('agrees with Backoff.next() for the same attempt and random value', () => {
    const b = new Backoff({ baseMs: 300, maxMs: 20_000 }, () => 0.3);
    for (let n = 0; n < 10; n++) assert.equal(b.next(), backoffDelay(n, 300, 20_000, () => 0.3));
  });

  test('stays within [exp/2, exp] for default Math.random', () => {
    for (let n = 0; n < 12; n++) {
      const exp = Math.min(60_000, 100 * 2 ** n);
      for (let i = 0; i < 20; i++) {
        const d = backoffDelay(n, 100, 60_000);
        assert.ok(d >= exp / 2 && d <= exp, `n=${n}: ${d}`);
      }
    }
  });
});
