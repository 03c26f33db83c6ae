import type { V1Secret, V1ServiceAccount } from '@kubernetes/client-node';
import type { CoreApi } from '../kube/api/resources.js';
import { objectRef, type CredentialObject } from '../config/schema.js';
import { buildDockerConfigJson, earliestExpiry } from '../dockerconfig.js';
import { RegcredError, errorMessage } from '../errors.js';
import { withSecretOwner } from '../redact.js';
import type { Logger } from '../log.js';
import { providerRegistry } from '../providers/registry.js';
import type { Credential, ProviderDefinition, ProviderDeps } from '../providers/types.js';
import type { RetryOptions } from '../kube/client.js';
import { resolveTargetNamespaces } from '../kube/namespaces.js';
import type { DesiredPullSecret } from '../kube/desired-secret.js';
import { listManagedSecrets, writePullSecret, type WriteObserver, type WriteOutcome } from '../kube/secrets.js';
import { attachPullSecret } from '../kube/serviceaccounts.js';
import type { OwnerRef } from '../kube/labels.js';
import { eventLoopTurns, mapWithConcurrency } from '../util/pool.js';

// One credential's work: mint once, then fan the result out to every target namespace. Shared by
// `regcred sync` and the controller, so both write exactly the same thing.

export interface MintedCredential {
  credentials: Credential[];
  dockerConfigJson: string;
  expiresAt: Date | undefined;
}

/** The API server's limit on a Secret's data, less room for metadata. */
const MAX_SECRET_BYTES = 1024 * 1024 - 16 * 1024;

export async function mintCredential(
  obj: CredentialObject,
  deps: ProviderDeps,
  signal?: AbortSignal,
  registry: ReadonlyMap<string, ProviderDefinition<unknown>> = providerRegistry,
): Promise<MintedCredential> {
  const def = registry.get(obj.spec.provider.key);
  if (!def) throw new RegcredError('InvalidSpec', `unknown provider "${obj.spec.provider.key}"`);
  // Every value read or minted for this credential is registered with the scrubber as its own
  // (redact.ts): however many its source holds, they never push out another credential's.
  return withSecretOwner(objectRef(obj), () => mint(def, obj, deps, signal));
}

async function mint(def: ProviderDefinition<unknown>, obj: CredentialObject, deps: ProviderDeps, signal: AbortSignal | undefined): Promise<MintedCredential> {
  const provider = def.create(obj.spec.provider.config, deps);
  const credentials = await provider.mint(signal);
  if (credentials.length === 0) throw new RegcredError('ProviderError', `provider ${def.key} returned no credentials`, true);
  const dockerConfigJson = buildDockerConfigJson(credentials);
  // A Secret holds at most 1 MiB; say so here, by name, instead of failing every namespace's write.
  if (Buffer.byteLength(dockerConfigJson) > MAX_SECRET_BYTES) {
    throw new RegcredError('InvalidSource', `provider ${def.key} returned a credential of ${Buffer.byteLength(dockerConfigJson)} bytes, more than a Secret can hold (1 MiB)`);
  }
  return { credentials, dockerConfigJson, expiresAt: earliestExpiry(credentials) };
}

export function ownerOf(obj: CredentialObject): OwnerRef {
  return obj.kind === 'RegistryCredential'
    ? { kind: obj.kind, name: obj.metadata.name, namespace: obj.metadata.namespace }
    : { kind: obj.kind, name: obj.metadata.name };
}

export async function targetNamespaces(core: CoreApi, obj: CredentialObject, retry: RetryOptions = {}): Promise<string[]> {
  if (obj.kind === 'RegistryCredential') return [obj.metadata.namespace!];
  return resolveTargetNamespaces(core, obj.spec.target.namespaces!, retry);
}

/** The Secret a credential wants in each of its namespaces. */
export function desiredPullSecret(obj: CredentialObject, minted: MintedCredential): DesiredPullSecret {
  const target = obj.spec.target;
  return {
    name: target.secretName,
    owner: ownerOf(obj),
    dockerConfigJson: minted.dockerConfigJson,
    expiresAt: minted.expiresAt,
    labels: target.labels,
    annotations: target.annotations,
    adopt: target.adopt,
  };
}

export interface NamespaceResult {
  namespace: string;
  secret?: WriteOutcome;
  adopted?: boolean;
  serviceAccountsPatched: string[];
  serviceAccountsMissing: string[];
  error?: RegcredError;
}

export interface FanOutResult {
  namespaces: NamespaceResult[];
  counts: { total: number; synced: number; failed: number; created: number; updated: number; unchanged: number; saPatched: number };
}

/** Cached state, so a controller with warm informers makes no reads at all. */
export interface TargetCache {
  /** The Secret of that name in the namespace, if regcred manages it for this owner; null if not known to exist. */
  secret(namespace: string): V1Secret | null;
  /** Every service account of the namespace. */
  serviceAccounts(namespace: string): V1ServiceAccount[];
}

export interface FanOutOptions extends WriteObserver {
  concurrency?: number;
  retry?: RetryOptions;
  log?: Logger;
  cache?: TargetCache;
  /** Once aborted (the controller stopping), no further namespace is started; those under way finish, then fanOut throws. */
  signal?: AbortSignal | undefined;
}

/** Namespaces a fan-out handles between two turns of the event loop (most need no request). */
const YIELD_EVERY_NAMESPACES = 64;

/** Writes the minted credential into each namespace; one namespace failing never stops the others. */
export async function fanOut(
  core: CoreApi,
  obj: CredentialObject,
  minted: MintedCredential,
  namespaces: readonly string[],
  opts: FanOutOptions = {},
): Promise<FanOutResult> {
  const owner = ownerOf(obj);
  const target = obj.spec.target;
  const retry = opts.retry ?? {};
  // One LIST instead of a GET per namespace, when the identity may list Secrets cluster-wide.
  let known: Map<string, V1Secret> | undefined;
  if (!opts.cache && namespaces.length > 1) known = await listManagedSecrets(core, owner, target.secretName, retry);

  const desired = desiredPullSecret(obj, minted);

  let notStarted = 0;
  const turn = eventLoopTurns(YIELD_EVERY_NAMESPACES);
  const results = await mapWithConcurrency(namespaces, opts.concurrency ?? 16, async (namespace): Promise<NamespaceResult> => {
    const pause = turn();
    if (pause) await pause;
    const r: NamespaceResult = { namespace, serviceAccountsPatched: [], serviceAccountsMissing: [] };
    if (opts.signal?.aborted) {
      notStarted++;
      return r;
    }
    try {
      const existing = opts.cache ? opts.cache.secret(namespace) : known ? (known.get(namespace) ?? null) : undefined;
      const written = await writePullSecret(core, namespace, desired, existing, {
        retry,
        ...(opts.onWrite ? { onWrite: opts.onWrite } : {}),
        ...(opts.onWritten ? { onWritten: opts.onWritten } : {}),
      });
      r.secret = written.outcome;
      if (written.adopted) r.adopted = true;
      const sa = await attachPullSecret(core, namespace, target.serviceAccounts, target.secretName, {
        retry,
        known: opts.cache?.serviceAccounts(namespace),
        ...(opts.onWrite ? { onWrite: opts.onWrite } : {}),
      });
      r.serviceAccountsPatched = sa.patched;
      r.serviceAccountsMissing = sa.missing;
    } catch (err) {
      r.error = err instanceof RegcredError ? err : new RegcredError('ApiError', errorMessage(err), true, { cause: err });
    }
    return r;
  });
  // A partial picture is not reported as the credential's state: the next run (the next leader's) writes the rest.
  if (notStarted > 0) throw new RegcredError('ApiError', `stopped before writing ${notStarted} of ${namespaces.length} namespace(s): shutting down`, true);

  const counts = { total: results.length, synced: 0, failed: 0, created: 0, updated: 0, unchanged: 0, saPatched: 0 };
  for (const r of results) {
    if (r.error) counts.failed++;
    else counts.synced++;
    if (r.secret) counts[r.secret]++;
    counts.saPatched += r.serviceAccountsPatched.length;
  }
  opts.log?.debug({ credential: objectRef(obj), ...counts }, 'fan-out finished');
  return { namespaces: results, counts };
}

