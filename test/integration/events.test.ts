// The event recorder (src/kube/events.ts) against a real kube-apiserver: events.k8s.io/v1 Events for
// namespaced and cluster-scoped objects, series deduplication with a bounded write rate, and a
// recorder that never throws.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { CoreV1Api, EventsV1Api, KubeConfig, type EventsV1Event } from '@kubernetes/client-node';
import { start, type ControlPlane } from '../harness/controlplane.js';
import { EventRecorder, NOTE_MAX_BYTES, type EventRecorderOptions, type EventTarget } from '../../src/kube/events.js';
import { silentLogger } from '../../src/log.js';
import { registerSecret, resetRegisteredSecrets } from '../../src/redact.js';
import { FakeClock } from '../../src/util/clock.js';

const NS = 'events-test';
const CONTROLLER = 'regcred.dev/controller';
let cp: ControlPlane;
let events: EventsV1Api;
let configMapUid = '';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function recorder(extra: Partial<EventRecorderOptions> = {}): EventRecorder {
  return new EventRecorder({ kubeConfig: cp.kubeConfig, controller: CONTROLLER, instance: 'regcred-controller-0', log: silentLogger(), ...extra });
}

function namespaced(name: string): EventTarget {
  return { apiVersion: 'regcred.dev/v1alpha1', kind: 'RegistryCredential', namespace: NS, name, uid: configMapUid };
}

function clusterScoped(name: string): EventTarget {
  return { apiVersion: 'regcred.dev/v1alpha1', kind: 'ClusterRegistryCredential', name };
}

/** The Events about one object, oldest first. */
async function eventsFor(namespace: string, targetName: string): Promise<EventsV1Event[]> {
  const list = await events.listNamespacedEvent({ namespace });
  return list.items.filter((e) => e.regarding?.name === targetName).sort((a, b) => String(a.eventTime).localeCompare(String(b.eventTime)));
}

async function waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

const MICRO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/;

before(async () => {
  cp = await start();
  events = cp.kubeConfig.makeApiClient(EventsV1Api);
  const core = cp.kubeConfig.makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: NS } } });
  const cm = await core.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name: 'uid-source' } } });
  configMapUid = cm.metadata?.uid ?? '';
});

after(async () => {
  await cp?.stop();
});

describe('event recorder on a real API server', () => {
  test('an Event about a namespaced object, with every field set', async () => {
    const rec = recorder();
    const before = Date.now();
    rec.record(namespaced('app-creds'), 'Warning', 'RefreshFailed', 'ecr: AccessDenied for role arn:aws:iam::1:role/x');
    await rec.flush();
    const [ev, ...more] = await eventsFor(NS, 'app-creds');
    assert.equal(more.length, 0);
    assert.ok(ev);
    assert.equal(ev.metadata?.namespace, NS);
    assert.match(ev.metadata?.name ?? '', /^app-creds\.[0-9a-f]+$/);
    assert.equal(ev.type, 'Warning');
    assert.equal(ev.reason, 'RefreshFailed');
    assert.equal(ev.action, 'RefreshFailed', 'action defaults to the reason');
    assert.equal(ev.note, 'ecr: AccessDenied for role arn:aws:iam::1:role/x');
    assert.equal(ev.reportingController, CONTROLLER);
    assert.equal(ev.reportingInstance, 'regcred-controller-0');
    assert.deepEqual(
      { ...ev.regarding },
      { apiVersion: 'regcred.dev/v1alpha1', kind: 'RegistryCredential', namespace: NS, name: 'app-creds', uid: configMapUid },
    );
    assert.match(String(ev.eventTime), MICRO_TIME);
    const t = Date.parse(String(ev.eventTime));
    assert.ok(t >= before - 1000 && t <= Date.now() + 1000, 'eventTime is now');
    assert.equal(ev.series, undefined, 'a single occurrence has no series');

    rec.record(namespaced('app-creds-2'), 'Normal', 'Synced', 'wrote 3 Secrets', 'Sync');
    await rec.flush();
    const [ev2] = await eventsFor(NS, 'app-creds-2');
    assert.equal(ev2?.action, 'Sync');
    assert.equal(ev2?.type, 'Normal');
  });

  test('an Event about a cluster-scoped object goes to namespace "default"', async () => {
    const rec = recorder();
    rec.record(clusterScoped('cluster-wide'), 'Normal', 'Refreshed', 'credential refreshed, expires in 12h');
    await rec.flush();
    const [ev, ...more] = await eventsFor('default', 'cluster-wide');
    assert.equal(more.length, 0);
    assert.ok(ev);
    assert.equal(ev.metadata?.namespace, 'default');
    assert.equal(ev.regarding?.namespace, undefined);
    assert.equal(ev.regarding?.kind, 'ClusterRegistryCredential');
    assert.equal(ev.reason, 'Refreshed');
  });

  test('50 identical records make ONE Event whose series counts them all', async () => {
    const rec = recorder();
    for (let i = 0; i < 50; i++) rec.record(namespaced('repeat'), 'Warning', 'RefreshFailed', 'registry unreachable');
    await rec.flush();
    const list = await eventsFor(NS, 'repeat');
    assert.equal(list.length, 1, 'one Event object');
    assert.equal(list[0]?.series?.count, 50);
    assert.match(String(list[0]?.series?.lastObservedTime), MICRO_TIME);

    // A different reason is a different Event; so is a different note.
    rec.record(namespaced('repeat'), 'Normal', 'Refreshed', 'registry unreachable');
    rec.record(namespaced('repeat'), 'Warning', 'RefreshFailed', 'registry answered 503');
    await rec.flush();
    const after = await eventsFor(NS, 'repeat');
    assert.equal(after.length, 3);
    assert.deepEqual(after.map((e) => e.reason).sort(), ['RefreshFailed', 'RefreshFailed', 'Refreshed']);
    assert.equal(after.find((e) => e.reason === 'Refreshed')?.series, undefined);
  });

  test('repeats update the series at most once per minUpdateInterval (fake clock)', async () => {
    const clock = new FakeClock(Date.now());
    const rec = recorder({ clock, minUpdateIntervalMs: 60_000, dedupeWindowMs: 10 * 60_000 });
    const target = namespaced('stuck');
    const note = 'provider error: token expired';
    // 50 occurrences over 49 (fake) seconds: the first creates the Event, the rest wait for the interval.
    for (let i = 0; i < 50; i++) {
      rec.record(target, 'Warning', 'RefreshFailed', note);
      await clock.advance(1000);
    }
    const created = await waitFor('the Event', async () => (await eventsFor(NS, 'stuck'))[0]);
    await sleep(300);
    let list = await eventsFor(NS, 'stuck');
    assert.equal(list.length, 1);
    assert.equal(list[0]?.series, undefined, 'no series update before minUpdateInterval');
    const rv = list[0]?.metadata?.resourceVersion;

    // The interval passes: one update carries all 50.
    await clock.advance(11_000); // 60 s after the create
    const updated = await waitFor('the series update', async () => {
      const [ev] = await eventsFor(NS, 'stuck');
      return ev?.series?.count === 50 ? ev : undefined;
    });
    assert.equal(updated.metadata?.name, created.metadata?.name, 'the same Event object');
    assert.equal(Date.parse(String(updated.series?.lastObservedTime)), clock.now() - 12_000, 'the time of the 50th occurrence');
    assert.notEqual(updated.metadata?.resourceVersion, rv);

    // 10 more inside the next interval: nothing is written until it passes...
    const rvAfterUpdate = updated.metadata?.resourceVersion;
    for (let i = 0; i < 10; i++) {
      rec.record(target, 'Warning', 'RefreshFailed', note);
      await clock.advance(1000);
    }
    await sleep(300);
    list = await eventsFor(NS, 'stuck');
    assert.equal(list[0]?.metadata?.resourceVersion, rvAfterUpdate, 'no write within the interval');
    assert.equal(list[0]?.series?.count, 50);
    // ...or until flush(), which sends what is pending (shutdown).
    await rec.flush();
    list = await eventsFor(NS, 'stuck');
    assert.equal(list.length, 1);
    assert.equal(list[0]?.series?.count, 60);
    assert.equal(clock.pendingTimers(), 0, 'flush took the pending update over');

    // After the dedupe window without occurrences, the same event starts a new Event.
    await clock.advance(11 * 60_000);
    rec.record(target, 'Warning', 'RefreshFailed', note);
    await rec.flush();
    list = await eventsFor(NS, 'stuck');
    assert.equal(list.length, 2, 'a new Event after the window');
    assert.equal(list[1]?.series, undefined);
  });

  test('short real intervals: the timer sends the series update without flush()', async () => {
    const rec = recorder({ minUpdateIntervalMs: 400 });
    const createdAt = Date.now();
    rec.record(namespaced('timed'), 'Warning', 'RefreshFailed', 'boom');
    await waitFor('the Event', async () => (await eventsFor(NS, 'timed'))[0]);
    for (let i = 0; i < 19; i++) rec.record(namespaced('timed'), 'Warning', 'RefreshFailed', 'boom');
    const ev = await waitFor('the series update', async () => {
      const [e] = await eventsFor(NS, 'timed');
      return e?.series?.count === 20 ? e : undefined;
    });
    const updatedAfter = Date.now() - createdAt;
    assert.ok(updatedAfter >= 400, `updated ${updatedAfter} ms after the create`);
    assert.equal(ev.series?.count, 20);
    assert.equal((await eventsFor(NS, 'timed')).length, 1);
  });

  test('the note is cut to 1 KiB and registered secret values are scrubbed', async () => {
    const secret = `s3cr3t-${randomBytes(8).toString('hex')}`;
    registerSecret(secret);
    try {
      const rec = recorder();
      rec.record(namespaced('long-note'), 'Warning', 'RefreshFailed', `token ${secret} rejected; ${'é'.repeat(2000)}`);
      await rec.flush();
      const [ev] = await eventsFor(NS, 'long-note');
      assert.ok(ev?.note);
      assert.ok(Buffer.byteLength(ev.note) <= NOTE_MAX_BYTES, `${Buffer.byteLength(ev.note)} bytes`);
      assert.ok(Buffer.byteLength(ev.note) >= NOTE_MAX_BYTES - 1);
      assert.ok(!ev.note.includes(secret));
      assert.match(ev.note, /^token \[REDACTED\] rejected; é+$/);
    } finally {
      resetRegisteredSecrets();
    }
  });

  test('record() never throws nor blocks, even when the API server is unreachable', async () => {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'x', server: 'https://127.0.0.1:1', skipTLSVerify: true }],
      users: [{ name: 'x', token: 'nope' }],
      contexts: [{ name: 'x', cluster: 'x', user: 'x' }],
      currentContext: 'x',
    });
    const rec = new EventRecorder({ kubeConfig: kc, controller: CONTROLLER, instance: 'i', log: silentLogger(), minUpdateIntervalMs: 0 });
    const t0 = Date.now();
    for (let i = 0; i < 5; i++) rec.record(namespaced('unreachable'), 'Warning', 'RefreshFailed', 'x');
    rec.record({ apiVersion: 'v1', kind: 'Bad', name: '' }, 'Normal', '', '');
    assert.ok(Date.now() - t0 < 100, 'record() returns at once');
    await rec.flush();
    // The API server rejects an invalid Event: logged, not thrown.
    const valid = recorder();
    valid.record({ apiVersion: 'v1', kind: 'ConfigMap', name: 'Not A Valid Name', namespace: NS }, 'Normal', 'R', 'n');
    await valid.flush();
  });
});
