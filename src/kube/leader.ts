// Lease-based leader election (coordination.k8s.io/v1), client-go's leaderelection algorithm:
// - a candidate reads the Lease every retryPeriod; it takes the Lease over when it is absent, has no
//   holder, or has not changed for leaseDurationSeconds *by our own clock* (we note when we last saw
//   the record change and never compare against the remote renewTime, so clock skew does not matter);
// - every write is a replace carrying the resourceVersion we read (optimistic concurrency), so two
//   candidates cannot both win the same takeover;
// - the leader renews every retryPeriod and gives leadership up when it could not renew for
//   renewDeadline (< leaseDuration, so it stops before anyone else may start) or sees another holder.

import type { Logger } from '../log.js';
import { realClock, type Clock } from '../util/clock.js';
import { withinDeadline } from '../util/wait.js';
import { kubeClient, type ClusterSource } from './api/client.js';
import type { Lease, LeaseApi } from './api/resources.js';
import { firstSpec, heldSpec, recordKey, releasedSpec } from './lease-record.js';
import { apiMessage, statusCode } from './client.js';

export interface LeaderElectorOptions {
  /** A connection of its own: renewals must not wait behind other requests (or their rate limit). */
  kubeConfig: ClusterSource;
  namespace: string;
  name: string;
  identity: string;
  /** How long a Lease stays valid without renewal (default 15000). Sent to the API in whole seconds. */
  leaseDurationMs?: number;
  /** How long the leader keeps trying to renew before it gives up (default 10000); must be < leaseDuration. */
  renewDeadlineMs?: number;
  /** Time between attempts to acquire or renew (default 2000). */
  retryPeriodMs?: number;
  clock?: Clock;
  log: Logger;
}

type State = 'idle' | 'acquiring' | 'leading' | 'lost' | 'released' | 'stopped';

const NEVER_ABORTED = new AbortController().signal;

export class LeaderElector {
  private readonly api: LeaseApi;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly leaseDurationMs: number;
  private readonly leaseDurationSeconds: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private readonly abort = new AbortController();

  private state: State = 'idle';
  /** The Lease as we last read or wrote it. */
  private observed: Lease | undefined;
  private observedKey = '';
  /** When (our clock) the record last changed. */
  private observedTime = 0;
  /** When (our clock) our last successful acquire/renew was issued. */
  private lastRenew = 0;
  private acquiring: Promise<boolean> | undefined;
  private holdPromise: Promise<'lost' | 'released'> | undefined;
  private resolveHold: ((r: 'lost' | 'released') => void) | undefined;
  /** The acquire/renew call under way, so release() can wait for it instead of racing it. */
  private inFlight: Promise<unknown> = Promise.resolve();

  constructor(private readonly opts: LeaderElectorOptions) {
    this.leaseDurationMs = opts.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = opts.renewDeadlineMs ?? 10_000;
    this.retryPeriodMs = opts.retryPeriodMs ?? 2_000;
    this.leaseDurationSeconds = Math.max(1, Math.ceil(this.leaseDurationMs / 1000));
    if (!opts.identity) throw new Error('leader election: identity must not be empty');
    if (this.renewDeadlineMs >= this.leaseDurationMs) {
      throw new Error('leader election: renewDeadline must be shorter than leaseDuration');
    }
    if (this.retryPeriodMs <= 0 || this.retryPeriodMs >= this.renewDeadlineMs) {
      throw new Error('leader election: retryPeriod must be positive and shorter than renewDeadline');
    }
    this.api = kubeClient(opts.kubeConfig).leases;
    this.clock = opts.clock ?? realClock;
    this.log = opts.log.child({ lease: `${opts.namespace}/${opts.name}`, identity: opts.identity });
  }

  /** True while we hold the Lease and renewed it within renewDeadline. */
  isLeader(): boolean {
    return this.state === 'leading' && this.clock.now() - this.lastRenew < this.renewDeadlineMs;
  }

  /** Blocks until leadership is acquired (or stop() is called: then resolves false). */
  acquire(): Promise<boolean> {
    if (this.acquiring) return this.acquiring; // the same wait for every caller
    if (this.state === 'leading') return Promise.resolve(true);
    if (this.state !== 'idle') return Promise.resolve(false);
    this.acquiring = this.acquireLoop();
    void this.acquiring.finally(() => (this.acquiring = undefined));
    return this.acquiring;
  }

  private async acquireLoop(): Promise<boolean> {
    this.state = 'acquiring';
    this.log.debug('waiting to acquire leadership');
    while (!this.abort.signal.aborted) {
      const attempt = this.tryAcquireOrRenew();
      this.inFlight = attempt;
      const ok = await attempt;
      if (this.abort.signal.aborted) break;
      if (ok) {
        this.state = 'leading';
        const transitions = this.observed?.spec?.leaseTransitions ?? 0;
        this.log.info({ leaseTransitions: transitions }, 'acquired leadership');
        return true;
      }
      await this.sleep(this.acquireDelay());
    }
    return false;
  }

  /**
   * After acquire(): renews every retryPeriod; resolves when leadership is lost (renewal failing for
   * renewDeadline, or another holder seen), after release() ('released'), or after stop() ('lost').
   */
  holdUntilLost(): Promise<'lost' | 'released'> {
    if (this.holdPromise) return this.holdPromise;
    if (this.state === 'released') return (this.holdPromise = Promise.resolve('released'));
    if (this.state !== 'leading') return (this.holdPromise = Promise.resolve('lost'));
    this.holdPromise = new Promise((resolve) => (this.resolveHold = resolve));
    void this.renewLoop();
    return this.holdPromise;
  }

  /**
   * Gives the Lease up at once (the SIGTERM path): clears holderIdentity and sets
   * leaseDurationSeconds 1, so another candidate takes over on its next attempt. Ends the election
   * for this instance; never throws (a failed release only means the others wait for expiry).
   */
  async release(): Promise<void> {
    const wasLeading = this.state === 'leading';
    this.state = 'released';
    this.abort.abort();
    this.settleHold('released');
    // An attempt under way may still win the Lease: wait for it, then give up whatever we hold.
    await this.inFlight.catch(() => undefined);
    if (!wasLeading && this.observed?.spec?.holderIdentity !== this.opts.identity) return;
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const lease = await this.withTimeout(this.api.readNamespacedLease({ namespace: this.opts.namespace, name: this.opts.name }));
        if (lease.spec?.holderIdentity !== this.opts.identity) {
          this.log.info({ holder: lease.spec?.holderIdentity }, 'released leadership (already held by another)');
          return;
        }
        const spec = releasedSpec(lease.spec, this.clock.now());
        await this.withTimeout(
          this.api.replaceNamespacedLease({
            namespace: this.opts.namespace,
            name: this.opts.name,
            body: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: lease.metadata, spec },
          }),
        );
        this.log.info('released leadership');
        return;
      } catch (err) {
        if (statusCode(err) === 404) return;
        this.log.warn({ err: apiMessage(err) }, 'releasing the leader lease failed');
        if (statusCode(err) !== 409) return;
      }
    }
  }

  /** Stops acquiring and renewing without releasing the Lease (it then expires after leaseDuration). */
  stop(): void {
    const wasLeading = this.state === 'leading';
    if (this.state !== 'released') this.state = 'stopped';
    this.abort.abort();
    if (wasLeading) this.log.info('stopped renewing leadership');
    this.settleHold('lost');
  }

  /**
   * The clock's sleep, cut short by stop()/release()/loss. A fresh signal per sleep, so listeners do
   * not pile up on the long-lived one (the real clock's timer keeps the process alive while we wait).
   */
  private async sleep(ms: number): Promise<void> {
    const main = this.abort.signal;
    if (main.aborted) return;
    const local = new AbortController();
    const onAbort = () => local.abort();
    main.addEventListener('abort', onAbort, { once: true });
    try {
      await this.clock.sleep(ms, local.signal);
    } finally {
      main.removeEventListener('abort', onAbort);
    }
  }

  private settleHold(result: 'lost' | 'released'): void {
    const resolve = this.resolveHold;
    this.resolveHold = undefined;
    resolve?.(result);
  }

  /**
   * Wakes up after retryPeriod (jittered downwards by up to 10%, so candidates spread out but never
   * poll less often than retryPeriod), or right when the observed Lease expires if that is sooner.
   */
  private acquireDelay(): number {
    const jittered = this.retryPeriodMs * (1 - 0.1 * Math.random());
    const holder = this.observed?.spec?.holderIdentity;
    if (!holder || !this.observed?.spec) return jittered;
    const expiresIn = this.observedTime + (this.observed.spec.leaseDurationSeconds ?? this.leaseDurationSeconds) * 1000 - this.clock.now();
    return Math.max(10, Math.min(jittered, expiresIn + 10));
  }

  private async renewLoop(): Promise<void> {
    while (this.state === 'leading' && !this.abort.signal.aborted) {
      await this.sleep(this.retryPeriodMs);
      if (this.state !== 'leading' || this.abort.signal.aborted) return;
      // Retry the renewal every retryPeriod until renewDeadline has passed since the last success.
      const attempt = this.tryAcquireOrRenew();
      this.inFlight = attempt;
      const ok = await attempt;
      if (this.state !== 'leading' || this.abort.signal.aborted) return;
      if (ok) continue;
      const holder = this.observed?.spec?.holderIdentity;
      if (holder && holder !== this.opts.identity) {
        this.lose(`the Lease is now held by ${holder}`);
        return;
      }
      if (this.clock.now() - this.lastRenew >= this.renewDeadlineMs) {
        this.lose(`could not renew for ${this.renewDeadlineMs} ms`);
        return;
      }
    }
  }

  private lose(reason: string): void {
    this.state = 'lost';
    this.abort.abort();
    this.log.info({ reason }, 'lost leadership');
    this.settleHold('lost');
  }

  /** Any single API call may take at most the shorter of renewDeadline and retryPeriod*2 before we count it as failed. */
  private withTimeout<T>(p: Promise<T>): Promise<T> {
    const ms = Math.min(this.renewDeadlineMs, this.retryPeriodMs * 2);
    // Not cut by this.abort: release() still writes after the election has ended.
    return withinDeadline(p, ms, this.clock, NEVER_ABORTED, { timedOut: `request timed out after ${ms} ms`, aborted: '' });
  }

  /** One attempt; true when we hold the Lease afterwards. Never throws. */
  private async tryAcquireOrRenew(): Promise<boolean> {
    const { namespace, name, identity } = this.opts;
    const start = this.clock.now();
    let lease: Lease;
    try {
      lease = await this.withTimeout(this.api.readNamespacedLease({ namespace, name }));
    } catch (err) {
      if (statusCode(err) !== 404) {
        this.log.debug({ err: apiMessage(err) }, 'reading the leader lease failed');
        return false;
      }
      if (this.abort.signal.aborted) return false;
      const spec = firstSpec(identity, this.leaseDurationSeconds, start);
      try {
        const created = await this.withTimeout(
          this.api.createNamespacedLease({ namespace, body: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name, namespace }, spec } }),
        );
        this.observe(created, start);
        this.lastRenew = start;
        return true;
      } catch (cerr) {
        this.log.debug({ err: apiMessage(cerr) }, 'creating the leader lease failed');
        return false;
      }
    }

    const old = lease.spec ?? {};
    const key = recordKey(lease.spec);
    if (key !== this.observedKey || !this.observed) {
      this.observe(lease, this.clock.now());
    } else {
      this.observed = lease; // same record, maybe a new resourceVersion
    }
    const holder = old.holderIdentity ?? '';
    const weHold = holder === identity;
    const durationMs = (old.leaseDurationSeconds ?? this.leaseDurationSeconds) * 1000;
    if (holder && !weHold && this.observedTime + durationMs > this.clock.now()) {
      return false; // held by someone else and not expired by our observation
    }
    if (this.abort.signal.aborted) return false;
    if (weHold && this.state !== 'leading' && this.state !== 'acquiring') return false;

    const now = this.clock.now();
    const spec = heldSpec(old, identity, this.leaseDurationSeconds, now);
    try {
      const updated = await this.withTimeout(
        this.api.replaceNamespacedLease({
          namespace,
          name,
          body: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: lease.metadata, spec },
        }),
      );
      this.observe(updated, now);
      this.lastRenew = now;
      if (!weHold) this.log.debug({ previousHolder: holder || undefined }, 'took the leader lease over');
      return true;
    } catch (err) {
      this.log.debug({ err: apiMessage(err), code: statusCode(err) }, 'updating the leader lease failed');
      return false;
    }
  }

  private observe(lease: Lease, at: number): void {
    this.observed = lease;
    this.observedKey = recordKey(lease.spec);
    this.observedTime = at;
  }
}
