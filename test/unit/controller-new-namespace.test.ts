import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { CoreV1Api, V1Secret } from '@kubernetes/client-node';
import { FOLLOW_UP_MS, MAX_IN_FLIGHT, NewNamespaceWriter } from '../../src/controller/credentials/new-namespace.js';
import type { TargetsDeps } from '../../src/controller/credentials/targets.js';
import { OwnedSecretIndex } from '../../src/controller/secret-index.js';
import { MapStore } from '../../src/kube/store.js';
import { silentLogger } from '../../src/log.js';
import { crc, keyOf, minted, namespace, namespaces, specMap } from './controller-fixtures.js';

/** Creates are held until release(): the test sees what is under way. */
function slowCore() {
  const created: string[] = [];
  const waiting: Array<() => void> = [];
  const core = {
    async createNamespacedSecret({ namespace, body }: { namespace: string; body: V1Secret }) {
      await new Promise<void>((r) => waiting.push(r));
      created.push(`${namespace}/${body.metadata?.name}`);
      return { ...body, metadata: { ...body.metadata, resourceVersion: '1' } };
    },
  };
  return { core: core as unknown as CoreV1Api, created, release: () => waiting.splice(0).forEach((r) => r()) };
}

function setup() {
  const team = crc('team', { secretName: 'pull', namespaces: { selector: { matchLabels: { team: 'a' } } }, serviceAccounts: [] });
  const idle = crc('idle', { secretName: 'other', namespaces: { selector: { matchLabels: { team: 'a' } } }, serviceAccounts: [] });
  const specs = specMap(team, idle);
  const held = new Map([[keyOf(team), minted('v1')]]);
  const { core, created, release } = slowCore();
  const targets: TargetsDeps = { core, specs, namespaces: namespaces(namespace('new', { team: 'a' })), ownedSecrets: new OwnedSecretIndex(new MapStore()), serviceAccounts: { inNamespace: () => [] }, log: silentLogger() };
  const later: Array<[string, number]> = [];
  const now: string[] = [];
  const queue = { working: true, add: (k: string) => now.push(k), addAfter: (k: string, ms: number) => later.push([k, ms]) };
  const writer = new NewNamespaceWriter({ targets, specs, minted: (k) => held.get(k), queue, log: silentLogger() });
  return { team, idle, writer, created, release, later, now, queue };
}

const settle = () => new Promise((r) => setImmediate(r));

test('a new namespace is written at once by each credential holding content; its run follows', async () => {
  const { team, idle, writer, created, release, later } = setup();
  const runNow = writer.write('new', [keyOf(team), keyOf(idle)]);
  assert.deepEqual(runNow, [keyOf(idle)], 'a credential with nothing minted yet runs as before');
  await settle();
  assert.deepEqual(later, [], 'the run waits for the write');
  release();
  await settle();
  await settle();
  assert.deepEqual(created, ['new/pull']);
  assert.deepEqual(later, [[keyOf(team), FOLLOW_UP_MS]], 'then the run that counts it in status');
});

test('bounded: beyond the writes under way, a new namespace is left to its credential\'s run', async () => {
  const { team, writer, release, later } = setup();
  for (let i = 0; i < MAX_IN_FLIGHT; i++) assert.deepEqual(writer.write(`ns-${i}`, [keyOf(team)]), []);
  assert.deepEqual(writer.write('one-more', [keyOf(team)]), [keyOf(team)]);
  release();
  for (let i = 0; i < 4; i++) await settle();
  assert.equal(later.length, MAX_IN_FLIGHT);
  assert.deepEqual(writer.write('after', [keyOf(team)]), [], 'room again once they finished');
  release();
});

test('a replica whose queue does not work (a standby, one stopping) leaves every key to it', async () => {
  const { team, writer, created, release, later, queue } = setup();
  queue.working = false;
  assert.deepEqual(writer.write('new', [keyOf(team)]), [keyOf(team)]);
  release();
  await settle();
  assert.deepEqual(created, []);
  assert.deepEqual(later, []);
});
