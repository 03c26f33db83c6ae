import type { CustomObjectApi } from '../../kube/api/resources.js';
import { API_GROUP, type CredentialKind } from '../../config/schema.js';
import type { EventTarget } from '../../kube/events.js';
import type { KubeObject } from '../../kube/informer.js';
import { statusCode, toRegcredError, withApiRetry } from '../../kube/client.js';
import { sameStatus, type CredentialStatus } from '../status.js';

// The credential objects as the API server holds them, and the only writes the controller makes
// to one: add or remove its finalizer, set its status. Patches are JSON patches; the finalizer ones
// are guarded by the resourceVersion the decision was made on.

export const VERSION_V1ALPHA1 = 'v1alpha1';
export const FINALIZER = 'regcred.dev/cleanup';
export const PLURAL = { ClusterRegistryCredential: 'clusterregistrycredentials', RegistryCredential: 'registrycredentials' } as const satisfies Record<CredentialKind, string>;

/** A credential object as cached, before the schema has looked at it. */
export interface RawCredential extends KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: KubeObject['metadata'] & {
    generation?: number;
    deletionTimestamp?: string;
    finalizers?: string[];
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  spec?: unknown;
  status?: Partial<CredentialStatus>;
}

interface CredentialGetter {
  get(key: string): RawCredential | undefined;
}

/** The cached object of a credential key, from the cache of its kind. */
export function lookupCredential(key: string, caches: { crc: CredentialGetter; rc: CredentialGetter }): RawCredential | undefined {
  const [kind, a, b] = key.split('/');
  if (kind === 'ClusterRegistryCredential') return caches.crc.get(a ?? '');
  return caches.rc.get(`${a}/${b}`);
}

export function eventTargetOf(raw: RawCredential, kind: CredentialKind): EventTarget {
  const namespace = raw.metadata?.namespace;
  return {
    apiVersion: `${API_GROUP}/${VERSION_V1ALPHA1}`,
    kind,
    name: raw.metadata?.name ?? '',
    ...(namespace ? { namespace } : {}),
    ...(raw.metadata?.uid ? { uid: raw.metadata.uid } : {}),
  };
}

/** The patch adding the finalizer; undefined when it is there already. */
export function addFinalizerPatch(raw: RawCredential): object[] | undefined {
  const finalizers = raw.metadata?.finalizers ?? [];
  if (finalizers.includes(FINALIZER)) return undefined;
  const guard = { op: 'test', path: '/metadata/resourceVersion', value: raw.metadata?.resourceVersion };
  return [
    guard,
    finalizers.length === 0 ? { op: 'add', path: '/metadata/finalizers', value: [FINALIZER] } : { op: 'add', path: '/metadata/finalizers/-', value: FINALIZER },
  ];
}

/** The patch removing the finalizer; undefined when it is not there. */
export function removeFinalizerPatch(raw: RawCredential): object[] | undefined {
  const index = (raw.metadata?.finalizers ?? []).indexOf(FINALIZER);
  if (index < 0) return undefined;
  return [
    { op: 'test', path: '/metadata/resourceVersion', value: raw.metadata?.resourceVersion },
    { op: 'remove', path: `/metadata/finalizers/${index}` },
  ];
}

/** The patch setting the whole status: idempotent, so safe to retry after a dropped connection. */
export function statusPatch(status: CredentialStatus): object[] {
  return [{ op: 'add', path: '/status', value: JSON.parse(JSON.stringify(status)) as object }];
}

/** The writes the credential steps make to their object (a fake in unit tests). */
export interface CredentialWriter {
  ensureFinalizer(raw: RawCredential, kind: CredentialKind): Promise<void>;
  removeFinalizer(raw: RawCredential, kind: CredentialKind): Promise<void>;
  /** Writes `status` unless it equals what the object holds. */
  writeStatus(raw: RawCredential, kind: CredentialKind, status: CredentialStatus): Promise<void>;
}

/** CredentialWriter over the API server. An object gone meanwhile (404) needs no write. */
export class CredentialObjects implements CredentialWriter {
  constructor(private readonly custom: CustomObjectApi) {}

  async ensureFinalizer(raw: RawCredential, kind: CredentialKind): Promise<void> {
    const body = addFinalizerPatch(raw);
    if (body) await this.patchObject(raw, kind, body);
  }

  async removeFinalizer(raw: RawCredential, kind: CredentialKind): Promise<void> {
    const body = removeFinalizerPatch(raw);
    if (body) await this.patchObject(raw, kind, body);
  }

  async writeStatus(raw: RawCredential, kind: CredentialKind, status: CredentialStatus): Promise<void> {
    if (sameStatus(raw.status, status)) return;
    const p = objectParams(raw, kind);
    const body = statusPatch(status);
    try {
      await withApiRetry(() =>
        kind === 'ClusterRegistryCredential'
          ? this.custom.patchClusterCustomObjectStatus({ ...p, body })
          : this.custom.patchNamespacedCustomObjectStatus({ ...p, body }),
      );
    } catch (err) {
      if (statusCode(err) === 404) return;
      throw toRegcredError(err, `cannot write the status of ${kind}/${p.name}`);
    }
  }

  private async patchObject(raw: RawCredential, kind: CredentialKind, body: object[]): Promise<void> {
    const p = objectParams(raw, kind);
    try {
      await withApiRetry(() =>
        kind === 'ClusterRegistryCredential' ? this.custom.patchClusterCustomObject({ ...p, body }) : this.custom.patchNamespacedCustomObject({ ...p, body }),
      );
    } catch (err) {
      if (statusCode(err) === 404) return;
      throw toRegcredError(err, `cannot update ${kind}/${p.name}`);
    }
  }
}

function objectParams(raw: RawCredential, kind: CredentialKind) {
  return { group: API_GROUP, version: VERSION_V1ALPHA1, plural: PLURAL[kind], name: raw.metadata?.name ?? '', namespace: raw.metadata?.namespace ?? '' };
}
