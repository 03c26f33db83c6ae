import { RegcredError } from '../../errors.js';
import type { SourceReader, SourceSecret } from '../../providers/types.js';

// What a mint read: every Secret a provider asked for (in any auth mode, whatever the provider),
// the version it got (or that it was missing) and the keys it used. Recorded by wrapping the
// credential's SourceReader, so the controller watches exactly what the work depends on, without
// a list of secretRef fields per provider to keep in step.

export interface SourceRead {
  namespace: string;
  name: string;
  /** The resourceVersion read; null: the Secret did not exist. */
  resourceVersion: string | null;
  /** The keys the provider used (present in the Secret), in the order it read them. */
  keys: string[];
}

export function sourceId(r: { namespace: string; name: string }): string {
  return `${r.namespace}/${r.name}`;
}

/** A reader that records each Secret read into `reads` (one entry per Secret). */
export function recordingReader(inner: SourceReader, defaultNamespace: string, reads: SourceRead[]): SourceReader {
  const entry = (namespace: string, name: string): SourceRead => {
    let r = reads.find((x) => x.namespace === namespace && x.name === name);
    if (!r) reads.push((r = { namespace, name, resourceVersion: null, keys: [] }));
    return r;
  };
  return {
    async read(ref): Promise<SourceSecret> {
      let secret: SourceSecret;
      try {
        secret = await inner.read(ref);
      } catch (err) {
        // Missing now, watched anyway: its creation is what the credential waits for.
        if (err instanceof RegcredError && err.code === 'SourceNotFound') entry(ref.namespace ?? defaultNamespace, ref.name).resourceVersion = null;
        throw err;
      }
      const r = entry(secret.namespace, secret.name);
      r.resourceVersion = secret.resourceVersion ?? null;
      const data = new Proxy(secret.data, {
        get(target, key, receiver) {
          // Only keys the Secret has: a provider also looks up optional ones (a missing required key
          // is named by the provider's own InvalidSource error).
          if (typeof key === 'string' && Object.hasOwn(target, key) && !r.keys.includes(key)) r.keys.push(key);
          return Reflect.get(target, key, receiver) as unknown;
        },
      });
      return { ...secret, data };
    },
  };
}

/**
 * A source error's message with the keys the credential last read from that Secret, so that a
 * deleted Secret's status says what to put back ("… not found; the credential reads key "password"").
 */
export function withKeysNamed(message: string, failed: readonly SourceRead[], previous: readonly SourceRead[] | undefined): string {
  const missing = failed.find((r) => r.resourceVersion === null);
  if (!missing) return message;
  const before = previous?.find((r) => r.namespace === missing.namespace && r.name === missing.name);
  const keys = before?.keys ?? [];
  if (keys.length === 0) return message;
  return `${message}; the credential reads key${keys.length > 1 ? 's' : ''} ${keys.map((k) => `"${k}"`).join(', ')}`;
}
