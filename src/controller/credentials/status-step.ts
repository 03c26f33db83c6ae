import type { z } from 'zod';
import { formatPath } from '../../config/load.js';
import type { CredentialLabels, Metrics } from '../../metrics.js';
import { backoffDelay } from '../../util/backoff.js';
import type { CredentialState } from '../refresh.js';
import { computeStatus, type CredentialStatus, type TargetFailure } from '../status.js';
import type { RawCredential } from './object.js';
import type { TargetCounts } from './targets.js';

// The last steps of a run: the status the object should show (status.ts computeStatus from what the
// run found), the credential's metrics, and when to run again.

/** The first schema issue, with its path: what an invalid spec's status and event say. */
export function invalidSpecMessage(error: z.ZodError): string {
  const issue = error.issues[0];
  return `${issue ? formatPath(issue.path) + ': ' : ''}${issue?.message ?? 'invalid'}`;
}

/** The status of an object whose spec the schema refuses: nothing minted, nothing targeted. */
export function invalidSpecStatus(raw: RawCredential, now: number, message: string): CredentialStatus {
  return computeStatus({
    now: new Date(now),
    generation: raw.metadata?.generation,
    provider: '',
    previous: raw.status,
    hasCredential: false,
    targets: { total: 0, synced: 0, failed: 0 },
    failures: [],
    refreshError: { reason: 'InvalidSpec', message },
  });
}

/** The status after a run: the credential held, its refresh times and error, the targets' outcome. */
export function runStatus(raw: RawCredential, provider: string, state: CredentialState, now: number, targets: TargetCounts, failures: TargetFailure[]): CredentialStatus {
  return computeStatus({
    now: new Date(now),
    generation: raw.metadata?.generation,
    provider,
    previous: raw.status,
    expiresAt: state.minted?.expiresAt,
    hasCredential: !!state.minted,
    lastRefreshTime: state.mintedAt !== undefined ? new Date(state.mintedAt) : undefined,
    nextRefreshTime: state.nextRefreshAt !== undefined ? new Date(state.nextRefreshAt) : undefined,
    targets,
    failures,
    refreshError: state.refreshError,
  });
}

export function recordCredentialMetrics(m: Metrics | undefined, labels: CredentialLabels, state: CredentialState, status: CredentialStatus, targets: TargetCounts): void {
  if (!m) return;
  if (state.minted?.expiresAt) m.credentialExpiry.set(labels, state.minted.expiresAt.getTime() / 1000);
  if (state.nextRefreshAt !== undefined) m.credentialNextRefresh.set(labels, state.nextRefreshAt / 1000);
  m.credentialReady.set(labels, status.conditions[0]?.status === 'True' ? 1 : 0);
  m.targetSecrets.set({ ...labels, state: 'synced' }, targets.synced);
  m.targetSecrets.set({ ...labels, state: 'failed' }, targets.failed);
}

/** Milliseconds to the next run: the refresh, or sooner to retry failed namespaces (backoff by `state.targetFailures`); at least 1. */
export function nextRunDelay(state: CredentialState, now: number, failedTargets: number, retry: { baseMs?: number | undefined; maxMs?: number | undefined }): number {
  let next = (state.nextRefreshAt ?? now) - now;
  if (failedTargets > 0) next = Math.min(next, backoffDelay(state.targetFailures - 1, retry.baseMs ?? 5_000, retry.maxMs ?? 300_000));
  return Math.max(next, 1);
}
