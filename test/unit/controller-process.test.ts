// Unit tests for src/controller/credentials/process.ts (one run of one credential, its steps in
// order) and src/controller/admission-backend.ts, over fakes of the API calls and the mint step.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ApiException, type CoreV1Api, type V1Namespace, type V1Secret } from '@kubernetes/client-node';
import { AdmissionBackend, within } from '../../src/controller/admission-backend.js';
import { FINALIZER, type CredentialWriter, type RawCredential } from '../../src/controller/credentials/object.js';
import { processItem, type ProcessDeps } from '../../src/controller/credentials/process.js';
import { CredentialStates } from '../../src/controller/credentials/states.js';
import { ownerOf, type MintedCredential } from '../../src/controller/reconcile.js';
import type { RefreshInput } from '../../src/controller/refresh.js';
import { OwnedSecretIndex } from '../../src/controller/secret-index.js';
import { objectKey } from '../../src/kube/object-cache.js';
import { MapStore } from '../../src/kube/store.js';
import type { CredentialStatus } from '../../src/controller/status.js';
import { silentLogger } from '../../src/log.js';
import { crc, keyOf, labelledSecret, minted, namespace, namespaces, rawCredential, specMap } from './controller-fixtures.js';

const NOW = Date.parse('2026-01-01T12:00:00Z');
const KEY = 'ClusterRegistryCredential/demo';
const TARGET = { secretName: 'pull', namespaces: { names: ['app', 'locked'] } };

function apiError(code: number): ApiException<string> {
  return new ApiException(code, 'refused', JSON.stringify({ kind: 'Status', code, message: 'refused' }), {});
}

/** The Secret calls fan-out and the webhook make: creates are recorded; `locked` refuses them. */
function fakeCore(namespacesRead: Record<string, V1Namespace> = {}) {
  const created: string[] = [];
  const core = {
    async createNamespacedSecret({ namespace, body }: { namespace: string; body: V1Secret }) {
      if (namespace === 'locked') throw apiError(403);
      created.push(`${namespace}/${body.metadata?.name}`);
      return body;
    },
    async readNamespace({ name }: { name: string }) {
      const ns = namespacesRead[name];
      if (!ns) throw apiError(404);
      return ns;
    },
  };
  return { core: core as unknown as CoreV1Api, created };
}

class RecordingWriter implements CredentialWriter {
  readonly calls: string[] = [];
  readonly statuses: CredentialStatus[] = [];
  async ensureFinalizer(raw: RawCredential): Promise<void> {
    this.calls.push(`ensureFinalizer ${raw.metadata?.name}`);
  }
  async removeFinalizer(raw: RawCredential): Promise<void> {
    this.calls.push(`removeFinalizer ${raw.metadata?.name}`);
  }
  async writeStatus(_raw: RawCredential, _kind: string, status: CredentialStatus): Promise<void> {
    this.calls.push('writeStatus');
    this.statuses.push(status);
  }
}

function harness(raw: RawCredential | undefined, mint: (input: RefreshInput) => boolean) {
  const { core, created } = fakeCore();
  const writer = new RecordingWriter();
  const events: string[] = [];
  const forgotten: string[] = [];
  const cleanup: string[] = [];
  const refreshes: RefreshInput[] = [];
  const specs = specMap();
  const states = new CredentialStates({ queue: { forget: (k) => forgotten.push(k) }, heldContent: { forget: () => {} } });
  const log = silentLogger();
  const deps: ProcessDeps = {
    lookup: (key) => (key === KEY ? raw : undefined),
    specs,
    states,
    refresher: {
      refresh: async (input) => {
        refreshes.push(input);
        return mint(input);
      },
    },
    objects: writer,
    targets: { core, specs, namespaces: namespaces(namespace('app'), namespace('locked')), ownedSecrets: new OwnedSecretIndex(new MapStore()), serviceAccounts: { inNamespace: () => [] }, log },
    cleanup: {
      removeStale: async (_obj, wanted) => void cleanup.push(`removeStale ${[...wanted].join(',')}`),
      finalize: async (key) => void cleanup.push(`finalize ${key}`),
    },
    clock: { now: () => NOW },
    log,
    events: { record: (_t, type, reason) => void events.push(`${type} ${reason}`) },
    retryBaseMs: 1_000,
    retryMaxMs: 10_000,
  };
  return { deps, created, writer, events, forgotten, cleanup, refreshes, specs, states };
}

function mintOk(m: MintedCredential, nextInMs: number) {
  return ({ state }: RefreshInput) => {
    state.minted = m;
    state.mintedAt = NOW;
    state.nextRefreshAt = NOW + nextInMs;
    return true;
  };
}

describe('processItem', () => {
  test('a credential gone from the cache is forgotten', async () => {
    const h = harness(undefined, () => false);
    assert.deepEqual(await processItem(h.deps, KEY), {});
    assert.deepEqual(h.forgotten, [KEY]);
    assert.deepEqual(h.writer.calls, []);
  });

  test('first run: finalizer, mint, fan-out (one namespace failing alone), stale cleanup, events, status, retry sooner', async () => {
    const raw = rawCredential('ClusterRegistryCredential', 'demo', undefined, TARGET);
    const h = harness(raw, mintOk(minted('v1'), 3_600_000));
    const r = await processItem(h.deps, KEY);
    assert.equal(h.refreshes[0]?.specChanged, true);
    assert.deepEqual(h.created, ['app/pull']);
    assert.deepEqual(h.cleanup, ['removeStale app,locked']);
    assert.deepEqual(h.events, ['Normal Refreshed', 'Warning Forbidden']);
    assert.deepEqual(h.writer.calls, ['ensureFinalizer demo', 'writeStatus']);
    const status = h.writer.statuses[0]!;
    assert.deepEqual(status.targets, { total: 2, synced: 1, failed: 1 });
    assert.equal(status.failures[0]?.namespace, 'locked');
    assert.ok(h.specs.has(KEY), 'the run keeps the parsed spec');
    assert.ok(r.requeueAfterMs! <= 1_000, `failed namespaces are retried after the backoff, not the refresh: ${r.requeueAfterMs}`);
    assert.equal(h.states.get(KEY)?.targetFailures, 1);
  });

  test('nothing minted: no fan-out, Degraded status, next run at the planned retry', async () => {
    const raw = rawCredential('ClusterRegistryCredential', 'demo', undefined, TARGET, { cleanupPolicy: 'Retain', finalizers: [FINALIZER] });
    const h = harness(raw, ({ state }) => {
      state.refreshError = { reason: 'ProviderError', message: 'down' };
      state.nextRefreshAt = NOW + 5_000;
      return false;
    });
    const r = await processItem(h.deps, KEY);
    assert.deepEqual(h.created, []);
    assert.deepEqual(h.cleanup, []);
    assert.deepEqual(h.writer.calls, ['removeFinalizer demo', 'writeStatus'], 'Retain: its finalizer goes');
    assert.deepEqual(h.writer.statuses[0]?.conditions.map((c) => `${c.type} ${c.status} ${c.reason}`), ['Ready False ProviderError', 'Degraded True ProviderError']);
    assert.deepEqual(r, { requeueAfterMs: 5_000 });
  });

  test('being deleted: the finalize step only', async () => {
    const raw = rawCredential('ClusterRegistryCredential', 'demo', undefined, TARGET, { finalizers: [FINALIZER], deletionTimestamp: '2026-01-01T11:00:00Z' });
    const h = harness(raw, mintOk(minted('v1'), 1));
    assert.deepEqual(await processItem(h.deps, KEY), {});
    assert.deepEqual(h.cleanup, [`finalize ${KEY}`]);
    assert.deepEqual(h.refreshes, []);
    assert.deepEqual(h.writer.calls, []);
  });

  test('an invalid spec: a Warning and an InvalidSpec status; when being deleted, only its finalizer removed', async () => {
    const raw = { ...rawCredential('ClusterRegistryCredential', 'demo', undefined, TARGET), spec: { target: TARGET } };
    const h = harness(raw, mintOk(minted('v1'), 1));
    assert.deepEqual(await processItem(h.deps, KEY), {});
    assert.deepEqual(h.events, ['Warning InvalidSpec']);
    assert.equal(h.writer.statuses[0]?.conditions[0]?.reason, 'InvalidSpec');
    assert.deepEqual(h.refreshes, []);

    const deleting = { ...raw, metadata: { ...raw.metadata, deletionTimestamp: 'now', finalizers: [FINALIZER] } };
    const d = harness(deleting, mintOk(minted('v1'), 1));
    await processItem(d.deps, KEY);
    assert.deepEqual(d.writer.calls, ['removeFinalizer demo']);
  });
});

describe('admission backend', () => {
  const demo = crc('demo', { secretName: 'pull', namespaces: { selector: { matchLabels: { team: 'a' } } } });
  const idle = crc('idle', { secretName: 'idle-pull', namespaces: { all: true } });
  const cache = namespaces(namespace('app', { team: 'a' }), namespace('out', { team: 'a' }), namespace('going', { team: 'a' }, 'Terminating'));
  const signal = new AbortController().signal;

  function backend(opts: { watchNamespaces?: string[]; read?: Record<string, V1Namespace>; owned?: V1Secret[] } = {}) {
    const { core, created } = fakeCore(opts.read);
    const queued: string[] = [];
    const store = new MapStore<V1Secret>();
    for (const s of opts.owned ?? []) store.set(objectKey(s), s);
    const ownedSecrets = new OwnedSecretIndex(store);
    const held = new Map([[keyOf(demo), minted('v1')]]);
    const b = new AdmissionBackend({
      core,
      namespaces: cache,
      watchNamespaces: opts.watchNamespaces,
      specs: specMap(demo, idle),
      minted: (key) => held.get(key),
      ownedSecrets,
      heldContentReader: { read: async () => undefined },
      queue: { add: (k) => queued.push(k) },
    });
    return { b, created, queued };
  }

  test('candidates: the targeting credentials holding content, with their registries', async () => {
    const { b } = backend();
    assert.deepEqual(await b.candidatesFor('app', signal), { candidates: [{ key: keyOf(demo), secretName: 'pull', registries: ['ghcr.io'], serviceAccounts: ['default'] }] });
    assert.deepEqual(await b.candidatesFor('going', signal), { candidates: [] }, 'a namespace being deleted');
  });

  test('a namespace not cached yet is read; in namespaced mode it is not one of ours', async () => {
    const fresh = { metadata: { name: 'fresh', labels: { team: 'a' }, annotations: { 'regcred.dev/inject': 'false' } }, status: { phase: 'Active' } };
    assert.deepEqual(await backend({ read: { fresh } }).b.candidatesFor('fresh', signal), { candidates: [], optedOut: true });
    assert.deepEqual(await backend().b.candidatesFor('unknown', signal), { candidates: [] });
    assert.deepEqual(await backend({ watchNamespaces: ['app'], read: { fresh } }).b.candidatesFor('fresh', signal), { candidates: [] });
  });

  test("ensureSecret: written from what is held, then the credential queued; nothing written where it exists or nothing is held", async () => {
    const { b, created, queued } = backend();
    assert.equal(await b.ensureSecret({ key: keyOf(demo), secretName: 'pull', registries: [] }, 'app', signal), 'created');
    assert.deepEqual(created, ['app/pull']);
    assert.deepEqual(queued, [keyOf(demo)]);
    assert.equal(await b.ensureSecret({ key: keyOf(idle), secretName: 'idle-pull', registries: [] }, 'app', signal), 'unavailable');
    assert.equal(await b.ensureSecret({ key: 'ClusterRegistryCredential/unknown', secretName: 'x', registries: [] }, 'app', signal), 'unavailable');
    const existing = backend({ owned: [labelledSecret(ownerOf(demo), 'app', 'pull')] });
    assert.equal(await existing.b.ensureSecret({ key: keyOf(demo), secretName: 'pull', registries: [] }, 'app', signal), 'exists');
    assert.deepEqual(existing.created, []);
  });

  test('within: a spent budget rejects, whether spent before or during the call', async () => {
    const spent = new AbortController();
    spent.abort();
    await assert.rejects(within(Promise.resolve(1), spent.signal), /time budget is spent/);
    const running = new AbortController();
    const p = within(new Promise<never>(() => {}), running.signal);
    running.abort();
    await assert.rejects(p, /time budget is spent/);
    assert.equal(await within(Promise.resolve(2), new AbortController().signal), 2);
  });
});
