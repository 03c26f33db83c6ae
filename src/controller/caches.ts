import type { V1Namespace, V1Secret, V1ServiceAccount } from '@kubernetes/client-node';
import type { ClusterSource } from '../kube/api/client.js';
import type { CoreApi, CustomObjectApi } from '../kube/api/resources.js';
import { API_GROUP } from '../config/schema.js';
import { Informer, MultiInformer, StaticCache, type ObjectCache } from '../kube/informer.js';
import { LABEL_MANAGED_BY, MANAGED_BY_VALUE } from '../kube/labels.js';
import { metadataWatch } from '../kube/metadata.js';
import { compactSecret, slimNamespace, slimServiceAccount, stripManagedFields, type WrittenVersions } from '../kube/slim.js';
import { PackedSecretStore } from '../kube/secret-store.js';
import { identityCodec, NamespacedStore } from '../kube/store.js';
import type { Logger } from '../log.js';
import type { Clock } from '../util/clock.js';
import { PLURAL, VERSION_V1ALPHA1, type RawCredential } from './credentials/object.js';

// The controller's watches: both credential kinds, namespaces, the Secrets regcred manages and
// service accounts, each cached (slim: no Secret data, no managedFields). In namespaced mode, one
// informer per watched namespace and no read of namespaces or ClusterRegistryCredentials at all.

// A type, not an interface: the probes go over it as a record.
export type ControllerCaches = {
  crc: ObjectCache<RawCredential>;
  rc: ObjectCache<RawCredential>;
  namespaces: ObjectCache<V1Namespace>;
  secrets: ObjectCache<V1Secret>;
  serviceAccounts: ObjectCache<V1ServiceAccount>;
};

/**
 * The stores behind the managed-Secret and service-account informers: one cluster-wide, or one per
 * watched namespace. Read by namespace: a namespace's service accounts, the Secret a write made.
 */
export class CacheStores {
  private readonly secrets = new Map<string, PackedSecretStore>();
  private readonly accounts = new Map<string, NamespacedStore<V1ServiceAccount, V1ServiceAccount>>();

  /** The store of one informer: `namespace` '' for the cluster-wide one. */
  secretStore(namespace = ''): PackedSecretStore {
    return getOrMake(this.secrets, namespace, () => new PackedSecretStore());
  }

  serviceAccountStore(namespace = ''): NamespacedStore<V1ServiceAccount, V1ServiceAccount> {
    return getOrMake(this.accounts, namespace, () => new NamespacedStore(identityCodec<V1ServiceAccount>()));
  }

  /** The cached service accounts of `namespace`. */
  serviceAccountsIn(namespace: string): V1ServiceAccount[] {
    return (this.accounts.get('') ?? this.accounts.get(namespace))?.inNamespace(namespace) ?? [];
  }

  /** Completes the cached form of a version regcred wrote (kube/slim.ts WrittenVersions). */
  completeSecret(namespace: string, name: string, resourceVersion: string, digest: string, type: string): boolean {
    return (this.secrets.get('') ?? this.secrets.get(namespace))?.complete(namespace, name, resourceVersion, digest, type) ?? false;
  }
}

function getOrMake<V>(m: Map<string, V>, key: string, make: () => V): V {
  let v = m.get(key);
  if (v === undefined) m.set(key, (v = make()));
  return v;
}

export interface CacheOptions {
  kubeConfig: ClusterSource;
  log: Logger;
  clock: Clock;
  informer?: { watchTimeoutSeconds?: [number, number]; stallGraceMs?: number; listTimeoutMs?: number } | undefined;
  watchNamespaces?: readonly string[] | undefined;
  /** The versions regcred's own writes made: their metadata-only watch events are known to hold what was written. */
  written?: WrittenVersions | undefined;
  /** Where the managed Secrets and service accounts are kept (default: stores of its own). */
  stores?: CacheStores | undefined;
}

export function buildCaches(o: CacheOptions, core: CoreApi, custom: CustomObjectApi): ControllerCaches {
  const common = { kubeConfig: o.kubeConfig, log: o.log, clock: o.clock, ...o.informer };
  const managed = `${LABEL_MANAGED_BY}=${MANAGED_BY_VALUE}`;
  const watched = o.watchNamespaces;
  const stores = o.stores ?? new CacheStores();
  const rcPath = (ns?: string) => `/apis/${API_GROUP}/${VERSION_V1ALPHA1}${ns ? `/namespaces/${ns}` : ''}/${PLURAL.RegistryCredential}`;
  const rcInformer = (ns?: string) =>
    new Informer<RawCredential>({
      ...common,
      name: ns ? `registrycredentials/${ns}` : 'registrycredentials',
      watchPath: rcPath(ns),
      list: (p) =>
        ns
          ? custom.listNamespacedCustomObject({ group: API_GROUP, version: VERSION_V1ALPHA1, namespace: ns, plural: PLURAL.RegistryCredential, limit: p.limit, _continue: p._continue })
          : custom.listCustomObjectForAllNamespaces({ group: API_GROUP, version: VERSION_V1ALPHA1, plural: PLURAL.RegistryCredential, limit: p.limit, _continue: p._continue }),
      transform: stripManagedFields,
    });
  const secretInformer = (ns?: string) =>
    new Informer<V1Secret>({
      ...common,
      name: ns ? `secrets/${ns}` : 'secrets',
      watchPath: ns ? `/api/v1/namespaces/${ns}/secrets` : '/api/v1/secrets',
      watchParams: { labelSelector: managed },
      list: (p) => (ns ? core.listNamespacedSecret({ namespace: ns, ...p, labelSelector: managed }) : core.listSecretForAllNamespaces({ ...p, labelSelector: managed })),
      // Anyone may put the label on a Secret of up to 1 MiB: small list pages, and only the compact
      // form is kept (identity, bounded labels and annotations, type and a digest of the data; never
      // the data). The watch is metadata-only: an event carries no data at all; the digest of a
      // version regcred wrote comes from that write, and one someone else made is read by name when
      // the credential next runs (kube/slim.ts compactSecret).
      pageSize: 20,
      watch: metadataWatch(o.kubeConfig),
      transform: (s) => compactSecret(s, o.written),
      store: stores.secretStore(ns),
    });
  const serviceAccountInformer = (ns?: string) =>
    new Informer<V1ServiceAccount>({
      ...common,
      name: ns ? `serviceaccounts/${ns}` : 'serviceaccounts',
      watchPath: ns ? `/api/v1/namespaces/${ns}/serviceaccounts` : '/api/v1/serviceaccounts',
      list: (p) => (ns ? core.listNamespacedServiceAccount({ namespace: ns, ...p }) : core.listServiceAccountForAllNamespaces(p)),
      transform: slimServiceAccount,
      store: stores.serviceAccountStore(ns),
    });
  if (watched) {
    return {
      crc: new StaticCache<RawCredential>([]),
      rc: new MultiInformer(watched, rcInformer),
      namespaces: new StaticCache<V1Namespace>(watched.map((name) => ({ metadata: { name }, status: { phase: 'Active' } }))),
      secrets: new MultiInformer(watched, secretInformer),
      serviceAccounts: new MultiInformer(watched, serviceAccountInformer),
    };
  }
  return {
    crc: new Informer<RawCredential>({
      ...common,
      name: 'clusterregistrycredentials',
      watchPath: `/apis/${API_GROUP}/${VERSION_V1ALPHA1}/${PLURAL.ClusterRegistryCredential}`,
      list: (p) => custom.listClusterCustomObject({ group: API_GROUP, version: VERSION_V1ALPHA1, plural: PLURAL.ClusterRegistryCredential, limit: p.limit, _continue: p._continue }),
      transform: stripManagedFields,
    }),
    rc: rcInformer(),
    namespaces: new Informer<V1Namespace>({
      ...common,
      name: 'namespaces',
      watchPath: '/api/v1/namespaces',
      list: (p) => core.listNamespace(p),
      transform: slimNamespace,
    }),
    secrets: secretInformer(),
    serviceAccounts: serviceAccountInformer(),
  };
}

/** Starts every watch and waits until each cache is filled. */
export async function startCaches(caches: ControllerCaches): Promise<void> {
  // Dependencies first, so the first run of each credential sees complete caches.
  await Promise.all([caches.namespaces.start(), caches.secrets.start(), caches.serviceAccounts.start()]);
  await Promise.all([caches.crc.start(), caches.rc.start()]);
}

export interface Probe {
  ok: boolean;
  reason?: string;
}

type Probed = Record<string, { hasSynced(): boolean; unhealthyForMs(): number }>;

/** Ready once started and every cache has synced. */
export function readiness(started: boolean, caches: Probed): Probe {
  const pending = Object.entries(caches).filter(([, i]) => !i.hasSynced()).map(([n]) => n);
  if (!started || pending.length > 0) return { ok: false, reason: `caches not synced: ${pending.join(', ') || 'starting'}` };
  return { ok: true };
}

/** Live unless a watch has been failing, or a provider call has been running past its deadline, for longer than `boundMs`. */
export function liveness(caches: Probed, boundMs: number, overdue: (graceMs: number) => string[]): Probe {
  const stuck = Object.entries(caches).filter(([, i]) => i.unhealthyForMs() > boundMs).map(([n]) => n);
  if (stuck.length > 0) return { ok: false, reason: `watch failing for over ${boundMs / 1000}s: ${stuck.join(', ')}` };
  const late = overdue(boundMs);
  return late.length > 0 ? { ok: false, reason: `provider call running past its deadline: ${late.slice(0, 5).join(', ')}` } : { ok: true };
}
