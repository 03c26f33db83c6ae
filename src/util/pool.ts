/** Runs `work` over `items` with at most `limit` in flight; results keep the input order. */
export async function mapWithConcurrency<T, R>(items: readonly T[], limit: number, work: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await work(items[i]!, i);
    }
  });
  await Promise.all(workers);
  return results;
}

/**
 * A turn of the event loop every `every` calls, shared by every caller that comes while it is due
 * (the workers of one mapWithConcurrency); undefined otherwise, so most calls cost nothing. Work
 * that only reads caches resolves in microtasks alone, and a run over thousands of namespaces would
 * otherwise hold watch events, lease renewals and probes until it ends.
 */
export function eventLoopTurns(every: number): () => Promise<void> | undefined {
  let calls = 0;
  let due: Promise<void> | undefined;
  return () => {
    if (due) return due;
    if (++calls % every !== 0) return undefined;
    due = new Promise<void>((resolve) =>
      setImmediate(() => {
        due = undefined;
        resolve();
      }),
    );
    return due;
  };
}
