// Unit tests for src/util/token-bucket.ts (the client-side limiter's arithmetic) and
// src/kube/api/rate-limit.ts (every API request takes a token), with a FakeClock.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { TokenBucket } from '../../src/util/token-bucket.js';
import { requestLimiter } from '../../src/kube/api/rate-limit.js';
import type { Logger } from '../../src/log.js';
import { FakeClock } from '../../src/util/clock.js';
import { settle } from './async-helpers.js';

describe('TokenBucket', () => {
  test('burst tokens at once, then one every 1/qps seconds; waiters reserve in order', () => {
    const clock = new FakeClock(0);
    const bucket = new TokenBucket({ qps: 20, burst: 5 }, clock);
    const waits = Array.from({ length: 8 }, () => bucket.reserve());
    // Five go at once; the sixth waits for the next token (50 ms), the seventh for the one after.
    assert.deepEqual(waits.map(Math.round), [0, 0, 0, 0, 0, 50, 100, 150]);
  });

  test('tokens refill with time, never beyond the burst', async () => {
    const clock = new FakeClock(0);
    const bucket = new TokenBucket({ qps: 10, burst: 3 }, clock);
    for (let i = 0; i < 3; i++) assert.equal(bucket.reserve(), 0);
    assert.equal(bucket.reserve(), 100, 'empty: the next token in 100 ms');
    await clock.advance(100); // that reserved token arrives
    await clock.advance(150); // 1.5 more
    assert.equal(bucket.reserve(), 0);
    assert.equal(Math.round(bucket.reserve()), 50, 'half a token left: 50 ms to the next');
    await clock.advance(3_600_000);
    for (let i = 0; i < 3; i++) assert.equal(bucket.reserve(), 0, 'a quiet hour refills to the burst');
    assert.equal(bucket.reserve(), 100, 'and no further');
  });

  test('N takers need at least (N - burst) / qps seconds: 100 at qps 20, burst 5 take 4.75 s', async () => {
    const clock = new FakeClock(0);
    const bucket = new TokenBucket({ qps: 20, burst: 5 }, clock);
    let done = 0;
    const all = Array.from({ length: 100 }, () => bucket.take().then(() => done++));
    await settle();
    assert.equal(done, 5, 'the burst went at once');
    await clock.advance(4700);
    await settle();
    assert.equal(done, 99, 'one per 50 ms after that');
    await clock.advance(50);
    await settle();
    assert.equal(done, 100);
    await Promise.all(all);
    assert.equal(clock.now(), 4750);
  });

  test('take() resolves with the time waited', async () => {
    const clock = new FakeClock(0);
    const bucket = new TokenBucket({ qps: 2, burst: 1 }, clock);
    assert.equal(await bucket.take(), 0);
    const second = bucket.take();
    await clock.advance(500);
    assert.equal(await second, 500);
  });

  test('refuses a qps that is not positive and a burst under 1', () => {
    assert.throws(() => new TokenBucket({ qps: 0, burst: 1 }), /qps must be a positive number/);
    assert.throws(() => new TokenBucket({ qps: Number.NaN, burst: 1 }), /qps/);
    assert.throws(() => new TokenBucket({ qps: 1, burst: 0 }), /burst must be at least 1/);
  });
});

describe('requestLimiter', () => {
  test('every request waits for a token: burst at once, then qps', async () => {
    const clock = new FakeClock(0);
    const limiter = requestLimiter({ qps: 10, burst: 2 }, { clock })!;
    const sent: number[] = [];
    const requests = Array.from({ length: 5 }, () => limiter.wait().then(() => sent.push(clock.now())));
    await settle();
    assert.deepEqual(sent, [0, 0]);
    for (let i = 0; i < 3; i++) {
      await clock.advance(100);
      await settle();
    }
    await Promise.all(requests);
    assert.deepEqual(sent, [0, 0, 100, 200, 300]);
  });

  test('qps 0 or negative, or no limit given: no limiter', () => {
    assert.equal(requestLimiter({ qps: 0, burst: 10 }), undefined);
    assert.equal(requestLimiter({ qps: -1, burst: 10 }), undefined);
    assert.equal(requestLimiter(undefined), undefined);
  });

  test('a long wait is logged at debug, naming the flags', async () => {
    const clock = new FakeClock(0);
    const lines: Array<{ obj: object; msg: string }> = [];
    const log = { debug: (obj: object, msg: string) => lines.push({ obj, msg }) } as unknown as Logger;
    const limiter = requestLimiter({ qps: 1, burst: 1 }, { clock, log })!;
    await limiter.wait();
    const second = limiter.wait();
    await clock.advance(1000);
    await second;
    assert.equal(lines.length, 1);
    assert.match(lines[0]!.msg, /--kube-qps, --kube-burst/);
    assert.deepEqual(lines[0]!.obj, { waitedMs: 1000, qps: 1, burst: 1 });
  });
});
