import type { V1Secret } from '@kubernetes/client-node';
import { sha256Hex } from '../dockerconfig.js';
import { ANNOTATION_CONTENT_HASH, ANNOTATION_EXPIRES_AT, ownerLabels, type OwnerRef } from './labels.js';
import { dataHashOf, secretDataHash } from './slim.js';

// What regcred wants a target Secret to hold, and whether a Secret (full or the cache's compact
// form) holds it. Separate from writing (secrets.ts): the watch handlers ask this of every event.

export const DOCKERCONFIGJSON_TYPE = 'kubernetes.io/dockerconfigjson';
export const DOCKERCONFIGJSON_KEY = '.dockerconfigjson';

/** What a target namespace should hold. */
export interface DesiredPullSecret {
  name: string;
  owner: OwnerRef;
  dockerConfigJson: string;
  expiresAt?: Date | undefined;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  adopt: boolean;
}

/** The metadata regcred writes for `d` in `namespace` (fresh objects: a request body may take them). */
export function desiredMetadata(d: DesiredPullSecret, namespace: string) {
  const x = derivedOf(d);
  return { name: d.name, namespace, labels: Object.fromEntries(x.labels), annotations: Object.fromEntries(x.annotations) };
}

/** What follows from a desired object alone: the same in every namespace. */
interface Derived {
  /** The data digest (secretDataHash) of the Secret regcred writes. */
  dataHash: string;
  /** The labels and annotations regcred writes, as entries (expires-at included). */
  labels: [string, string][];
  annotations: [string, string][];
}

// Asked for once per namespace of a fan-out and once per watch event of a managed Secret; the
// desired object is shared by all of them, so this is computed once for it.
const derived = new WeakMap<DesiredPullSecret, Derived>();

function derivedOf(d: DesiredPullSecret): Derived {
  let x = derived.get(d);
  if (x === undefined) {
    const contentHash = sha256Hex(d.dockerConfigJson);
    const annotations: Record<string, string> = { ...d.annotations, [ANNOTATION_CONTENT_HASH]: contentHash };
    if (d.expiresAt) annotations[ANNOTATION_EXPIRES_AT] = d.expiresAt.toISOString();
    x = {
      dataHash: secretDataHash({ [DOCKERCONFIGJSON_KEY]: Buffer.from(d.dockerConfigJson).toString('base64') }),
      labels: Object.entries({ ...d.labels, ...ownerLabels(d.owner) }),
      annotations: Object.entries(annotations),
    };
    derived.set(d, x);
  }
  return x;
}

/** The data digest (secretDataHash) of the Secret regcred writes for `d`. */
export function desiredDataHash(d: DesiredPullSecret): string {
  return derivedOf(d).dataHash;
}

/**
 * True when `existing` already holds exactly what `d` asks for: data, type, labels, annotations.
 * `existing` may be a full Secret or the cache's compact form (compactSecret): the data is compared
 * through its digest, so an edit by hand is seen even though the hash annotation stays as it was.
 */
export function isUpToDate(existing: V1Secret, d: DesiredPullSecret): boolean {
  if (existing.type !== DOCKERCONFIGJSON_TYPE) return false;
  const want = derivedOf(d);
  if (dataHashOf(existing) !== want.dataHash) return false;
  const labels = existing.metadata?.labels ?? {};
  const annotations = existing.metadata?.annotations ?? {};
  if (!want.labels.every(([k, v]) => labels[k] === v)) return false;
  if (!want.annotations.every(([k, v]) => annotations[k] === v)) return false;
  if (!d.expiresAt && annotations[ANNOTATION_EXPIRES_AT] !== undefined) return false;
  return true;
}
