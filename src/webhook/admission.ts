// What the webhook decides for a Pod, as pure functions: which registries its images pull from,
// which pull secrets match them, and the JSON patch that adds the missing references.
// Image and key matching: credential/keyring.ts.

import { registryMatchesImage } from '../credential/keyring.js';

export interface PodLike {
  metadata?: { annotations?: Record<string, string> | undefined; name?: string | undefined; generateName?: string | undefined } | undefined;
  spec?: {
    containers?: Array<{ image?: string | undefined }> | undefined;
    initContainers?: Array<{ image?: string | undefined }> | undefined;
    ephemeralContainers?: Array<{ image?: string | undefined }> | undefined;
    imagePullSecrets?: Array<{ name?: string | undefined }> | undefined;
  } | undefined;
}

/** A pull secret the webhook may reference: its name and the registries its credential holds. */
export interface PullSecretCandidate {
  /** The credential's queue key, e.g. "ClusterRegistryCredential/ecr". */
  key: string;
  secretName: string;
  registries: readonly string[];
  /** The credential's target.serviceAccounts ("*": all), for service accounts created in the namespace. */
  serviceAccounts?: readonly string[];
}

export interface ServiceAccountLike {
  metadata?: { name?: string | undefined; annotations?: Record<string, string> | undefined } | undefined;
  imagePullSecrets?: Array<{ name?: string | undefined }> | undefined;
}

export type JsonPatchOp = { op: 'add'; path: string; value: unknown };

import { ANNOTATION_INJECT } from '../kube/labels.js';
export { ANNOTATION_INJECT };

export function imagesOf(pod: PodLike): string[] {
  const s = pod.spec;
  return [...(s?.initContainers ?? []), ...(s?.containers ?? []), ...(s?.ephemeralContainers ?? [])]
    .map((c) => c.image)
    .filter((i): i is string => typeof i === 'string' && i.length > 0);
}

export interface PodDecision {
  patch: JsonPatchOp[];
  /** The candidates whose secret the patch adds. */
  added: PullSecretCandidate[];
  /** Why nothing is added, when nothing is. */
  skipped?: 'opted-out' | 'no-images' | 'no-match' | 'already-referenced';
}

/** Adds `refs` to a list at `path` that may be absent. */
function addReferences(path: string, existing: unknown[] | undefined | null, names: string[]): JsonPatchOp[] {
  const refs = names.map((name) => ({ name }));
  return existing ? refs.map((value) => ({ op: 'add', path: `${path}/-`, value })) : [{ op: 'add', path, value: refs }];
}

/**
 * The pull secrets a new service account should carry, as the controller would patch them: those of
 * credentials whose target.serviceAccounts names it (or "*"). Born with them, every Pod that uses it
 * gets them through the API server's ServiceAccount admission, before any webhook runs.
 */
export function decideServiceAccount(sa: ServiceAccountLike, candidates: readonly PullSecretCandidate[]): { patch: JsonPatchOp[]; added: PullSecretCandidate[] } {
  const name = sa.metadata?.name ?? '';
  if (!name || sa.metadata?.annotations?.[ANNOTATION_INJECT] === 'false') return { patch: [], added: [] };
  const present = new Set((sa.imagePullSecrets ?? []).map((r) => r.name));
  const added: PullSecretCandidate[] = [];
  for (const c of candidates) {
    if (!(c.serviceAccounts ?? []).some((s) => s === '*' || s === name) || present.has(c.secretName)) continue;
    present.add(c.secretName);
    added.push(c);
  }
  if (added.length === 0) return { patch: [], added };
  return { patch: addReferences('/imagePullSecrets', sa.imagePullSecrets, added.map((c) => c.secretName)), added };
}

/** The imagePullSecrets a Pod needs from `candidates`, as a JSON patch. */
export function decidePod(pod: PodLike, candidates: readonly PullSecretCandidate[]): PodDecision {
  if (pod.metadata?.annotations?.[ANNOTATION_INJECT] === 'false') return { patch: [], added: [], skipped: 'opted-out' };
  const images = imagesOf(pod);
  if (images.length === 0) return { patch: [], added: [], skipped: 'no-images' };
  const matching = candidates.filter((c) => c.registries.some((r) => images.some((i) => registryMatchesImage(r, i))));
  if (matching.length === 0) return { patch: [], added: [], skipped: 'no-match' };
  const present = new Set((pod.spec?.imagePullSecrets ?? []).map((r) => r.name));
  const added: PullSecretCandidate[] = [];
  for (const c of matching) {
    if (present.has(c.secretName)) continue;
    present.add(c.secretName); // two credentials writing the same Secret name: one reference
    added.push(c);
  }
  if (added.length === 0) return { patch: [], added: [], skipped: 'already-referenced' };
  return { patch: addReferences('/spec/imagePullSecrets', pod.spec?.imagePullSecrets, added.map((c) => c.secretName)), added };
}
