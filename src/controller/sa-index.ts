import type { V1ServiceAccount } from '@kubernetes/client-node';
import type { InformerEvent } from '../kube/informer.js';

// The service accounts the informer sees, by namespace: fan-out and cleanup read a namespace's
// accounts from here instead of listing them.

export class ServiceAccountIndex {
  /** namespace -> (name -> service account). */
  private readonly byNamespace = new Map<string, Map<string, V1ServiceAccount>>();

  apply(event: InformerEvent, sa: V1ServiceAccount): void {
    const ns = sa.metadata?.namespace ?? '';
    const name = sa.metadata?.name ?? '';
    let m = this.byNamespace.get(ns);
    if (event === 'delete') {
      m?.delete(name);
      if (m && m.size === 0) this.byNamespace.delete(ns);
      return;
    }
    if (!m) this.byNamespace.set(ns, (m = new Map()));
    m.set(name, sa);
  }

  /** Every cached service account of `namespace`. */
  inNamespace(namespace: string): V1ServiceAccount[] {
    return [...(this.byNamespace.get(namespace)?.values() ?? [])];
  }
}
