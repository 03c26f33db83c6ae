import { realClock, type Clock } from './clock.js';

// A token bucket in the manner of golang.org/x/time/rate (client-go's client-side limiter): `burst`
// tokens at most, refilled at `qps` per second; each taker reserves a token at once, possibly into
// debt, and waits until that token would have arrived. Reservations make waiters go in the order
// they came, each at its own time, with no polling and no queue to keep. (Written here rather than
// taken from a package: the npm token buckets either poll with their own timers or cannot take an
// injected clock, and this is twenty lines.)

export interface TokenBucketOptions {
  /** Tokens added per second; must be positive. */
  qps: number;
  /** The bucket's size: how many takers may go at once after a quiet spell; at least 1. */
  burst: number;
}

export class TokenBucket {
  private tokens: number;
  private updatedAt: number;

  constructor(
    private readonly opts: TokenBucketOptions,
    private readonly clock: Clock = realClock,
  ) {
    if (!(opts.qps > 0) || !Number.isFinite(opts.qps)) throw new Error(`token bucket: qps must be a positive number, got ${opts.qps}`);
    if (!(opts.burst >= 1)) throw new Error(`token bucket: burst must be at least 1, got ${opts.burst}`);
    this.tokens = opts.burst;
    this.updatedAt = clock.now();
  }

  /** Reserves one token; returns how many milliseconds the caller must wait before using it. */
  reserve(): number {
    const now = this.clock.now();
    this.tokens = Math.min(this.opts.burst, this.tokens + ((now - this.updatedAt) * this.opts.qps) / 1000);
    this.updatedAt = now;
    this.tokens -= 1;
    return this.tokens >= 0 ? 0 : (-this.tokens * 1000) / this.opts.qps;
  }

  /** Waits for a token; resolves with the time waited (0 when one was there). */
  async take(): Promise<number> {
    const wait = this.reserve();
    if (wait > 0) await this.clock.sleep(wait);
    return wait;
  }
}
