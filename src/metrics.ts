// The Prometheus metrics of the contract (docs: spec §4), on a private registry so that tests and
// several controllers in one process never share series, plus the default process metrics.

// prom-client's parts one by one: its index also loads the Pushgateway (zlib), the cluster
// aggregator (cluster) and summaries, about 5 MB of resident memory regcred does not use.
import Registry from 'prom-client/lib/registry.js';
import Counter from 'prom-client/lib/counter.js';
import Gauge from 'prom-client/lib/gauge.js';
import Histogram from 'prom-client/lib/histogram.js';
import collectDefaultMetrics from 'prom-client/lib/defaultMetrics.js';

export type CredentialLabels = { kind: string; namespace: string; name: string; provider: string };

type CredentialLabel = 'kind' | 'namespace' | 'name' | 'provider';
const CREDENTIAL_LABELS = ['kind', 'namespace', 'name', 'provider'] as const;

export interface Metrics {
  registry: Registry;
  /** regcred_credential_expiry_timestamp_seconds */
  credentialExpiry: Gauge<CredentialLabel>;
  /** regcred_credential_next_refresh_timestamp_seconds */
  credentialNextRefresh: Gauge<CredentialLabel>;
  /** regcred_credential_ready (0/1) */
  credentialReady: Gauge<CredentialLabel>;
  /** regcred_refresh_total, result success|error */
  refreshTotal: Counter<CredentialLabel | 'result'>;
  /** regcred_provider_request_duration_seconds, result success|error */
  providerRequestDuration: Histogram<'provider' | 'result'>;
  /** regcred_target_secrets, state synced|failed */
  targetSecrets: Gauge<CredentialLabel | 'state'>;
  /** regcred_secret_writes_total, operation create|update|delete */
  secretWrites: Counter<'operation'>;
  /** regcred_policy_refusals_total, rule = the tenant-policy rule */
  policyRefusals: Counter<'kind' | 'namespace' | 'name' | 'rule'>;
  /** regcred_source_secret_problem (0/1): a source Secret of the credential is missing or unusable */
  sourceProblem: Gauge<CredentialLabel>;
  /** regcred_source_changes_total, change changed|deleted|created: mints started by a source Secret's watch */
  sourceChanges: Counter<'kind' | 'namespace' | 'name' | 'change'>;
  /** regcred_webhook_admissions_total, result patched|unchanged|error */
  webhookAdmissions: Counter<'result'>;
  /** Removes every series of one credential (when it is deleted). */
  forgetCredential(labels: CredentialLabels): void;
}

export const REFRESH_RESULTS = ['success', 'error'] as const;
export const TARGET_STATES = ['synced', 'failed'] as const;

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];

  const credentialExpiry = new Gauge({
    name: 'regcred_credential_expiry_timestamp_seconds',
    help: 'When the current credential expires, as a Unix timestamp in seconds.',
    labelNames: CREDENTIAL_LABELS,
    registers,
  });
  const credentialNextRefresh = new Gauge({
    name: 'regcred_credential_next_refresh_timestamp_seconds',
    help: 'When the next refresh of the credential is scheduled, as a Unix timestamp in seconds.',
    labelNames: CREDENTIAL_LABELS,
    registers,
  });
  const credentialReady = new Gauge({
    name: 'regcred_credential_ready',
    help: 'Whether the credential is Ready (1) or not (0).',
    labelNames: CREDENTIAL_LABELS,
    registers,
  });
  const refreshTotal = new Counter({
    name: 'regcred_refresh_total',
    help: 'Credential refreshes, by result (success, error).',
    labelNames: [...CREDENTIAL_LABELS, 'result'] as const,
    registers,
  });
  const providerRequestDuration = new Histogram({
    name: 'regcred_provider_request_duration_seconds',
    help: 'How long requests to credential providers take, by result (success, error).',
    labelNames: ['provider', 'result'] as const,
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers,
  });
  const targetSecrets = new Gauge({
    name: 'regcred_target_secrets',
    help: 'Target Secrets of a credential, by state (synced, failed).',
    labelNames: [...CREDENTIAL_LABELS, 'state'] as const,
    registers,
  });
  const secretWrites = new Counter({
    name: 'regcred_secret_writes_total',
    help: 'Writes to Secrets, by operation (create, update, delete).',
    labelNames: ['operation'] as const,
    registers,
  });

  const policyRefusals = new Counter({
    name: 'regcred_policy_refusals_total',
    help: 'RegistryCredentials the tenant policy refused, by rule (counted when a refusal first appears or changes).',
    labelNames: ['kind', 'namespace', 'name', 'rule'] as const,
    registers,
  });
  const sourceProblem = new Gauge({
    name: 'regcred_source_secret_problem',
    help: 'Whether a Secret the credential reads is missing or unusable (1) or fine (0); the Secrets in place keep their last good content meanwhile.',
    labelNames: CREDENTIAL_LABELS,
    registers,
  });
  const sourceChanges = new Counter({
    name: 'regcred_source_changes_total',
    help: 'Source Secrets seen to change, be deleted or be created, each starting a new mint of the credentials that read them.',
    labelNames: ['kind', 'namespace', 'name', 'change'] as const,
    registers,
  });
  const webhookAdmissions = new Counter({
    name: 'regcred_webhook_admissions_total',
    help: 'Requests the admission webhook answered, by result (patched: imagePullSecrets added; unchanged; error: admitted unchanged after an error; refused before reading: too_large 413, throttled 429, timeout 408).',
    labelNames: ['result'] as const,
    registers,
  });

  function forgetCredential(labels: CredentialLabels): void {
    const l = { kind: labels.kind, namespace: labels.namespace, name: labels.name, provider: labels.provider };
    credentialExpiry.remove(l);
    credentialNextRefresh.remove(l);
    credentialReady.remove(l);
    sourceProblem.remove(l);
    for (const result of REFRESH_RESULTS) refreshTotal.remove({ ...l, result });
    for (const state of TARGET_STATES) targetSecrets.remove({ ...l, state });
  }

  return {
    registry,
    credentialExpiry,
    credentialNextRefresh,
    credentialReady,
    refreshTotal,
    providerRequestDuration,
    targetSecrets,
    secretWrites,
    policyRefusals,
    sourceProblem,
    sourceChanges,
    webhookAdmissions,
    forgetCredential,
  };
}
