// Small async helpers shared by the unit tests (not a test file: the runner matches *.test.js).
import { setImmediate as tick } from 'node:timers/promises';

export interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(err: unknown): void;
}

/** A promise the test settles by hand. */
export function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Lets `n` turns of the event loop pass, so chained promises run. */
export async function settle(n = 5): Promise<void> {
  for (let i = 0; i < n; i++) await tick();
}

/** Reports whether `p` has settled after a few turns of the event loop. */
export async function settledSoon(p: Promise<unknown>, turns = 5): Promise<boolean> {
  let done = false;
  void p.then(
    () => (done = true),
    () => (done = true),
  );
  await settle(turns);
  return done;
}
