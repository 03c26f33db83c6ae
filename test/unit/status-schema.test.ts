// What the controller writes as status must fit the CRD's status schema (else the API server
// answers 422 and the status never updates).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { computeStatus } from '../../src/controller/status.js';
import { credentialStatus } from '../../src/config/status-schema.js';

const now = new Date('2026-11-23T12:00:00Z');
const base = { now, generation: 4, provider: 'static', targets: { total: 3, synced: 3, failed: 0 }, failures: [] };

const cases = {
  synced: computeStatus({ ...base, hasCredential: true, expiresAt: new Date('2026-11-23T18:00:00Z'), lastRefreshTime: now, nextRefreshTime: new Date('2026-11-23T16:00:00Z') }),
  neverExpires: computeStatus({ ...base, hasCredential: true }),
  pending: computeStatus({ ...base, hasCredential: false, targets: { total: 0, synced: 0, failed: 0 } }),
  invalid: computeStatus({ ...base, hasCredential: false, refreshError: { reason: 'InvalidSpec', message: 'spec.target: bad' } }),
  failing: computeStatus({
    ...base,
    hasCredential: true,
    targets: { total: 30, synced: 5, failed: 25 },
    failures: Array.from({ length: 25 }, (_, i) => ({ namespace: `ns-${i}`, reason: i % 2 ? 'Forbidden' : 'SecretConflict', message: 'x'.repeat(200) })),
    refreshError: { reason: 'ProviderError', message: 'm'.repeat(40_000) },
  }),
};

for (const [name, status] of Object.entries(cases)) {
  test(`computeStatus output fits the CRD status schema: ${name}`, () => {
    const parsed = credentialStatus.safeParse(JSON.parse(JSON.stringify(status)));
    assert.ok(parsed.success, JSON.stringify(parsed.error?.issues.slice(0, 3)));
  });
}
