// Unit tests for src/controller/status.ts: computeStatus and sameStatus.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { computeStatus, sameStatus, MAX_FAILURES, MAX_MESSAGE, Reasons, type Condition, type CredentialStatus, type StatusInput } from '../../src/controller/status.js';
import { REDACTED, registerSecret, resetRegisteredSecrets } from '../../src/redact.js';

const NOW = new Date('2026-01-01T12:00:00Z');
const LATER = new Date('2026-01-01T13:00:00Z');
const EXPIRES = new Date('2026-01-01T18:00:00Z');

function input(over: Partial<StatusInput> = {}): StatusInput {
  return {
    now: NOW,
    generation: 3,
    provider: 'static',
    expiresAt: EXPIRES,
    hasCredential: true,
    lastRefreshTime: new Date('2026-01-01T11:00:00Z'),
    nextRefreshTime: new Date('2026-01-01T16:00:00Z'),
    targets: { total: 3, synced: 3, failed: 0 },
    failures: [],
    ...over,
  };
}

function cond(s: CredentialStatus, type: Condition['type']): Condition {
  const c = s.conditions.find((x) => x.type === type);
  assert.ok(c, `no ${type} condition`);
  return c;
}

describe('computeStatus', () => {
  test('all targets synced: Ready True Synced, Degraded False Healthy, with the timestamps and counts', () => {
    const s = computeStatus(input());
    assert.deepEqual(s.conditions.map((c) => c.type), ['Ready', 'Degraded']);
    assert.deepEqual(cond(s, 'Ready'), {
      type: 'Ready',
      status: 'True',
      reason: Reasons.Synced,
      message: '3/3 namespaces synced',
      observedGeneration: 3,
      lastTransitionTime: NOW.toISOString(),
    });
    assert.deepEqual(cond(s, 'Degraded'), {
      type: 'Degraded',
      status: 'False',
      reason: Reasons.Healthy,
      message: 'the last refresh succeeded',
      observedGeneration: 3,
      lastTransitionTime: NOW.toISOString(),
    });
    assert.equal(s.provider, 'static');
    assert.equal(s.expiresAt, EXPIRES.toISOString());
    assert.equal(s.lastRefreshTime, '2026-01-01T11:00:00.000Z');
    assert.equal(s.nextRefreshTime, '2026-01-01T16:00:00.000Z');
    assert.deepEqual(s.targets, { total: 3, synced: 3, failed: 0 });
    assert.equal(s.targetsSummary, '3/3');
    assert.deepEqual(s.failures, []);
    assert.equal(s.observedGeneration, 3);
  });

  test('zero targets: Ready True NoTargets', () => {
    const s = computeStatus(input({ targets: { total: 0, synced: 0, failed: 0 } }));
    const ready = cond(s, 'Ready');
    assert.equal(ready.status, 'True');
    assert.equal(ready.reason, Reasons.NoTargets);
    assert.equal(ready.message, 'no namespace matches the target');
    assert.equal(cond(s, 'Degraded').status, 'False');
    assert.equal(s.targetsSummary, '0/0');
  });

  test('partial failure with one reason: Ready False with that reason, Degraded True', () => {
    const s = computeStatus(
      input({
        targets: { total: 3, synced: 1, failed: 2 },
        failures: [
          { namespace: 'b', reason: 'Forbidden', message: 'secrets is forbidden' },
          { namespace: 'a', reason: 'Forbidden', message: 'secrets is forbidden' },
        ],
      }),
    );
    const ready = cond(s, 'Ready');
    assert.equal(ready.status, 'False');
    assert.equal(ready.reason, 'Forbidden');
    assert.equal(ready.message, '1/3 namespaces synced; 2 failed');
    const degraded = cond(s, 'Degraded');
    assert.equal(degraded.status, 'True');
    assert.equal(degraded.reason, 'Forbidden');
    assert.equal(degraded.message, ready.message);
    assert.equal(s.targetsSummary, '1/3');
    assert.deepEqual(s.failures.map((f) => f.namespace), ['a', 'b']);
  });

  test('partial failure with two reasons: Ready False PartiallySynced', () => {
    const s = computeStatus(
      input({
        targets: { total: 4, synced: 2, failed: 2 },
        failures: [
          { namespace: 'a', reason: 'Forbidden', message: 'no' },
          { namespace: 'b', reason: 'Conflict', message: 'owned by someone else' },
        ],
      }),
    );
    assert.equal(cond(s, 'Ready').status, 'False');
    assert.equal(cond(s, 'Ready').reason, Reasons.PartiallySynced);
    assert.equal(cond(s, 'Degraded').status, 'True');
    assert.equal(cond(s, 'Degraded').reason, Reasons.PartiallySynced);
    assert.equal(s.targetsSummary, '2/4');
  });

  test('refresh error with a previous credential in place: Degraded True, Ready still True', () => {
    const s = computeStatus(input({ refreshError: { reason: Reasons.ProviderError, message: 'ECR returned 500' } }));
    const degraded = cond(s, 'Degraded');
    assert.equal(degraded.status, 'True');
    assert.equal(degraded.reason, Reasons.ProviderError);
    assert.equal(degraded.message, 'ECR returned 500; the previous credential is still in place');
    const ready = cond(s, 'Ready');
    assert.equal(ready.status, 'True');
    assert.equal(ready.reason, Reasons.Synced);
  });

  test('refresh error with no credential: Ready False with the error reason, message not claiming a previous credential', () => {
    const s = computeStatus(
      input({ hasCredential: false, expiresAt: undefined, refreshError: { reason: Reasons.ProviderError, message: 'access denied' } }),
    );
    const ready = cond(s, 'Ready');
    assert.equal(ready.status, 'False');
    assert.equal(ready.reason, Reasons.ProviderError);
    assert.equal(ready.message, 'access denied');
    const degraded = cond(s, 'Degraded');
    assert.equal(degraded.status, 'True');
    assert.equal(degraded.message, 'access denied');
    assert.equal(s.expiresAt, undefined);
  });

  test('no credential yet and no error: Ready False Pending', () => {
    const s = computeStatus(input({ hasCredential: false, expiresAt: undefined }));
    assert.equal(cond(s, 'Ready').status, 'False');
    assert.equal(cond(s, 'Ready').reason, Reasons.Pending);
    assert.equal(cond(s, 'Degraded').status, 'False');
  });

  test('an expired credential: Ready False CredentialExpired (even with all targets synced)', () => {
    const expiredAt = new Date('2026-01-01T11:59:59Z');
    const s = computeStatus(input({ expiresAt: expiredAt, refreshError: { reason: Reasons.ProviderError, message: 'down' } }));
    const ready = cond(s, 'Ready');
    assert.equal(ready.status, 'False');
    assert.equal(ready.reason, 'CredentialExpired');
    assert.match(ready.message, /expired at 2026-01-01T11:59:59.000Z/);
    assert.equal(cond(s, 'Degraded').status, 'True');
    // Expiring exactly now counts as expired.
    assert.equal(cond(computeStatus(input({ expiresAt: NOW })), 'Ready').reason, Reasons.Expired);
  });

  test('InvalidSpec: Ready False InvalidSpec even though a credential is in place', () => {
    const s = computeStatus(input({ refreshError: { reason: Reasons.InvalidSpec, message: 'spec.provider.static.secretRef is required' } }));
    const ready = cond(s, 'Ready');
    assert.equal(ready.status, 'False');
    assert.equal(ready.reason, 'InvalidSpec');
    assert.equal(ready.message, 'spec.provider.static.secretRef is required');
    const degraded = cond(s, 'Degraded');
    assert.equal(degraded.status, 'True');
    assert.equal(degraded.reason, 'InvalidSpec');
  });

  test('lastTransitionTime is kept while a condition status is unchanged', () => {
    const first = computeStatus(input());
    // One hour later, same outcome, but the reason of Ready changes (Synced -> NoTargets): status stays True.
    const second = computeStatus(input({ now: LATER, previous: first, targets: { total: 0, synced: 0, failed: 0 } }));
    assert.equal(cond(second, 'Ready').lastTransitionTime, NOW.toISOString());
    assert.equal(cond(second, 'Degraded').lastTransitionTime, NOW.toISOString());
    // An identical outcome gives an identical status, so it is not rewritten.
    const again = computeStatus(input({ now: LATER, previous: first }));
    assert.ok(sameStatus(again, first));
  });

  test('lastTransitionTime moves when the status changes, only for the condition that changed', () => {
    const first = computeStatus(input());
    const second = computeStatus(input({ now: LATER, previous: first, refreshError: { reason: Reasons.ProviderError, message: 'down' } }));
    assert.equal(cond(second, 'Ready').lastTransitionTime, NOW.toISOString(), 'Ready stayed True');
    assert.equal(cond(second, 'Degraded').lastTransitionTime, LATER.toISOString(), 'Degraded went False -> True');
    const third = computeStatus(input({ now: new Date('2026-01-01T14:00:00Z'), previous: second, expiresAt: LATER }));
    assert.equal(cond(third, 'Ready').status, 'False');
    assert.equal(cond(third, 'Ready').lastTransitionTime, '2026-01-01T14:00:00.000Z');
    assert.equal(cond(third, 'Degraded').lastTransitionTime, '2026-01-01T14:00:00.000Z', 'Degraded went True -> False');
    assert.equal(sameStatus(second, first), false);
  });

  test('failures are sorted by namespace and capped at MAX_FAILURES (20), counts untouched', () => {
    const failures = Array.from({ length: 30 }, (_, i) => ({
      namespace: `ns-${String(29 - i).padStart(2, '0')}`,
      reason: 'Forbidden',
      message: `m${i}`,
    }));
    const s = computeStatus(input({ targets: { total: 40, synced: 10, failed: 30 }, failures }));
    assert.equal(MAX_FAILURES, 20);
    assert.equal(s.failures.length, 20);
    assert.deepEqual(
      s.failures.map((f) => f.namespace),
      Array.from({ length: 20 }, (_, i) => `ns-${String(i).padStart(2, '0')}`),
    );
    assert.deepEqual(s.targets, { total: 40, synced: 10, failed: 30 });
    assert.equal(s.targetsSummary, '10/40');
    assert.equal(failures[0]!.namespace, 'ns-29', 'the input array is not sorted in place');
  });
});

describe('status messages are scrubbed, then clipped', () => {
  const SECRET = 'status-secret-8c1f2e';

  test('a registered secret in a refresh error or a namespace failure does not reach the status', () => {
    resetRegisteredSecrets();
    registerSecret(SECRET);
    const s = computeStatus(
      input({
        refreshError: { reason: Reasons.ProviderError, message: `broker answered 401: {"password":"${SECRET}"}` },
        targets: { total: 3, synced: 2, failed: 1 },
        failures: [{ namespace: 'ns-a', reason: 'ApiError', message: `write refused: ${SECRET}` }],
      }),
    );
    const text = JSON.stringify(s);
    assert.ok(!text.includes(SECRET), text);
    assert.equal(cond(s, 'Degraded').message, `broker answered 401: {"password":"${REDACTED}"}; the previous credential is still in place`);
    assert.equal(s.failures[0]!.message, `write refused: ${REDACTED}`);
    resetRegisteredSecrets();
  });

  test('a secret across the clipping point is removed whole, not cut into a surviving prefix', () => {
    resetRegisteredSecrets();
    registerSecret(SECRET);
    const message = `${'x'.repeat(MAX_MESSAGE - 10)}${SECRET} and more`;
    const s = computeStatus(input({ hasCredential: false, refreshError: { reason: Reasons.ProviderError, message } }));
    const ready = cond(s, 'Ready').message;
    assert.ok(ready.length <= MAX_MESSAGE);
    assert.ok(!ready.includes(SECRET.slice(0, 9)), ready.slice(-40));
    assert.ok(ready.endsWith('…'));
    resetRegisteredSecrets();
  });
});

describe('sameStatus', () => {
  test('ignores key order, at every level', () => {
    assert.ok(sameStatus({ a: 1, b: { c: 2, d: 3 } }, { b: { d: 3, c: 2 }, a: 1 }));
    const s = computeStatus(input());
    const shuffled = {
      targetsSummary: s.targetsSummary,
      failures: s.failures,
      targets: { failed: 0, synced: 3, total: 3 },
      conditions: s.conditions.map((c) => Object.fromEntries(Object.entries(c).reverse())),
      ...Object.fromEntries(Object.entries(s).filter(([k]) => !['targetsSummary', 'failures', 'targets', 'conditions'].includes(k))),
    };
    assert.ok(sameStatus(s, shuffled));
  });

  test('ignores undefined fields (the API server drops them)', () => {
    const s = computeStatus(input({ expiresAt: undefined, nextRefreshTime: undefined }));
    assert.equal(s.expiresAt, undefined);
    const stored = JSON.parse(JSON.stringify(s)) as unknown;
    assert.ok(!('expiresAt' in (stored as object)));
    assert.ok(sameStatus(s, stored));
    assert.ok(sameStatus({ a: 1, b: undefined }, { a: 1 }));
  });

  test('sees real differences in values, array order and array length', () => {
    assert.equal(sameStatus({ a: 1 }, { a: 2 }), false);
    assert.equal(sameStatus({ a: [1, 2] }, { a: [2, 1] }), false);
    assert.equal(sameStatus({ a: [1] }, { a: [1, 1] }), false);
    assert.equal(sameStatus({ a: 1 }, { a: 1, b: 0 }), false);
    assert.equal(sameStatus({ a: null }, { a: undefined }), false, 'null is stored, undefined is not');
    const s = computeStatus(input());
    assert.equal(sameStatus(s, { ...s, targetsSummary: '2/3' }), false);
  });
});
