import type { Clock } from './clock.js';

// Waiting with a bound: for shutdown steps that must not hold the process, and calls that must not
// hang their caller.

/** Waits for `p` (never throws), at most `ms`; whether it settled in time. */
export async function settledWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
    timer.unref();
  });
  try {
    return await Promise.race([p.then(() => true, () => true), expired]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * `call`'s outcome, unless `ms` pass on `clock` (rejects with `timedOut`) or `signal` aborts
 * (rejects with `aborted`) first.
 */
export function withinDeadline<R>(call: Promise<R>, ms: number, clock: Pick<Clock, 'setTimer'>, signal: AbortSignal, messages: { timedOut: string; aborted: string }): Promise<R> {
  return new Promise<R>((resolve, reject) => {
    const timer = clock.setTimer(() => reject(new Error(messages.timedOut)), ms);
    const onAbort = () => reject(new Error(messages.aborted));
    signal.addEventListener('abort', onAbort, { once: true });
    const done = () => {
      timer.cancel();
      signal.removeEventListener('abort', onAbort);
    };
    call.then(
      (v) => {
        done();
        resolve(v);
      },
      (err: unknown) => {
        done();
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}
