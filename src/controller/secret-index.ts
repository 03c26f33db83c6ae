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

export class OwnedSecretIndex {
  /** owner index key -> ("namespace/name" -> Secret, as cached by the informer). */
  private readonly byOwner = new Map<string, Map<string, V1Secret>>();

  /** Applies an informer event; returns the owner keys it concerns (the new owner first, then the old). */
  apply(event: InformerEvent, secret: V1Secret, old?: V1Secret): { owner: string | undefined; oldOwner: string | undefined } {
    const id = `${secret.metadata?.namespace ?? ''}/${secret.metadata?.name ?? ''}`;
    const oldOwner = labelOwnerKey(old?.metadata?.labels);
    const owner = labelOwnerKey(secret.metadata?.labels);
    if (oldOwner && (oldOwner !== owner || event === 'delete')) this.remove(oldOwner, id);
    if (owner) {
      if (event === 'delete') this.remove(owner, id);
      else {
        let m = this.byOwner.get(owner);
        if (!m) this.byOwner.set(owner, (m = new Map()));
        m.set(id, secret);
      }
    }
    return { owner, oldOwner };
  }

  /** The Secret `namespace/name` whose labels name `ownerKey`, if any. */
  get(ownerKey: string, namespace: string, name: string): V1Secret | undefined {
    return this.byOwner.get(ownerKey)?.get(`${namespace}/${name}`);
  }

  /** Every Secret whose labels name `ownerKey` (trusted or not: callers filter with trustedFor). */
  values(ownerKey: string): Iterable<V1Secret> {
    return this.byOwner.get(ownerKey)?.values() ?? [];
  }

  private remove(ownerKey: string, id: string): void {
    const m = this.byOwner.get(ownerKey);
    if (!m) return;
    m.delete(id);
    if (m.size === 0) this.byOwner.delete(ownerKey);
  }
}
