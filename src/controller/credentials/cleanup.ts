import type { V1Secret } from '@kubernetes/client-node';
import type { CoreApi } from '../../kube/api/resources.js';
import { objectRef, type CredentialKind, type CredentialObject } from '../../config/schema.js';
import type { EventRecorder, EventTarget } from '../../kube/events.js';
import { deleteManagedSecret } from '../../kube/secrets.js';
import { detachPullSecret } from '../../kube/serviceaccounts.js';
import type { Logger } from '../../log.js';
import type { Metrics } from '../../metrics.js';
import { labelKeyOf, targetsNamespace } from './claims.js';
import { FINALIZER, type CredentialWriter, type RawCredential } from './object.js';
import type { NamespaceReader, OwnedSecretsReader, ServiceAccountsReader } from './shared.js';

// cleanupPolicy Delete: a credential's Secrets where it no longer belongs are removed (with their
// service-account references), and all of them when it is deleted; then its finalizer lets it go.

/**
 * Managed Secrets of `obj` (`owned`: those its labels name) in live namespaces outside `wanted`, or
 * under an old name; 'all': every one it wrote. A namespace missing from `wanted` (the run's list)
 * that the credential targets by the namespace cache now is not stale: it appeared during the run
 * and its Secret was written then (new-namespace.ts).
 */
export function staleSecrets(obj: CredentialObject, wanted: ReadonlySet<string> | 'all', owned: Iterable<V1Secret>, namespaces: NamespaceReader): V1Secret[] {
  const out: V1Secret[] = [];
  for (const s of owned) {
    const ns = s.metadata?.namespace ?? '';
    // A RegistryCredential writes only in its own namespace: one labelled as its elsewhere is not its.
    if (obj.kind === 'RegistryCredential' && ns !== obj.metadata.namespace) continue;
    const nsObj = namespaces.get(ns);
    if (!nsObj || nsObj.status?.phase === 'Terminating') continue; // the namespace controller removes it
    if (wanted === 'all' || s.metadata?.name !== obj.spec.target.secretName) out.push(s);
    else if (!wanted.has(ns) && !targetsNamespace(obj, ns, nsObj.metadata?.labels ?? {})) out.push(s);
  }
  return out;
}

export interface CleanupDeps {
  core: CoreApi;
  namespaces: NamespaceReader;
  ownedSecrets: OwnedSecretsReader;
  serviceAccounts: ServiceAccountsReader;
  objects: Pick<CredentialWriter, 'removeFinalizer'>;
  /** Drops everything kept for the credential once it is gone (states.ts). */
  forget(key: string): void;
  log: Logger;
  metrics?: Metrics | undefined;
  events?: Pick<EventRecorder, 'record'> | undefined;
}

export class Cleanup {
  constructor(private readonly d: CleanupDeps) {}

  /** Removes the credential's Secrets outside `wanted` (the namespaces it targets). */
  async removeStale(obj: CredentialObject, wanted: ReadonlySet<string>): Promise<void> {
    for (const secret of this.stale(obj, wanted)) {
      await this.removeSecretAndReferences(secret);
    }
  }

  /** Deletion: apply cleanupPolicy, then let the object go. */
  async finalize(key: string, raw: RawCredential, obj: CredentialObject, kind: CredentialKind, target: EventTarget): Promise<void> {
    if (!raw.metadata?.finalizers?.includes(FINALIZER)) return;
    if (obj.spec.cleanupPolicy === 'Delete') {
      // Every Secret it wrote (in live namespaces: those being deleted take their Secrets along).
      const owned = this.stale(obj, 'all');
      for (const secret of owned) await this.removeSecretAndReferences(secret);
      this.d.events?.record(target, 'Normal', 'CleanedUp', `removed ${owned.length} pull secret(s) (cleanupPolicy Delete)`);
    }
    await this.d.objects.removeFinalizer(raw, kind);
    this.d.forget(key);
    this.d.log.info({ credential: objectRef(obj), cleanupPolicy: obj.spec.cleanupPolicy }, 'credential deleted');
  }

  private stale(obj: CredentialObject, wanted: ReadonlySet<string> | 'all'): V1Secret[] {
    return staleSecrets(obj, wanted, this.d.ownedSecrets.values(labelKeyOf(obj)), this.d.namespaces);
  }

  private async removeSecretAndReferences(secret: V1Secret): Promise<void> {
    const ns = secret.metadata?.namespace ?? '';
    const name = secret.metadata?.name ?? '';
    const onWrite = (op: 'create' | 'update' | 'delete') => this.d.metrics?.secretWrites.inc({ operation: op });
    await detachPullSecret(this.d.core, ns, name, { known: this.d.serviceAccounts.inNamespace(ns), onWrite });
    await deleteManagedSecret(this.d.core, secret, { onWrite });
    this.d.log.info({ namespace: ns, secret: name }, 'removed a pull secret that is no longer targeted');
  }
}
