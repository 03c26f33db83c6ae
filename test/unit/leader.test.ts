// Unit tests for src/kube/leader.ts on a fake clock and an in-memory Lease API: the timing rules
// (our observation time, not the remote renewTime), renew deadline, release and stop.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ApiException, KubeConfig, type V1Lease } from '@kubernetes/client-node';
import { LeaderElector, type LeaderElectorOptions } from '../../src/kube/leader.js';
import { silentLogger } from '../../src/log.js';
import { FakeClock } from '../../src/util/clock.js';

/** What the API server does with Leases that matters here: 404, 409 on a stale resourceVersion, wire-format JSON. */
class FakeLeaseApi {
  lease: V1Lease | undefined;
  private rv = 0;
  fail = false;
  writes = 0;
  private wire<T>(x: T): T {
    return JSON.parse(JSON.stringify(x)) as T;
  }
  private check(): void {
    if (this.fail) throw new Error('connect ECONNREFUSED');
  }
  async readNamespacedLease(_p: { namespace: string; name: string }): Promise<V1Lease> {
    this.check();
    if (!this.lease) throw new ApiException(404, 'not found', '{}', {});
    return this.wire(this.lease);
  }
  async createNamespacedLease(p: { namespace: string; body: V1Lease }): Promise<V1Lease> {
    this.check();
    if (this.lease) throw new ApiException(409, 'exists', '{}', {});
    this.writes++;
    this.lease = this.wire({ ...p.body, metadata: { ...p.body.metadata, resourceVersion: String(++this.rv) } });
    return this.wire(this.lease);
  }
  async replaceNamespacedLease(p: { namespace: string; name: string; body: V1Lease }): Promise<V1Lease> {
    this.check();
    if (!this.lease) throw new ApiException(404, 'not found', '{}', {});
    if (p.body.metadata?.resourceVersion !== this.lease.metadata?.resourceVersion) throw new ApiException(409, 'conflict', '{}', {});
    this.writes++;
    this.lease = this.wire({ ...p.body, metadata: { ...p.body.metadata, resourceVersion: String(++this.rv) } });
    return this.wire(this.lease);
  }
  /** Someone else writes the Lease (their own renewal). */
  external(spec: NonNullable<V1Lease['spec']>): void {
    this.lease = this.wire({ metadata: { name: 'l', namespace: 'ns', resourceVersion: String(++this.rv) }, spec });
  }
}

const LEASE = 15_000;
const RENEW = 10_000;
const RETRY = 2_000;

function setup(identity: string, api: FakeLeaseApi, clock: FakeClock, extra: Partial<LeaderElectorOptions> = {}): LeaderElector {
  const e = new LeaderElector({ kubeConfig: kubeConfig(), namespace: 'ns', name: 'l', identity, clock, log: silentLogger(), ...extra });
  (e as unknown as { api: FakeLeaseApi }).api = api;
  return e;
}

function kubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: 'https://127.0.0.1:1' }],
    users: [{ name: 'u' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return kc;
}

const settle = () => new Promise<void>((r) => setImmediate(r));

/** Moves the fake clock forward in small steps, letting the promise chains run in between. */
async function run(clock: FakeClock, ms: number, step = 50): Promise<void> {
  for (let t = 0; t < ms; t += step) {
    await clock.advance(step);
    await settle();
  }
}

function track<T>(p: Promise<T>): { done: boolean; value?: T } {
  const s: { done: boolean; value?: T } = { done: false };
  void p.then((v) => {
    s.done = true;
    s.value = v;
  });
  return s;
}

describe('LeaderElector (fake clock)', () => {
  test('validates its durations and identity', () => {
    const kc = kubeConfig();
    const base = { kubeConfig: kc, namespace: 'ns', name: 'l', identity: 'a', log: silentLogger() };
    assert.throws(() => new LeaderElector({ ...base, leaseDurationMs: 10_000, renewDeadlineMs: 10_000 }), /renewDeadline/);
    assert.throws(() => new LeaderElector({ ...base, retryPeriodMs: 10_000 }), /retryPeriod/);
    assert.throws(() => new LeaderElector({ ...base, identity: '' }), /identity/);
  });

  test('creates an absent Lease with the default durations', async () => {
    const api = new FakeLeaseApi();
    const clock = new FakeClock();
    const e = setup('a', api, clock);
    assert.equal(await e.acquire(), true);
    assert.equal(e.isLeader(), true);
    assert.equal(api.lease?.spec?.holderIdentity, 'a');
    assert.equal(api.lease?.spec?.leaseDurationSeconds, 15);
    assert.equal(api.lease?.spec?.leaseTransitions, 0);
    assert.match(String(api.lease?.spec?.renewTime), /^2026-01-01T00:00:00\.000000Z$/, 'MicroTime on the wire');
    e.stop();
  });

  for (const [label, skew] of [
    ['far in the past', -3600_000],
    ['far in the future', 3600_000],
  ] as const) {
    test(`a held Lease expires leaseDuration after WE saw it change, whatever its renewTime (${label})`, async () => {
      const api = new FakeLeaseApi();
      const clock = new FakeClock();
      const t = new Date(clock.now() + skew).toISOString();
      api.external({ holderIdentity: 'other', leaseDurationSeconds: 15, renewTime: t as never, acquireTime: t as never, leaseTransitions: 3 });
      const e = setup('a', api, clock);
      const acquired = track(e.acquire());
      const t0 = clock.now();
      await run(clock, LEASE - 100);
      assert.equal(acquired.done, false, 'not before leaseDuration');
      await run(clock, 500);
      assert.equal(acquired.value, true);
      assert.ok(clock.now() - t0 <= LEASE + 400);
      assert.equal(api.lease?.spec?.leaseTransitions, 4);
      e.stop();
    });
  }

  test('each renewal by the holder restarts the wait; an empty holder is taken at once', async () => {
    const api = new FakeLeaseApi();
    const clock = new FakeClock();
    api.external({ holderIdentity: 'other', leaseDurationSeconds: 15, leaseTransitions: 0, renewTime: '2020-01-01T00:00:00.000000Z' as never });
    const e = setup('a', api, clock);
    const acquired = track(e.acquire());
    for (let i = 1; i <= 5; i++) {
      await run(clock, 10_000);
      api.external({ holderIdentity: 'other', leaseDurationSeconds: 15, leaseTransitions: 0, renewTime: `2020-01-01T00:00:0${i}.000000Z` as never });
    }
    assert.equal(acquired.done, false, 'renewed every 10 s, never expires');
    api.external({ holderIdentity: undefined, leaseDurationSeconds: 1, leaseTransitions: 0 });
    await run(clock, RETRY + 100);
    assert.equal(acquired.value, true);
    assert.equal(api.lease?.spec?.leaseTransitions, 1);
    e.stop();
  });

  test('renewal failing for renewDeadline loses leadership; isLeader() is false from the deadline on', async () => {
    const api = new FakeLeaseApi();
    const clock = new FakeClock();
    const e = setup('a', api, clock);
    assert.equal(await e.acquire(), true);
    const held = track(e.holdUntilLost());
    await run(clock, 3 * RETRY);
    api.fail = true;
    const failedAt = clock.now();
    await run(clock, RENEW - RETRY - 100);
    assert.equal(held.done, false);
    await run(clock, RETRY + RETRY + 200);
    assert.equal(held.value, 'lost');
    assert.equal(e.isLeader(), false);
    assert.ok(clock.now() - failedAt <= RENEW + 2 * RETRY + 200, `${clock.now() - failedAt} ms`);
    // Lost is final: no further writes, acquire() answers false.
    api.fail = false;
    const writes = api.writes;
    await run(clock, 5 * RETRY);
    assert.equal(api.writes, writes);
    assert.equal(await e.acquire(), false);
  });

  test('isLeader() turns false at renewDeadline even if the renew loop is stuck', async () => {
    const api = new FakeLeaseApi();
    const clock = new FakeClock();
    const e = setup('a', api, clock);
    assert.equal(await e.acquire(), true);
    // holdUntilLost() never called: nothing renews.
    await clock.advance(RENEW - 1);
    assert.equal(e.isLeader(), true);
    await clock.advance(1);
    assert.equal(e.isLeader(), false);
    e.stop();
  });

  test('release() clears the holder, sets leaseDurationSeconds 1 and keeps the transitions', async () => {
    const api = new FakeLeaseApi();
    const clock = new FakeClock();
    api.external({ holderIdentity: 'old', leaseDurationSeconds: 15, leaseTransitions: 7 });
    const e = setup('a', api, clock);
    const acquired = track(e.acquire());
    await run(clock, LEASE + RETRY);
    assert.equal(acquired.value, true);
    const held = e.holdUntilLost();
    await run(clock, RETRY * 2);
    await e.release();
    assert.equal(await held, 'released');
    assert.equal(e.isLeader(), false);
    assert.equal(api.lease?.spec?.holderIdentity, undefined);
    assert.equal(api.lease?.spec?.leaseDurationSeconds, 1);
    assert.equal(api.lease?.spec?.leaseTransitions, 8);
  });

  test('stop() ends a pending acquire() with false, and acquire() is one wait for all callers', async () => {
    const api = new FakeLeaseApi();
    const clock = new FakeClock();
    api.external({ holderIdentity: 'other', leaseDurationSeconds: 15, leaseTransitions: 0 });
    const e = setup('a', api, clock);
    const p1 = e.acquire();
    const p2 = e.acquire();
    assert.equal(p1, p2);
    await run(clock, RETRY);
    e.stop();
    assert.equal(await p1, false);
    assert.equal(api.lease?.spec?.holderIdentity, 'other');
  });
});
