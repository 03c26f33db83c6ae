import { defaultTenantPolicy, type TenantPolicy } from '../config/tenant-policy.js';
import type { EventRecorder } from '../kube/events.js';
import { apiServerIssuer } from '../kube/issuer.js';
import { kubeClient, type ClusterSource } from '../kube/api/client.js';
import { API_SERVER_AUDIENCES } from '../kube/sources.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { NetworkPolicy } from '../providers/internal/address-policy.js';
import { providerRegistry } from '../providers/registry.js';
import type { ProviderDefinition } from '../providers/types.js';
import { realClock, type Clock } from '../util/clock.js';
import type { PullSecretCandidate } from '../webhook/admission.js';
import type { NamespaceCandidates } from '../webhook/server.js';
import { AdmissionBackend } from './admission-backend.js';
import { buildCaches, CacheStores, liveness, readiness, startCaches, type ControllerCaches } from './caches.js';
import { Cleanup } from './credentials/cleanup.js';
import { credentialEventSources, type EventSource } from './credentials/handlers.js';
import { CredentialObjects, lookupCredential } from './credentials/object.js';
import { processItem, type ProcessDeps } from './credentials/process.js';
import type { SpecMap } from './credentials/shared.js';
import { CredentialStates } from './credentials/states.js';
import { HeldContentReader } from './held-content.js';
import { WorkQueue, type QueueResult } from './queue.js';
import { Refresher } from './refresh.js';
import { credentialKeyParts, OwnedSecretIndex } from './secret-index.js';
import { NewNamespaceWriter } from './credentials/new-namespace.js';
import { WrittenVersions } from '../kube/slim.js';
import { SourceWatch } from './sources/source-watch.js';

// The controller: builds the caches, the work queue and the credential controller's parts
// (credentials/: event handlers, the run of one credential and its steps), starts and stops them,
// answers the probes, and serves the admission webhook from the same caches.

export interface ControllerOptions {
  /** The cluster: a KubeClient (kube/client.ts loadKubeConfig) or a kubeconfig object. */
  kubeConfig: ClusterSource;
  /** The controller's own namespace: where ClusterRegistryCredential source Secrets live. */
  namespace: string;
  allowCrossNamespaceRefs: boolean;
  log: Logger;
  clock?: Clock;
  providers?: ReadonlyMap<string, ProviderDefinition<unknown>>;
  metrics?: Metrics | undefined;
  events?: EventRecorder | undefined;
  fetch?: typeof globalThis.fetch;
  workers?: number;
  fanOutConcurrency?: number;
  /** No refresh is ever scheduled sooner than this after the previous one (no hot loop). */
  minRefreshDelayMs?: number;
  /** Backoff after a failed refresh or failed targets. */
  retryBaseMs?: number;
  retryMaxMs?: number;
  informer?: { watchTimeoutSeconds?: [number, number]; stallGraceMs?: number; listTimeoutMs?: number };
  /** Liveness fails when a watch has been failing for longer than this. */
  livenessStallMs?: number;
  /**
   * Runs of one credential triggered by its Secrets' watch events: `burst` at once, then one per
   * `intervalMs` (default 5, 1 s), so writers undoing each other cannot loop faster than that.
   */
  secretEventRateLimit?: { burst: number; intervalMs: number };
  /**
   * Namespaced mode (`--watch-namespace`, the chart's rbac.namespaced): only RegistryCredentials in
   * these namespaces, and nothing read or written elsewhere, so Roles in them are all the RBAC it
   * needs. ClusterRegistryCredentials are ignored and the namespaces are not read (they are assumed
   * to exist). Undefined: the whole cluster.
   */
  watchNamespaces?: readonly string[] | undefined;
  /** What a RegistryCredential may ask of the controller; default: defaultTenantPolicy (no ambient credentials, public provider hosts, 1 m floor). */
  tenantPolicy?: TenantPolicy | undefined;
  /** Audiences the API server accepts (its issuer, the administrator's list), refused for RegistryCredentials' tokens; the in-cluster names are always refused. */
  apiServerAudiences?: readonly string[] | undefined;
  /**
   * The address check of ClusterRegistryCredentials' provider calls: any host, never the always-refused
   * addresses (loopback, link-local, metadata) unless allowedCidrs lets them through. Default: that check alone.
   */
  clusterNetwork?: NetworkPolicy | undefined;
  /** Each mint's deadline (default 60 s); a mint still running well past it makes healthz fail. */
  mintTimeoutMs?: number | undefined;
}

export class Controller {
  readonly queue: WorkQueue;
  readonly informers: ControllerCaches;
  /** Parsed specs of every known credential, for mapping namespace and SA events to credentials. */
  private readonly specs: SpecMap = new Map();
  private readonly states: CredentialStates;
  private readonly refresher: Refresher;
  /** The Secrets credentials read: a change mints again at once (sources/source-watch.ts). */
  readonly sourceWatch: SourceWatch;
  private readonly process: ProcessDeps;
  private readonly admission: AdmissionBackend;
  private readonly log: Logger;
  private started = false;
  private cachesStarted: Promise<void> | undefined;

  constructor(private readonly opts: ControllerOptions) {
    const kube = kubeClient(opts.kubeConfig);
    const core = kube.core;
    const custom = kube.customObjects;
    const clock = opts.clock ?? realClock;
    const providers = opts.providers ?? providerRegistry;
    const { log, metrics, events } = opts;
    this.log = log;
    this.refresher = new Refresher({
      core,
      namespace: opts.namespace,
      allowCrossNamespaceRefs: opts.allowCrossNamespaceRefs,
      providers,
      clock,
      log,
      metrics,
      events,
      fetch: opts.fetch,
      tenantPolicy: opts.tenantPolicy ?? defaultTenantPolicy(providers),
      clusterNetwork: opts.clusterNetwork ?? {},
      minRefreshDelayMs: opts.minRefreshDelayMs,
      retryBaseMs: opts.retryBaseMs,
      retryMaxMs: opts.retryMaxMs,
      mintTimeoutMs: opts.mintTimeoutMs,
      onSourcesRead: (key, reads) => this.sourceWatch.record(key, reads),
    });
    this.sourceWatch = new SourceWatch({
      kubeConfig: kube,
      log,
      clock,
      informer: opts.informer,
      onChange: (keys, _source, change) => {
        for (const key of keys) {
          const state = this.states.get(key);
          if (!state) continue;
          state.sourcesChanged = true;
          metrics?.sourceChanges.inc({ ...credentialKeyParts(key), change });
          // Rate-limited like the other watch-driven runs: a source rewritten in a loop cannot drive mints faster.
          this.queue.addRateLimited(key);
        }
      },
    });
    this.queue = new WorkQueue({
      handler: (key) => this.reconcile(key),
      workers: opts.workers ?? 4,
      clock,
      log,
      ...(opts.secretEventRateLimit ? { rateLimit: opts.secretEventRateLimit } : {}),
    });
    // What a credential's Secrets hold, read by name when this replica has not minted it.
    const heldContentReader = new HeldContentReader(core, () => clock.now());
    this.states = new CredentialStates({ queue: this.queue, heldContent: heldContentReader, sources: this.sourceWatch, metrics });
    const stores = new CacheStores();
    const written = new WrittenVersions(stores.completeSecret.bind(stores));
    const onWritten = written.record.bind(written);
    this.informers = buildCaches({ kubeConfig: kube, log, clock, informer: opts.informer, watchNamespaces: opts.watchNamespaces, written, stores }, core, custom);

    // The Secrets labelled as regcred's (slim: no data), by the credential their labels name.
    const ownedSecrets = new OwnedSecretIndex(this.informers.secrets);
    const serviceAccounts = { inNamespace: (ns: string) => stores.serviceAccountsIn(ns) };
    const namespaces = this.informers.namespaces;
    const objects = new CredentialObjects(custom);
    const forget = (key: string) => this.states.forget(key);
    this.process = {
      lookup: (key) => lookupCredential(key, this.informers),
      specs: this.specs,
      states: this.states,
      refresher: this.refresher,
      objects,
      targets: { core, specs: this.specs, namespaces, ownedSecrets, serviceAccounts, fanOutConcurrency: opts.fanOutConcurrency, signal: this.refresher.stopping, onWritten, log, metrics },
      cleanup: new Cleanup({ core, namespaces, ownedSecrets, serviceAccounts, objects, forget, log, metrics, events }),
      clock,
      log,
      metrics,
      events,
      retryBaseMs: opts.retryBaseMs,
      retryMaxMs: opts.retryMaxMs,
    };
    this.admission = new AdmissionBackend({
      core,
      namespaces,
      watchNamespaces: opts.watchNamespaces,
      specs: this.specs,
      minted: (key) => this.states.minted(key),
      ownedSecrets,
      heldContentReader,
      queue: this.queue,
      metrics,
      onWritten,
    });

    // Every watch that requeues credentials. A new one (another kind of object a credential depends
    // on) is one more EventSource here; credentials/handlers.ts eventSource() makes one from a cache.
    const sources: EventSource[] = [
      ...credentialEventSources({
        specs: this.specs,
        caches: this.informers,
        ownedSecrets,
        minted: (key) => this.states.minted(key),
        forget,
        newNamespace: new NewNamespaceWriter({ targets: this.process.targets, specs: this.specs, minted: (key) => this.states.minted(key), queue: this.queue, log }),
      }),
    ];
    for (const source of sources) source.register(this.queue);
  }

  /**
   * Starts the watches and waits until every cache is filled, without reconciling: what a standby
   * replica does when it serves the admission webhook (which reads the caches).
   */
  startCaches(): Promise<void> {
    this.cachesStarted ??= startCaches(this.informers);
    return this.cachesStarted;
  }

  /** Whether every cache has been filled once (the webhook's readiness). */
  cachesSynced(): boolean {
    return Object.values(this.informers).every((i) => i.hasSynced());
  }

  /** Starts the watches, waits until every cache is filled, then starts reconciling. */
  async start(): Promise<void> {
    this.refresher.deniedAudiences = [...API_SERVER_AUDIENCES, ...(await apiServerIssuer(this.opts.kubeConfig, this.log)), ...(this.opts.apiServerAudiences ?? [])];
    await this.startCaches();
    this.started = true;
    this.sourceWatch.start();
    this.queue.start();
    this.log.info({ credentials: this.specs.size, namespaces: this.informers.namespaces.list().length }, 'controller started');
  }

  async stop(): Promise<void> {
    this.refresher.stop();
    await this.queue.stop();
    await Promise.all([...Object.values(this.informers).map((i) => i.stop()), this.sourceWatch.stop()]);
    await this.opts.events?.flush();
  }

  /** Ready once every cache has synced. */
  readyz(): { ok: boolean; reason?: string } {
    return readiness(this.started, this.informers);
  }

  /** Live unless a watch has been failing, or a mint running past its deadline, for longer than the bound. */
  healthz(): { ok: boolean; reason?: string } {
    return liveness({ ...this.informers, sourceSecrets: this.sourceWatch }, this.opts.livenessStallMs ?? 120_000, (graceMs) => this.refresher.overdue(graceMs));
  }

  /** Brings one credential's Secrets, service accounts and status in line (credentials/process.ts). */
  reconcile(key: string): Promise<QueueResult> {
    return processItem(this.process, key);
  }

  /** The pull secrets of the credentials targeting `namespace`, for the webhook; from the caches. */
  admissionCandidates(namespace: string, signal: AbortSignal): Promise<NamespaceCandidates> {
    return this.admission.candidatesFor(namespace, signal);
  }

  /** Writes the candidate's Secret into `namespace` if it is not there, for the webhook; never calls a provider. */
  admissionEnsureSecret(candidate: PullSecretCandidate, namespace: string, signal: AbortSignal): Promise<'exists' | 'created' | 'unavailable'> {
    return this.admission.ensureSecret(candidate, namespace, signal);
  }
}
