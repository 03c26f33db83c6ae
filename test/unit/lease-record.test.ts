// Unit tests for src/kube/lease-record.ts: the Lease specs of a first holder, a renewal, a takeover
// and a release, and what counts as another candidate's change.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { firstSpec, heldSpec, recordKey, releasedSpec } from '../../src/kube/lease-record.js';
import { microTime } from '../../src/kube/api/resources.js';

const T0 = Date.parse('2026-12-07T10:00:00Z');
const T1 = T0 + 2_000;

test('a first holder: acquire and renew now, no transition yet', () => {
  assert.deepEqual(firstSpec('a', 15, T0), { holderIdentity: 'a', leaseDurationSeconds: 15, acquireTime: microTime(T0), renewTime: microTime(T0), leaseTransitions: 0 });
});

test('a renewal keeps acquireTime and the transition count; only renewTime moves', () => {
  const old = firstSpec('a', 15, T0);
  const next = heldSpec(old, 'a', 15, T1);
  assert.equal(next.acquireTime, old.acquireTime);
  assert.equal(next.renewTime, microTime(T1));
  assert.equal(next.leaseTransitions, 0);
});

test('a takeover starts a new acquireTime and counts a transition; strategy and preferredHolder are kept', () => {
  const old = { ...firstSpec('a', 15, T0), leaseTransitions: 3, strategy: 'OldestEmulationVersion', preferredHolder: 'b' };
  const next = heldSpec(old, 'b', 20, T1);
  assert.equal(next.holderIdentity, 'b');
  assert.equal(next.leaseDurationSeconds, 20);
  assert.equal(next.acquireTime, microTime(T1));
  assert.equal(next.leaseTransitions, 4);
  assert.equal(next.strategy, 'OldestEmulationVersion');
  assert.equal(next.preferredHolder, 'b');
});

test('a released Lease has no holder and lasts one second', () => {
  const spec = releasedSpec({ ...firstSpec('a', 15, T0), leaseTransitions: 2 }, T1);
  assert.equal(spec.holderIdentity, undefined);
  assert.equal(spec.leaseDurationSeconds, 1);
  assert.equal(spec.leaseTransitions, 2);
  assert.equal(releasedSpec(undefined, T1).leaseTransitions, 0);
});

test('recordKey: the same record read twice is no change; a renewal by another is', () => {
  const a = firstSpec('a', 15, T0);
  assert.equal(recordKey(a), recordKey(JSON.parse(JSON.stringify(a))));
  assert.notEqual(recordKey(a), recordKey(heldSpec(a, 'a', 15, T1)));
  assert.equal(recordKey(undefined), '');
});
