import { createHash } from 'node:crypto';
import type { V1Namespace, V1Secret, V1ServiceAccount } from '@kubernetes/client-node';
import { ANNOTATION_INJECT, LABEL_MANAGED_BY } from './labels.js';
import type { KubeObject } from './informer.js';

// The forms the controller's caches keep of what they watch: no more than reconciling reads.

export function stripManagedFields<T extends KubeObject>(obj: T): T {
  const m = obj.metadata as { managedFields?: unknown } | undefined;
  if (m?.managedFields) delete m.managedFields;
  return obj;
}

// The namespace and service-account caches keep only what reconciling reads (both are changed
// only by JSON patches, if at all): at 5,000 namespaces whole objects would be much of the memory.
// No uid: nothing reads one (service-account patches are guarded by the resourceVersion).
type Meta = NonNullable<V1Secret['metadata']>;
function slimMeta(m: Meta | undefined): Meta {
  return {
    name: m?.name,
    resourceVersion: m?.resourceVersion,
    labels: m?.labels,
    ...(m?.deletionTimestamp ? { deletionTimestamp: m.deletionTimestamp } : {}),
  };
}
export function slimNamespace(ns: V1Namespace): V1Namespace {
  const inject = ns.metadata?.annotations?.[ANNOTATION_INJECT];
  return { metadata: { ...slimMeta(ns.metadata), ...(inject !== undefined ? { annotations: { [ANNOTATION_INJECT]: inject } } : {}) }, status: namespaceStatus(ns.status?.phase) };
}

// Every namespace is Active or Terminating: one shared, frozen status object each.
const statuses = new Map<string | undefined, NonNullable<V1Namespace['status']>>();
function namespaceStatus(phase: string | undefined): NonNullable<V1Namespace['status']> {
  let s = statuses.get(phase);
  if (!s) {
    if (statuses.size >= 16) statuses.clear(); // phases come from the API server; bounded all the same
    statuses.set(phase, (s = Object.freeze({ phase })));
  }
  return s;
}

/** A service account: its identity and the names in imagePullSecrets (patches are guarded by the resourceVersion). */
export function slimServiceAccount(sa: V1ServiceAccount): V1ServiceAccount {
  const m = sa.metadata;
  return { metadata: { name: interned.string(m?.name), namespace: m?.namespace, resourceVersion: m?.resourceVersion }, ...(sa.imagePullSecrets ? { imagePullSecrets: sa.imagePullSecrets.map((r) => ({ name: r.name })) } : {}) };
}

// A Secret's data is never cached: anyone who may write Secrets in some namespace can label one
// `app.kubernetes.io/managed-by=regcred`; caching their data would let them fill the controller's
// heap. A digest of the data is enough to tell whether a Secret holds what regcred would write (an
// edit by hand changes it); code that needs a Secret's content reads it by name when it does.

/**
 * The compact form carries the data digest under this symbol: a digest, or null while the content
 * of its version is unknown. (A symbol: never serialized, never among the object's keys.)
 */
export const COMPACT_DIGEST = Symbol('regcred.compactDigest');
export type CompactSecret = V1Secret & { [COMPACT_DIGEST]?: string | null };

/** sha256 over the data map (keys sorted, base64 values as the API server returns them). */
export function secretDataHash(data: Readonly<Record<string, string>> | undefined): string {
  const h = createHash('sha256');
  for (const key of Object.keys(data ?? {}).sort()) h.update(key).update('\0').update(data![key]!).update('\0');
  return h.digest('hex');
}

/** The data digest of a Secret: computed from its data when it has any, else the one its compact form carries, if known. */
export function dataHashOf(secret: V1Secret): string | undefined {
  if (secret.data) return secretDataHash(secret.data);
  return (secret as CompactSecret)[COMPACT_DIGEST] ?? undefined;
}

// The form the controller keeps of each Secret it manages: name, namespace, uid, resourceVersion,
// labels and annotations (bounded), the type and a digest of the data when known, never the data.
// Its watch is metadata-only (kube/metadata.ts): an event carries no data, so the digest of a
// version comes from the write that made it (WrittenVersions) or, for a version someone else made,
// stays unknown until reconciling reads the Secret by name once. A full list (start-up, relist)
// carries the data: the digest is computed then and the data dropped.

/** Labels and annotations above this size are cut down to regcred's own keys. */
const MAX_KEPT_METADATA_BYTES = 4096;

export function isCompact(secret: V1Secret): boolean {
  return COMPACT_DIGEST in secret;
}

function ownKeys(map: Record<string, string> | undefined): Record<string, string> | undefined {
  if (!map) return undefined;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(map)) if (k.startsWith('regcred.dev/') || k === LABEL_MANAGED_BY) out[k] = v;
  return out;
}

/** The digest a write left a Secret's version with: a metadata-only event at that version holds it. */
export class WrittenVersions {
  private readonly pending = new Map<string, { resourceVersion: string; digest: string }>();

  /**
   * `complete`: completes the cache's form of a Secret at that version (for a write whose watch
   * event came first; secret-store.ts PackedSecretStore.complete); false when it holds another.
   */
  constructor(private readonly complete: (namespace: string, name: string, resourceVersion: string, digest: string, type: string) => boolean = () => false, private readonly max = 50_000) {}

  record(namespace: string, name: string, resourceVersion: string | undefined, digest: string, type: string): void {
    if (!resourceVersion) return;
    if (this.complete(namespace, name, resourceVersion, digest, type)) return;
    const key = `${namespace}/${name}`;
    this.pending.delete(key);
    this.pending.set(key, { resourceVersion, digest });
    if (this.pending.size > this.max) this.pending.delete(this.pending.keys().next().value!);
  }

  /** The digest written at `resourceVersion`, once (the entry is then dropped). */
  take(namespace: string, name: string, resourceVersion: string | undefined): string | undefined {
    const key = `${namespace}/${name}`;
    const w = this.pending.get(key);
    if (!w || w.resourceVersion !== resourceVersion) return undefined;
    this.pending.delete(key);
    return w.digest;
  }

  get size(): number {
    return this.pending.size;
  }
}

/**
 * One shared, frozen copy of each label map, annotation map and Secret name that compact forms
 * repeat: the targets of one credential carry the same ones, so 15,000 Secrets of 3 credentials need
 * 3 copies, not 15,000. Emptied when it reaches `max` entries, so that values others put on Secrets
 * they label cannot grow it.
 */
export class Interner {
  private readonly values = new Map<string, unknown>();
  constructor(private readonly max = 2_000) {}

  string(s: string | undefined): string | undefined {
    return s === undefined ? undefined : (this.shared(`s:${s}`, s) as string);
  }

  /** `json`: the map's JSON.stringify, computed by the caller anyway. */
  map(map: Record<string, string> | undefined, json: string): Record<string, string> | undefined {
    return map === undefined ? undefined : (this.shared(`m:${json}`, map, true) as Record<string, string>);
  }

  get size(): number {
    return this.values.size;
  }

  private shared(key: string, value: unknown, freeze = false): unknown {
    const known = this.values.get(key);
    if (known !== undefined) return known;
    if (this.values.size >= this.max) this.values.clear();
    this.values.set(key, freeze ? Object.freeze(value) : value);
    return value;
  }
}

const interned = new Interner();

/** The compact cached form of a managed Secret (from a full object or a metadata-only event). */
export function compactSecret(secret: V1Secret, written?: WrittenVersions, intern: Interner = interned): V1Secret {
  const m = secret.metadata ?? {};
  let labels = m.labels;
  let annotations = m.annotations;
  let labelsJson = JSON.stringify(labels ?? {});
  let annotationsJson = JSON.stringify(annotations ?? {});
  if (labelsJson.length + annotationsJson.length > MAX_KEPT_METADATA_BYTES) {
    labels = ownKeys(labels);
    annotations = ownKeys(annotations);
    labelsJson = JSON.stringify(labels ?? {});
    annotationsJson = JSON.stringify(annotations ?? {});
  }
  labels = intern.map(labels, labelsJson);
  annotations = intern.map(annotations, annotationsJson);
  const compact: CompactSecret = {
    metadata: {
      name: intern.string(m.name),
      namespace: m.namespace,
      uid: m.uid,
      resourceVersion: m.resourceVersion,
      ...(labels ? { labels } : {}),
      ...(annotations ? { annotations } : {}),
      ...(m.deletionTimestamp ? { deletionTimestamp: m.deletionTimestamp } : {}),
    },
    ...(secret.type !== undefined ? { type: intern.string(secret.type) } : {}),
    [COMPACT_DIGEST]: null,
  };
  // The targets of one credential hold the same data: one digest string for all of them.
  if (secret.data) compact[COMPACT_DIGEST] = intern.string(secretDataHash(secret.data))!;
  else if (written && secret.type === undefined) {
    const digest = written.take(m.namespace ?? '', m.name ?? '', m.resourceVersion);
    if (digest !== undefined) {
      compact.type = 'kubernetes.io/dockerconfigjson';
      compact[COMPACT_DIGEST] = digest;
    }
  }
  return compact;
}
