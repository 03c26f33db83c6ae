import type { CoreApi } from '../../kube/api/resources.js';
import type { CredentialObject } from '../../config/schema.js';
import type { Logger } from '../../log.js';
import type { Metrics } from '../../metrics.js';
import type { WriteObserver } from '../../kube/secrets.js';
import { fanOut, type FanOutResult, type MintedCredential } from '../reconcile.js';
import type { TargetFailure } from '../status.js';
import { labelKeyOf, rivalsIn, selectedNamespaces, sharesSecretName } from './claims.js';
import type { NamespaceReader, OwnedSecretsReader, ServiceAccountsReader, Specs } from './shared.js';

// Step 2 of a run: write the credential held into every namespace it targets (reconcile.ts fanOut,
// from the caches), and count a namespace whose Secret another credential also claims as a conflict.

export interface TargetCounts {
  total: number;
  synced: number;
  failed: number;
}

export interface TargetsOutcome {
  /** The namespaces the credential targets (its other Secrets are stale). */
  wanted: string[];
  targets: TargetCounts;
  failures: TargetFailure[];
}

export interface TargetsDeps {
  core: CoreApi;
  specs: Specs;
  namespaces: NamespaceReader;
  ownedSecrets: OwnedSecretsReader;
  serviceAccounts: ServiceAccountsReader;
  fanOutConcurrency?: number | undefined;
  /** Aborted at shutdown: the fan-out starts no further namespace. */
  signal?: AbortSignal | undefined;
  /** Told the version each write made (the Secret cache completes its compact form with it). */
  onWritten?: WriteObserver['onWritten'];
  log: Logger;
  metrics?: Metrics | undefined;
}

export async function syncTargets(d: TargetsDeps, key: string, obj: CredentialObject, minted: MintedCredential): Promise<TargetsOutcome> {
  const wanted = selectedNamespaces(obj, d.namespaces);
  const secretName = obj.spec.target.secretName;
  const result = await writeTargets(d, obj, minted, wanted);
  const rivalsOf = sharesSecretName(d.specs, key, secretName) ? (ns: string) => rivalsIn(d.specs, key, obj, ns, d.namespaces) : undefined;
  return { wanted, ...countClaims(result, secretName, rivalsOf) };
}

/** The fan-out into `namespaces`, from the caches: the write of a run, and of a namespace that just appeared. */
export function writeTargets(d: TargetsDeps, obj: CredentialObject, minted: MintedCredential, namespaces: readonly string[]): Promise<FanOutResult> {
  const ownerKey = labelKeyOf(obj);
  const secretName = obj.spec.target.secretName;
  return fanOut(d.core, obj, minted, namespaces, {
    concurrency: d.fanOutConcurrency ?? 16,
    log: d.log,
    ...(d.signal ? { signal: d.signal } : {}),
    onWrite: (op) => d.metrics?.secretWrites.inc({ operation: op }),
    ...(d.onWritten ? { onWritten: d.onWritten } : {}),
    cache: {
      secret: (ns) => d.ownedSecrets.get(ownerKey, ns, secretName) ?? null,
      serviceAccounts: (ns) => d.serviceAccounts.inNamespace(ns),
    },
  });
}

/**
 * The fan-out's outcome as status counts and failures. Where another credential wants the same
 * Secret (`rivalsOf`, when any credential shares the Secret name), the Secret holds this one's
 * content (its labels name this one, so the other writes nothing), but the two claims are a
 * conflict to report on both.
 */
export function countClaims(result: FanOutResult, secretName: string, rivalsOf: ((namespace: string) => string[]) | undefined): { targets: TargetCounts; failures: TargetFailure[] } {
  const failures: TargetFailure[] = [];
  const targets = { total: result.counts.total, synced: result.counts.synced, failed: result.counts.failed };
  for (const r of result.namespaces) {
    if (r.error) {
      failures.push({ namespace: r.namespace, reason: r.error.code, message: r.error.message });
      continue;
    }
    const rivals = rivalsOf ? rivalsOf(r.namespace) : [];
    if (rivals.length > 0) {
      failures.push({ namespace: r.namespace, reason: 'SecretConflict', message: `Secret ${r.namespace}/${secretName} is also claimed by ${rivals.join(', ')}; it stays with this credential, which wrote it` });
      targets.synced--;
      targets.failed++;
    }
  }
  return { targets, failures };
}

/** The Warning event for failed namespaces: the reason of the one failure, or PartiallySynced naming up to five. */
export function targetFailureEvent(failures: readonly TargetFailure[]): { reason: string; message: string } | undefined {
  if (failures.length === 0) return undefined;
  const summary = failures.slice(0, 5).map((f) => `${f.namespace} (${f.reason})`).join(', ');
  const detail = failures.length === 1 ? `: ${failures[0]!.message}` : '';
  return { reason: failures.length === 1 ? failures[0]!.reason : 'PartiallySynced', message: `${failures.length} namespace(s) failed: ${summary}${detail}` };
}

/** The Normal event after a mint: how many namespaces hold it, and when it expires. */
export function refreshedMessage(targets: TargetCounts, minted: MintedCredential): string {
  return `credential refreshed; ${targets.synced}/${targets.total} namespaces synced; expires ${minted.expiresAt?.toISOString() ?? 'never'}`;
}
