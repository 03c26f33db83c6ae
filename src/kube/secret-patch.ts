import type { V1Secret } from '@kubernetes/client-node';
import { ANNOTATION_EXPIRES_AT } from './labels.js';

// How regcred updates a Secret it manages from the cache's compact form, which lacks what others may
// have set there: a JSON patch that touches only regcred's own data, labels and annotations.

/** A JSON Pointer segment (RFC 6901): label keys hold "/". */
function pointer(key: string): string {
  return key.replaceAll('~', '~0').replaceAll('/', '~1');
}

/**
 * The JSON patch (RFC 6902) that makes `current` (a compact cached form) hold what regcred writes:
 * the data whole, its labels and annotations (others' kept), other owners' labels removed, the
 * expiry annotation removed when the credential has none; only if the Secret is still at the
 * version the cache knows.
 */
export function updatePatch(current: V1Secret, meta: { labels: Record<string, string>; annotations: Record<string, string> }, data: Record<string, string>, expiresAt: Date | undefined): object[] {
  const ops: object[] = [
    { op: 'test', path: '/metadata/resourceVersion', value: current.metadata?.resourceVersion },
    { op: 'add', path: '/data', value: data },
  ];
  const labels = current.metadata?.labels;
  if (!labels) ops.push({ op: 'add', path: '/metadata/labels', value: meta.labels });
  else {
    for (const k of Object.keys(labels)) if (k.startsWith('regcred.dev/owner-') && !(k in meta.labels)) ops.push({ op: 'remove', path: `/metadata/labels/${pointer(k)}` });
    for (const [k, v] of Object.entries(meta.labels)) if (labels[k] !== v) ops.push({ op: 'add', path: `/metadata/labels/${pointer(k)}`, value: v });
  }
  const annotations = current.metadata?.annotations;
  if (!annotations) ops.push({ op: 'add', path: '/metadata/annotations', value: meta.annotations });
  else {
    for (const [k, v] of Object.entries(meta.annotations)) if (annotations[k] !== v) ops.push({ op: 'add', path: `/metadata/annotations/${pointer(k)}`, value: v });
    if (!expiresAt && annotations[ANNOTATION_EXPIRES_AT] !== undefined) ops.push({ op: 'remove', path: `/metadata/annotations/${pointer(ANNOTATION_EXPIRES_AT)}` });
  }
  return ops;
}
