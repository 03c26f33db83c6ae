// The Lease record rules of client-go's leaderelection, as pure functions of what was read and the
// time: what counts as a change by another candidate, and the spec each kind of write carries.

import { microTime, type LeaseSpec } from './api/resources.js';

/** What we compare to notice that another candidate changed the record. */
export function recordKey(spec: LeaseSpec | undefined): string {
  if (!spec) return '';
  return JSON.stringify([
    spec.holderIdentity ?? '',
    spec.leaseDurationSeconds ?? 0,
    timeString(spec.acquireTime),
    timeString(spec.renewTime),
    spec.leaseTransitions ?? 0,
  ]);
}

// MicroTime fields are the wire strings; a Date is accepted too.
function timeString(t: unknown): string {
  if (t === undefined || t === null) return '';
  if (t instanceof Date) return t.toISOString();
  return String(t);
}

/** The spec of a Lease created by its first holder. */
export function firstSpec(identity: string, leaseDurationSeconds: number, now: number): LeaseSpec {
  return { holderIdentity: identity, leaseDurationSeconds, acquireTime: microTime(now), renewTime: microTime(now), leaseTransitions: 0 };
}

/**
 * The spec that renews (we hold `old`) or takes over (another held it, or nobody): a takeover
 * starts a new acquireTime and counts a transition; strategy and preferredHolder are kept.
 */
export function heldSpec(old: LeaseSpec, identity: string, leaseDurationSeconds: number, now: number): LeaseSpec {
  const renewing = (old.holderIdentity ?? '') === identity;
  const spec: LeaseSpec = {
    holderIdentity: identity,
    leaseDurationSeconds,
    acquireTime: renewing && old.acquireTime ? old.acquireTime : microTime(now),
    renewTime: microTime(now),
    leaseTransitions: renewing ? (old.leaseTransitions ?? 0) : (old.leaseTransitions ?? 0) + 1,
  };
  if (old.strategy) spec.strategy = old.strategy;
  if (old.preferredHolder) spec.preferredHolder = old.preferredHolder;
  return spec;
}

/** The spec that gives the Lease up: no holder, valid for one second, so the next attempt takes it. */
export function releasedSpec(old: LeaseSpec | undefined, now: number): LeaseSpec {
  return { leaseDurationSeconds: 1, acquireTime: microTime(now), renewTime: microTime(now), leaseTransitions: old?.leaseTransitions ?? 0 };
}
