import { createHash } from 'node:crypto';
import type { V1Namespace, V1Secret, V1ServiceAccount } from '@kubernetes/client-node';
import { ANNOTATION_INJECT } from './labels.js';
import type { KubeObject } from './informer.js';

// The forms the controller's caches keep of what they watch: no more than reconciling reads.

export function stripManagedFields<T extends KubeObject>(obj: T): T {
  const m = obj.metadata as { managedFields?: unknown } | undefined;
  if (m?.managedFields) delete m.managedFields;
  return obj;
}

// The namespace and service-account caches keep only what reconciling reads (both are changed
// only by JSON patches, if at all): at 5,000 namespaces whole objects would be much of the memory.
type Meta = NonNullable<V1Secret['metadata']>;
function slimMeta(m: Meta | undefined): Meta {
  return {
    name: m?.name,
    namespace: m?.namespace,
    uid: m?.uid,
    resourceVersion: m?.resourceVersion,
    labels: m?.labels,
    ...(m?.deletionTimestamp ? { deletionTimestamp: m.deletionTimestamp } : {}),
  };
}
export function slimNamespace(ns: V1Namespace): V1Namespace {
  const inject = ns.metadata?.annotations?.[ANNOTATION_INJECT];
  return { metadata: { ...slimMeta(ns.metadata), ...(inject !== undefined ? { annotations: { [ANNOTATION_INJECT]: inject } } : {}) }, status: { phase: ns.status?.phase } };
}

export function slimServiceAccount(sa: V1ServiceAccount): V1ServiceAccount {
  return { metadata: slimMeta(sa.metadata), imagePullSecrets: sa.imagePullSecrets };
}

// What the controller keeps of a Secret it watches: metadata (less managedFields), type and a
// digest of the data, never the data itself. Anyone who may write Secrets in some namespace can
// label one `app.kubernetes.io/managed-by=regcred`; caching their data would let them fill the
// controller's heap. The digest is enough to tell whether a Secret holds what regcred would write
// (an edit by hand changes it); code that needs a Secret's content reads it by name when it does.

const digests = new WeakMap<V1Secret, string>();

/** sha256 over the data map (keys sorted, base64 values as the API server returns them). */
export function secretDataHash(data: Readonly<Record<string, string>> | undefined): string {
  const h = createHash('sha256');
  for (const key of Object.keys(data ?? {}).sort()) h.update(key).update('\0').update(data![key]!).update('\0');
  return h.digest('hex');
}

/**
 * The slim form of a Secret: its metadata (without managedFields), type and immutability, with the
 * digest of its data attached out of band (dataHashOf). The object returned shares nothing with
 * `secret`'s data, so the full object can be collected at once.
 */
export function slimSecret(secret: V1Secret): V1Secret {
  const { managedFields: _ignored, ...metadata } = secret.metadata ?? {};
  const slim: V1Secret = {
    ...(secret.apiVersion ? { apiVersion: secret.apiVersion } : {}),
    ...(secret.kind ? { kind: secret.kind } : {}),
    metadata,
    ...(secret.type !== undefined ? { type: secret.type } : {}),
    ...(secret.immutable !== undefined ? { immutable: secret.immutable } : {}),
  };
  digests.set(slim, secretDataHash(secret.data));
  return slim;
}

/** The data digest of a Secret: computed from its data when it has any, else the one slimSecret kept. */
export function dataHashOf(secret: V1Secret): string | undefined {
  if (secret.data) return secretDataHash(secret.data);
  return digests.get(secret);
}
