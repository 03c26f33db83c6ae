// Credential objects, namespaces and Secrets for the unit tests of src/controller/credentials/
// (not a test file: the runner matches *.test.js).
import type { V1Namespace, V1Secret, V1ServiceAccount } from '@kubernetes/client-node';
import { credentialObject, type CredentialObject } from '../../src/config/schema.js';
import type { NamespaceReader, SpecMap } from '../../src/controller/credentials/shared.js';
import { desiredPullSecret, ownerOf, type MintedCredential } from '../../src/controller/reconcile.js';
import { credentialKey } from '../../src/controller/secret-index.js';
import { buildDockerConfigJson, sha256Hex } from '../../src/dockerconfig.js';
import { ANNOTATION_CONTENT_HASH, ANNOTATION_EXPIRES_AT, ownerLabels, type OwnerRef } from '../../src/kube/labels.js';
import { DOCKERCONFIGJSON_KEY, DOCKERCONFIGJSON_TYPE } from '../../src/kube/desired-secret.js';

type Target = Record<string, unknown> & { secretName: string };

/** A ClusterRegistryCredential with a static provider; `target` must name its namespaces. */
export function crc(name: string, target: Target, over: { cleanupPolicy?: 'Delete' | 'Retain'; uid?: string; generation?: number } = {}): CredentialObject {
  return credentialObject.parse(rawCredential('ClusterRegistryCredential', name, undefined, target, over));
}

/** A RegistryCredential in `namespace`. */
export function rc(namespace: string, name: string, target: Target, over: { cleanupPolicy?: 'Delete' | 'Retain'; uid?: string; generation?: number } = {}): CredentialObject {
  return credentialObject.parse(rawCredential('RegistryCredential', name, namespace, target, over));
}

/** A credential object as the informer caches it. */
export function rawCredential(
  kind: 'ClusterRegistryCredential' | 'RegistryCredential',
  name: string,
  namespace: string | undefined,
  target: Record<string, unknown>,
  over: { cleanupPolicy?: 'Delete' | 'Retain'; uid?: string; generation?: number; finalizers?: string[]; resourceVersion?: string; deletionTimestamp?: string } = {},
) {
  return {
    apiVersion: 'regcred.dev/v1alpha1',
    kind,
    metadata: {
      name,
      ...(namespace ? { namespace } : {}),
      uid: over.uid ?? `uid-${name}`,
      generation: over.generation ?? 1,
      resourceVersion: over.resourceVersion ?? '10',
      ...(over.finalizers ? { finalizers: over.finalizers } : {}),
      ...(over.deletionTimestamp ? { deletionTimestamp: over.deletionTimestamp } : {}),
    },
    spec: {
      provider: { static: { secretRef: { name: 'source' } } },
      target,
      ...(over.cleanupPolicy ? { cleanupPolicy: over.cleanupPolicy } : {}),
    },
  };
}

export function keyOf(obj: CredentialObject): string {
  return credentialKey(obj.kind, obj.metadata.name, obj.metadata.namespace);
}

export function specMap(...objs: CredentialObject[]): SpecMap {
  return new Map(objs.map((o) => [keyOf(o), o]));
}

export function namespace(name: string, labels: Record<string, string> = {}, phase = 'Active'): V1Namespace {
  return { metadata: { name, labels }, status: { phase } };
}

export function namespaces(...list: V1Namespace[]): NamespaceReader {
  const byName = new Map(list.map((n) => [n.metadata?.name ?? '', n]));
  return { get: (name) => byName.get(name), values: () => byName.values() };
}

/** A Secret whose owner labels name `owner` (what anyone may write; trusted or not). */
export function labelledSecret(owner: OwnerRef, ns: string, name: string): V1Secret {
  return { metadata: { name, namespace: ns, labels: ownerLabels(owner), resourceVersion: '1' }, type: DOCKERCONFIGJSON_TYPE };
}

export function serviceAccount(ns: string, name: string, pullSecrets: string[] = []): V1ServiceAccount {
  return { metadata: { name, namespace: ns }, imagePullSecrets: pullSecrets.map((n) => ({ name: n })) };
}

export function minted(password: string, expiresAt?: Date): MintedCredential {
  const credentials = [{ registry: 'ghcr.io', username: 'robot', password }];
  return { credentials, dockerConfigJson: buildDockerConfigJson(credentials), expiresAt };
}

/** The Secret regcred writes for `obj` holding `m` in `ns`: up to date by construction. */
export function writtenSecret(obj: CredentialObject, m: MintedCredential, ns: string): V1Secret {
  const d = desiredPullSecret(obj, m);
  const annotations: Record<string, string> = { ...d.annotations, [ANNOTATION_CONTENT_HASH]: sha256Hex(d.dockerConfigJson) };
  if (d.expiresAt) annotations[ANNOTATION_EXPIRES_AT] = d.expiresAt.toISOString();
  return {
    metadata: { name: d.name, namespace: ns, labels: { ...d.labels, ...ownerLabels(ownerOf(obj)) }, annotations, resourceVersion: '1' },
    type: DOCKERCONFIGJSON_TYPE,
    data: { [DOCKERCONFIGJSON_KEY]: Buffer.from(d.dockerConfigJson).toString('base64') },
  };
}
