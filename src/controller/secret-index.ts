import type { V1Secret } from '@kubernetes/client-node';
import type { CredentialObject } from '../config/schema.js';
import { claimedOwner, labelValue, type OwnerRef } from '../kube/labels.js';
import type { InformerEvent } from '../kube/informer.js';

// The Secrets the informer sees, indexed by the credential their owner labels name, and the rule
// for when those labels are believed. Labels are only a claim: anyone who may write Secrets in a
// namespace can put `regcred.dev/owner-*` on one. A Secret speaks for a credential only where that
// credential would have written it: under its `target.secretName`, in a namespace it targets (a
// RegistryCredential: its own namespace).

/** The queue key of a credential object: "ClusterRegistryCredential/name", "RegistryCredential/ns/name". */
export function credentialKey(kind: string, name: string, namespace?: string): string {
  return kind === 'RegistryCredential' ? `${kind}/${namespace ?? ''}/${name}` : `${kind}/${name}`;
}

/** The kind, namespace ('' for a ClusterRegistryCredential) and name a credential key names (metric labels). */
export function credentialKeyParts(key: string): { kind: string; namespace: string; name: string } {
  const [kind, a, b] = key.split('/');
  return { kind: kind ?? '', namespace: b === undefined ? '' : (a ?? ''), name: b ?? a ?? '' };
}

/** The index key of an owner as its labels spell it (names over 63 characters are shortened in labels). */
export function ownerIndexKey(owner: OwnerRef): string {
  return credentialKey(owner.kind, labelValue(owner.name), owner.namespace);
}

function labelOwnerKey(labels: Record<string, string> | undefined): string | undefined {
  const owner = claimedOwner(labels);
  return owner && credentialKey(owner.kind, owner.name, owner.namespace);
}

/**
 * Whether `secret`'s owner labels may be believed for `spec`: its name is the credential's target
 * Secret name and its namespace one the credential targets (`targets` answers for the cluster-wide
 * kind; a RegistryCredential targets its own namespace only).
 */
export function trustedFor(spec: CredentialObject, secret: V1Secret, targets: (namespace: string) => boolean): boolean {
  if (secret.metadata?.name !== spec.spec.target.secretName) return false;
  const ns = secret.metadata?.namespace ?? '';
  if (spec.kind === 'RegistryCredential') return ns === spec.metadata.namespace;
  return targets(ns);
}

/** What the index reads: the managed-Secret cache (an Informer or several, each on a PackedSecretStore). */
export interface SecretLookup {
  get(key: string): V1Secret | undefined;
  values(): Iterable<V1Secret>;
}

/**
 * The cached managed Secrets, seen by the credential their owner labels name. A view over the cache,
 * not a second copy: one lookup by `namespace/name`, a scan for all of one owner (cleanup, a replica
 * reading held content; the labels of a credential's targets are one shared map, so the owner is
 * worked out once per map).
 */
export class OwnedSecretIndex {
  private readonly ownerOfLabels = new WeakMap<object, string | undefined>();

  constructor(private readonly secrets: SecretLookup) {}

  /** The owner keys an informer event concerns (the new owner first, then the old). */
  apply(_event: InformerEvent, secret: V1Secret, old?: V1Secret): { owner: string | undefined; oldOwner: string | undefined } {
    return { owner: this.ownerOf(secret), oldOwner: old ? this.ownerOf(old) : undefined };
  }

  /** The Secret `namespace/name` whose labels name `ownerKey`, if any. */
  get(ownerKey: string, namespace: string, name: string): V1Secret | undefined {
    const s = this.secrets.get(`${namespace}/${name}`);
    return s && this.ownerOf(s) === ownerKey ? s : undefined;
  }

  /** Every Secret whose labels name `ownerKey` (trusted or not: callers filter with trustedFor). */
  *values(ownerKey: string): Iterable<V1Secret> {
    for (const s of this.secrets.values()) if (this.ownerOf(s) === ownerKey) yield s;
  }

  private ownerOf(secret: V1Secret): string | undefined {
    const labels = secret.metadata?.labels;
    if (!labels) return undefined;
    if (!Object.isFrozen(labels)) return labelOwnerKey(labels);
    if (this.ownerOfLabels.has(labels)) return this.ownerOfLabels.get(labels);
    const owner = labelOwnerKey(labels);
    this.ownerOfLabels.set(labels, owner);
    return owner;
  }
}
