// Lease-based leader election (src/kube/leader.ts) against a real kube-apiserver: one leader at a
// time, hand-over on release(), takeover after a crash within leaseDuration + retryPeriod, respect
// for a Lease someone else keeps renewing (judged by our clock, not theirs), and a leader that
// cannot renew stepping down before anyone else may start.
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { CoordinationV1Api, CoreV1Api, KubeConfig, V1MicroTime, type V1Lease } from '@kubernetes/client-node';
import { start, type ControlPlane } from '../harness/controlplane.js';
import { LeaderElector, type LeaderElectorOptions } from '../../src/kube/leader.js';
import { createLogger, silentLogger } from '../../src/log.js';

const NS = 'leader-test';
const LEASE_MS = 3000;
const RENEW_MS = 2000;
const RETRY_MS = 500;
/** API round trips, timers, the 100 ms sampling: what the bounds below allow on top of the algorithm. */
const SLACK_MS = 300;

let cp: ControlPlane;
let coord: CoordinationV1Api;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every elector a test made: stopped after each test, even a failed one, so no loop outlives it. */
const electors: LeaderElector[] = [];
const samplers: Sampler[] = [];

function elector(name: string, identity: string, extra: Partial<LeaderElectorOptions> = {}): LeaderElector {
  const e = new LeaderElector({
    kubeConfig: cp.kubeConfig,
    namespace: NS,
    name,
    identity,
    leaseDurationMs: LEASE_MS,
    renewDeadlineMs: RENEW_MS,
    retryPeriodMs: RETRY_MS,
    log: silentLogger(),
    ...extra,
  });
  electors.push(e);
  return e;
}

async function readLease(name: string): Promise<V1Lease> {
  return coord.readNamespacedLease({ namespace: NS, name });
}

/** Samples isLeader() of every elector every 100 ms; more than one leader at any instant is a failure. */
class Sampler {
  private timer: NodeJS.Timeout;
  readonly violations: string[] = [];
  samples = 0;
  constructor(private readonly electors: Record<string, LeaderElector>) {
    this.timer = setInterval(() => this.sample(), 100);
    samplers.push(this);
  }
  cancel(): void {
    clearInterval(this.timer);
  }
  sample(): void {
    this.samples++;
    const leaders = Object.entries(this.electors)
      .filter(([, e]) => e.isLeader())
      .map(([n]) => n);
    if (leaders.length > 1) this.violations.push(`${new Date().toISOString()}: ${leaders.join(' and ')} both lead`);
  }
  stop(): void {
    clearInterval(this.timer);
    this.sample();
    assert.deepEqual(this.violations, [], 'never two leaders at once');
    assert.ok(this.samples > 5, 'the sampler ran');
  }
}

/** Resolves with the time acquire() returned (or rejects if it returned false). */
function acquiredAt(e: LeaderElector): Promise<number> {
  return e.acquire().then((ok) => {
    assert.equal(ok, true, 'acquire() resolved true');
    return Date.now();
  });
}

/** A TCP proxy to the API server that can be cut, to make a leader's renewals fail. */
class CuttableProxy {
  private server: Server;
  private sockets = new Set<Socket>();
  cut = false;
  port = 0;
  constructor(private readonly target: number) {
    this.server = createServer((client) => {
      if (this.cut) return client.destroy();
      const upstream = connect(this.target, '127.0.0.1');
      this.sockets.add(client).add(upstream);
      const drop = () => {
        client.destroy();
        upstream.destroy();
        this.sockets.delete(client);
        this.sockets.delete(upstream);
      };
      client.on('error', drop).on('close', drop);
      upstream.on('error', drop).on('close', drop);
      client.pipe(upstream).pipe(client);
    });
  }
  listen(): Promise<void> {
    return new Promise((resolve) =>
      this.server.listen(0, '127.0.0.1', () => {
        this.port = (this.server.address() as { port: number }).port;
        resolve();
      }),
    );
  }
  sever(): void {
    this.cut = true;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }
  close(): Promise<void> {
    this.sever();
    return new Promise((r) => this.server.close(() => r()));
  }
}

before(async () => {
  cp = await start();
  coord = cp.kubeConfig.makeApiClient(CoordinationV1Api);
  await cp.kubeConfig.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: NS } } });
});

afterEach(() => {
  for (const s of samplers.splice(0)) s.cancel();
  for (const e of electors.splice(0)) e.stop();
});

after(async () => {
  await cp?.stop();
});

describe('leader election on a real API server', () => {
  test('two candidates: one leads, the other waits; release() hands over within a retry period', async () => {
    let logged = '';
    const log = createLogger({
      level: 'info',
      format: 'json',
      destination: new Writable({
        write(chunk: Buffer, _e, done) {
          logged += chunk.toString('utf8');
          done();
        },
      }),
    });
    const a = elector('handover', 'candidate-a', { log });
    const b = elector('handover', 'candidate-b', { log });
    const sampler = new Sampler({ a, b });
    const first = await Promise.race([a.acquire().then(() => 'a' as const), b.acquire().then(() => 'b' as const)]);
    const [leader, follower, followerId] = first === 'a' ? [a, b, 'candidate-b'] : [b, a, 'candidate-a'];
    let followerAcquired = 0;
    const followerDone = acquiredAt(follower).then((t) => (followerAcquired = t));
    const held = leader.holdUntilLost();

    const created = await readLease('handover');
    assert.equal(created.spec?.holderIdentity, `candidate-${first}`);
    assert.equal(created.spec?.leaseDurationSeconds, 3);
    assert.equal(created.spec?.leaseTransitions, 0);

    // Longer than the lease duration: the follower must keep waiting while the leader renews.
    await sleep(LEASE_MS + 1500);
    assert.equal(followerAcquired, 0, 'the follower did not take a renewed lease');
    assert.equal(leader.isLeader(), true);
    assert.equal(follower.isLeader(), false);
    const renewed = await readLease('handover');
    assert.notEqual(String(renewed.spec?.renewTime), String(created.spec?.renewTime), 'the leader renews');
    assert.equal(renewed.spec?.leaseTransitions, 0);

    const releasedAt = Date.now();
    await leader.release();
    assert.equal(leader.isLeader(), false, 'not leader once release() returns');
    assert.equal(await held, 'released');
    await followerDone;
    const handover = followerAcquired - releasedAt;
    console.log(`# handover after release(): ${handover} ms`);
    assert.ok(handover < RETRY_MS + SLACK_MS, `handover took ${handover} ms`);
    assert.ok(handover < 3000);

    const taken = await readLease('handover');
    assert.equal(taken.spec?.holderIdentity, followerId);
    assert.equal(taken.spec?.leaseTransitions, 1, 'a takeover counts a transition');
    assert.equal(taken.spec?.leaseDurationSeconds, 3);

    const lines = logged.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { level: string; msg: string; identity: string });
    assert.ok(lines.some((l) => l.level === 'info' && l.msg === 'acquired leadership' && l.identity === `candidate-${first}`));
    assert.ok(lines.some((l) => l.level === 'info' && l.msg === 'acquired leadership' && l.identity === followerId));
    assert.ok(lines.some((l) => l.level === 'info' && l.msg === 'released leadership'));

    sampler.stop();
    follower.stop();
    assert.equal(follower.isLeader(), false);
  });

  test('a crashed leader (no release) is replaced within leaseDuration + retryPeriod', async () => {
    const a = elector('crash', 'crash-a');
    const b = elector('crash', 'crash-b');
    const sampler = new Sampler({ a, b });
    assert.equal(await a.acquire(), true);
    const held = a.holdUntilLost();
    let bAcquired = 0;
    const bDone = acquiredAt(b).then((t) => (bAcquired = t));
    await sleep(1500); // b observes a few renewals
    assert.equal(bAcquired, 0);
    const before = await readLease('crash');

    const crashedAt = Date.now();
    a.stop(); // stops renewing, leaves the Lease as it is: a crash as far as b can tell
    assert.equal(a.isLeader(), false);
    assert.equal(await held, 'lost');
    const still = await readLease('crash');
    assert.equal(still.spec?.holderIdentity, 'crash-a', 'stop() does not release');

    await bDone;
    const takeover = bAcquired - crashedAt;
    console.log(`# takeover after a crash: ${takeover} ms (lease ${LEASE_MS} ms, retry ${RETRY_MS} ms)`);
    assert.ok(takeover >= LEASE_MS - RETRY_MS - SLACK_MS, `takeover after ${takeover} ms is earlier than the lease allows`);
    assert.ok(takeover <= LEASE_MS + RETRY_MS + SLACK_MS, `takeover after ${takeover} ms is later than leaseDuration + retryPeriod`);

    const after = await readLease('crash');
    assert.equal(after.spec?.holderIdentity, 'crash-b');
    assert.equal(after.spec?.leaseTransitions, (before.spec?.leaseTransitions ?? 0) + 1);
    const bHeld = b.holdUntilLost();
    await sleep(RETRY_MS * 3);
    assert.equal(b.isLeader(), true, 'the new leader keeps renewing');
    sampler.stop();
    await b.release();
    assert.equal(await bHeld, 'released');
    assert.equal((await readLease('crash')).spec?.holderIdentity, undefined, 'release clears the holder');
  });

  test('a Lease another identity keeps renewing is respected, judged by our clock and not its renewTime', async () => {
    // Another controller whose clock is an hour behind: its renewTime always looks long expired.
    const skew = 3600_000;
    const stale = (t: number) => new V1MicroTime(Date.now() - skew + t);
    await coord.createNamespacedLease({
      namespace: NS,
      body: {
        metadata: { name: 'foreign' },
        spec: { holderIdentity: 'other-controller', leaseDurationSeconds: 3, acquireTime: stale(0), renewTime: stale(0), leaseTransitions: 5 },
      },
    });
    const c = elector('foreign', 'candidate-c');
    let cAcquired = 0;
    const cDone = acquiredAt(c).then((t) => (cAcquired = t));

    let lastRenewal = Date.now();
    for (let i = 1; i <= 5; i++) {
      await sleep(1000);
      const lease = await readLease('foreign');
      await coord.replaceNamespacedLease({ namespace: NS, name: 'foreign', body: { ...lease, spec: { ...lease.spec, renewTime: stale(i) } } });
      lastRenewal = Date.now();
      assert.equal(cAcquired, 0, `candidate took a lease renewed ${i} s ago by its holder`);
      assert.equal(c.isLeader(), false);
    }
    // The other controller dies: its Lease expires leaseDurationSeconds after we last saw it change.
    await cDone;
    const takeover = cAcquired - lastRenewal;
    console.log(`# takeover of a foreign lease after its last renewal: ${takeover} ms`);
    assert.ok(takeover >= LEASE_MS - RETRY_MS - SLACK_MS, `${takeover} ms`);
    assert.ok(takeover <= LEASE_MS + RETRY_MS + SLACK_MS, `${takeover} ms`);
    const lease = await readLease('foreign');
    assert.equal(lease.spec?.holderIdentity, 'candidate-c');
    assert.equal(lease.spec?.leaseTransitions, 6);
    c.stop();
  });

  test('a leader that sees another holder steps down at once', async () => {
    const a = elector('intruded', 'intruded-a');
    assert.equal(await a.acquire(), true);
    const held = a.holdUntilLost();
    const lease = await readLease('intruded');
    await coord.replaceNamespacedLease({
      namespace: NS,
      name: 'intruded',
      body: { ...lease, spec: { ...lease.spec, holderIdentity: 'intruder', renewTime: new V1MicroTime(Date.now()) } },
    });
    const t0 = Date.now();
    assert.equal(await held, 'lost');
    const dt = Date.now() - t0;
    assert.ok(dt <= RETRY_MS + SLACK_MS, `noticed after ${dt} ms`);
    assert.equal(a.isLeader(), false);
    assert.equal((await readLease('intruded')).spec?.holderIdentity, 'intruder', 'the intruder is not overwritten');
    // Losing ends this elector: acquire() does not start again.
    assert.equal(await a.acquire(), false);
  });

  test('a leader that cannot reach the API server steps down after renewDeadline, before anyone takes over', async (t) => {
    const proxy = new CuttableProxy(Number(new URL(cp.server).port));
    await proxy.listen();
    t.after(() => proxy.close());
    const viaProxy = new KubeConfig();
    viaProxy.loadFromString(readFileSync(cp.kubeconfigPath, 'utf8').replace(cp.server, `https://127.0.0.1:${proxy.port}`));
    const a = elector('partition', 'partitioned-a', { kubeConfig: viaProxy });
    const b = elector('partition', 'partition-b');
    const sampler = new Sampler({ a, b });
    assert.equal(await a.acquire(), true);
    const held = a.holdUntilLost();
    let bAcquired = 0;
    const bDone = acquiredAt(b).then((t) => (bAcquired = t));
    await sleep(1200);

    const cutAt = Date.now();
    proxy.sever();
    let aLost = 0;
    void held.then(() => (aLost = Date.now()));
    assert.equal(await held, 'lost');
    const stepDown = aLost - cutAt;
    await bDone;
    const takeover = bAcquired - cutAt;
    console.log(`# partitioned leader stepped down after ${stepDown} ms; the other took over after ${takeover} ms`);
    assert.ok(stepDown <= RENEW_MS + RETRY_MS + SLACK_MS, `stepped down after ${stepDown} ms`);
    assert.ok(aLost <= bAcquired, 'the old leader stepped down before the new one started');
    assert.ok(takeover <= LEASE_MS + RETRY_MS + SLACK_MS, `takeover after ${takeover} ms`);
    sampler.stop();
    b.stop();
  });
});
