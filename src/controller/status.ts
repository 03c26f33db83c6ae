// The status of a credential object (../shared/spec/API.md §1), computed from one reconcile's
// outcome. Conditions keep their lastTransitionTime while their status does not change, so a
// status that did not change is equal to the previous one and is not written.

import { scrub } from '../redact.js';

export interface Condition {
  type: 'Ready' | 'Degraded';
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  observedGeneration?: number | undefined;
  lastTransitionTime: string;
}

export interface TargetFailure {
  namespace: string;
  reason: string;
  message: string;
}

export interface CredentialStatus {
  conditions: Condition[];
  provider?: string | undefined;
  expiresAt?: string | undefined;
  lastRefreshTime?: string | undefined;
  nextRefreshTime?: string | undefined;
  targets: { total: number; synced: number; failed: number };
  /** "synced/total", for the TARGETS printer column. */
  targetsSummary: string;
  failures: TargetFailure[];
  observedGeneration?: number | undefined;
}

export const MAX_FAILURES = 20;
/** Messages are bounded: the API server refuses a condition message over 32 KiB. */
export const MAX_MESSAGE = 1024;

/** Scrubbed of every registered secret first (a provider's error can echo one), then clipped. */
function clip(text: string, max = MAX_MESSAGE): string {
  const clean = scrub(text);
  return clean.length <= max ? clean : `${clean.slice(0, max - 1)}…`;
}

export const Reasons = {
  Synced: 'Synced',
  PartiallySynced: 'PartiallySynced',
  ProviderError: 'ProviderError',
  InvalidSpec: 'InvalidSpec',
  Expired: 'CredentialExpired',
  Pending: 'Pending',
  NoTargets: 'NoTargets',
  Healthy: 'Healthy',
} as const;

/**
 * Refresh errors that mean the credential's own inputs are broken (a source Secret deleted, a key
 * missing or unreadable): not ready even while the targets keep the last good content, because
 * nothing will renew it until someone fixes the source.
 */
const BROKEN_SOURCE = new Set(['SourceNotFound', 'InvalidSource', 'CrossNamespaceRef']);

export interface StatusInput {
  now: Date;
  generation?: number | undefined;
  provider: string;
  previous?: Partial<CredentialStatus> | undefined;
  /** The credential now in the Secrets (the last good one), if any. */
  expiresAt?: Date | undefined;
  hasCredential: boolean;
  lastRefreshTime?: Date | undefined;
  nextRefreshTime?: Date | undefined;
  targets: { total: number; synced: number; failed: number };
  failures: TargetFailure[];
  /** Set when the last mint failed or the spec is invalid. */
  refreshError?: { reason: string; message: string; refused?: boolean } | undefined;
}

function condition(
  previous: Condition[] | undefined,
  type: Condition['type'],
  status: Condition['status'],
  reason: string,
  message: string,
  generation: number | undefined,
  now: Date,
): Condition {
  const before = previous?.find((c) => c.type === type);
  const lastTransitionTime = before && before.status === status ? before.lastTransitionTime : now.toISOString();
  return { type, status, reason, message: clip(message), observedGeneration: generation, lastTransitionTime };
}

export function computeStatus(input: StatusInput): CredentialStatus {
  const { targets, now } = input;
  const prev = input.previous?.conditions;
  const expired = input.expiresAt !== undefined && input.expiresAt.getTime() <= now.getTime();
  const failures = [...input.failures]
    .sort((a, b) => a.namespace.localeCompare(b.namespace))
    .slice(0, MAX_FAILURES)
    .map((f) => ({ ...f, message: clip(f.message, 512) }));

  let ready: Condition;
  if (input.refreshError && (input.refreshError.reason === Reasons.InvalidSpec || input.refreshError.refused || BROKEN_SOURCE.has(input.refreshError.reason))) {
    // The spec itself is refused (schema or tenant policy) or its source is broken: not ready,
    // whatever the targets still hold.
    ready = condition(prev, 'Ready', 'False', input.refreshError.reason, input.refreshError.message, input.generation, now);
  } else if (!input.hasCredential) {
    ready = condition(prev, 'Ready', 'False', input.refreshError?.reason ?? Reasons.Pending, input.refreshError?.message ?? 'no credential minted yet', input.generation, now);
  } else if (expired) {
    // Either renewals fail, or the provider hands out credentials that are already expired (a clock
    // off, a broken broker, moto): the message tells the two apart.
    const why = input.refreshError
      ? 'and could not be renewed'
      : `: the provider returned it already expired (${targets.synced}/${targets.total} namespaces hold it); retried at the minimum delay`;
    ready = condition(prev, 'Ready', 'False', Reasons.Expired, `the credential expired at ${input.expiresAt!.toISOString()} ${why}`.replace(' :', ':'), input.generation, now);
  } else if (targets.failed > 0) {
    const reasons = [...new Set(input.failures.map((f) => f.reason))];
    ready = condition(
      prev,
      'Ready',
      'False',
      reasons.length === 1 ? reasons[0]! : Reasons.PartiallySynced,
      `${targets.synced}/${targets.total} namespaces synced; ${targets.failed} failed`,
      input.generation,
      now,
    );
  } else {
    ready = condition(
      prev,
      'Ready',
      'True',
      targets.total === 0 ? Reasons.NoTargets : Reasons.Synced,
      targets.total === 0 ? 'no namespace matches the target' : `${targets.synced}/${targets.total} namespaces synced`,
      input.generation,
      now,
    );
  }

  let degraded: Condition;
  if (input.refreshError) {
    const kept = input.hasCredential ? '; the previous credential is still in place' : '';
    degraded = condition(prev, 'Degraded', 'True', input.refreshError.reason, `${input.refreshError.message}${kept}`, input.generation, now);
  } else if (targets.failed > 0) {
    degraded = condition(prev, 'Degraded', 'True', ready.reason, ready.message, input.generation, now);
  } else {
    degraded = condition(prev, 'Degraded', 'False', Reasons.Healthy, 'the last refresh succeeded', input.generation, now);
  }

  return {
    conditions: [ready, degraded],
    provider: input.provider,
    expiresAt: input.expiresAt?.toISOString(),
    lastRefreshTime: input.lastRefreshTime?.toISOString(),
    nextRefreshTime: input.nextRefreshTime?.toISOString(),
    targets,
    targetsSummary: `${targets.synced}/${targets.total}`,
    failures,
    observedGeneration: input.generation,
  };
}

/** Compares two statuses as the API server stores them (undefined fields dropped). */
export function sameStatus(a: unknown, b: unknown): boolean {
  return JSON.stringify(normalize(a)) === JSON.stringify(normalize(b));
}

function normalize(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(normalize);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) {
      const x = (v as Record<string, unknown>)[k];
      if (x !== undefined) out[k] = normalize(x);
    }
    return out;
  }
  return v;
}
