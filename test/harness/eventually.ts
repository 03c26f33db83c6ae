// Polling until something holds: the one wait loop the integration tests share.

/**
 * Calls `check` every `intervalMs` until it returns a truthy value (thrown errors count as "not
 * yet"), and returns it; after `timeoutMs` throws, naming `what`, the last error and `context()`
 * (e.g. the tail of a controller's output).
 */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined | null | false>,
  timeoutMs = 30_000,
  context: () => string = () => '',
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      const ctx = context().slice(-3000);
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}${ctx ? `\n${ctx}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
