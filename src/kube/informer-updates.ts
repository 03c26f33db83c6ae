import type { ListPage } from './informer.js';
import { objectKey, type Handler, type KubeObject } from './object-cache.js';
import type { Store } from './store.js';

// The informer's bookkeeping, apart from its list/watch loop so it can be read and tested alone:
// how a list or a watch event changes the cache, and what follows a failed list or watch.

/** The server answered 410 Gone: the resourceVersion is too old to resume from, only a relist helps. */
export class GoneError extends Error {}
/** The watch outlived its server-side timeout without a single event. */
export class StalledError extends Error {}

/** The error a watch ended with: a 410 status becomes a GoneError, anything thrown becomes an Error. */
export function watchEndError(err: unknown): Error {
  const status = (err as { statusCode?: number } | undefined)?.statusCode;
  return status === 410 ? new GoneError('gone') : toError(err);
}

export function toError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

/**
 * Reads a list page by page (`nextPage` fetches the one after `cont`) and returns the objects `keep`
 * accepts, prepared and keyed by objectKey, with the list's resourceVersion (its last page's).
 */
export async function readList<T extends KubeObject>(
  nextPage: (cont: string | undefined) => Promise<ListPage<T>>,
  keep: ((obj: T) => boolean) | undefined,
  prepare: (obj: T) => T,
): Promise<{ fresh: Map<string, T>; resourceVersion: string | undefined }> {
  const fresh = new Map<string, T>();
  let cont: string | undefined;
  let resourceVersion: string | undefined;
  do {
    const page = await nextPage(cont);
    for (const item of page.items) if (keep?.(item) ?? true) fresh.set(objectKey(item), prepare(item));
    resourceVersion = page.metadata?.resourceVersion;
    cont = page.metadata?._continue || page.metadata?.continue || undefined;
  } while (cont);
  return { fresh, resourceVersion };
}

/**
 * Replaces the store's contents with a fresh list (keyed by objectKey) and reports what changed
 * while nothing watched: adds, updates (a different resourceVersion) and deletes.
 */
export function replaceContents<T extends KubeObject>(store: Store<T>, fresh: Map<string, T>, emit: Handler<T>): void {
  const old = new Map<string, T>();
  for (const v of store.values()) old.set(objectKey(v), v);
  store.clear();
  for (const [k, v] of fresh) store.set(k, v);
  for (const [k, v] of fresh) {
    const prev = old.get(k);
    if (!prev) emit('add', v);
    else if (prev.metadata?.resourceVersion !== v.metadata?.resourceVersion) emit('update', v, prev);
  }
  for (const [k, v] of old) if (!fresh.has(k)) emit('delete', v);
}

/** What follows a failed list or watch (see afterFailure). */
export type FailureStep = 'stalled' | 'gone' | 'list' | 'resume';

/**
 * A stall or a 410 Gone relists at once. Any other failure backs off first; then a failed list
 * (or a watch with no resourceVersion to go on) is retried as a list, and a failed watch resumes
 * where it stopped: the cache is still right up to that resourceVersion, and the server answers
 * 410 if it no longer can.
 */
export function afterFailure(err: unknown, listing: boolean, resourceVersion: string | undefined): FailureStep {
  if (err instanceof StalledError) return 'stalled';
  if (err instanceof GoneError) return 'gone';
  return listing || resourceVersion === undefined ? 'list' : 'resume';
}

/**
 * The server-side timeout asked of a watch, picked within [lo, hi] seconds so watches do not all
 * end together, and how long the watch may stay silent before it counts as stalled.
 */
export function watchTimeouts([lo, hi]: [number, number], stallGraceMs: number, random: () => number = Math.random): { timeoutSeconds: number; stallAfterMs: number } {
  const timeoutSeconds = Math.round(lo + random() * (hi - lo));
  return { timeoutSeconds, stallAfterMs: timeoutSeconds * 1000 + stallGraceMs };
}

/** What one watch event leaves behind: the resourceVersion to resume from, or why the watch must end. */
export type WatchStep = { resourceVersion: string | undefined; end?: Error };

/**
 * Applies one watch event to the store and reports it. Objects `keep` refuses are dropped from the
 * store and not reported, but still move the resourceVersion. An ERROR event ends the watch.
 */
export function applyWatchEvent<T extends KubeObject & { code?: number }>(
  store: Store<T>,
  keep: ((obj: T) => boolean) | undefined,
  type: string,
  obj: T,
  resourceVersion: string | undefined,
  emit: Handler<T>,
): WatchStep {
  const next = obj.metadata?.resourceVersion ?? resourceVersion;
  switch (type) {
    case 'ADDED':
    case 'MODIFIED': {
      const key = objectKey(obj);
      if (keep && !keep(obj)) {
        store.delete(key);
        return { resourceVersion: next };
      }
      const prev = store.get(key);
      store.set(key, obj);
      emit(prev ? 'update' : 'add', obj, prev);
      return { resourceVersion: next };
    }
    case 'DELETED': {
      const key = objectKey(obj);
      if (!store.delete(key) && keep && !keep(obj)) return { resourceVersion: next };
      emit('delete', obj);
      return { resourceVersion: next };
    }
    case 'BOOKMARK':
      return { resourceVersion: next };
    case 'ERROR':
      return { resourceVersion, end: obj.code === 410 ? new GoneError('gone') : new Error(`watch error ${obj.code ?? ''}`) };
    default:
      return { resourceVersion };
  }
}
