// Unit tests for src/metrics.ts: the spec §4 metrics, their types and labels, and forgetCredential.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createMetrics, type CredentialLabels } from '../../src/metrics.js';

const CRED: CredentialLabels = { kind: 'ClusterRegistryCredential', namespace: '', name: 'ecr-prod', provider: 'ecr' };
const OTHER: CredentialLabels = { kind: 'RegistryCredential', namespace: 'team-a', name: 'ghcr', provider: 'static' };

function fill(m: ReturnType<typeof createMetrics>, l: CredentialLabels): void {
  m.credentialExpiry.set(l, 1_800_000_000);
  m.credentialNextRefresh.set(l, 1_799_990_000);
  m.credentialReady.set(l, 1);
  m.refreshTotal.inc({ ...l, result: 'success' });
  m.refreshTotal.inc({ ...l, result: 'error' }, 2);
  m.targetSecrets.set({ ...l, state: 'synced' }, 3);
  m.targetSecrets.set({ ...l, state: 'failed' }, 1);
}

/** The sample lines of one metric family (no # lines). */
function samples(text: string, name: string): string[] {
  return text.split('\n').filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `));
}

describe('metrics', () => {
  test('every metric of the contract is exposed with its type and labels', async () => {
    const m = createMetrics();
    fill(m, CRED);
    m.providerRequestDuration.observe({ provider: 'ecr', result: 'success' }, 0.2);
    m.secretWrites.inc({ operation: 'create' });
    m.secretWrites.inc({ operation: 'update' }, 4);
    const text = await m.registry.metrics();

    const types: Record<string, string> = {
      regcred_credential_expiry_timestamp_seconds: 'gauge',
      regcred_credential_next_refresh_timestamp_seconds: 'gauge',
      regcred_credential_ready: 'gauge',
      regcred_refresh_total: 'counter',
      regcred_provider_request_duration_seconds: 'histogram',
      regcred_target_secrets: 'gauge',
      regcred_secret_writes_total: 'counter',
    };
    for (const [name, type] of Object.entries(types)) {
      assert.match(text, new RegExp(`^# TYPE ${name} ${type}$`, 'm'), name);
      assert.match(text, new RegExp(`^# HELP ${name} \\S`, 'm'), name);
    }
    const cred = 'kind="ClusterRegistryCredential",namespace="",name="ecr-prod",provider="ecr"';
    assert.deepEqual(samples(text, 'regcred_credential_expiry_timestamp_seconds'), [`regcred_credential_expiry_timestamp_seconds{${cred}} 1800000000`]);
    assert.deepEqual(samples(text, 'regcred_credential_next_refresh_timestamp_seconds'), [
      `regcred_credential_next_refresh_timestamp_seconds{${cred}} 1799990000`,
    ]);
    assert.deepEqual(samples(text, 'regcred_credential_ready'), [`regcred_credential_ready{${cred}} 1`]);
    assert.deepEqual(samples(text, 'regcred_refresh_total').sort(), [
      `regcred_refresh_total{${cred},result="error"} 2`,
      `regcred_refresh_total{${cred},result="success"} 1`,
    ]);
    assert.deepEqual(samples(text, 'regcred_target_secrets').sort(), [
      `regcred_target_secrets{${cred},state="failed"} 1`,
      `regcred_target_secrets{${cred},state="synced"} 3`,
    ]);
    assert.deepEqual(samples(text, 'regcred_secret_writes_total').sort(), [
      'regcred_secret_writes_total{operation="create"} 1',
      'regcred_secret_writes_total{operation="update"} 4',
    ]);
    assert.ok(text.includes('regcred_provider_request_duration_seconds_bucket{le="0.25",provider="ecr",result="success"} 1'), text);
    assert.ok(text.includes('regcred_provider_request_duration_seconds_count{provider="ecr",result="success"} 1'));
    assert.ok(text.includes('regcred_provider_request_duration_seconds_sum{provider="ecr",result="success"} 0.2'));
  });

  test('default process metrics are on the private registry', async () => {
    const text = await createMetrics().registry.metrics();
    assert.match(text, /^# TYPE process_cpu_user_seconds_total counter$/m);
    assert.match(text, /^# TYPE nodejs_heap_size_total_bytes gauge$/m);
  });

  test('two instances do not share a registry', async () => {
    const a = createMetrics();
    const b = createMetrics();
    a.secretWrites.inc({ operation: 'delete' });
    assert.notEqual(a.registry, b.registry);
    assert.equal(samples(await b.registry.metrics(), 'regcred_secret_writes_total').length, 0);
    assert.equal(samples(await a.registry.metrics(), 'regcred_secret_writes_total').length, 1);
  });

  test('the exposition content type is Prometheus text', () => {
    assert.match(createMetrics().registry.contentType, /^text\/plain; version=0\.0\.4/);
  });

  test('forgetCredential removes every series of one credential and only those', async () => {
    const m = createMetrics();
    fill(m, CRED);
    fill(m, OTHER);
    m.providerRequestDuration.observe({ provider: 'ecr', result: 'error' }, 1);
    m.secretWrites.inc({ operation: 'delete' });
    m.forgetCredential(CRED);
    const text = await m.registry.metrics();
    const credLines = text.split('\n').filter((l) => l.includes('name="ecr-prod"'));
    assert.deepEqual(credLines, []);
    for (const name of ['regcred_credential_expiry_timestamp_seconds', 'regcred_credential_next_refresh_timestamp_seconds', 'regcred_credential_ready']) {
      assert.equal(samples(text, name).length, 1, name);
      assert.match(samples(text, name)[0]!, /name="ghcr"/);
    }
    assert.equal(samples(text, 'regcred_refresh_total').length, 2);
    assert.equal(samples(text, 'regcred_target_secrets').length, 2);
    // Provider- and operation-level series are not per credential and stay.
    assert.ok(text.includes('regcred_provider_request_duration_seconds_count{provider="ecr",result="error"} 1'));
    assert.ok(text.includes('regcred_secret_writes_total{operation="delete"} 1'));
    // Forgetting twice, or something never seen, is harmless.
    m.forgetCredential(CRED);
    m.forgetCredential({ kind: 'RegistryCredential', namespace: 'x', name: 'y', provider: 'z' });
  });
});
