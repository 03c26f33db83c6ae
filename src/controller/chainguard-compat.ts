import type { V1Secret } from '@kubernetes/client-node';
import { kubeClient, type ClusterSource } from '../kube/api/client.js';
import type { CoreApi } from '../kube/api/resources.js';
import { buildDockerConfigJson } from '../dockerconfig.js';
import { errorMessage, RegcredError } from '../errors.js';
import { withSecretOwner } from '../redact.js';
import type { Logger } from '../log.js';
import type { Credential } from '../providers/types.js';
import { statusCode, withApiRetry } from '../kube/client.js';
import type { EventRecorder } from '../kube/events.js';
import { Informer, objectKey, type InformerOptions } from '../kube/informer.js';
import { ANNOTATION_EXPIRES_AT } from '../kube/labels.js';
import { DOCKERCONFIGJSON_KEY, DOCKERCONFIGJSON_TYPE } from '../kube/desired-secret.js';
import { backoffDelay } from '../util/backoff.js';
import { realClock, type Clock } from '../util/clock.js';
import { WorkQueue, type QueueResult } from './queue.js';
import { planRefresh } from './scheduler.js';

// `regcred controller --chainguard-compat`: does what chainguard-dev's experimental
// pull-secret-updater did, so its users can switch without touching their Secrets. Every
// `kubernetes.io/dockerconfigjson` Secret annotated `pull-secret-updater.chainguard.dev/identity:
// <identity UID>` is kept filled with a registry token for that identity (providers/chainguard.ts
// exchanges it). Better than the original in the ways that matter:
//  - one exchange per identity, shared by every Secret that names it (not one per Secret);
//  - refresh from the token's real expiry (a third before it), retries with backoff, the old token
//    kept in place when a refresh fails;
//  - `auth` encoded once (the original encoded it twice), the Secret updated in place (same UID),
//    no write when nothing changed, and an `regcred.dev/expires-at` annotation to see the expiry.
// The Secret stays the user's: no regcred labels (the main controller never adopts or deletes it),
// other keys and metadata untouched.
//
// Who may have a token minted: anyone who can create a Secret could name any identity that trusts
// regcred's service account, so an identity is served only when it is allowlisted
// (--chainguard-compat-identities; "*" for any, the original's behaviour), and a Secret only in the
// allowlisted namespaces (--chainguard-compat-namespaces; none given: every namespace, the
// identity allowlist then being the guard). A refused Secret is left untouched, with a Warning
// Event saying why. At most maxIdentities identities hold a token at once (identities no Secret
// names any more are dropped first); a new one beyond that is refused the same way.

export const CHAINGUARD_IDENTITY_ANNOTATION = 'pull-secret-updater.chainguard.dev/identity';
/** Identities holding a token at once, by default. */
export const DEFAULT_MAX_IDENTITIES = 1000;
/** In an identity allowlist: any identity. */
export const ANY_IDENTITY = '*';

export interface ChainguardCompatOptions {
  kubeConfig: ClusterSource;
  log: Logger;
  /** Exchanges for one identity (providers/chainguard.ts exchangeChainguardToken, bound to the issuer and service account). */
  mint(identity: string): Promise<Credential>;
  /** The identities tokens may be minted for; "*" allows any. Empty or absent: none. */
  identities?: readonly string[];
  /** The namespaces whose Secrets are filled; empty or absent: every namespace. */
  namespaces?: readonly string[];
  /** Identities holding a token at once (default DEFAULT_MAX_IDENTITIES). */
  maxIdentities?: number;
  events?: EventRecorder | undefined;
  clock?: Clock;
  /** Never refresh sooner than this after a mint (default 30 s). */
  minRefreshDelayMs?: number;
  retryBaseMs?: number;
  retryMaxMs?: number;
  informer?: Partial<Pick<InformerOptions<V1Secret>, 'watch' | 'watchTimeoutSeconds' | 'stallGraceMs'>>;
}

interface IdentityToken {
  credential?: Credential;
  mintedAt?: number;
  refreshAt: number;
  failures: number;
  lastError?: RegcredError;
  /** The exchange under way, shared by every Secret waiting for this identity. */
  inflight?: Promise<void>;
}

/**
 * Keeps only what this loop needs of Secrets it does not act on: no data of unannotated Secrets,
 * nor of Secrets in namespaces it does not serve, in memory (the annotation is kept, for the event).
 */
function slimmer(namespaceAllowed: (ns: string | undefined) => boolean) {
  return (secret: V1Secret): V1Secret => {
    const { managedFields: _drop, ...metadata } = secret.metadata ?? {};
    const identity = metadata.annotations?.[CHAINGUARD_IDENTITY_ANNOTATION];
    if (identity !== undefined && namespaceAllowed(metadata.namespace)) return { ...secret, metadata };
    return {
      apiVersion: secret.apiVersion,
      kind: secret.kind,
      type: secret.type,
      metadata: {
        name: metadata.name,
        namespace: metadata.namespace,
        resourceVersion: metadata.resourceVersion,
        uid: metadata.uid,
        ...(identity !== undefined ? { annotations: { [CHAINGUARD_IDENTITY_ANNOTATION]: identity } } : {}),
      },
    };
  };
}

/** Why a Secret is not served, or undefined when it is. */
export function refusal(
  namespace: string,
  identity: string,
  allow: { namespaces?: readonly string[] | undefined; identities?: readonly string[] | undefined },
): { reason: string; message: string } | undefined {
  if (allow.namespaces?.length && !allow.namespaces.includes(namespace)) {
    return { reason: 'NamespaceNotAllowed', message: `chainguard compatibility mode does not serve namespace ${namespace} (not in --chainguard-compat-namespaces); nothing minted for identity ${identity}` };
  }
  const ids = allow.identities ?? [];
  if (!ids.includes(ANY_IDENTITY) && !ids.includes(identity)) {
    return { reason: 'IdentityNotAllowed', message: `chainguard identity ${identity} is not in --chainguard-compat-identities; nothing minted` };
  }
  return undefined;
}

export class ChainguardCompat {
  private readonly core: CoreApi;
  private readonly clock: Clock;
  private readonly informer: Informer<V1Secret>;
  private readonly queue: WorkQueue;
  private readonly tokens = new Map<string, IdentityToken>();

  constructor(private readonly opts: ChainguardCompatOptions) {
    this.core = kubeClient(opts.kubeConfig).core;
    this.clock = opts.clock ?? realClock;
    const fieldSelector = `type=${DOCKERCONFIGJSON_TYPE}`;
    const served = opts.namespaces?.length ? new Set(opts.namespaces) : undefined;
    this.informer = new Informer<V1Secret>({
      kubeConfig: opts.kubeConfig,
      log: opts.log,
      clock: this.clock,
      ...opts.informer,
      name: 'chainguard-compat-secrets',
      watchPath: '/api/v1/secrets',
      watchParams: { fieldSelector },
      list: (p) => this.core.listSecretForAllNamespaces({ ...p, fieldSelector }),
      transform: slimmer((ns) => !served || (ns !== undefined && served.has(ns))),
    });
    this.queue = new WorkQueue({ handler: (key) => this.reconcile(key), workers: 2, clock: this.clock, log: opts.log });
    this.informer.on((event, secret, old) => {
      if (event === 'delete') return;
      const identity = identityOf(secret);
      if (identity === undefined) return;
      // Our own write comes back as an update: act only when the data or the identity changed.
      if (event === 'update' && old && identityOf(old) === identity && old.data?.[DOCKERCONFIGJSON_KEY] === secret.data?.[DOCKERCONFIGJSON_KEY]) return;
      this.queue.add(objectKey(secret));
    });
  }

  async start(): Promise<void> {
    await this.informer.start();
    this.queue.start();
    const annotated = this.informer.list().filter((s) => identityOf(s) !== undefined).length;
    this.opts.log.info({ secrets: annotated, annotation: CHAINGUARD_IDENTITY_ANNOTATION }, 'chainguard compatibility mode started');
  }

  async stop(): Promise<void> {
    await this.queue.stop();
    await this.informer.stop();
  }

  hasSynced(): boolean {
    return this.informer.hasSynced();
  }

  unhealthyForMs(): number {
    return this.informer.unhealthyForMs();
  }

  /** Fills one annotated Secret; runs again when its identity's token is due. */
  async reconcile(key: string): Promise<QueueResult> {
    const secret = this.informer.get(key);
    const identity = secret ? identityOf(secret) : undefined;
    if (!secret || identity === undefined) return {};
    const namespace = secret.metadata!.namespace!;
    const name = secret.metadata!.name!;
    const refused = refusal(namespace, identity, this.opts);
    if (refused) {
      // Left exactly as it is; served again only if it changes (another identity, say) or after a restart with other flags.
      this.opts.log.info({ secret: key, identity, reason: refused.reason }, 'chainguard compat: Secret not served');
      this.opts.events?.record(secretTarget(secret), 'Warning', refused.reason, refused.message);
      return {};
    }
    const held = this.tokenFor(identity);
    if (!held) {
      const max = this.opts.maxIdentities ?? DEFAULT_MAX_IDENTITIES;
      this.opts.log.warn({ secret: key, identity, maxIdentities: max }, 'chainguard compat: too many identities; not minting for a new one');
      this.opts.events?.record(secretTarget(secret), 'Warning', 'TooManyIdentities', `chainguard compatibility mode already holds tokens for ${max} identities; nothing minted for identity ${identity}`);
      // Another identity may be dropped by then (its Secrets deleted).
      return { requeueAfterMs: this.opts.retryMaxMs ?? 300_000 };
    }
    await held.ready;
    const token = held.entry;
    const now = this.clock.now();
    if (!token.credential) {
      const retryIn = Math.max(0, token.refreshAt - now);
      this.opts.events?.record(secretTarget(secret), 'Warning', token.lastError?.code ?? 'ProviderError', `chainguard identity ${identity}: ${token.lastError?.message ?? 'no token yet'}`);
      return { requeueAfterMs: retryIn };
    }
    const credential = token.credential;
    const config = withSecretOwner(`chainguard-compat/${identity}`, () => buildDockerConfigJson([credential]));
    const encoded = Buffer.from(config).toString('base64');
    const expiresAt = token.credential.expiresAt?.toISOString();
    const upToDate = secret.data?.[DOCKERCONFIGJSON_KEY] === encoded && secret.metadata?.annotations?.[ANNOTATION_EXPIRES_AT] === expiresAt;
    if (!upToDate) {
      const body: V1Secret = {
        ...secret,
        data: { ...secret.data, [DOCKERCONFIGJSON_KEY]: encoded },
        metadata: {
          ...secret.metadata,
          annotations: { ...secret.metadata?.annotations, ...(expiresAt ? { [ANNOTATION_EXPIRES_AT]: expiresAt } : {}) },
        },
      };
      try {
        // PUT with the cached resourceVersion: a concurrent edit is a 409, retried by the queue
        // after the watch has delivered the newer object.
        await withApiRetry(() => this.core.replaceNamespacedSecret({ namespace, name, body }));
      } catch (err) {
        if (statusCode(err) === 404) return {};
        this.opts.log.warn({ secret: key, code: statusCode(err), err: errorMessage(err) }, 'chainguard compat: cannot update the Secret');
        throw err;
      }
      this.opts.log.info({ secret: key, identity, expiresAt }, 'chainguard compat: Secret updated');
    }
    return { requeueAfterMs: Math.max(0, token.refreshAt - now) };
  }

  /**
   * The identity's token (`ready` once exchanged, when there was none or it was due; once for all
   * Secrets), or undefined when the identity is new and maxIdentities are held already.
   */
  private tokenFor(identity: string): { entry: IdentityToken; ready: Promise<void> } | undefined {
    let entry = this.tokens.get(identity);
    if (!entry) {
      const max = this.opts.maxIdentities ?? DEFAULT_MAX_IDENTITIES;
      if (this.tokens.size >= max) this.dropUnusedIdentities();
      if (this.tokens.size >= max) return undefined;
      entry = { refreshAt: 0, failures: 0 };
      this.tokens.set(identity, entry);
    }
    const current = entry;
    if (this.clock.now() >= current.refreshAt && !current.inflight) {
      current.inflight = this.refresh(identity, current).finally(() => {
        current.inflight = undefined;
      });
    }
    return { entry: current, ready: current.inflight ?? Promise.resolve() };
  }

  /** Forgets the tokens of identities that no served Secret names any more. */
  private dropUnusedIdentities(): void {
    const named = new Set<string>();
    for (const s of this.informer.list()) {
      const identity = identityOf(s);
      if (identity !== undefined && !refusal(s.metadata?.namespace ?? '', identity, this.opts)) named.add(identity);
    }
    for (const [identity, entry] of this.tokens) if (!named.has(identity) && !entry.inflight) this.tokens.delete(identity);
  }

  /** Identities holding a token (or waiting for one). */
  identityCount(): number {
    return this.tokens.size;
  }

  private async refresh(identity: string, entry: IdentityToken): Promise<void> {
    const now = this.clock.now();
    try {
      // The token is the identity's own in the scrubber (redact.ts), whoever else registers values.
      const credential = await withSecretOwner(`chainguard-compat/${identity}`, () => this.opts.mint(identity));
      entry.credential = credential;
      entry.mintedAt = now;
      entry.failures = 0;
      entry.lastError = undefined;
      const plan = planRefresh({
        now,
        issuedAt: now,
        expiresAt: credential.expiresAt?.getTime(),
        intervalMs: 3600_000,
        minDelayMs: this.opts.minRefreshDelayMs ?? 30_000,
      });
      entry.refreshAt = plan.at;
      this.opts.log.info({ identity, expiresAt: credential.expiresAt?.toISOString(), refreshAt: new Date(plan.at).toISOString() }, 'chainguard compat: token exchanged');
    } catch (err) {
      const e = err instanceof RegcredError ? err : new RegcredError('ProviderError', errorMessage(err), true);
      const maxMs = this.opts.retryMaxMs ?? 300_000;
      const delay = e.code === 'ProviderError' && !e.retryable ? maxMs : backoffDelay(entry.failures, this.opts.retryBaseMs ?? 5_000, maxMs);
      entry.failures++;
      entry.lastError = e;
      entry.refreshAt = now + delay;
      // The Secrets keep the token they hold until it can be replaced.
      this.opts.log.warn({ identity, code: e.code, err: e.message, failures: entry.failures, retryInMs: Math.round(delay) }, 'chainguard compat: exchange failed; Secrets keep their current token');
    }
  }
}

function identityOf(secret: V1Secret): string | undefined {
  if (secret.type !== DOCKERCONFIGJSON_TYPE) return undefined;
  const v = secret.metadata?.annotations?.[CHAINGUARD_IDENTITY_ANNOTATION]?.trim();
  return v ? v : undefined;
}

function secretTarget(secret: V1Secret) {
  return { apiVersion: 'v1', kind: 'Secret', name: secret.metadata!.name!, namespace: secret.metadata!.namespace!, uid: secret.metadata?.uid };
}
