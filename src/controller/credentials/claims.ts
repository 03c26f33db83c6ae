import type { V1Secret } from '@kubernetes/client-node';
import type { CredentialObject } from '../../config/schema.js';
import { namespaceMatches } from '../../kube/namespaces.js';
import { ownerOf } from '../reconcile.js';
import { ownerIndexKey, trustedFor } from '../secret-index.js';
import type { NamespaceReader, Specs } from './shared.js';

// Which credential wants what: the namespaces it targets, the key its Secrets' owner labels spell,
// and the other credentials that want a Secret of the same name. Pure functions of the spec map
// and the namespace cache.

/** Whether `spec` targets `namespace` (with these labels); a RegistryCredential targets its own only. */
export function targetsNamespace(spec: CredentialObject, namespace: string, labels: Record<string, string>): boolean {
  if (spec.kind === 'RegistryCredential') return spec.metadata.namespace === namespace;
  return namespaceMatches(spec.spec.target.namespaces!, namespace, labels);
}

/** The label form of a credential key: names over 63 characters are shortened in labels. */
export function labelKeyOf(obj: CredentialObject): string {
  return ownerIndexKey(ownerOf(obj));
}

/** The namespaces a credential selects, from the namespace cache (namespaces being deleted are skipped). */
export function selectedNamespaces(obj: CredentialObject, namespaces: NamespaceReader): string[] {
  if (obj.kind === 'RegistryCredential') {
    const ns = namespaces.get(obj.metadata.namespace!);
    return ns && ns.status?.phase !== 'Terminating' ? [obj.metadata.namespace!] : [];
  }
  const target = obj.spec.target.namespaces!;
  const out: string[] = [];
  for (const ns of namespaces.values()) {
    const name = ns.metadata?.name ?? '';
    if (ns.status?.phase === 'Terminating') continue;
    if (namespaceMatches(target, name, ns.metadata?.labels ?? {})) out.push(name);
  }
  return out.sort();
}

/** Whether `secret`'s owner labels may be believed for `spec` (secret-index.ts trustedFor). */
export function trusts(spec: CredentialObject, secret: V1Secret, namespaces: NamespaceReader): boolean {
  return trustedFor(spec, secret, (ns) => {
    const nsObj = namespaces.get(ns);
    return !!nsObj && targetsNamespace(spec, ns, nsObj.metadata?.labels ?? {});
  });
}

/** Whether another credential than `key` wants a Secret named `secretName` anywhere. */
export function sharesSecretName(specs: Specs, key: string, secretName: string): boolean {
  return [...specs].some(([k, s]) => k !== key && s.spec.target.secretName === secretName);
}

/** The credentials other than `except` that want a Secret named `secretName`: their claims may have changed. */
export function secretNameSharers(specs: Specs, except: string, secretName: string | undefined): string[] {
  if (secretName === undefined) return [];
  const out: string[] = [];
  for (const [key, s] of specs) if (key !== except && s.spec.target.secretName === secretName) out.push(key);
  return out;
}

/**
 * The other credentials that want a Secret of the same name in `namespace`: each claims it, and
 * only one of them (the one its labels name) may write it.
 */
export function rivalsIn(specs: Specs, key: string, spec: CredentialObject, namespace: string, namespaces: NamespaceReader): string[] {
  const out: string[] = [];
  const labels = namespaces.get(namespace)?.metadata?.labels ?? {};
  for (const [other, s] of specs) {
    if (other === key || s.spec.target.secretName !== spec.spec.target.secretName) continue;
    if (targetsNamespace(s, namespace, labels)) out.push(other);
  }
  return out;
}

/** The credential key for an owner key read from a Secret's labels. */
export function specKeyOf(specs: Specs, ownerKey: string): string | undefined {
  if (specs.has(ownerKey)) return ownerKey;
  for (const [key, spec] of specs) if (labelKeyOf(spec) === ownerKey) return key;
  return undefined;
}
