import type { V1Secret } from '@kubernetes/client-node';
import type { CoreApi } from './api/resources.js';
import { RegcredError } from '../errors.js';
import { statusCode, toRegcredError, withApiRetry, type RetryOptions } from './client.js';
import {
  ANNOTATION_CONTENT_HASH,
  ANNOTATION_EXPIRES_AT,
  claimedOwner,
  describeOwner,
  isManagedBy,
  ownerLabels,
  ownerSelector,
  type OwnerRef,
} from './labels.js';
import { dataHashOf, isCompact } from './slim.js';
import { desiredDataHash, desiredMetadata, isUpToDate, DOCKERCONFIGJSON_KEY, DOCKERCONFIGJSON_TYPE, type DesiredPullSecret } from './desired-secret.js';
import { updatePatch } from './secret-patch.js';

/** The legacy pull-secret type: adoptable, but replaced once since a Secret's type is immutable. */
export const DOCKERCFG_TYPE = 'kubernetes.io/dockercfg';
/** The only types `adopt` takes over: pull secrets. Anything else (TLS, Opaque, tokens) is never touched. */
export const ADOPTABLE_TYPES: readonly string[] = [DOCKERCONFIGJSON_TYPE, DOCKERCFG_TYPE];

export type WriteOutcome = 'created' | 'updated' | 'unchanged';

export interface WriteResult {
  outcome: WriteOutcome;
  /** Set when an existing Secret was taken over because `adopt: true`. */
  adopted?: boolean;
}

/** Counts writes for the caller (metrics, benchmarks, the "zero writes" test). */
export interface WriteObserver {
  onWrite?(operation: 'create' | 'update' | 'delete', namespace: string): void;
  /** After a create or update: the version it made and the digest and type of what it holds (slim.ts WrittenVersions). */
  onWritten?(namespace: string, name: string, resourceVersion: string | undefined, dataDigest: string, type: string): void;
}

export interface SecretWriterOptions extends WriteObserver {
  retry?: RetryOptions;
  fieldManager?: string;
}

/**
 * Writes the pull Secret into one namespace: creates it, or updates it in place (same UID, never
 * delete and re-create), or does nothing when it is already up to date. A Secret of that name that
 * regcred does not manage for this owner is reported as SecretConflict, unless `adopt` is set and it
 * is a pull secret (ADOPTABLE_TYPES) that no other regcred credential claims (adoptionRefusal).
 *
 * `existing` may be passed when the caller listed the namespace's Secrets already: `null` means
 * "known not to exist", undefined means "unknown, read it".
 */
export async function writePullSecret(
  core: CoreApi,
  namespace: string,
  desired: DesiredPullSecret,
  existing: V1Secret | null | undefined,
  opts: SecretWriterOptions = {},
): Promise<WriteResult> {
  const retry = opts.retry ?? {};
  const what = `Secret ${namespace}/${desired.name}`;
  const dataB64 = Buffer.from(desired.dockerConfigJson).toString('base64');

  let current = existing;
  // A cached compact form whose content is unknown (a version someone else made): read it once.
  if (current === undefined || (current && isCompact(current) && (current.type === undefined || dataHashOf(current) === undefined))) {
    current = await readSecret(core, namespace, desired.name, retry);
  }
  const written = (made: V1Secret) => opts.onWritten?.(namespace, desired.name, made.metadata?.resourceVersion, desiredDataHash(desired), DOCKERCONFIGJSON_TYPE);
  let replaced = false; // an adopted Secret of another type was deleted to be re-created

  for (let attempt = 0; attempt < 3; attempt++) {
    if (current === null) {
      const body: V1Secret = {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: desiredMetadata(desired, namespace),
        type: DOCKERCONFIGJSON_TYPE,
        data: { [DOCKERCONFIGJSON_KEY]: dataB64 },
      };
      try {
        written(await withApiRetry(() => core.createNamespacedSecret({ namespace, body, fieldManager: opts.fieldManager }), retry));
        opts.onWrite?.('create', namespace);
        return replaced ? { outcome: 'created', adopted: true } : { outcome: 'created' };
      } catch (err) {
        if (statusCode(err) === 404) throw new RegcredError('NamespaceNotFound', `namespace "${namespace}" not found`, false, { cause: err });
        if (statusCode(err) !== 409) throw toRegcredError(err, `cannot create ${what}`);
        current = await readSecret(core, namespace, desired.name, retry); // created meanwhile: look again
        continue;
      }
    }

    const ours = isManagedBy(current.metadata?.labels, desired.owner);
    const refusal = ours ? typeRefusal(current) : adoptionRefusal(current, desired);
    if (refusal) throw new RegcredError('SecretConflict', `${what} ${refusal}`);
    if (ours && isUpToDate(current, desired)) return { outcome: 'unchanged' };

    if (current.type !== DOCKERCONFIGJSON_TYPE) {
      // The type of a Secret is immutable: an adopted kubernetes.io/dockercfg Secret can only be
      // replaced. This happens once, at adoption; refreshes always update in place. The delete is
      // guarded by the uid, which the cache does not keep: read the Secret first.
      if (!current.metadata?.uid) {
        current = await readSecret(core, namespace, desired.name, retry);
        continue;
      }
      try {
        await withApiRetry(
          () => core.deleteNamespacedSecret({ namespace, name: desired.name, body: { preconditions: { uid: current!.metadata?.uid } } }),
          retry,
        );
        opts.onWrite?.('delete', namespace);
      } catch (err) {
        if (statusCode(err) !== 404) throw toRegcredError(err, `cannot replace ${what}`);
      }
      replaced = true;
      current = null;
      continue;
    }

    const meta = desiredMetadata(desired, namespace);
    if (isCompact(current)) {
      // The cache's compact form lacks what others may have set (owner references, finalizers, long
      // labels): a JSON patch changes only what regcred writes, guarded by the version it knows.
      try {
        written(await withApiRetry(() => core.patchNamespacedSecret({ namespace, name: desired.name, body: updatePatch(current!, meta, { [DOCKERCONFIGJSON_KEY]: dataB64 }, desired.expiresAt), fieldManager: opts.fieldManager }), retry));
        opts.onWrite?.('update', namespace);
        return { outcome: 'updated', ...(ours ? {} : { adopted: true }) };
      } catch (err) {
        const code = statusCode(err);
        // 409/422: the test on resourceVersion failed (changed meanwhile); 404: deleted meanwhile.
        if (code !== 409 && code !== 422 && code !== 404) throw toRegcredError(err, `cannot update ${what}`);
        current = await readSecret(core, namespace, desired.name, retry);
        continue;
      }
    }
    const body: V1Secret = {
      ...current,
      metadata: {
        ...current.metadata,
        // Keep labels and annotations others put there; ours win.
        labels: { ...stripOwnerLabels(current.metadata?.labels), ...meta.labels },
        annotations: withoutExpiry({ ...current.metadata?.annotations, ...meta.annotations }, desired.expiresAt),
      },
      type: DOCKERCONFIGJSON_TYPE,
      data: { [DOCKERCONFIGJSON_KEY]: dataB64 },
    };
    delete body.stringData;
    try {
      // PUT with the resourceVersion we read: optimistic concurrency, the UID stays.
      written(await withApiRetry(() => core.replaceNamespacedSecret({ namespace, name: desired.name, body, fieldManager: opts.fieldManager }), retry));
      opts.onWrite?.('update', namespace);
      return { outcome: 'updated', ...(ours ? {} : { adopted: true }) };
    } catch (err) {
      const code = statusCode(err);
      if (code !== 409 && code !== 404) throw toRegcredError(err, `cannot update ${what}`);
      current = await readSecret(core, namespace, desired.name, retry); // changed or deleted meanwhile
    }
  }
  throw new RegcredError('ApiError', `cannot write ${what}: it kept changing under us`, true);
}

/**
 * Why `existing`, a Secret regcred does not manage for `desired.owner`, may not be taken over; undefined
 * when it may. Owner labels naming another credential are that credential's claim, adopt or not: two
 * credentials never take one Secret from each other in turn.
 */
export function adoptionRefusal(existing: V1Secret, desired: Pick<DesiredPullSecret, 'adopt'>): string | undefined {
  const claimant = claimedOwner(existing.metadata?.labels);
  if (claimant) return `exists and is managed by ${describeOwner(existing.metadata?.labels ?? {})}; it stays with that credential`;
  if (!desired.adopt) return 'exists and is not managed by regcred; set target.adopt: true to take it over';
  return typeRefusal(existing);
}

/** Only pull secrets are ever written over: a Secret of another type is someone else's, whatever its labels. */
function typeRefusal(existing: V1Secret): string | undefined {
  const type = existing.type ?? 'Opaque';
  if (ADOPTABLE_TYPES.includes(type)) return undefined;
  return `exists and is of type ${type}; only ${ADOPTABLE_TYPES.join(' or ')} Secrets are taken over`;
}

function stripOwnerLabels(labels: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(labels ?? {})) if (!k.startsWith('regcred.dev/owner-')) out[k] = v;
  return out;
}

function withoutExpiry(annotations: Record<string, string>, expiresAt: Date | undefined): Record<string, string> {
  if (!expiresAt) delete annotations[ANNOTATION_EXPIRES_AT];
  return annotations;
}

export async function readSecret(core: CoreApi, namespace: string, name: string, retry: RetryOptions = {}): Promise<V1Secret | null> {
  try {
    return await withApiRetry(() => core.readNamespacedSecret({ namespace, name }), retry);
  } catch (err) {
    if (statusCode(err) === 404) return null;
    throw toRegcredError(err, `cannot read Secret ${namespace}/${name}`);
  }
}

/**
 * The Secrets named `name` that regcred manages for `owner`, in every namespace, by one LIST call.
 * Returns undefined when the identity may not list Secrets cluster-wide (the caller then reads
 * each namespace's Secret on its own).
 */
export async function listManagedSecrets(
  core: CoreApi,
  owner: OwnerRef,
  name: string,
  retry: RetryOptions = {},
): Promise<Map<string, V1Secret> | undefined> {
  const labelSelector = ownerSelector(owner);
  try {
    const list = await withApiRetry(
      () => core.listSecretForAllNamespaces({ labelSelector, fieldSelector: `metadata.name=${name}` }),
      retry,
    );
    return new Map(list.items.map((s) => [s.metadata?.namespace ?? '', s]));
  } catch (err) {
    if (statusCode(err) === 403) return undefined;
    throw toRegcredError(err, 'cannot list managed Secrets');
  }
}

/** Deletes a Secret regcred wrote, only if it is still the one we know (UID precondition). */
export async function deleteManagedSecret(
  core: CoreApi,
  secret: V1Secret,
  opts: SecretWriterOptions = {},
): Promise<boolean> {
  const namespace = secret.metadata?.namespace ?? '';
  const name = secret.metadata?.name ?? '';
  let uid = secret.metadata?.uid;
  if (!uid) {
    // The cache keeps no uid: read the Secret, and delete it only while its labels name the same
    // owner (a Secret someone put there since is not ours to delete).
    const now = await readSecret(core, namespace, name, opts.retry ?? {});
    if (!now || JSON.stringify(claimedOwner(now.metadata?.labels)) !== JSON.stringify(claimedOwner(secret.metadata?.labels))) return false;
    uid = now.metadata?.uid;
  }
  try {
    await withApiRetry(
      () => core.deleteNamespacedSecret({ namespace, name, body: { preconditions: { uid } } }),
      opts.retry ?? {},
    );
    opts.onWrite?.('delete', namespace);
    return true;
  } catch (err) {
    const code = statusCode(err);
    if (code === 404 || code === 409) return false; // gone already, or replaced by someone else
    throw toRegcredError(err, `cannot delete Secret ${namespace}/${name}`);
  }
}
