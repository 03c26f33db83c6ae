import type { Logger } from '../log.js';
import { backoffDelay } from '../util/backoff.js';
import { realClock, type Clock, type TimerHandle } from '../util/clock.js';

// A work queue keyed by object, in the manner of client-go's workqueue:
//  - a key queued twice runs once (deduplicated);
//  - a key never runs twice at the same time: added while running, it runs again afterwards;
//  - delayed adds keep only the earliest pending time per key (a refresh schedule);
//  - a handler that throws is retried with capped exponential backoff and jitter, per key;
//  - re-triggers from watch events (addRateLimited) draw on a token bucket per key: a burst, then
//    one run per interval, so a key whose own writes keep coming back (two writers undoing each
//    other) cannot drive API writes faster than that.

/** Triggers weighed after one run of a key, at most; more count as one that needs a run. */
const MAX_CHECKS_PER_RUN = 10_000;

export interface QueueResult {
  /** Run this key again after this many milliseconds (the next refresh). */
  requeueAfterMs?: number | undefined;
}

export type QueueHandler = (key: string) => Promise<QueueResult | void>;

export interface WorkQueueOptions {
  handler: QueueHandler;
  workers?: number;
  clock?: Clock;
  log: Logger;
  retryBaseMs?: number;
  retryMaxMs?: number;
  random?: () => number;
  /** The token bucket of addRateLimited: `burst` runs at once, then one per `intervalMs`. */
  rateLimit?: { burst: number; intervalMs: number };
}

export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly queued = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly delayed = new Map<string, { at: number; timer: TimerHandle }>();
  private readonly failures = new Map<string, number>();
  /** Per-key token buckets of addRateLimited; tokens may go below zero (reserved by a delayed run). */
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  /** Keys whose rate-limited run is already scheduled: further triggers add nothing. */
  private readonly throttled = new Set<string>();
  /** Rate-limited triggers that came while their key ran, to be weighed once the run is over. */
  private readonly afterRun = new Map<string, Array<() => boolean>>();
  private readonly clock: Clock;
  private running = 0;
  private started = false;
  private stopped = false;
  private idleWaiters: Array<() => void> = [];
  /** Counters for tests and metrics. */
  readonly stats = { runs: 0, errors: 0, deduplicated: 0, throttled: 0 };

  constructor(private readonly opts: WorkQueueOptions) {
    this.clock = opts.clock ?? realClock;
  }

  /** Queues `key` now. */
  add(key: string): void {
    if (this.stopped) return;
    this.cancelDelayed(key);
    if (this.processing.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.queued.has(key)) {
      this.stats.deduplicated++;
      return;
    }
    this.queued.add(key);
    this.queue.push(key);
    this.pump();
  }

  /** Queues `key` after `ms`, unless it is already due earlier. */
  addAfter(key: string, ms: number): void {
    if (this.stopped) return;
    if (ms <= 0) return this.add(key);
    const at = this.clock.now() + ms;
    const existing = this.delayed.get(key);
    if (existing && existing.at <= at) return;
    existing?.timer.cancel();
    const timer = this.clock.setTimer(() => {
      this.delayed.delete(key);
      this.add(key);
    }, ms);
    this.delayed.set(key, { at, timer });
  }

  /**
   * Queues `key` because something it watches changed, within the key's token bucket: at once while
   * tokens last, else delayed until the next token (one pending run at most; later triggers fold into it).
   */
  addRateLimited(key: string, stillNeeded?: () => boolean): void {
    if (this.stopped) return;
    // While the key runs, an event may be the echo of its own write (its watch event can come before
    // the write's response): asked again once the run is over, it spends no token if the run settled it.
    if (stillNeeded && this.processing.has(key)) {
      const checks = this.afterRun.get(key);
      if (!checks) this.afterRun.set(key, [stillNeeded]);
      // Bounded: a flood of events during one long run counts as one that needs a run.
      else if (checks.length >= MAX_CHECKS_PER_RUN) this.afterRun.set(key, [() => true]);
      else checks.push(stillNeeded);
      return;
    }
    if (this.queued.has(key) || this.throttled.has(key)) {
      this.stats.deduplicated++;
      return;
    }
    const { burst, intervalMs } = this.opts.rateLimit ?? { burst: 5, intervalMs: 1000 };
    const now = this.clock.now();
    const b = this.buckets.get(key);
    const tokens = (b ? Math.min(burst, b.tokens + (now - b.at) / intervalMs) : burst) - 1;
    this.buckets.set(key, { tokens, at: now });
    if (tokens >= 0) return this.add(key);
    this.stats.throttled++;
    this.throttled.add(key);
    this.addAfter(key, -tokens * intervalMs);
  }

  /** When `key` is next due, if it is scheduled. */
  scheduledAt(key: string): number | undefined {
    return this.delayed.get(key)?.at;
  }

  /** Forgets a key entirely: its schedule and its failure count (the object was deleted). */
  forget(key: string): void {
    this.cancelDelayed(key);
    this.failures.delete(key);
    this.buckets.delete(key);
    this.throttled.delete(key);
    this.afterRun.delete(key);
  }

  failureCount(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  start(): void {
    this.started = true;
    this.pump();
  }

  /** Stops taking work; resolves when the running handlers have finished. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.queue.length = 0;
    this.queued.clear();
    for (const { timer } of this.delayed.values()) timer.cancel();
    this.delayed.clear();
    this.throttled.clear();
    this.afterRun.clear();
    if (this.running > 0) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  /** Resolves when nothing is queued or running (delayed keys do not count). For tests. */
  async idle(): Promise<void> {
    while (this.running > 0 || this.queue.length > 0) {
      await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    }
  }

  get length(): number {
    return this.queue.length;
  }

  /** Started and not stopped: work given to it now will be done. */
  get working(): boolean {
    return this.started && !this.stopped;
  }

  private cancelDelayed(key: string): void {
    const d = this.delayed.get(key);
    if (d) {
      d.timer.cancel();
      this.delayed.delete(key);
    }
  }

  private pump(): void {
    if (!this.started || this.stopped) return;
    const workers = this.opts.workers ?? 4;
    while (this.running < workers && this.queue.length > 0) {
      const key = this.queue.shift()!;
      this.queued.delete(key);
      this.throttled.delete(key);
      this.processing.add(key);
      this.running++;
      void this.process(key);
    }
  }

  private async process(key: string): Promise<void> {
    this.stats.runs++;
    let requeueAfter: number | undefined;
    try {
      const result = await this.opts.handler(key);
      this.failures.delete(key);
      requeueAfter = result?.requeueAfterMs;
    } catch (err) {
      if (this.stopped) {
        // Cut short by stop() (its work aborted): nothing to retry here, nothing failed.
        this.opts.log.info({ key, err: (err as Error).message }, 'reconcile cut short by the shutdown');
      } else {
        this.stats.errors++;
        const n = this.failures.get(key) ?? 0;
        this.failures.set(key, n + 1);
        requeueAfter = backoffDelay(n, this.opts.retryBaseMs ?? 1000, this.opts.retryMaxMs ?? 300_000, this.opts.random);
        this.opts.log.error({ key, err: (err as Error).message, retryInMs: Math.round(requeueAfter) }, 'reconcile failed; retrying');
      }
    } finally {
      this.processing.delete(key);
      this.running--;
    }
    const checks = this.afterRun.get(key);
    this.afterRun.delete(key);
    if (checks?.some((stillNeeded) => stillNeeded())) this.addRateLimited(key);
    if (this.dirty.delete(key)) this.add(key);
    if (requeueAfter !== undefined && !this.stopped) this.addAfter(key, requeueAfter);
    this.pump();
    // Idle, or stopping with nothing left running (queued keys are dropped by stop()).
    if (this.running === 0 && (this.queue.length === 0 || this.stopped)) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }
}
