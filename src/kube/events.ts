// Kubernetes Events on events.k8s.io/v1, with the series deduplication of client-go's events library:
// the same (target, type, reason, note, action) seen again within dedupeWindow does not create
// another Event; it bumps series.count / series.lastObservedTime of the first one, with at most one
// API write per minUpdateInterval, so an error that repeats every second costs one write a minute.
// Recording never throws and never waits: writes run in the background, failures are logged at debug.

import { randomBytes } from 'node:crypto';
import type { Logger } from '../log.js';
import { scrub } from '../redact.js';
import { realClock, type Clock, type TimerHandle } from '../util/clock.js';
import { kubeClient, type ClusterSource } from './api/client.js';
import { microTime, type EventApi, type KubeEvent } from './api/resources.js';
import { apiMessage, statusCode } from './client.js';

export interface EventTarget {
  apiVersion: string;
  kind: string;
  name: string;
  /** Absent for cluster-scoped objects: their Events go to namespace "default". */
  namespace?: string;
  uid?: string;
}

export interface EventRecorderOptions {
  kubeConfig: ClusterSource;
  /** reportingController, e.g. "regcred.dev/controller" */
  controller: string;
  /** reportingInstance, e.g. the pod name */
  instance: string;
  clock?: Clock;
  log: Logger;
  /** The same (target, type, reason, note) within this window updates one Event's series instead of creating another (default 10 min). */
  dedupeWindowMs?: number;
  /** At most one API write per deduplicated event per this interval (default 60 s). */
  minUpdateIntervalMs?: number;
}

export const NOTE_MAX_BYTES = 1024;
const FIELD_MAX = 128; // reason, action, reportingInstance
const MAX_ENTRIES = 4096;
const CLUSTER_SCOPED_NAMESPACE = 'default';

interface Entry {
  key: string;
  namespace: string;
  name: string;
  body: KubeEvent;
  /** Occurrences so far (1 = the first; series start at 2). */
  count: number;
  /** The count the API has; 0 before the Event exists. */
  written: number;
  created: boolean;
  lastObserved: number;
  /** When the last write was issued (our clock). */
  lastWriteAt: number;
  timer: TimerHandle | undefined;
  chain: Promise<void>;
  busy: number;
}

/** Cuts a string to at most `max` UTF-8 bytes without splitting a character. */
export function truncateUtf8(s: string, max: number): string {
  if (Buffer.byteLength(s) <= max) return s;
  let out = '';
  let bytes = 0;
  for (const ch of s) {
    const n = Buffer.byteLength(ch);
    if (bytes + n > max) break;
    out += ch;
    bytes += n;
  }
  return out;
}

/** `<target>.<hex time><random>`, like client-go, cut to a valid object name. */
function eventName(target: string, now: number): string {
  const suffix = `.${Math.max(0, Math.floor(now)).toString(16)}${randomBytes(4).toString('hex')}`;
  const base = target.slice(0, 253 - suffix.length).replace(/[.-]+$/, '') || 'event';
  return `${base}${suffix}`;
}

export class EventRecorder {
  private readonly api: EventApi;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly windowMs: number;
  private readonly minIntervalMs: number;
  private readonly entries = new Map<string, Entry>();
  private readonly inFlight = new Set<Promise<void>>();

  constructor(private readonly opts: EventRecorderOptions) {
    this.api = kubeClient(opts.kubeConfig).events;
    this.clock = opts.clock ?? realClock;
    this.log = opts.log;
    this.windowMs = opts.dedupeWindowMs ?? 10 * 60_000;
    this.minIntervalMs = opts.minUpdateIntervalMs ?? 60_000;
  }

  /** Fire and forget: never throws, never blocks the caller; failures are logged at debug. */
  record(target: EventTarget, type: 'Normal' | 'Warning', reason: string, note: string, action?: string): void {
    try {
      const now = this.clock.now();
      const cleanNote = truncateUtf8(scrub(note), NOTE_MAX_BYTES);
      const cleanReason = reason.slice(0, FIELD_MAX);
      const cleanAction = (action || reason).slice(0, FIELD_MAX);
      const namespace = target.namespace || CLUSTER_SCOPED_NAMESPACE;
      const key = JSON.stringify([
        target.apiVersion,
        target.kind,
        target.namespace ?? '',
        target.name,
        target.uid ?? '',
        type,
        cleanReason,
        cleanNote,
        cleanAction,
      ]);
      this.prune(now);

      const existing = this.entries.get(key);
      if (existing && now - existing.lastObserved <= this.windowMs) {
        existing.count++;
        existing.lastObserved = now;
        this.entries.delete(key); // keep the map in least-recently-seen order
        this.entries.set(key, existing);
        this.schedule(existing, now);
        return;
      }
      if (existing) this.retire(existing);

      const name = eventName(target.name, now);
      const regarding: KubeEvent['regarding'] = { apiVersion: target.apiVersion, kind: target.kind, name: target.name };
      if (target.namespace) regarding.namespace = target.namespace;
      if (target.uid) regarding.uid = target.uid;
      const entry: Entry = {
        key,
        namespace,
        name,
        body: {
          apiVersion: 'events.k8s.io/v1',
          kind: 'Event',
          metadata: { name, namespace },
          eventTime: microTime(now),
          type,
          reason: cleanReason,
          action: cleanAction,
          note: cleanNote,
          regarding,
          reportingController: this.opts.controller,
          reportingInstance: this.opts.instance.slice(0, FIELD_MAX),
        },
        count: 1,
        written: 0,
        created: false,
        lastObserved: now,
        lastWriteAt: now,
        timer: undefined,
        chain: Promise.resolve(),
        busy: 0,
      };
      this.entries.set(key, entry);
      this.write(entry);
    } catch (err) {
      this.log.debug({ err: err instanceof Error ? err.message : String(err) }, 'recording an event failed');
    }
  }

  /**
   * Waits for in-flight writes (tests, shutdown). Series counts still held back by
   * minUpdateInterval are written now as well, so no occurrence is lost at shutdown.
   */
  async flush(): Promise<void> {
    for (const entry of this.entries.values()) {
      if (entry.count > entry.written && entry.busy === 0) {
        entry.timer?.cancel();
        entry.timer = undefined;
        this.write(entry);
      }
    }
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
  }

  /** Starts a write now or when minUpdateInterval since the last one has passed. */
  private schedule(entry: Entry, now: number): void {
    if (entry.timer) return;
    const due = entry.lastWriteAt + this.minIntervalMs;
    if (now >= due) return this.write(entry);
    entry.timer = this.clock.setTimer(() => {
      entry.timer = undefined;
      this.write(entry);
    }, due - now);
  }

  /** Queues one write of the entry's current state behind the previous one. */
  private write(entry: Entry): void {
    entry.lastWriteAt = this.clock.now();
    entry.busy++;
    const p = entry.chain
      .then(() => this.send(entry))
      .catch((err: unknown) => {
        this.log.debug(
          { event: `${entry.namespace}/${entry.name}`, reason: entry.body.reason, code: statusCode(err), err: apiMessage(err) },
          'writing an event failed',
        );
      })
      .finally(() => {
        entry.busy--;
        this.inFlight.delete(p);
      });
    entry.chain = p;
    this.inFlight.add(p);
  }

  private async send(entry: Entry): Promise<void> {
    const count = entry.count;
    if (count === entry.written) return;
    const lastObservedTime = microTime(entry.lastObserved);
    if (entry.created) {
      try {
        await this.api.patchNamespacedEvent({ namespace: entry.namespace, name: entry.name, body: { series: { count, lastObservedTime } } });
        entry.written = count;
        return;
      } catch (err) {
        if (statusCode(err) !== 404) throw err;
        // The Event expired (the API server's event TTL): start it again under a new name.
        entry.created = false;
        entry.name = eventName(entry.body.regarding?.name ?? 'event', this.clock.now());
        entry.body = { ...entry.body, metadata: { name: entry.name, namespace: entry.namespace } };
      }
    }
    const body: KubeEvent = { ...entry.body };
    if (count >= 2) body.series = { count, lastObservedTime };
    await this.api.createNamespacedEvent({ namespace: entry.namespace, body });
    entry.created = true;
    entry.written = count;
  }

  /** An entry whose window has passed: send what is still unsent, then forget it. */
  private retire(entry: Entry): void {
    this.entries.delete(entry.key);
    if (entry.timer) {
      entry.timer.cancel();
      entry.timer = undefined;
      this.write(entry);
    }
  }

  private prune(now: number): void {
    // Map order is least-recently-seen first: stop at the first entry still fresh (and under the cap).
    for (const entry of this.entries.values()) {
      if (now - entry.lastObserved <= this.windowMs && this.entries.size <= MAX_ENTRIES) break;
      this.retire(entry);
    }
  }
}
