import type { Logger } from '../log.js';
import { realClock, type Clock, type TimerHandle } from '../util/clock.js';
import { Backoff } from '../util/backoff.js';
import { withinDeadline } from '../util/wait.js';
import { kubeClient, type ClusterSource } from './api/client.js';
import type { WatchFn } from './api/http.js';
import { afterFailure, applyWatchEvent, readList, replaceContents, StalledError, toError, watchEndError, watchTimeouts } from './informer-updates.js';
import type { Handler, InformerEvent, KubeObject } from './object-cache.js';
import { MapStore, type Store } from './store.js';

export type { WatchFn } from './api/http.js';
export { MultiInformer, StaticCache, objectKey, type InformerEvent, type KubeObject, type ObjectCache } from './object-cache.js';

// A list+watch cache that does not stall (client-node's informer is known to stop silently when a
// watch dies without an error); this one
//  - resumes a watch that failed (connection refused or reset, an API server restart, a 5xx) from
//    the last resourceVersion it saw (objects or bookmarks), as client-go's reflector does: a
//    relist of every object is the expensive path, taken only when the server says it must be,
//  - relists when the API server answers 410 Gone (the resourceVersion is too old, e.g. after the
//    API server restarted with a fresh watch cache),
//  - retries with a short, jittered, capped backoff (200 ms doubling to 2 s), so every watch is
//    live again within a few seconds of the API server answering, without all clients retrying
//    in step,
//  - asks the server to end each watch after a bounded time, and treats a watch that outlives that
//    bound with no event at all as stalled: it aborts it and relists,
//  - reports how long it has been unhealthy, for the liveness probe.

export interface ListPage<T> {
  items: T[];
  metadata?: { resourceVersion?: string; _continue?: string; continue?: string } | undefined;
}

export interface InformerOptions<T> {
  /** For logs: "namespaces", "secrets". */
  name: string;
  /** The cluster watched (the default watch's connection). */
  kubeConfig: ClusterSource;
  /** One page of the collection. */
  list(params: { limit: number; _continue?: string }): Promise<ListPage<T>>;
  /** The collection's URL path, e.g. /api/v1/namespaces. */
  watchPath: string;
  /** labelSelector, fieldSelector. */
  watchParams?: Record<string, string>;
  log: Logger;
  clock?: Clock;
  /** Server-side watch timeout range; a new watch starts after each. */
  watchTimeoutSeconds?: [number, number];
  /** How long past the watch timeout a watch may stay silent before it counts as stalled. */
  stallGraceMs?: number;
  pageSize?: number;
  /** The watch of JSON objects by default; injectable so tests can make a watch fail, expire or fall silent. */
  watch?: WatchFn;
  /** Applied to every object before it is cached: drop what is not needed (managedFields). */
  transform?: (obj: T) => T;
  /** Where the objects are kept (store.ts; default: a Map by `namespace/name`). */
  store?: Store<T>;
  /** Objects to cache at all (default: every one): the others are neither kept nor reported. */
  keep?: (obj: T) => boolean;
  /** A list page that takes longer fails (then backoff and relist); default 60 s. */
  listTimeoutMs?: number;
  /** The retry backoff's jitter source (tests). */
  random?: () => number;
}

/** The retry backoff: small, so a watch is back soon after the API server is; capped low, jittered. */
export const RETRY_BASE_MS = 200;
export const RETRY_MAX_MS = 2000;

export class Informer<T extends KubeObject> {
  private readonly store: Store<T>;
  private readonly handlers: Handler<T>[] = [];
  private readonly clock: Clock;
  private readonly backoff: Backoff;
  private resourceVersion: string | undefined;
  private synced = false;
  private stopped = false;
  private abort: AbortController | undefined;
  private unhealthySince: number | undefined;
  private loop: Promise<void> | undefined;
  private syncWaiters: Array<() => void> = [];
  private lastListAt = 0;
  /**
   * Counters for tests and metrics: lists started, watches started, failures (of a list or a
   * watch), watches resumed from the last resourceVersion after a failure, 410 Gone answers, stalls.
   */
  readonly stats = { lists: 0, watches: 0, restarts: 0, resumes: 0, gone: 0, stalls: 0 };

  constructor(private readonly opts: InformerOptions<T>) {
    this.clock = opts.clock ?? realClock;
    this.store = opts.store ?? new MapStore<T>();
    this.backoff = new Backoff({ baseMs: RETRY_BASE_MS, maxMs: RETRY_MAX_MS }, opts.random);
  }

  on(handler: Handler<T>): void {
    this.handlers.push(handler);
  }

  get(key: string): T | undefined {
    return this.store.get(key);
  }

  list(): T[] {
    return [...this.store.values()];
  }

  /** Iterates the cache without copying it. */
  values(): IterableIterator<T> {
    return this.store.values();
  }

  hasSynced(): boolean {
    return this.synced;
  }

  /** Milliseconds the informer has been failing to list or watch; 0 when healthy. */
  unhealthyForMs(): number {
    return this.unhealthySince === undefined ? 0 : this.clock.now() - this.unhealthySince;
  }

  /** Starts the loop; resolves once the first list has filled the cache. */
  start(): Promise<void> {
    this.loop ??= this.run();
    if (this.synced) return Promise.resolve();
    return new Promise((resolve) => this.syncWaiters.push(resolve));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort?.abort();
    for (const w of this.syncWaiters) w();
    this.syncWaiters = [];
    await this.loop;
  }

  private prepare(obj: T): T {
    return this.opts.transform ? this.opts.transform(obj) : obj;
  }

  private readonly emit = (event: InformerEvent, obj: T, old?: T): void => {
    for (const h of this.handlers) {
      try {
        h(event, obj, old);
      } catch (err) {
        this.opts.log.error({ informer: this.opts.name, err: (err as Error).message }, 'informer handler failed');
      }
    }
  };

  private async run(): Promise<void> {
    let needList = true;
    while (!this.stopped) {
      try {
        if (needList) {
          await this.relist();
          needList = false;
          this.backoff.reset();
        }
        if (this.stopped) break;
        await this.watchOnce();
        this.unhealthySince = undefined;
        this.backoff.reset();
      } catch (err) {
        if (this.stopped) break;
        const next = afterFailure(err, needList, this.resourceVersion);
        if (next === 'stalled') {
          // Counted in stats.stalls where it was detected. Unhealthy from now until a list
          // succeeds (relist() clears it), so /healthz reports a stall the relist cannot fix.
          this.unhealthySince ??= this.clock.now();
          needList = true;
          continue;
        }
        if (next === 'gone') {
          this.stats.gone++;
          needList = true;
          this.opts.log.debug({ informer: this.opts.name }, 'watch expired (410 Gone): relisting');
          continue;
        }
        this.stats.restarts++;
        this.unhealthySince ??= this.clock.now();
        needList = next === 'list';
        const resume = !needList;
        if (resume) this.stats.resumes++;
        const delay = this.backoff.next();
        this.opts.log.warn(
          { informer: this.opts.name, err: (err as Error).message, retryInMs: Math.round(delay), ...(resume ? { resourceVersion: this.resourceVersion } : {}) },
          resume ? 'list/watch failed; retrying the watch from its last resourceVersion' : 'list/watch failed; retrying the list',
        );
        await this.clock.sleep(delay, this.abortSignal());
      }
    }
  }

  /**
   * A list page that never answers (a connection a middlebox keeps open but no longer forwards)
   * must not hang the informer: after `ms` it fails like any list error (backoff, relist, and
   * unhealthy meanwhile). stop() ends the wait too.
   */
  private bounded<R>(call: Promise<R>, ms: number): Promise<R> {
    return withinDeadline(call, ms, this.clock, this.abortSignal(), { timedOut: `list timed out after ${ms} ms`, aborted: 'informer stopped' });
  }

  private abortSignal(): AbortSignal {
    this.abort = new AbortController();
    return this.abort.signal;
  }

  private async relist(): Promise<void> {
    this.stats.lists++;
    const limit = this.opts.pageSize ?? 500;
    const nextPage = (cont: string | undefined) => this.bounded(this.opts.list({ limit, ...(cont ? { _continue: cont } : {}) }), this.opts.listTimeoutMs ?? 60_000);
    const { fresh, resourceVersion } = await readList(nextPage, this.opts.keep, (obj) => this.prepare(obj));
    replaceContents(this.store, fresh, this.emit);
    this.resourceVersion = resourceVersion;
    this.unhealthySince = undefined;
    this.lastListAt = this.clock.now();
    if (!this.synced) {
      this.synced = true;
      for (const w of this.syncWaiters) w();
      this.syncWaiters = [];
    }
  }

  private watchOnce(): Promise<void> {
    this.stats.watches++;
    const { timeoutSeconds, stallAfterMs } = watchTimeouts(this.opts.watchTimeoutSeconds ?? [240, 360], this.opts.stallGraceMs ?? 30_000);
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      let stallTimer: TimerHandle | undefined;
      let request: AbortController | undefined;
      const finish = (err?: Error) => {
        if (settled) return;
        settled = true;
        stallTimer?.cancel();
        request?.abort();
        if (err) reject(err);
        else resolve();
      };
      const armStallTimer = () => {
        stallTimer?.cancel();
        stallTimer = this.clock.setTimer(() => {
          this.stats.stalls++;
          this.opts.log.warn({ informer: this.opts.name, silentForMs: stallAfterMs }, 'watch stalled; relisting');
          finish(new StalledError('stalled'));
        }, stallAfterMs);
      };
      this.abort = new AbortController();
      this.abort.signal.addEventListener('abort', () => finish());
      armStallTimer();
      const watch: WatchFn = this.opts.watch ?? kubeClient(this.opts.kubeConfig).watch;
      watch(
          this.opts.watchPath,
          { ...this.opts.watchParams, resourceVersion: this.resourceVersion, allowWatchBookmarks: true, timeoutSeconds },
          (type: string, raw: T & { code?: number }) => {
            if (settled) return;
            const obj = type === 'ERROR' || type === 'BOOKMARK' ? raw : (this.prepare(raw) as T & { code?: number });
            armStallTimer();
            // A watch that delivers is working: the next failure starts the backoff afresh.
            if (type !== 'ERROR') this.backoff.reset();
            const step = applyWatchEvent(this.store, this.opts.keep, type, obj, this.resourceVersion, this.emit);
            this.resourceVersion = step.resourceVersion;
            if (step.end) finish(step.end);
          },
          (err: unknown) => finish(err ? watchEndError(err) : undefined),
        )
        .then((ctrl) => {
          request = ctrl;
          if (settled) ctrl.abort();
          // The server answered 200 and streams: healthy again (a failed request has settled by now).
          else this.unhealthySince = undefined;
        })
        .catch((err: unknown) => finish(toError(err)));
    });
  }
}
