import { credentialObject, type CredentialKind } from '../../config/schema.js';
import type { EventRecorder } from '../../kube/events.js';
import type { Logger } from '../../log.js';
import type { Metrics } from '../../metrics.js';
import type { Clock } from '../../util/clock.js';
import type { QueueResult } from '../queue.js';
import type { Refresher } from '../refresh.js';
import type { TargetFailure } from '../status.js';
import type { Cleanup } from './cleanup.js';
import { eventTargetOf, type CredentialWriter, type RawCredential } from './object.js';
import type { SpecMap } from './shared.js';
import type { CredentialStates } from './states.js';
import { invalidSpecMessage, invalidSpecStatus, nextRunDelay, recordCredentialMetrics, runStatus } from './status-step.js';
import { refreshedMessage, syncTargets, targetFailureEvent, type TargetCounts, type TargetsDeps } from './targets.js';

// One run of one credential, the work queue's handler: brings its Secrets, service accounts and
// status in line, step by step. Every step works from the caches, so a run with nothing to do makes
// no API request at all.

export interface ProcessDeps {
  /** The cached object of a key (object.ts lookupCredential). */
  lookup(key: string): RawCredential | undefined;
  specs: SpecMap;
  states: Pick<CredentialStates, 'forObject' | 'forget'>;
  refresher: Pick<Refresher, 'refresh'>;
  objects: CredentialWriter;
  targets: TargetsDeps;
  cleanup: Pick<Cleanup, 'removeStale' | 'finalize'>;
  clock: Pick<Clock, 'now'>;
  log: Logger;
  metrics?: Metrics | undefined;
  events?: Pick<EventRecorder, 'record'> | undefined;
  retryBaseMs?: number | undefined;
  retryMaxMs?: number | undefined;
}

export async function processItem(d: ProcessDeps, key: string): Promise<QueueResult> {
  const raw = d.lookup(key);
  if (!raw) {
    d.states.forget(key);
    return {};
  }
  const kind = (raw.kind ?? '') as CredentialKind;
  const name = raw.metadata?.name ?? '';
  const namespace = raw.metadata?.namespace;
  const eventTarget = eventTargetOf(raw, kind);
  const now = d.clock.now();

  const parsed = credentialObject.safeParse(raw);
  if (!parsed.success) {
    const message = invalidSpecMessage(parsed.error);
    if (raw.metadata?.deletionTimestamp) {
      await d.objects.removeFinalizer(raw, kind);
      return {};
    }
    const status = invalidSpecStatus(raw, now, message);
    d.events?.record(eventTarget, 'Warning', 'InvalidSpec', message);
    await d.objects.writeStatus(raw, kind, status);
    return {};
  }
  const obj = parsed.data;
  d.specs.set(key, obj);

  if (raw.metadata?.deletionTimestamp) {
    await d.cleanup.finalize(key, raw, obj, kind, eventTarget);
    return {};
  }
  // Only cleanupPolicy Delete has work to do on deletion; Retain needs no finalizer, so deleting the
  // object (e.g. `helm uninstall`, which removes the controller first) never waits for a controller.
  if (obj.spec.cleanupPolicy === 'Delete') await d.objects.ensureFinalizer(raw, kind);
  else await d.objects.removeFinalizer(raw, kind);

  const state = d.states.forObject(key, raw.metadata?.uid, obj.spec.provider.key);
  const labels = { kind, namespace: namespace ?? '', name, provider: obj.spec.provider.key };
  const specChanged = state.generation !== raw.metadata?.generation;
  state.generation = raw.metadata?.generation;
  state.provider = obj.spec.provider.key;

  // 1. Mint, when there is nothing yet, the spec changed, or the refresh is due (refresh.ts).
  const minted = await d.refresher.refresh({ key, obj, kind, state, now, eventTarget, labels, specChanged });

  // 2. Fan out the credential we hold (never an empty one), and clean up where it no longer belongs.
  let failures: TargetFailure[] = [];
  let targets: TargetCounts = { total: 0, synced: 0, failed: 0 };
  if (state.minted) {
    const outcome = await syncTargets(d.targets, key, obj, state.minted);
    ({ targets, failures } = outcome);
    if (obj.spec.cleanupPolicy === 'Delete') await d.cleanup.removeStale(obj, new Set(outcome.wanted));
    if (minted) {
      d.events?.record(eventTarget, 'Normal', 'Refreshed', refreshedMessage(targets, state.minted));
      d.log.info({ credential: key, synced: targets.synced, total: targets.total, expiresAt: state.minted.expiresAt?.toISOString() }, 'credential refreshed');
    }
  }
  const failed = targetFailureEvent(failures);
  if (failed) {
    state.targetFailures++;
    d.events?.record(eventTarget, 'Warning', failed.reason, failed.message);
  } else state.targetFailures = 0;

  // 3. Status and metrics.
  const status = runStatus(raw, obj.spec.provider.key, state, now, targets, failures);
  await d.objects.writeStatus(raw, kind, status);
  recordCredentialMetrics(d.metrics, labels, state, status, targets);

  // 4. Next run: the refresh, or sooner to retry failed namespaces.
  return { requeueAfterMs: nextRunDelay(state, now, failures.length, { baseMs: d.retryBaseMs, maxMs: d.retryMaxMs }) };
}
