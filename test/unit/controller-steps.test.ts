// Unit tests for the pure steps of src/controller/credentials/ and the controller's probes: the
// finalizer and status patches, stale-Secret selection, counting claims, the status and next run.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { liveness, readiness } from '../../src/controller/caches.js';
import { staleSecrets } from '../../src/controller/credentials/cleanup.js';
import { addFinalizerPatch, eventTargetOf, FINALIZER, lookupCredential, removeFinalizerPatch, statusPatch } from '../../src/controller/credentials/object.js';
import { CredentialStates } from '../../src/controller/credentials/states.js';
import { invalidSpecMessage, invalidSpecStatus, nextRunDelay, runStatus } from '../../src/controller/credentials/status-step.js';
import { countClaims, refreshedMessage, targetFailureEvent } from '../../src/controller/credentials/targets.js';
import type { FanOutResult } from '../../src/controller/reconcile.js';
import { ownerOf } from '../../src/controller/reconcile.js';
import type { CredentialState } from '../../src/controller/refresh.js';
import { credentialObject } from '../../src/config/schema.js';
import { RegcredError } from '../../src/errors.js';
import { createMetrics } from '../../src/metrics.js';
import { crc, labelledSecret, minted, namespace, namespaces, rawCredential, rc } from './controller-fixtures.js';

const NOW = Date.parse('2026-01-01T12:00:00Z');

describe('finalizer and status patches', () => {
  const raw = rawCredential('ClusterRegistryCredential', 'c', undefined, {}, { resourceVersion: '42' });
  const guard = { op: 'test', path: '/metadata/resourceVersion', value: '42' };

  test('adding: the whole list when there is none, appended otherwise; nothing when present', () => {
    assert.deepEqual(addFinalizerPatch(raw), [guard, { op: 'add', path: '/metadata/finalizers', value: [FINALIZER] }]);
    const other = { ...raw, metadata: { ...raw.metadata, finalizers: ['example.com/keep'] } };
    assert.deepEqual(addFinalizerPatch(other), [guard, { op: 'add', path: '/metadata/finalizers/-', value: FINALIZER }]);
    assert.equal(addFinalizerPatch({ ...raw, metadata: { ...raw.metadata, finalizers: [FINALIZER] } }), undefined);
  });

  test('removing: by index, guarded by the resourceVersion; nothing when absent', () => {
    const held = { ...raw, metadata: { ...raw.metadata, finalizers: ['example.com/keep', FINALIZER] } };
    assert.deepEqual(removeFinalizerPatch(held), [guard, { op: 'remove', path: '/metadata/finalizers/1' }]);
    assert.equal(removeFinalizerPatch(raw), undefined);
  });

  test('the status patch sets the whole status, with undefined fields dropped', () => {
    const status = runStatus(raw, 'static', { refreshFailures: 0, targetFailures: 0, provider: 'static' }, NOW, { total: 0, synced: 0, failed: 0 }, []);
    const [op] = statusPatch(status) as [{ op: string; path: string; value: Record<string, unknown> }];
    assert.equal(op.op, 'add');
    assert.equal(op.path, '/status');
    assert.equal('expiresAt' in op.value, false);
    assert.equal(op.value.targetsSummary, '0/0');
  });

  test('lookup by key in the cache of its kind; event target with namespace and uid', () => {
    const r = rawCredential('RegistryCredential', 'r', 'app', {});
    const caches = { crc: { get: (k: string) => (k === 'c' ? raw : undefined) }, rc: { get: (k: string) => (k === 'app/r' ? r : undefined) } };
    assert.equal(lookupCredential('ClusterRegistryCredential/c', caches), raw);
    assert.equal(lookupCredential('RegistryCredential/app/r', caches), r);
    assert.equal(lookupCredential('RegistryCredential/other/r', caches), undefined);
    assert.deepEqual(eventTargetOf(r, 'RegistryCredential'), { apiVersion: 'regcred.dev/v1alpha1', kind: 'RegistryCredential', name: 'r', namespace: 'app', uid: 'uid-r' });
  });
});

describe('stale Secrets', () => {
  const team = crc('team', { secretName: 'pull', namespaces: { selector: { matchLabels: { team: 'a' } } } });
  const live = namespaces(namespace('app', { team: 'a' }), namespace('web', { team: 'a' }), namespace('old'), namespace('going', { team: 'a' }, 'Terminating'));
  const owned = [
    labelledSecret(ownerOf(team), 'app', 'pull'),
    labelledSecret(ownerOf(team), 'web', 'renamed-from'),
    labelledSecret(ownerOf(team), 'old', 'pull'),
    labelledSecret(ownerOf(team), 'going', 'pull'),
    labelledSecret(ownerOf(team), 'deleted', 'pull'),
  ];
  const names = (list: { metadata?: { namespace?: string; name?: string } }[]) => list.map((s) => `${s.metadata?.namespace}/${s.metadata?.name}`);

  test('outside the wanted namespaces or under an old name; never in a namespace gone or being deleted', () => {
    assert.deepEqual(names(staleSecrets(team, new Set(['app', 'web']), owned, live)), ['web/renamed-from', 'old/pull']);
  });

  test('every one (deletion): each it wrote in a live namespace', () => {
    assert.deepEqual(names(staleSecrets(team, 'all', owned, live)), ['app/pull', 'web/renamed-from', 'old/pull']);
  });

  test('a namespace that appeared during the run (not in its list, targeted now) keeps the Secret written for it', () => {
    const later = namespaces(namespace('app', { team: 'a' }), namespace('new', { team: 'a' }), namespace('old'));
    const held = [labelledSecret(ownerOf(team), 'app', 'pull'), labelledSecret(ownerOf(team), 'new', 'pull'), labelledSecret(ownerOf(team), 'old', 'pull')];
    assert.deepEqual(names(staleSecrets(team, new Set(['app']), held, later)), ['old/pull']);
    assert.deepEqual(names(staleSecrets(team, new Set(), held, later)), ['old/pull'], 'a run that found no namespace yet');
  });

  test("a RegistryCredential's labels on a Secret in another namespace are not its own", () => {
    const tenant = rc('app', 'tenant', { secretName: 'pull' });
    const planted = [labelledSecret(ownerOf(tenant), 'web', 'pull'), labelledSecret(ownerOf(tenant), 'app', 'old-name')];
    assert.deepEqual(names(staleSecrets(tenant, new Set(['app']), planted, live)), ['app/old-name']);
  });
});

describe('target counts and events', () => {
  const result: FanOutResult = {
    namespaces: [
      { namespace: 'a', secret: 'created', serviceAccountsPatched: [], serviceAccountsMissing: [] },
      { namespace: 'b', secret: 'unchanged', serviceAccountsPatched: [], serviceAccountsMissing: [] },
      { namespace: 'c', serviceAccountsPatched: [], serviceAccountsMissing: [], error: new RegcredError('NamespaceNotFound', 'namespace "c" not found') },
    ],
    counts: { total: 3, synced: 2, failed: 1, created: 1, updated: 0, unchanged: 1, saPatched: 0 },
  };

  test('without rivals: the fan-out counts, one failure per failed namespace', () => {
    const r = countClaims(result, 'pull', undefined);
    assert.deepEqual(r.targets, { total: 3, synced: 2, failed: 1 });
    assert.deepEqual(r.failures, [{ namespace: 'c', reason: 'NamespaceNotFound', message: 'namespace "c" not found' }]);
  });

  test('a namespace where another credential claims the Secret counts as a SecretConflict', () => {
    const r = countClaims(result, 'pull', (ns) => (ns === 'b' ? ['ClusterRegistryCredential/rival'] : []));
    assert.deepEqual(r.targets, { total: 3, synced: 1, failed: 2 });
    assert.deepEqual(r.failures.map((f) => f.reason), ['SecretConflict', 'NamespaceNotFound']);
    assert.match(r.failures[0]?.message ?? '', /b\/pull is also claimed by ClusterRegistryCredential\/rival/);
  });

  test('the failure event: the one reason and its message, or PartiallySynced naming up to five', () => {
    assert.equal(targetFailureEvent([]), undefined);
    assert.deepEqual(targetFailureEvent([{ namespace: 'c', reason: 'Forbidden', message: 'no' }]), { reason: 'Forbidden', message: '1 namespace(s) failed: c (Forbidden): no' });
    const many = ['a', 'b', 'c', 'd', 'e', 'f'].map((namespace) => ({ namespace, reason: 'Forbidden', message: 'no' }));
    assert.deepEqual(targetFailureEvent(many), { reason: 'PartiallySynced', message: '6 namespace(s) failed: a (Forbidden), b (Forbidden), c (Forbidden), d (Forbidden), e (Forbidden)' });
  });

  test('the refreshed message says how many hold it and when it expires', () => {
    assert.equal(refreshedMessage({ total: 3, synced: 2, failed: 1 }, minted('p', new Date(NOW))), 'credential refreshed; 2/3 namespaces synced; expires 2026-01-01T12:00:00.000Z');
    assert.equal(refreshedMessage({ total: 0, synced: 0, failed: 0 }, minted('p')), 'credential refreshed; 0/0 namespaces synced; expires never');
  });
});

describe('status step', () => {
  const raw = rawCredential('ClusterRegistryCredential', 'c', undefined, {}, { generation: 4 });

  test('an invalid spec: Ready False InvalidSpec with the first issue and its path', () => {
    const parsed = credentialObject.safeParse({ ...raw, spec: { provider: {}, target: { secretName: 'x' } } });
    assert.equal(parsed.success, false);
    const message = invalidSpecMessage(parsed.error!);
    assert.match(message, /^spec\.provider: /);
    const status = invalidSpecStatus(raw, NOW, message);
    assert.deepEqual([status.conditions[0]?.status, status.conditions[0]?.reason, status.observedGeneration], ['False', 'InvalidSpec', 4]);
  });

  test('after a run: what is held, its times, the targets', () => {
    const state: CredentialState = { refreshFailures: 0, targetFailures: 0, provider: 'static', minted: minted('p', new Date(NOW + 3_600_000)), mintedAt: NOW, nextRefreshAt: NOW + 2_400_000 };
    const status = runStatus(raw, 'static', state, NOW, { total: 2, synced: 2, failed: 0 }, []);
    assert.equal(status.conditions[0]?.status, 'True');
    assert.equal(status.expiresAt, '2026-01-01T13:00:00.000Z');
    assert.equal(status.nextRefreshTime, '2026-01-01T12:40:00.000Z');
    assert.equal(status.targetsSummary, '2/2');
  });

  test('next run: at the refresh; sooner, by the backoff, while namespaces fail; never under 1 ms', () => {
    const state: CredentialState = { refreshFailures: 0, targetFailures: 1, provider: 'static', nextRefreshAt: NOW + 600_000 };
    assert.equal(nextRunDelay(state, NOW, 0, {}), 600_000);
    const retry = nextRunDelay(state, NOW, 1, { baseMs: 1_000, maxMs: 10_000 });
    assert.ok(retry >= 500 && retry <= 1_000, `first retry within half to all of the base: ${retry}`);
    assert.equal(nextRunDelay({ ...state, nextRefreshAt: NOW - 5 }, NOW, 0, {}), 1);
    assert.equal(nextRunDelay({ ...state, nextRefreshAt: undefined }, NOW, 0, {}), 1);
  });
});

describe('credential states', () => {
  test('a fresh state for a new object or a re-created one; forgetting drops its queue entries, content and series', async () => {
    const forgotten: string[] = [];
    const metrics = createMetrics();
    const states = new CredentialStates({ queue: { forget: (k) => forgotten.push(`queue ${k}`) }, heldContent: { forget: (k) => forgotten.push(`held ${k}`) }, metrics });
    const s = states.forObject('RegistryCredential/app/r', 'u1', 'static');
    s.refreshFailures = 3;
    assert.equal(states.forObject('RegistryCredential/app/r', 'u1', 'static'), s);
    assert.equal(states.forObject('RegistryCredential/app/r', 'u2', 'static').refreshFailures, 0, 're-created: starts over');
    const labels = { kind: 'RegistryCredential', namespace: 'app', name: 'r', provider: 'static' };
    metrics.credentialReady.set(labels, 1);
    metrics.credentialReady.set({ ...labels, name: 'kept' }, 1);
    states.forget('RegistryCredential/app/r');
    assert.equal(states.get('RegistryCredential/app/r'), undefined);
    assert.deepEqual(forgotten, ['queue RegistryCredential/app/r', 'held RegistryCredential/app/r']);
    assert.match(await metrics.registry.metrics(), /regcred_credential_ready\{[^}]*name="kept"/);
    assert.doesNotMatch(await metrics.registry.metrics(), /name="r"/);
  });
});

describe('probes', () => {
  const cache = (synced: boolean, unhealthyMs = 0) => ({ hasSynced: () => synced, unhealthyForMs: () => unhealthyMs });

  test('ready once started with every cache synced; otherwise which are pending', () => {
    assert.deepEqual(readiness(true, { a: cache(true), b: cache(true) }), { ok: true });
    assert.deepEqual(readiness(true, { a: cache(true), b: cache(false) }), { ok: false, reason: 'caches not synced: b' });
    assert.deepEqual(readiness(false, { a: cache(true) }), { ok: false, reason: 'caches not synced: starting' });
  });

  test('live unless a watch fails, or a mint runs late, for longer than the bound', () => {
    assert.deepEqual(liveness({ a: cache(true, 1_000) }, 120_000, () => []), { ok: true });
    assert.deepEqual(liveness({ a: cache(true, 121_000) }, 120_000, () => ['x']), { ok: false, reason: 'watch failing for over 120s: a' });
    assert.deepEqual(liveness({ a: cache(true) }, 120_000, (grace) => (grace === 120_000 ? ['ClusterRegistryCredential/slow'] : [])), {
      ok: false,
      reason: 'provider call running past its deadline: ClusterRegistryCredential/slow',
    });
  });
});
