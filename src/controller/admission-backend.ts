import type { CoreApi } from '../kube/api/resources.js';
import type { CredentialObject } from '../config/schema.js';
import { statusCode } from '../kube/client.js';
import type { DesiredPullSecret } from '../kube/desired-secret.js';
import { writePullSecret, type WriteObserver } from '../kube/secrets.js';
import { slimNamespace } from '../kube/slim.js';
import type { Metrics } from '../metrics.js';
import { ANNOTATION_INJECT, type PullSecretCandidate } from '../webhook/admission.js';
import type { NamespaceCandidates, PodAdmissionBackend } from '../webhook/server.js';
import { labelKeyOf, targetsNamespace, trusts } from './credentials/claims.js';
import type { KeyQueue, NamespaceReader, OwnedSecretsReader, Specs } from './credentials/shared.js';
import type { HeldContent, HeldContentReader } from './held-content.js';
import { desiredPullSecret, ownerOf, type MintedCredential } from './reconcile.js';

// What the admission webhook asks of the controller, answered from its caches: which credentials'
// pull secrets a namespace gets, and writing one before the Pod is admitted. Never calls a provider;
// every API call ends when the webhook's time budget does.

/** Rejects when `signal` aborts first: the webhook answers within its budget whatever a call does. */
export function within<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(new Error('the webhook\'s time budget is spent'));
  return Promise.race([
    p,
    new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(new Error('the webhook\'s time budget is spent')), { once: true })),
  ]);
}

export interface AdmissionDeps {
  core: CoreApi;
  namespaces: NamespaceReader;
  /** Namespaced mode: the namespaces are not read, a namespace not cached is not one of ours. */
  watchNamespaces: readonly string[] | undefined;
  specs: Specs;
  minted(key: string): MintedCredential | undefined;
  ownedSecrets: OwnedSecretsReader;
  heldContentReader: Pick<HeldContentReader, 'read'>;
  queue: Pick<KeyQueue, 'add'>;
  metrics?: Metrics | undefined;
  /** Told the version each write made (the Secret cache completes its compact form with it). */
  onWritten?: WriteObserver['onWritten'];
}

export class AdmissionBackend implements PodAdmissionBackend {
  constructor(private readonly d: AdmissionDeps) {}

  /** The pull secrets of the credentials targeting `namespace`, for the webhook; from the caches. */
  async candidatesFor(namespace: string, signal: AbortSignal): Promise<NamespaceCandidates> {
    let ns = this.d.namespaces.get(namespace);
    if (!ns && !this.d.watchNamespaces) {
      // A namespace created a moment before its first Pod may not have reached the cache: read it.
      try {
        ns = slimNamespace(await within(this.d.core.readNamespace({ name: namespace }), signal));
      } catch (err) {
        if (statusCode(err) === 404) return { candidates: [] };
        throw err;
      }
    }
    if (!ns || ns.status?.phase === 'Terminating') return { candidates: [] };
    if (ns.metadata?.annotations?.[ANNOTATION_INJECT] === 'false') return { candidates: [], optedOut: true };
    const labels = ns.metadata?.labels ?? {};
    const candidates: PullSecretCandidate[] = [];
    for (const [key, spec] of this.d.specs) {
      if (!targetsNamespace(spec, namespace, labels)) continue;
      const registries = (await this.heldContent(key, spec, signal))?.registries ?? [];
      if (registries.length > 0) candidates.push({ key, secretName: spec.spec.target.secretName, registries, serviceAccounts: spec.spec.target.serviceAccounts });
    }
    return { candidates };
  }

  /**
   * Writes the candidate's Secret into `namespace` if it is not there: from the credential minted
   * in memory or, on a standby replica, from a Secret the leader wrote elsewhere. The credential is
   * then queued, so the controller patches service accounts.
   */
  async ensureSecret(candidate: PullSecretCandidate, namespace: string, signal: AbortSignal): Promise<'exists' | 'created' | 'unavailable'> {
    const spec = this.d.specs.get(candidate.key);
    if (!spec) return 'unavailable';
    const secretName = spec.spec.target.secretName;
    if (this.d.ownedSecrets.get(labelKeyOf(spec), namespace, secretName)) return 'exists';
    const held = await this.heldContent(candidate.key, spec, signal);
    if (!held) return 'unavailable';
    const desired: DesiredPullSecret = desiredPullSecret(spec, { credentials: [], dockerConfigJson: held.dockerConfigJson, expiresAt: held.expiresAt });
    const written = await within(
      writePullSecret(this.d.core, namespace, desired, null, { retry: { attempts: 2 }, onWrite: (op) => this.d.metrics?.secretWrites.inc({ operation: op }), ...(this.d.onWritten ? { onWritten: this.d.onWritten } : {}) }),
      signal,
    );
    this.d.queue.add(candidate.key);
    return written.outcome === 'created' ? 'created' : 'exists';
  }

  /**
   * The content a credential's Secrets hold: the credential in memory, else (a replica that has not
   * minted it) what the Secrets it wrote hold, read from the API server. Only Secrets whose owner
   * labels are believable count (trusts): a Secret anyone labelled elsewhere is never handed out.
   */
  private async heldContent(key: string, spec: CredentialObject, signal: AbortSignal): Promise<HeldContent | undefined> {
    const minted = this.d.minted(key);
    if (minted) return { registries: minted.credentials.map((c) => c.registry), dockerConfigJson: minted.dockerConfigJson, expiresAt: minted.expiresAt };
    const trusted = [...this.d.ownedSecrets.values(labelKeyOf(spec))].filter((s) => trusts(spec, s, this.d.namespaces));
    if (trusted.length === 0) return undefined;
    return this.d.heldContentReader.read(key, ownerOf(spec), trusted, (p) => within(p, signal));
  }
}
