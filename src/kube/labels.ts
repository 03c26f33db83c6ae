import { sha256Hex } from '../dockerconfig.js';

// The labels and annotations of ../shared/spec/API.md §2, in one place.
export const LABEL_MANAGED_BY = 'app.kubernetes.io/managed-by';
export const MANAGED_BY_VALUE = 'regcred';
/** Pods (or namespaces) annotated `regcred.dev/inject: "false"` are never changed by the webhook. */
export const ANNOTATION_INJECT = 'regcred.dev/inject';
export const LABEL_OWNER_KIND = 'regcred.dev/owner-kind';
export const LABEL_OWNER_NAME = 'regcred.dev/owner-name';
export const LABEL_OWNER_NAMESPACE = 'regcred.dev/owner-namespace';
export const ANNOTATION_EXPIRES_AT = 'regcred.dev/expires-at';
export const ANNOTATION_CONTENT_HASH = 'regcred.dev/content-hash';

export interface OwnerRef {
  kind: string;
  name: string;
  namespace?: string | undefined;
}

/** Label values are at most 63 characters; longer object names keep a prefix and a hash. */
export function labelValue(value: string): string {
  if (value.length <= 63) return value;
  return `${value.slice(0, 52)}-${sha256Hex(value).slice(0, 10)}`;
}

export function ownerLabels(owner: OwnerRef): Record<string, string> {
  const labels: Record<string, string> = {
    [LABEL_MANAGED_BY]: MANAGED_BY_VALUE,
    [LABEL_OWNER_KIND]: owner.kind,
    [LABEL_OWNER_NAME]: labelValue(owner.name),
  };
  if (owner.namespace) labels[LABEL_OWNER_NAMESPACE] = owner.namespace;
  return labels;
}

export function ownerSelector(owner: OwnerRef): string {
  return Object.entries(ownerLabels(owner))
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

export function isManagedBy(labels: Record<string, string> | undefined, owner: OwnerRef): boolean {
  const want = ownerLabels(owner);
  if (!labels) return false;
  if (!owner.namespace && labels[LABEL_OWNER_NAMESPACE] !== undefined) return false;
  return Object.entries(want).every(([k, v]) => labels[k] === v);
}

export function isManagedByRegcred(labels: Record<string, string> | undefined): boolean {
  return labels?.[LABEL_MANAGED_BY] === MANAGED_BY_VALUE;
}

/** The credential a Secret's owner labels name, if they name one (managed-by regcred, kind and name set). */
export function claimedOwner(labels: Record<string, string> | undefined): OwnerRef | undefined {
  if (!labels || !isManagedByRegcred(labels)) return undefined;
  const kind = labels[LABEL_OWNER_KIND];
  const name = labels[LABEL_OWNER_NAME];
  if (!kind || !name) return undefined;
  const namespace = labels[LABEL_OWNER_NAMESPACE];
  return namespace ? { kind, name, namespace } : { kind, name };
}

export function describeOwner(labels: Record<string, string>): string {
  const ns = labels[LABEL_OWNER_NAMESPACE];
  return `${labels[LABEL_OWNER_KIND] ?? '?'}/${ns ? `${ns}/` : ''}${labels[LABEL_OWNER_NAME] ?? '?'}`;
}
