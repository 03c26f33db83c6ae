/** Capped exponential backoff with "equal jitter": half fixed, half random, so retries spread out. */
export class Backoff {
  private attempt = 0;
  constructor(
    private readonly opts: { baseMs: number; maxMs: number; factor?: number },
    private readonly random: () => number = Math.random,
  ) {}

  /** The next delay; grows with each call until reset(). */
  next(): number {
    const exp = Math.min(this.opts.maxMs, this.opts.baseMs * (this.opts.factor ?? 2) ** this.attempt);
    this.attempt++;
    return exp / 2 + (exp / 2) * this.random();
  }

  reset(): void {
    this.attempt = 0;
  }

  get attempts(): number {
    return this.attempt;
  }
}

/** The delay for the n-th consecutive failure (0-based), same formula, without state. */
export function backoffDelay(failures: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const exp = Math.min(maxMs, baseMs * 2 ** failures);
  return exp / 2 + (exp / 2) * random();
}
