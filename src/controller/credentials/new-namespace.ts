import type { Logger } from '../../log.js';
import type { MintedCredential } from '../reconcile.js';
import type { KeyQueue, Specs } from './shared.js';
import { writeTargets, type TargetsDeps } from './targets.js';

// A namespace that appears gets its pull Secrets at once. A run of a credential walks every
// namespace it targets and then writes its status; on a cluster of thousands, a namespace created
// meanwhile waits for both. Instead, each credential that targets the new namespace and holds a
// credential writes that one namespace (the run's own write, targets.ts writeTargets), and its run
// follows a moment later to count it in status; namespaces created together share that run.

/** How long after a namespace's own write its credential's run follows (and coalesces others). */
export const FOLLOW_UP_MS = 1_000;
/** Writes under way at most; beyond, a new namespace is left to its credential's run at once. */
export const MAX_IN_FLIGHT = 16;

export interface NewNamespaceDeps {
  targets: TargetsDeps;
  specs: Specs;
  minted(key: string): MintedCredential | undefined;
  /** `working`: the credentials are being reconciled here (this replica leads, and is not stopping). */
  queue: Pick<KeyQueue, 'add' | 'addAfter'> & { readonly working: boolean };
  log: Logger;
}

export class NewNamespaceWriter {
  private inFlight = 0;

  constructor(private readonly d: NewNamespaceDeps) {}

  /** Writes `namespace` for each of `keys` that can; answers the keys to run now instead. */
  write(namespace: string, keys: readonly string[]): string[] {
    // A replica that does not reconcile (a standby, or one stopping) writes nothing here either.
    if (!this.d.queue.working) return [...keys];
    const now: string[] = [];
    for (const key of keys) {
      const spec = this.d.specs.get(key);
      const minted = this.d.minted(key);
      if (!spec || !minted || this.inFlight >= MAX_IN_FLIGHT || this.d.targets.signal?.aborted) {
        now.push(key);
        continue;
      }
      this.inFlight++;
      writeTargets(this.d.targets, spec, minted, [namespace])
        .then(
          (r) => {
            const failed = r.namespaces.find((n) => n.error);
            if (failed) this.d.log.debug({ credential: key, namespace, reason: failed.error?.code }, 'new namespace: write failed; the run retries it');
          },
          (err: unknown) => this.d.log.debug({ credential: key, namespace, err: (err as Error).message }, 'new namespace: write stopped'),
        )
        .finally(() => {
          this.inFlight--;
          this.d.queue.addAfter(key, FOLLOW_UP_MS);
        });
    }
    return now;
  }
}
