// Waiting with a deadline and the caller's signal, for calls that take no AbortSignal of their own
// (SDK and library calls) and for the HTTP core.

/** The promise, or a rejection with the signal's reason once it aborts (should the callee not stop by itself). */
export function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) {
    promise.catch(() => undefined);
    return Promise.reject(abortReason(signal));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortReason(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('The operation was aborted.', 'AbortError');
}

/**
 * A deadline: `signal` aborts after `ms` or when the caller's signal does. The timer is a plain
 * (ref'd) one, not AbortSignal.timeout(), which is unref'd: a one-shot CLI waiting on a silent
 * server must time out, not simply exit. Call `clear()` when done.
 */
export interface Deadline {
  readonly signal: AbortSignal;
  /** True once the deadline itself (not the caller) aborted. */
  readonly expired: boolean;
  clear(): void;
}

export function deadline(ms: number, outer?: AbortSignal): Deadline {
  const timeout = new AbortController();
  let expired = false;
  const timer = setTimeout(() => {
    expired = true;
    timeout.abort(new DOMException(`timed out after ${ms} ms`, 'TimeoutError'));
  }, ms);
  const signal = outer ? AbortSignal.any([outer, timeout.signal]) : timeout.signal;
  return {
    signal,
    get expired() {
      return expired && !outer?.aborted;
    },
    clear: () => clearTimeout(timer),
  };
}

/** Runs `fn` with a deadline signal; the promise is abandoned (rejected) when the deadline or the caller aborts. */
export async function withDeadline<T>(ms: number, outer: AbortSignal | undefined, fn: (signal: AbortSignal) => Promise<T>): Promise<{ value: T } | { error: unknown; expired: boolean }> {
  const d = deadline(ms, outer);
  try {
    return { value: await abortable(fn(d.signal), d.signal) };
  } catch (error) {
    return { error, expired: d.expired };
  } finally {
    d.clear();
  }
}

/** Seconds for messages: "30 s", "0.2 s". */
export function seconds(ms: number): string {
  return `${ms / 1000} s`;
}
