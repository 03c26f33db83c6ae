import type { Logger } from '../../log.js';
import { TokenBucket } from '../../util/token-bucket.js';
import type { Clock } from '../../util/clock.js';

// Client-side rate limit of the requests regcred sends to the API server (--kube-qps, --kube-burst),
// as client-go's per-client limiter. It bounds a runaway (a bug, or two writers undoing each other)
// without slowing the fan-out of a typical cluster: the defaults let 1,000 writes go at once and
// 500 a second after that (docs/configuration.md, "API request rate"). Fairness between clients
// stays the API server's job (API Priority and Fairness): its 429s are retried after their
// Retry-After by withApiRetry (kube/client.ts), and its X-Kubernetes-PF-* headers need nothing of a client.
//
// Every request of a connection (http.ts: reads, lists and writes, each retry too) waits for a
// token before it is sent. Watches are not counted: there are a handful, long-lived, and their
// restarts are already backed off by the informer, whose recovery after an API server outage must
// not queue behind a fan-out.

/** client-go's defaults are 5 and 10; ours are sized to keep a 1,000-namespace rotation at full speed. */
export const DEFAULT_KUBE_QPS = 500;
export const DEFAULT_KUBE_BURST = 1000;
/** Waits this long or longer are logged (debug), as client-go logs its client-side throttling. */
const LOG_WAIT_MS = 1000;

export interface RateLimit {
  /** Requests per second; 0 or negative: no limit. */
  qps: number;
  burst: number;
}

export interface RequestLimiter {
  /** Resolves when the request may go. */
  wait(): Promise<void>;
}

/** The limiter of `limit`, or undefined for none (qps 0 or less). */
export function requestLimiter(limit: RateLimit | undefined, opts: { clock?: Clock | undefined; log?: Logger | undefined } = {}): RequestLimiter | undefined {
  if (!limit || !(limit.qps > 0)) return undefined;
  const bucket = new TokenBucket({ qps: limit.qps, burst: Math.max(1, limit.burst) }, opts.clock);
  return {
    async wait() {
      const waited = await bucket.take();
      if (waited >= LOG_WAIT_MS) opts.log?.debug({ waitedMs: Math.round(waited), qps: limit.qps, burst: limit.burst }, 'waited for the client-side rate limit (--kube-qps, --kube-burst), not for the API server');
    },
  };
}
