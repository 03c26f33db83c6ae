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

export function desiredMetadata(d: DesiredPullSecret, namespace: string) {
  const annotations: Record<string, string> = {
    ...d.annotations,
    [ANNOTATION_CONTENT_HASH]: contentHashOf(d),
  };
  if (d.expiresAt) annotations[ANNOTATION_EXPIRES_AT] = d.expiresAt.toISOString();
  return { name: d.name, namespace, labels: { ...d.labels, ...ownerLabels(d.owner) }, annotations };
}

// Both digests are asked for once per namespace of a fan-out and once per watch event of a managed
// Secret; the desired object is shared by all of them, so each is computed once for it.
const desiredHashes = new WeakMap<DesiredPullSecret, string>();
const contentHashes = new WeakMap<DesiredPullSecret, string>();

/** The content-hash annotation's value for `d`. */
function contentHashOf(d: DesiredPullSecret): string {
  let h = contentHashes.get(d);
  if (h === undefined) {
    h = sha256Hex(d.dockerConfigJson);
    contentHashes.set(d, h);
  }
  return h;
}

/** The data digest (secretDataHash) of the Secret regcred writes for `d`; computed once per desired object. */
export function desiredDataHash(d: DesiredPullSecret): string {
  let h = desiredHashes.get(d);
  if (h === undefined) {
    h = secretDataHash({ [DOCKERCONFIGJSON_KEY]: Buffer.from(d.dockerConfigJson).toString('base64') });
    desiredHashes.set(d, h);
  }
  return h;
}

const wanted = new WeakMap<DesiredPullSecret, { labels: [string, string][]; annotations: [string, string][] }>();

/** The labels and annotations regcred writes for `d` (the same in every namespace), as entries. */
function wantedEntries(d: DesiredPullSecret): { labels: [string, string][]; annotations: [string, string][] } {
  let w = wanted.get(d);
  if (w === undefined) {
    const meta = desiredMetadata(d, '');
    w = { labels: Object.entries(meta.labels), annotations: Object.entries(meta.annotations) };
    wanted.set(d, w);
  }
  return w;
}

/**
 * True when `existing` already holds exactly what `d` asks for: data, type, labels, annotations.
 * `existing` may be a full Secret or the cache's compact form (compactSecret): the data is compared
 * through its digest, so an edit by hand is seen even though the hash annotation stays as it was.
 */
export function isUpToDate(existing: V1Secret, d: DesiredPullSecret): boolean {
  if (existing.type !== DOCKERCONFIGJSON_TYPE) return false;
  if (dataHashOf(existing) !== desiredDataHash(d)) return false;
  const want = wantedEntries(d);
  const labels = existing.metadata?.labels ?? {};
  const annotations = existing.metadata?.annotations ?? {};
  if (!want.labels.every(([k, v]) => labels[k] === v)) return false;
  if (!want.annotations.every(([k, v]) => annotations[k] === v)) return false;
  if (!d.expiresAt && annotations[ANNOTATION_EXPIRES_AT] !== undefined) return false;
  return true;
}
