// Unit tests for fanOut (src/controller/reconcile.ts) when the controller stops mid-way: no new
// namespace is started once its signal aborts, the writes under way finish, and the partial
// result is not returned as the credential's state. A fake CoreV1Api holds each create open.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { CoreV1Api } from '@kubernetes/client-node';
import { credentialObject } from '../../src/config/schema.js';
import { fanOut } from '../../src/controller/reconcile.js';
import { RegcredError } from '../../src/errors.js';
import { deferred, settle, type Deferred } from './async-helpers.js';

const obj = credentialObject.parse({
  apiVersion: 'regcred.dev/v1alpha1',
  kind: 'ClusterRegistryCredential',
  metadata: { name: 'stopping' },
  spec: {
    provider: { static: { secretRef: { name: 'src' } } },
    target: { secretName: 'stopping-pull', namespaces: { all: true }, serviceAccounts: [] },
  },
});
const minted = { credentials: [], dockerConfigJson: '{"auths":{}}', expiresAt: undefined };

test('fanOut: once the signal aborts, no new namespace is started; those under way are written, then it throws', async () => {
  const creates: Array<{ namespace: string; done: Deferred<void> }> = [];
  const core = {
    createNamespacedSecret: async ({ namespace }: { namespace: string }) => {
      const done = deferred<void>();
      creates.push({ namespace, done });
      await done.promise;
      return {};
    },
  } as unknown as CoreV1Api;
  const written: string[] = [];
  const stop = new AbortController();
  const namespaces = Array.from({ length: 10 }, (_, i) => `ns-${i}`);
  const result = fanOut(core, obj, minted, namespaces, {
    concurrency: 2,
    signal: stop.signal,
    cache: { secret: () => null, serviceAccounts: () => [] },
    onWrite: (_op, ns) => written.push(ns ?? ''),
  });
  result.catch(() => undefined);
  await settle();
  assert.deepEqual(creates.map((c) => c.namespace), ['ns-0', 'ns-1']);
  creates[0]!.done.resolve();
  await settle();
  assert.equal(creates.length, 3, 'a freed worker takes the next namespace');
  stop.abort();
  for (const c of creates) c.done.resolve();
  await assert.rejects(result, (err: unknown) => {
    assert.ok(err instanceof RegcredError);
    assert.equal(err.message, 'stopped before writing 7 of 10 namespace(s): shutting down');
    return true;
  });
  assert.equal(creates.length, 3, 'nothing started after the abort');
  assert.deepEqual(written, ['ns-0', 'ns-1', 'ns-2'], 'the writes under way finished');
});

test('fanOut: a signal that aborts after every namespace was started changes nothing', async () => {
  const core = { createNamespacedSecret: async () => ({}) } as unknown as CoreV1Api;
  const stop = new AbortController();
  const result = await fanOut(core, obj, minted, ['a', 'b'], {
    signal: stop.signal,
    cache: { secret: () => null, serviceAccounts: () => [] },
    onWrite: () => stop.abort(),
  });
  assert.deepEqual(result.counts, { total: 2, synced: 2, failed: 0, created: 2, updated: 0, unchanged: 0, saPatched: 0 });
});

test('fanOut: a run over many namespaces whose Secrets are current gives the event loop turns', async () => {
  const bodies = new Map<string, unknown>();
  const core = {
    createNamespacedSecret: async ({ namespace, body }: { namespace: string; body: unknown }) => {
      bodies.set(namespace, JSON.parse(JSON.stringify(body)));
      return body;
    },
  } as unknown as CoreV1Api;
  const namespaces = Array.from({ length: 1000 }, (_, i) => `ns-${i}`);
  await fanOut(core, obj, minted, namespaces, { cache: { secret: () => null, serviceAccounts: () => [] } });
  assert.equal(bodies.size, 1000);

  // Every Secret as written: no request is needed, so without turns nothing else could run until the end.
  let turns = 0;
  let running = true;
  const countTurns = () => {
    if (!running) return;
    turns++;
    setImmediate(countTurns);
  };
  setImmediate(countTurns);
  const result = await fanOut({} as CoreV1Api, obj, minted, namespaces, {
    cache: { secret: (ns) => (bodies.get(ns) as never) ?? null, serviceAccounts: () => [] },
  });
  running = false;
  assert.equal(result.counts.unchanged, 1000);
  assert.ok(turns >= 10, `the event loop turned ${turns} times during the run`);
});
