import { RegcredError } from '../errors.js';
import type { Clock, TimerHandle } from '../util/clock.js';

// Every mint runs under a per-credential deadline, so a tenant's slow endpoint holds a worker for at
// most that long. The worker is freed at the deadline even if a library ignores the abort signal;
// the call itself is still tracked until it settles, and one that outlives its deadline by the grace
// period makes the controller unhealthy (a call that cannot be stopped is a leak worth a restart).

export const DEFAULT_MINT_TIMEOUT_MS = 60_000;

export class MintDeadlines {
  private readonly running = new Map<number, { key: string; deadline: number }>();
  private nextId = 0;

  constructor(
    private readonly clock: Clock,
    private readonly timeoutMs = DEFAULT_MINT_TIMEOUT_MS,
  ) {}

  /** Runs `mint` with a signal that aborts at the deadline or when `parent` aborts. */
  async run<T>(key: string, parent: AbortSignal | undefined, mint: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const deadline = new AbortController();
    const signal = parent ? AbortSignal.any([parent, deadline.signal]) : deadline.signal;
    const id = this.nextId++;
    this.running.set(id, { key, deadline: this.clock.now() + this.timeoutMs });
    const call = mint(signal).finally(() => this.running.delete(id));
    let timer: TimerHandle | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = this.clock.setTimer(() => {
        const err = new RegcredError('ProviderError', `the provider did not answer within the mint deadline (${this.timeoutMs / 1000} s)`, true);
        deadline.abort(err);
        reject(err);
      }, this.timeoutMs);
    });
    try {
      return await Promise.race([call, expired]);
    } finally {
      timer?.cancel();
      call.catch(() => undefined); // settled later, after the race was lost: nothing to report
    }
  }

  /** Credentials whose mint is still running `graceMs` past its deadline (oldest first). */
  overdue(graceMs: number): string[] {
    const now = this.clock.now();
    return [...this.running.values()].filter((r) => now > r.deadline + graceMs).map((r) => r.key);
  }
}
