// Unit tests for src/controller/mint-deadline.ts: a mint is aborted at its deadline, the worker is
// freed even when the call ignores the abort, and such a call is reported as overdue until it settles.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MintDeadlines } from '../../src/controller/mint-deadline.js';
import { RegcredError } from '../../src/errors.js';
import { FakeClock } from '../../src/util/clock.js';

describe('MintDeadlines', () => {
  test('a mint that answers in time returns its value and leaves nothing running', async () => {
    const clock = new FakeClock();
    const d = new MintDeadlines(clock, 1000);
    assert.equal(await d.run('a', undefined, async () => 42), 42);
    assert.deepEqual(d.overdue(0), []);
    assert.equal(clock.pendingTimers(), 0);
  });

  test('a mint that honours its signal is aborted at the deadline with a retryable error', async () => {
    const clock = new FakeClock();
    const d = new MintDeadlines(clock, 1000);
    let seen: AbortSignal | undefined;
    const p = d.run('a', undefined, (signal) => {
      seen = signal;
      return new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
    });
    await clock.advance(999);
    assert.equal(seen?.aborted, false);
    await clock.advance(1);
    await assert.rejects(p, (err: unknown) => err instanceof RegcredError && err.retryable && /mint deadline \(1 s\)/.test(err.message));
    assert.equal(seen?.aborted, true);
    assert.deepEqual(d.overdue(0), []);
  });

  test('a mint that ignores its signal frees the worker at the deadline and stays overdue until it settles', async () => {
    const clock = new FakeClock();
    const d = new MintDeadlines(clock, 1000);
    let finish!: () => void;
    const p = d.run('RegistryCredential/team/slow', undefined, () => new Promise<void>((resolve) => (finish = resolve)));
    await clock.advance(1000);
    await assert.rejects(p, /mint deadline/);
    assert.deepEqual(d.overdue(5000), [], 'within the grace period');
    await clock.advance(5001);
    assert.deepEqual(d.overdue(5000), ['RegistryCredential/team/slow']);
    finish();
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(d.overdue(5000), []);
  });

  test('shutdown (the parent signal) aborts a running mint', async () => {
    const clock = new FakeClock();
    const d = new MintDeadlines(clock, 60_000);
    const parent = new AbortController();
    const p = d.run('a', parent.signal, (signal) => new Promise((_, reject) => signal.addEventListener('abort', () => reject(new Error('aborted')))));
    parent.abort();
    await assert.rejects(p, /aborted/);
  });
});
