// When to refresh a credential, from its real expiry (the way cert-manager renews certificates):
// at `expiresAt - renewBefore`, where renewBefore defaults to a third of the lifetime; with a little
// jitter so many credentials minted together do not all renew in the same second; never sooner than
// a minimum delay, so a provider that hands out an already-expired credential (moto's ECR tokens
// expire in 2015) causes a slow retry, not a hot loop; but a live credential is always refreshed
// before it expires, even when that is sooner than the minimum delay (one second at the least).

export interface RefreshPlanInput {
  now: number;
  /** When the credential was minted. */
  issuedAt: number;
  /** Its expiry; undefined for credentials that never expire. */
  expiresAt?: number | undefined;
  /** spec.refresh.renewBefore in ms, if set. */
  renewBeforeMs?: number | undefined;
  /** spec.refresh.interval in ms: the re-read period of credentials that never expire. */
  intervalMs: number;
  /** Lower bound of any delay, except that a live credential is refreshed before it expires. */
  minDelayMs: number;
  /**
   * Lower bound of every delay, expiry or not: the tenant policy's refresh floor for a
   * RegistryCredential (a broker answering a 2 s lifetime gets one mint per floor, not one per second).
   */
  floorMs?: number | undefined;
  /** Fraction of the renewal window used as jitter (default 0.1). */
  jitter?: number;
  random?: () => number;
}

export interface RefreshPlan {
  /** When to refresh (epoch ms). */
  at: number;
  /** Why the time was clamped, for a warning; undefined when it was not. */
  clamped?: 'expired' | 'too-short' | undefined;
}

export function planRefresh(input: RefreshPlanInput): RefreshPlan {
  const random = input.random ?? Math.random;
  const jitter = input.jitter ?? 0.1;
  const floor = input.floorMs ?? 0;
  const earliest = input.now + Math.max(input.minDelayMs, floor);
  if (input.expiresAt === undefined) {
    // ±jitter/2 around the interval.
    const at = input.now + input.intervalMs * (1 - jitter / 2 + jitter * random());
    return { at: Math.max(at, earliest) };
  }
  if (input.expiresAt <= input.now) return { at: earliest, clamped: 'expired' };
  const lifetime = Math.max(0, input.expiresAt - input.issuedAt);
  const renewBefore = input.renewBeforeMs ?? lifetime / 3;
  // Jitter only makes the renewal earlier, never later than the window asks.
  const at = input.expiresAt - renewBefore - renewBefore * jitter * random();
  if (at < earliest) {
    // The minimum delay must not carry a live credential past its expiry (a token minted late in its
    // life, or one that lives less than the delay): then refresh shortly before the expiry instead;
    // a one-second floor still rules out a hot loop.
    const beforeExpiry = input.expiresAt - Math.min(EXPIRY_MARGIN_MS, (input.expiresAt - input.now) / 4);
    return { at: Math.max(input.now + Math.max(FLOOR_MS, floor), Math.min(earliest, beforeExpiry)), clamped: 'too-short' };
  }
  return { at };
}

/** How long before expiry a clamped refresh happens at most. */
const EXPIRY_MARGIN_MS = 5000;
/** No refresh of a live credential sooner than this, whatever its lifetime. */
const FLOOR_MS = 1000;
