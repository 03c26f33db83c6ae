import {
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
  type V1Namespace,
  type V1Secret,
  type V1ServiceAccount,
} from '@kubernetes/client-node';
import { API_GROUP, credentialObject, objectRef, type CredentialObject } from '../config/schema.js';
import { formatPath } from '../config/load.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { EventRecorder, EventTarget } from '../kube/events.js';
import { Informer, MultiInformer, StaticCache, type KubeObject, type ObjectCache } from '../kube/informer.js';
import { LABEL_MANAGED_BY, MANAGED_BY_VALUE } from '../kube/labels.js';
import { namespaceMatches } from '../kube/namespaces.js';
import { deleteManagedSecret, isUpToDate, writePullSecret, type DesiredPullSecret } from '../kube/secrets.js';
import { slimNamespace, slimSecret, slimServiceAccount, stripManagedFields } from '../kube/slim.js';
import { ANNOTATION_INJECT, type PullSecretCandidate } from '../webhook/admission.js';
import type { NamespaceCandidates } from '../webhook/server.js';
import { detachPullSecret, hasPullSecret } from '../kube/serviceaccounts.js';
import { statusCode, toRegcredError, withApiRetry } from '../kube/client.js';
import { poolConnections } from '../kube/pool.js';
import { providerRegistry } from '../providers/registry.js';
import type { ProviderDefinition } from '../providers/types.js';
import { backoffDelay } from '../util/backoff.js';
import { realClock, type Clock } from '../util/clock.js';
import { HeldContentReader, type HeldContent } from './held-content.js';
import { WorkQueue, type QueueResult } from './queue.js';
import { desiredPullSecret, fanOut, ownerOf } from './reconcile.js';
import { computeStatus, sameStatus, type CredentialStatus, type TargetFailure } from './status.js';
import { defaultTenantPolicy, type TenantPolicy } from '../config/tenant-policy.js';
import { API_SERVER_AUDIENCES } from '../kube/sources.js';
import { apiServerIssuer } from '../kube/issuer.js';
import { Refresher, type CredentialState } from './refresh.js';
import type { NetworkPolicy } from '../providers/internal/address-policy.js';
import { credentialKey, OwnedSecretIndex, ownerIndexKey, trustedFor } from './secret-index.js';

export { credentialKey } from './secret-index.js';

// The controller: watches the two credential kinds, namespaces, the Secrets regcred manages and
// service accounts; keeps one minted credential per object in memory; and reconciles an object
// whenever something it depends on changes or its refresh is due. Every reconcile works from the
// caches, so a reconcile with nothing to do makes no API request at all.

export const VERSION_V1ALPHA1 = 'v1alpha1';
export const FINALIZER = 'regcred.dev/cleanup';
const PLURAL = { ClusterRegistryCredential: 'clusterregistrycredentials', RegistryCredential: 'registrycredentials' } as const;

export interface ControllerOptions {
  kubeConfig: KubeConfig;
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


interface RawCredential extends KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: KubeObject['metadata'] & {
    generation?: number;
    deletionTimestamp?: string;
    finalizers?: string[];
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  spec?: unknown;
  status?: Partial<CredentialStatus>;
}

/** Rejects when `signal` aborts first: the webhook answers within its budget whatever a call does. */
function within<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(new Error('the webhook\'s time budget is spent'));
  return Promise.race([
    p,
    new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(new Error('the webhook\'s time budget is spent')), { once: true })),
  ]);
}

export class Controller {
  private readonly core: CoreV1Api;
  private readonly custom: CustomObjectsApi;
  private readonly clock: Clock;
  private readonly providers: ReadonlyMap<string, ProviderDefinition<unknown>>;
  private readonly log: Logger;
  readonly queue: WorkQueue;
  readonly informers: {
    crc: ObjectCache<RawCredential>;
    rc: ObjectCache<RawCredential>;
    namespaces: ObjectCache<V1Namespace>;
    secrets: ObjectCache<V1Secret>;
    serviceAccounts: ObjectCache<V1ServiceAccount>;
  };
  private readonly states = new Map<string, CredentialState>();
  /** Parsed specs of every known credential, for mapping namespace and SA events to credentials. */
  private readonly specs = new Map<string, CredentialObject>();
  /** The Secrets labelled as regcred's (slim: no data), by the credential their labels name. */
  private readonly ownedSecrets = new OwnedSecretIndex();
  /** What a credential's Secrets hold, read by name when this replica has not minted it. */
  private readonly heldContentReader: HeldContentReader;
  /** namespace -> (name -> service account). */
  private readonly serviceAccountsByNamespace = new Map<string, Map<string, V1ServiceAccount>>();
  private started = false;
  private cachesStarted: Promise<void> | undefined;
  private readonly refresher: Refresher;

  constructor(private readonly opts: ControllerOptions) {
    poolConnections(opts.kubeConfig);
    this.core = opts.kubeConfig.makeApiClient(CoreV1Api);
    this.custom = opts.kubeConfig.makeApiClient(CustomObjectsApi);
    this.clock = opts.clock ?? realClock;
    this.providers = opts.providers ?? providerRegistry;
    this.log = opts.log;
    this.refresher = new Refresher({
      core: this.core,
      namespace: opts.namespace,
      allowCrossNamespaceRefs: opts.allowCrossNamespaceRefs,
      providers: this.providers,
      clock: this.clock,
      log: this.log,
      metrics: opts.metrics,
      events: opts.events,
      fetch: opts.fetch,
      tenantPolicy: opts.tenantPolicy ?? defaultTenantPolicy(this.providers),
      clusterNetwork: opts.clusterNetwork ?? {},
      minRefreshDelayMs: opts.minRefreshDelayMs,
      retryBaseMs: opts.retryBaseMs,
      retryMaxMs: opts.retryMaxMs,
      mintTimeoutMs: opts.mintTimeoutMs,
    });
    this.queue = new WorkQueue({
      handler: (key) => this.reconcile(key),
      workers: opts.workers ?? 4,
      clock: this.clock,
      log: opts.log,
      ...(opts.secretEventRateLimit ? { rateLimit: opts.secretEventRateLimit } : {}),
    });
    this.heldContentReader = new HeldContentReader(this.core, () => this.clock.now());

    const common = { kubeConfig: opts.kubeConfig, log: opts.log, clock: this.clock, ...opts.informer };
    const managed = `${LABEL_MANAGED_BY}=${MANAGED_BY_VALUE}`;
    const watched = opts.watchNamespaces;
    const rcPath = (ns?: string) => `/apis/${API_GROUP}/${VERSION_V1ALPHA1}${ns ? `/namespaces/${ns}` : ''}/${PLURAL.RegistryCredential}`;
    const rcInformer = (ns?: string) =>
      new Informer<RawCredential>({
        ...common,
        name: ns ? `registrycredentials/${ns}` : 'registrycredentials',
        watchPath: rcPath(ns),
        list: (p) =>
          ns
            ? this.custom.listNamespacedCustomObject({ group: API_GROUP, version: VERSION_V1ALPHA1, namespace: ns, plural: PLURAL.RegistryCredential, limit: p.limit, _continue: p._continue })
            : this.custom.listCustomObjectForAllNamespaces({ group: API_GROUP, version: VERSION_V1ALPHA1, plural: PLURAL.RegistryCredential, limit: p.limit, _continue: p._continue }),
        transform: stripManagedFields,
      });
    const secretInformer = (ns?: string) =>
      new Informer<V1Secret>({
        ...common,
        name: ns ? `secrets/${ns}` : 'secrets',
        watchPath: ns ? `/api/v1/namespaces/${ns}/secrets` : '/api/v1/secrets',
        watchParams: { labelSelector: managed },
        list: (p) => (ns ? this.core.listNamespacedSecret({ namespace: ns, ...p, labelSelector: managed }) : this.core.listSecretForAllNamespaces({ ...p, labelSelector: managed })),
        // Anyone may put the label on a Secret of up to 1 MiB: small list pages, and only the slim
        // form is kept (whole metadata less managedFields, the type, a digest of the data; never the
        // data). A Secret is updated with PUT, which must not drop owner references or finalizers
        // someone else set, and replaces the data whole.
        pageSize: 20,
        transform: slimSecret,
      });
    const serviceAccountInformer = (ns?: string) =>
      new Informer<V1ServiceAccount>({
        ...common,
        name: ns ? `serviceaccounts/${ns}` : 'serviceaccounts',
        watchPath: ns ? `/api/v1/namespaces/${ns}/serviceaccounts` : '/api/v1/serviceaccounts',
        list: (p) => (ns ? this.core.listNamespacedServiceAccount({ namespace: ns, ...p }) : this.core.listServiceAccountForAllNamespaces(p)),
        transform: slimServiceAccount,
      });
    this.informers = watched
      ? {
          crc: new StaticCache<RawCredential>([]),
          rc: new MultiInformer(watched, rcInformer),
          namespaces: new StaticCache<V1Namespace>(watched.map((name) => ({ metadata: { name }, status: { phase: 'Active' } }))),
          secrets: new MultiInformer(watched, secretInformer),
          serviceAccounts: new MultiInformer(watched, serviceAccountInformer),
        }
      : {
          crc: new Informer<RawCredential>({
            ...common,
            name: 'clusterregistrycredentials',
            watchPath: `/apis/${API_GROUP}/${VERSION_V1ALPHA1}/${PLURAL.ClusterRegistryCredential}`,
            list: (p) =>
              this.custom.listClusterCustomObject({ group: API_GROUP, version: VERSION_V1ALPHA1, plural: PLURAL.ClusterRegistryCredential, limit: p.limit, _continue: p._continue }),
            transform: stripManagedFields,
          }),
          rc: rcInformer(),
          namespaces: new Informer<V1Namespace>({
            ...common,
            name: 'namespaces',
            watchPath: '/api/v1/namespaces',
            list: (p) => this.core.listNamespace(p),
            transform: slimNamespace,
          }),
          secrets: secretInformer(),
          serviceAccounts: serviceAccountInformer(),
        };
    this.wireHandlers();
  }

  /**
   * Starts the watches and waits until every cache is filled, without reconciling: what a standby
   * replica does when it serves the admission webhook (which reads the caches).
   */
  startCaches(): Promise<void> {
    this.cachesStarted ??= (async () => {
      const inf = this.informers;
      // Dependencies first, so the first reconcile of each credential sees complete caches.
      await Promise.all([inf.namespaces.start(), inf.secrets.start(), inf.serviceAccounts.start()]);
      await Promise.all([inf.crc.start(), inf.rc.start()]);
    })();
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
    this.queue.start();
    this.log.info({ credentials: this.specs.size, namespaces: this.informers.namespaces.list().length }, 'controller started');
  }

  async stop(): Promise<void> {
    this.refresher.stop();
    await this.queue.stop();
    await Promise.all(Object.values(this.informers).map((i) => i.stop()));
    await this.opts.events?.flush();
  }

  /** Ready once every cache has synced. */
  readyz(): { ok: boolean; reason?: string } {
    const pending = Object.entries(this.informers).filter(([, i]) => !i.hasSynced()).map(([n]) => n);
    if (!this.started || pending.length > 0) return { ok: false, reason: `caches not synced: ${pending.join(', ') || 'starting'}` };
    return { ok: true };
  }

  /** Live unless a watch has been failing for longer than the bound. */
  healthz(): { ok: boolean; reason?: string } {
    const bound = this.opts.livenessStallMs ?? 120_000;
    const stuck = Object.entries(this.informers).filter(([, i]) => i.unhealthyForMs() > bound).map(([n]) => n);
    if (stuck.length > 0) return { ok: false, reason: `watch failing for over ${bound / 1000}s: ${stuck.join(', ')}` };
    const overdue = this.refresher.overdue(bound);
    return overdue.length > 0 ? { ok: false, reason: `provider call running past its deadline: ${overdue.slice(0, 5).join(', ')}` } : { ok: true };
  }

  // ---- event wiring ----

  private wireHandlers(): void {
    const onCredential = (event: string, obj: RawCredential, old?: RawCredential) => {
      const key = credentialKey(obj.kind ?? '', obj.metadata?.name ?? '', obj.metadata?.namespace);
      const before = this.specs.get(key)?.spec.target.secretName;
      if (event === 'delete') {
        this.specs.delete(key);
        this.forget(key);
        this.queueSecretNameSharers(key, before);
        return;
      }
      const parsed = credentialObject.safeParse(obj);
      if (parsed.success) this.specs.set(key, parsed.data);
      else this.specs.delete(key);
      if (!old || old.metadata?.generation !== obj.metadata?.generation) {
        // A credential that starts or stops wanting a Secret (name, namespaces) changes who else claims it.
        const after = this.specs.get(key)?.spec.target.secretName;
        this.queueSecretNameSharers(key, before);
        if (after !== before) this.queueSecretNameSharers(key, after);
      }
      const changed =
        !old ||
        old.metadata?.generation !== obj.metadata?.generation ||
        !!old.metadata?.deletionTimestamp !== !!obj.metadata?.deletionTimestamp ||
        JSON.stringify(old.metadata?.annotations ?? {}) !== JSON.stringify(obj.metadata?.annotations ?? {}) ||
        // The finalizer is to be added or removed. (Not "is absent": a Retain credential has none, and
        // each of its status writes would requeue it.)
        (obj.metadata?.finalizers?.includes(FINALIZER) ?? false) !== (parsed.success && parsed.data.spec.cleanupPolicy === 'Delete');
      if (changed) this.queue.add(key);
    };
    this.informers.crc.on(onCredential);
    this.informers.rc.on(onCredential);

    this.informers.namespaces.on((event, ns, old) => {
      const name = ns.metadata?.name ?? '';
      const labels = ns.metadata?.labels ?? {};
      const oldLabels = old?.metadata?.labels;
      if (event === 'update' && old && JSON.stringify(oldLabels ?? {}) === JSON.stringify(labels) && old.status?.phase === ns.status?.phase) return;
      for (const [key, spec] of this.specs) {
        if (this.targets(spec, name, labels) || (oldLabels && this.targets(spec, name, oldLabels)) || this.ownedSecrets.get(this.labelKeyOf(spec), name, spec.spec.target.secretName)) {
          this.queue.add(key);
        }
      }
    });

    this.informers.secrets.on((event, secret, old) => {
      const { owner, oldOwner } = this.ownedSecrets.apply(event, secret, old);
      for (const ownerKey of new Set([owner, oldOwner])) {
        const key = ownerKey && this.specKeyOf(ownerKey);
        // Our own writes come back as events too: a Secret that already holds what we want needs
        // nothing. Anything else is re-checked, within the credential's rate limit: a Secret that
        // someone keeps changing back cannot make us write without bound.
        if (key && !(event !== 'delete' && ownerKey === owner && this.holdsCurrent(key, secret))) this.queue.addRateLimited(key);
      }
    });

    this.informers.serviceAccounts.on((event, sa) => {
      const ns = sa.metadata?.namespace ?? '';
      const name = sa.metadata?.name ?? '';
      let m = this.serviceAccountsByNamespace.get(ns);
      if (event === 'delete') {
        m?.delete(name);
        if (m && m.size === 0) this.serviceAccountsByNamespace.delete(ns);
        return;
      }
      if (!m) this.serviceAccountsByNamespace.set(ns, (m = new Map()));
      m.set(name, sa);
      const nsObj = this.informers.namespaces.get(ns);
      for (const [key, spec] of this.specs) {
        const t = spec.spec.target;
        if (!(t.serviceAccounts.includes('*') || t.serviceAccounts.includes(name))) continue;
        if (hasPullSecret(sa, t.secretName)) continue;
        if (this.targets(spec, ns, nsObj?.metadata?.labels ?? {})) this.queue.add(key);
      }
    });
  }

  /** The label form of a credential key: names over 63 characters are shortened in labels. */
  private labelKeyOf(obj: CredentialObject): string {
    return ownerIndexKey(ownerOf(obj));
  }

  /** Whether `secret`'s owner labels may be believed for `spec` (secret-index.ts trustedFor). */
  private trusts(spec: CredentialObject, secret: V1Secret): boolean {
    return trustedFor(spec, secret, (ns) => {
      const nsObj = this.informers.namespaces.get(ns);
      return !!nsObj && this.targets(spec, ns, nsObj.metadata?.labels ?? {});
    });
  }

  /**
   * The other credentials that want a Secret of the same name in `namespace`: each claims it, and
   * only one of them (the one its labels name) may write it.
   */
  private rivalsIn(key: string, spec: CredentialObject, namespace: string): string[] {
    const out: string[] = [];
    const labels = this.informers.namespaces.get(namespace)?.metadata?.labels ?? {};
    for (const [other, s] of this.specs) {
      if (other === key || s.spec.target.secretName !== spec.spec.target.secretName) continue;
      if (this.targets(s, namespace, labels)) out.push(other);
    }
    return out;
  }

  /** Queues the credentials that target a Secret named `secretName`: their claims may have changed. */
  private queueSecretNameSharers(except: string, secretName: string | undefined): void {
    if (secretName === undefined) return;
    for (const [key, s] of this.specs) if (key !== except && s.spec.target.secretName === secretName) this.queue.add(key);
  }

  /** The credential key for an owner key read from a Secret's labels. */
  private specKeyOf(ownerKey: string): string | undefined {
    if (this.specs.has(ownerKey)) return ownerKey;
    for (const [key, spec] of this.specs) if (this.labelKeyOf(spec) === ownerKey) return key;
    return undefined;
  }

  /** Whether a managed Secret already holds exactly what the credential's last mint wants there. */
  private holdsCurrent(key: string, secret: V1Secret): boolean {
    const spec = this.specs.get(key);
    const minted = this.states.get(key)?.minted;
    if (!spec || !minted || secret.metadata?.name !== spec.spec.target.secretName) return false;
    const ns = secret.metadata?.namespace ?? '';
    return isUpToDate(secret, desiredPullSecret(spec, minted), ns);
  }

  private targets(spec: CredentialObject, namespace: string, labels: Record<string, string>): boolean {
    if (spec.kind === 'RegistryCredential') return spec.metadata.namespace === namespace;
    return namespaceMatches(spec.spec.target.namespaces!, namespace, labels);
  }

  private forget(key: string): void {
    const state = this.states.get(key);
    this.states.delete(key);
    this.queue.forget(key);
    this.heldContentReader.forget(key);
    if (state && this.opts.metrics) {
      const [kind, a, b] = key.split('/');
      this.opts.metrics.forgetCredential({ kind: kind ?? '', namespace: b === undefined ? '' : (a ?? ''), name: b ?? a ?? '', provider: state.provider });
    }
  }

  private lookup(key: string): RawCredential | undefined {
    const [kind, a, b] = key.split('/');
    if (kind === 'ClusterRegistryCredential') return this.informers.crc.get(a ?? '');
    return this.informers.rc.get(`${a}/${b}`);
  }

  // ---- admission webhook ----

  /** The pull secrets of the credentials targeting `namespace`, for the webhook; from the caches. */
  async admissionCandidates(namespace: string, signal: AbortSignal): Promise<NamespaceCandidates> {
    let ns = this.informers.namespaces.get(namespace);
    if (!ns && !this.opts.watchNamespaces) {
      // A namespace created a moment before its first Pod may not have reached the cache: read it.
      try {
        ns = slimNamespace(await within(this.core.readNamespace({ name: namespace }), signal));
      } catch (err) {
        if (statusCode(err) === 404) return { candidates: [] };
        throw err;
      }
    }
    if (!ns || ns.status?.phase === 'Terminating') return { candidates: [] };
    if (ns.metadata?.annotations?.[ANNOTATION_INJECT] === 'false') return { candidates: [], optedOut: true };
    const labels = ns.metadata?.labels ?? {};
    const candidates: PullSecretCandidate[] = [];
    for (const [key, spec] of this.specs) {
      if (!this.targets(spec, namespace, labels)) continue;
      const registries = (await this.heldContent(key, spec, signal))?.registries ?? [];
      if (registries.length > 0) candidates.push({ key, secretName: spec.spec.target.secretName, registries, serviceAccounts: spec.spec.target.serviceAccounts });
    }
    return { candidates };
  }

  /**
   * Writes the candidate's Secret into `namespace` if it is not there, for the webhook: from the
   * credential minted in memory or, on a standby replica, from a Secret the leader wrote elsewhere.
   * Never calls a provider. The credential is then queued, so the controller patches service accounts.
   */
  async admissionEnsureSecret(candidate: PullSecretCandidate, namespace: string, signal: AbortSignal): Promise<'exists' | 'created' | 'unavailable'> {
    const spec = this.specs.get(candidate.key);
    if (!spec) return 'unavailable';
    const secretName = spec.spec.target.secretName;
    if (this.ownedSecrets.get(this.labelKeyOf(spec), namespace, secretName)) return 'exists';
    const held = await this.heldContent(candidate.key, spec, signal);
    if (!held) return 'unavailable';
    const desired: DesiredPullSecret = desiredPullSecret(spec, { credentials: [], dockerConfigJson: held.dockerConfigJson, expiresAt: held.expiresAt });
    const written = await within(
      writePullSecret(this.core, namespace, desired, null, { retry: { attempts: 2 }, onWrite: (op) => this.opts.metrics?.secretWrites.inc({ operation: op }) }),
      signal,
    );
    this.queue.add(candidate.key);
    return written.outcome === 'created' ? 'created' : 'exists';
  }

  /**
   * The content a credential's Secrets hold: the credential in memory, else (a replica that has not
   * minted it) what the Secrets it wrote hold, read from the API server. Only Secrets whose owner
   * labels are believable count (trusts): a Secret anyone labelled elsewhere is never handed out.
   */
  private async heldContent(key: string, spec: CredentialObject, signal: AbortSignal): Promise<HeldContent | undefined> {
    const minted = this.states.get(key)?.minted;
    if (minted) return { registries: minted.credentials.map((c) => c.registry), dockerConfigJson: minted.dockerConfigJson, expiresAt: minted.expiresAt };
    const trusted = [...this.ownedSecrets.values(this.labelKeyOf(spec))].filter((s) => this.trusts(spec, s));
    if (trusted.length === 0) return undefined;
    return this.heldContentReader.read(key, ownerOf(spec), trusted, (p) => within(p, signal));
  }

  // ---- reconcile ----

  /** Brings one credential's Secrets, service accounts and status in line. */
  async reconcile(key: string): Promise<QueueResult> {
    const raw = this.lookup(key);
    if (!raw) {
      this.forget(key);
      return {};
    }
    const kind = (raw.kind ?? '') as keyof typeof PLURAL;
    const name = raw.metadata?.name ?? '';
    const namespace = raw.metadata?.namespace;
    const eventTarget: EventTarget = { apiVersion: `${API_GROUP}/${VERSION_V1ALPHA1}`, kind, name, ...(namespace ? { namespace } : {}), ...(raw.metadata?.uid ? { uid: raw.metadata.uid } : {}) };
    const now = this.clock.now();

    const parsed = credentialObject.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const message = `${issue ? formatPath(issue.path) + ': ' : ''}${issue?.message ?? 'invalid'}`;
      if (raw.metadata?.deletionTimestamp) {
        await this.removeFinalizer(raw, kind);
        return {};
      }
      const status = computeStatus({
        now: new Date(now),
        generation: raw.metadata?.generation,
        provider: '',
        previous: raw.status,
        hasCredential: false,
        targets: { total: 0, synced: 0, failed: 0 },
        failures: [],
        refreshError: { reason: 'InvalidSpec', message },
      });
      this.opts.events?.record(eventTarget, 'Warning', 'InvalidSpec', message);
      await this.writeStatus(raw, kind, status);
      return {};
    }
    const obj = parsed.data;
    this.specs.set(key, obj);

    if (raw.metadata?.deletionTimestamp) {
      await this.finalize(key, raw, obj, kind, eventTarget);
      return {};
    }
    // Only cleanupPolicy Delete has work to do on deletion; Retain needs no finalizer, so deleting the
    // object (e.g. `helm uninstall`, which removes the controller first) never waits for a controller.
    if (obj.spec.cleanupPolicy === 'Delete') await this.ensureFinalizer(raw, kind);
    else await this.removeFinalizer(raw, kind);

    let state = this.states.get(key);
    if (!state || state.uid !== raw.metadata?.uid) {
      state = { uid: raw.metadata?.uid, refreshFailures: 0, targetFailures: 0, provider: obj.spec.provider.key };
      this.states.set(key, state);
    }
    const labels = { kind, namespace: namespace ?? '', name, provider: obj.spec.provider.key };
    const specChanged = state.generation !== raw.metadata?.generation;
    state.generation = raw.metadata?.generation;
    state.provider = obj.spec.provider.key;

    // 1. Mint, when there is nothing yet, the spec changed, or the refresh is due (refresh.ts).
    const minted = await this.refresher.refresh({ key, obj, kind, state, now, eventTarget, labels, specChanged });

    // 2. Fan out the credential we hold (never an empty one), and clean up where it no longer belongs.
    const failures: TargetFailure[] = [];
    let targets = { total: 0, synced: 0, failed: 0 };
    if (state.minted) {
      const wanted = this.targetNamespaces(obj);
      const ownerKey = this.labelKeyOf(obj);
      const secretName = obj.spec.target.secretName;
      const result = await fanOut(this.core, obj, state.minted, wanted, {
        concurrency: this.opts.fanOutConcurrency ?? 16,
        log: this.log,
        onWrite: (op) => this.opts.metrics?.secretWrites.inc({ operation: op }),
        cache: {
          secret: (ns) => this.ownedSecrets.get(ownerKey, ns, secretName) ?? null,
          serviceAccounts: (ns) => [...(this.serviceAccountsByNamespace.get(ns)?.values() ?? [])],
        },
      });
      targets = { total: result.counts.total, synced: result.counts.synced, failed: result.counts.failed };
      const shared = [...this.specs].some(([k, s]) => k !== key && s.spec.target.secretName === secretName);
      for (const r of result.namespaces) {
        if (r.error) {
          failures.push({ namespace: r.namespace, reason: r.error.code, message: r.error.message });
          continue;
        }
        // Another credential wants the same Secret here: it holds this one's content (its labels name
        // this one, so the other writes nothing), but the two claims are a conflict to report on both.
        const rivals = shared ? this.rivalsIn(key, obj, r.namespace) : [];
        if (rivals.length > 0) {
          failures.push({ namespace: r.namespace, reason: 'SecretConflict', message: `Secret ${r.namespace}/${secretName} is also claimed by ${rivals.join(', ')}; it stays with this credential, which wrote it` });
          targets.synced--;
          targets.failed++;
        }
      }
      if (obj.spec.cleanupPolicy === 'Delete') await this.removeStale(obj, new Set(wanted));
      if (minted) {
        this.opts.events?.record(
          eventTarget,
          'Normal',
          'Refreshed',
          `credential refreshed; ${targets.synced}/${targets.total} namespaces synced; expires ${state.minted.expiresAt?.toISOString() ?? 'never'}`,
        );
        this.log.info({ credential: key, synced: targets.synced, total: targets.total, expiresAt: state.minted.expiresAt?.toISOString() }, 'credential refreshed');
      }
    }
    if (failures.length > 0) {
      state.targetFailures++;
      const summary = failures.slice(0, 5).map((f) => `${f.namespace} (${f.reason})`).join(', ');
      const detail = failures.length === 1 ? `: ${failures[0]!.message}` : '';
      this.opts.events?.record(eventTarget, 'Warning', failures.length === 1 ? failures[0]!.reason : 'PartiallySynced', `${failures.length} namespace(s) failed: ${summary}${detail}`);
    } else state.targetFailures = 0;

    // 3. Status and metrics.
    const status = computeStatus({
      now: new Date(now),
      generation: raw.metadata?.generation,
      provider: obj.spec.provider.key,
      previous: raw.status,
      expiresAt: state.minted?.expiresAt,
      hasCredential: !!state.minted,
      lastRefreshTime: state.mintedAt !== undefined ? new Date(state.mintedAt) : undefined,
      nextRefreshTime: state.nextRefreshAt !== undefined ? new Date(state.nextRefreshAt) : undefined,
      targets,
      failures,
      refreshError: state.refreshError,
    });
    await this.writeStatus(raw, kind, status);
    const m = this.opts.metrics;
    if (m) {
      if (state.minted?.expiresAt) m.credentialExpiry.set(labels, state.minted.expiresAt.getTime() / 1000);
      if (state.nextRefreshAt !== undefined) m.credentialNextRefresh.set(labels, state.nextRefreshAt / 1000);
      m.credentialReady.set(labels, status.conditions[0]?.status === 'True' ? 1 : 0);
      m.targetSecrets.set({ ...labels, state: 'synced' }, targets.synced);
      m.targetSecrets.set({ ...labels, state: 'failed' }, targets.failed);
    }

    // 4. Next run: the refresh, or sooner to retry failed namespaces.
    let next = (state.nextRefreshAt ?? now) - now;
    if (failures.length > 0) next = Math.min(next, backoffDelay(state.targetFailures - 1, this.opts.retryBaseMs ?? 5_000, this.opts.retryMaxMs ?? 300_000));
    return { requeueAfterMs: Math.max(next, 1) };
  }

  /** The namespaces a credential selects, from the namespace cache (namespaces being deleted are skipped). */
  private targetNamespaces(obj: CredentialObject): string[] {
    if (obj.kind === 'RegistryCredential') {
      const ns = this.informers.namespaces.get(obj.metadata.namespace!);
      return ns && ns.status?.phase !== 'Terminating' ? [obj.metadata.namespace!] : [];
    }
    const target = obj.spec.target.namespaces!;
    const out: string[] = [];
    for (const ns of this.informers.namespaces.values()) {
      const name = ns.metadata?.name ?? '';
      if (ns.status?.phase === 'Terminating') continue;
      if (namespaceMatches(target, name, ns.metadata?.labels ?? {})) out.push(name);
    }
    return out.sort();
  }

  /** Managed Secrets of this credential in namespaces it no longer targets, or under an old name. */
  private staleSecrets(obj: CredentialObject, wanted: Set<string>): V1Secret[] {
    const out: V1Secret[] = [];
    for (const s of this.ownedSecrets.values(this.labelKeyOf(obj))) {
      const ns = s.metadata?.namespace ?? '';
      // A RegistryCredential writes only in its own namespace: one labelled as its elsewhere is not its.
      if (obj.kind === 'RegistryCredential' && ns !== obj.metadata.namespace) continue;
      const nsObj = this.informers.namespaces.get(ns);
      if (!nsObj || nsObj.status?.phase === 'Terminating') continue; // the namespace controller removes it
      if (!wanted.has(ns) || s.metadata?.name !== obj.spec.target.secretName) out.push(s);
    }
    return out;
  }

  private async removeStale(obj: CredentialObject, wanted: Set<string>): Promise<void> {
    for (const secret of this.staleSecrets(obj, wanted)) {
      await this.removeSecretAndReferences(secret);
    }
  }

  private async removeSecretAndReferences(secret: V1Secret): Promise<void> {
    const ns = secret.metadata?.namespace ?? '';
    const name = secret.metadata?.name ?? '';
    const onWrite = (op: 'create' | 'update' | 'delete') => this.opts.metrics?.secretWrites.inc({ operation: op });
    await detachPullSecret(this.core, ns, name, { known: [...(this.serviceAccountsByNamespace.get(ns)?.values() ?? [])], onWrite });
    await deleteManagedSecret(this.core, secret, { onWrite });
    this.log.info({ namespace: ns, secret: name }, 'removed a pull secret that is no longer targeted');
  }

  /** Deletion: apply cleanupPolicy, then let the object go. */
  private async finalize(key: string, raw: RawCredential, obj: CredentialObject, kind: keyof typeof PLURAL, target: EventTarget): Promise<void> {
    if (!raw.metadata?.finalizers?.includes(FINALIZER)) return;
    if (obj.spec.cleanupPolicy === 'Delete') {
      // Every Secret it wrote (in live namespaces: those being deleted take their Secrets along).
      const owned = this.staleSecrets(obj, new Set());
      for (const secret of owned) await this.removeSecretAndReferences(secret);
      this.opts.events?.record(target, 'Normal', 'CleanedUp', `removed ${owned.length} pull secret(s) (cleanupPolicy Delete)`);
    }
    await this.removeFinalizer(raw, kind);
    this.forget(key);
    this.log.info({ credential: objectRef(obj), cleanupPolicy: obj.spec.cleanupPolicy }, 'credential deleted');
  }

  private objectApi(raw: RawCredential, kind: keyof typeof PLURAL) {
    return { group: API_GROUP, version: VERSION_V1ALPHA1, plural: PLURAL[kind], name: raw.metadata?.name ?? '', namespace: raw.metadata?.namespace ?? '' };
  }

  private async patchObject(raw: RawCredential, kind: keyof typeof PLURAL, body: object[]): Promise<void> {
    const p = this.objectApi(raw, kind);
    try {
      await withApiRetry(() =>
        kind === 'ClusterRegistryCredential' ? this.custom.patchClusterCustomObject({ ...p, body }) : this.custom.patchNamespacedCustomObject({ ...p, body }),
      );
    } catch (err) {
      if (statusCode(err) === 404) return;
      throw toRegcredError(err, `cannot update ${kind}/${p.name}`);
    }
  }

  private async ensureFinalizer(raw: RawCredential, kind: keyof typeof PLURAL): Promise<void> {
    const finalizers = raw.metadata?.finalizers ?? [];
    if (finalizers.includes(FINALIZER)) return;
    const guard = { op: 'test', path: '/metadata/resourceVersion', value: raw.metadata?.resourceVersion };
    await this.patchObject(raw, kind, [
      guard,
      finalizers.length === 0 ? { op: 'add', path: '/metadata/finalizers', value: [FINALIZER] } : { op: 'add', path: '/metadata/finalizers/-', value: FINALIZER },
    ]);
  }

  private async removeFinalizer(raw: RawCredential, kind: keyof typeof PLURAL): Promise<void> {
    const index = (raw.metadata?.finalizers ?? []).indexOf(FINALIZER);
    if (index < 0) return;
    await this.patchObject(raw, kind, [
      { op: 'test', path: '/metadata/resourceVersion', value: raw.metadata?.resourceVersion },
      { op: 'remove', path: `/metadata/finalizers/${index}` },
    ]);
  }

  private async writeStatus(raw: RawCredential, kind: keyof typeof PLURAL, status: CredentialStatus): Promise<void> {
    if (sameStatus(raw.status, status)) return;
    const p = this.objectApi(raw, kind);
    const body = [{ op: 'add', path: '/status', value: JSON.parse(JSON.stringify(status)) as object }];
    try {
      // A JSON patch that sets /status is idempotent: safe to retry after a dropped connection.
      await withApiRetry(() =>
        kind === 'ClusterRegistryCredential'
          ? this.custom.patchClusterCustomObjectStatus({ ...p, body })
          : this.custom.patchNamespacedCustomObjectStatus({ ...p, body }),
      );
    } catch (err) {
      if (statusCode(err) === 404) return;
      throw toRegcredError(err, `cannot write the status of ${kind}/${p.name}`);
    }
  }
}

