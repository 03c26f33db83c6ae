import type { CoreApi } from '../kube/api/resources.js';
import { parseDuration } from '../config/common.js';
import { formatPath } from '../config/load.js';
import type { CredentialObject } from '../config/schema.js';
import { checkTenantPolicy, type TenantPolicy } from '../config/tenant-policy.js';
import { RegcredError, errorMessage, type ErrorCode } from '../errors.js';
import type { EventRecorder, EventTarget } from '../kube/events.js';
import { kubeProviderDeps, sourceScope } from '../kube/sources.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { NetworkPolicy } from '../providers/internal/address-policy.js';
import { withNetworkPolicy } from '../providers/internal/guarded-net.js';
import type { ProviderDefinition } from '../providers/types.js';
import { backoffDelay } from '../util/backoff.js';
import type { Clock } from '../util/clock.js';
import { DEFAULT_MINT_TIMEOUT_MS, MintDeadlines } from './mint-deadline.js';
import { mintCredential, type MintedCredential } from './reconcile.js';
import { planRefresh } from './scheduler.js';
import { recordingReader, withKeysNamed, type SourceRead } from './sources/reads.js';

// Step 1 of a reconcile: mint when there is nothing yet, the spec changed or the refresh is due;
// never what the tenant policy refuses (then the Secrets in place keep their last good content).
// Each mint runs under its deadline with the network policy of its kind; the next refresh is
// planned from the real expiry (scheduler.ts), never sooner than a RegistryCredential's floor.

/** What the controller remembers of one credential between reconciles. */
export interface CredentialState {
  uid?: string | undefined;
  generation?: number | undefined;
  minted?: MintedCredential | undefined;
  mintedAt?: number | undefined;
  nextRefreshAt?: number | undefined;
  refreshFailures: number;
  targetFailures: number;
  /** `refused`: the tenant policy refused the spec or a call it made: not ready, whatever the targets hold. */
  refreshError?: { reason: string; message: string; refused?: boolean } | undefined;
  provider: string;
  /** The Secrets the last mints read (sources/reads.ts): what the source watch follows. */
  sources?: SourceRead[] | undefined;
  /** A Secret in `sources` changed since: mint again now, whatever the schedule says. */
  sourcesChanged?: boolean | undefined;
}

/** Refusals of the network and token rules, raised while minting rather than found in the spec. */
const RUNTIME_REFUSALS: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['HostNotAllowed', 'AddressNotAllowed', 'TokenNotAllowed']);

/** Errors of the credential's source Secrets (metric regcred_source_secret_problem). */
const SOURCE_PROBLEMS: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['SourceNotFound', 'InvalidSource', 'CrossNamespaceRef']);

export interface RefresherDeps {
  core: CoreApi;
  /** The controller's namespace and cross-namespace rule (kube/sources.ts). */
  namespace: string;
  allowCrossNamespaceRefs: boolean;
  providers: ReadonlyMap<string, ProviderDefinition<unknown>>;
  clock: Clock;
  log: Logger;
  metrics?: Metrics | undefined;
  events?: EventRecorder | undefined;
  /** Injected transport (tests): then the network policy is passed to providers but not enforced on connections. */
  fetch?: typeof globalThis.fetch | undefined;
  tenantPolicy: TenantPolicy;
  clusterNetwork: NetworkPolicy;
  minRefreshDelayMs?: number | undefined;
  retryBaseMs?: number | undefined;
  retryMaxMs?: number | undefined;
  mintTimeoutMs?: number | undefined;
  /** After every mint attempt: the Secrets it read (the source watch follows them). */
  onSourcesRead?: ((key: string, reads: readonly SourceRead[]) => void) | undefined;
}

export interface RefreshInput {
  key: string;
  obj: CredentialObject;
  kind: 'ClusterRegistryCredential' | 'RegistryCredential';
  state: CredentialState;
  now: number;
  eventTarget: EventTarget;
  labels: { kind: string; namespace: string; name: string; provider: string };
  specChanged: boolean;
}

export class Refresher {
  private readonly mintDeadlines: MintDeadlines;
  /** Aborted by stop(): in-flight provider calls end instead of holding the shutdown. */
  private readonly shutdown = new AbortController();
  /** Refused for RegistryCredentials' tokens: the in-cluster names, the issuer and --api-audience (set at start). */
  deniedAudiences: readonly string[] = [];

  constructor(private readonly d: RefresherDeps) {
    this.mintDeadlines = new MintDeadlines(d.clock, d.mintTimeoutMs ?? DEFAULT_MINT_TIMEOUT_MS);
  }

  stop(): void {
    this.shutdown.abort();
  }

  /** Aborted by stop(): work under way (a fan-out) starts nothing new. */
  get stopping(): AbortSignal {
    return this.shutdown.signal;
  }

  /** Credentials whose mint still runs `graceMs` past its deadline. */
  overdue(graceMs: number): string[] {
    return this.mintDeadlines.overdue(graceMs);
  }

  /** Mints if due; true when a new credential was minted (state updated either way). */
  async refresh({ key, obj, kind, state, now, eventTarget, labels, specChanged }: RefreshInput): Promise<boolean> {
    let minted = false;
    const violations = checkTenantPolicy(obj, this.d.tenantPolicy, this.d.providers);
    // Due: first time, spec changed, or the planned time (after a success, or the backoff after a failure) has come.
    const due = specChanged || !!state.sourcesChanged || state.nextRefreshAt === undefined || now >= state.nextRefreshAt;
    if (due) state.sourcesChanged = false;
    if (violations.length > 0 && due) {
      const first = violations[0]!;
      const message = `refused by the tenant policy: ${violations.map((v) => `${formatPath(v.path)} ${v.message}`).join('; ')}`;
      const changed = state.refreshError?.message !== message;
      state.refreshError = { reason: first.rule, message, refused: true };
      state.nextRefreshAt = now + (this.d.retryMaxMs ?? 300_000);
      if (changed) {
        for (const v of violations) this.d.metrics?.policyRefusals.inc({ kind, namespace: labels.namespace, name: labels.name, rule: v.rule });
        this.d.log.warn({ credential: key, rules: violations.map((v) => v.rule) }, 'refused by the tenant policy; nothing minted');
        this.d.events?.record(eventTarget, 'Warning', first.rule, state.refreshError.message);
      }
    } else if (due) {
      const started = this.d.clock.now();
      const reads: SourceRead[] = [];
      try {
        const base = kubeProviderDeps(
          this.d.core,
          obj,
          this.d.namespace,
          this.d.allowCrossNamespaceRefs,
          { now: () => new Date(this.d.clock.now()), fetch: this.d.fetch ?? globalThis.fetch, log: this.d.log.child({ credential: key }) },
          true,
          this.deniedAudiences,
        );
        // A tenant's calls go where the tenant policy allows; the administrator's anywhere but the always-refused addresses.
        const network = kind === 'RegistryCredential' ? this.d.tenantPolicy.network : this.d.clusterNetwork;
        base.sources = recordingReader(base.sources, sourceScope(obj, this.d.namespace, this.d.allowCrossNamespaceRefs).defaultNamespace, reads);
        const deps = this.d.fetch ? { ...base, network } : withNetworkPolicy(base, network);
        const credential = await this.mintDeadlines.run(key, this.shutdown.signal, (signal) => mintCredential(obj, deps, signal, this.d.providers));
        this.d.metrics?.providerRequestDuration.observe({ provider: obj.spec.provider.key, result: 'success' }, (this.d.clock.now() - started) / 1000);
        this.d.metrics?.refreshTotal.inc({ ...labels, result: 'success' });
        this.sourcesRead(key, state, reads, true);
        this.d.metrics?.sourceProblem.set(labels, 0);
        state.minted = credential;
        state.mintedAt = now;
        state.refreshFailures = 0;
        state.refreshError = undefined;
        minted = true;
        const plan = planRefresh({
          now,
          issuedAt: now,
          expiresAt: credential.expiresAt?.getTime(),
          renewBeforeMs: obj.spec.refresh.renewBefore ? parseDuration(obj.spec.refresh.renewBefore) : undefined,
          intervalMs: parseDuration(obj.spec.refresh.interval),
          minDelayMs: this.d.minRefreshDelayMs ?? 30_000,
          floorMs: kind === 'RegistryCredential' ? this.d.tenantPolicy.minRefreshIntervalMs : undefined,
        });
        state.nextRefreshAt = plan.at;
        if (plan.clamped) {
          const why =
            plan.clamped === 'expired'
              ? `the provider returned a credential that already expired (${credential.expiresAt?.toISOString()})`
              : `the credential expires at ${credential.expiresAt?.toISOString()}, sooner than its renewal window allows`;
          this.d.log.warn({ credential: key, expiresAt: credential.expiresAt?.toISOString(), retryAt: new Date(plan.at).toISOString() }, plan.clamped === 'expired' ? `${why}; retrying at the minimum delay` : `${why}; refreshing just before it expires`);
          this.d.events?.record(eventTarget, 'Warning', 'ShortLivedCredential', `${why}; next refresh at ${new Date(plan.at).toISOString()}`);
        }
      } catch (err) {
        // Cut short by the shutdown: not a failure of the credential (no status, no event, no
        // backoff); the reconcile ends here and the next leader mints again.
        if (this.shutdown.signal.aborted) throw err;
        const e = err instanceof RegcredError ? err : new RegcredError('ProviderError', errorMessage(err), true);
        const message = e.code === 'SourceNotFound' ? withKeysNamed(e.message, reads, state.sources) : e.message;
        this.sourcesRead(key, state, reads, false);
        this.d.metrics?.providerRequestDuration.observe({ provider: obj.spec.provider.key, result: 'error' }, (this.d.clock.now() - started) / 1000);
        this.d.metrics?.refreshTotal.inc({ ...labels, result: 'error' });
        // A provider's permanent refusal (bad credentials, no permission, a setting it rejects) goes
        // straight to the longest delay: only a user can fix it, a spec change re-mints at once, and a
        // fix elsewhere (IAM, the source Secret's content) is picked up within that delay. Everything
        // else (network, 5xx, throttling, a source Secret not created yet) backs off exponentially.
        const refused = RUNTIME_REFUSALS.has(e.code);
        const permanent = (e.code === 'ProviderError' || refused) && !e.retryable;
        const delay = permanent
          ? (this.d.retryMaxMs ?? 300_000)
          : backoffDelay(state.refreshFailures, this.d.retryBaseMs ?? 5_000, this.d.retryMaxMs ?? 300_000);
        state.refreshFailures++;
        state.refreshError = { reason: e.code === 'ApiError' ? 'ProviderError' : e.code, message, ...(refused ? { refused } : {}) };
        this.d.metrics?.sourceProblem.set(labels, SOURCE_PROBLEMS.has(e.code) ? 1 : 0);
        if (refused) this.d.metrics?.policyRefusals.inc({ kind, namespace: labels.namespace, name: labels.name, rule: e.code });
        state.nextRefreshAt = now + delay;
        this.d.log.warn(
          // The remote's own words go to the log only (scrubbed there), never into status or events, which the tenant reads.
          { credential: key, code: e.code, err: message, ...(e.remoteDetail ? { remote: e.remoteDetail } : {}), permanent, failures: state.refreshFailures, retryInMs: Math.round(delay) },
          'refresh failed; keeping the previous credential',
        );
        this.d.events?.record(eventTarget, 'Warning', state.refreshError.reason, `refresh failed: ${message}`);
      }
    }
    return minted;
  }

  /**
   * Records what a mint read. A failed mint may have stopped before some Secret it reads: those of
   * earlier mints stay followed, so fixing any of them brings the next attempt at once.
   */
  private sourcesRead(key: string, state: CredentialState, reads: SourceRead[], succeeded: boolean): void {
    const all = succeeded ? reads : [...reads, ...(state.sources ?? []).filter((p) => !reads.some((r) => r.namespace === p.namespace && r.name === p.name))];
    // A Secret read before keeps the keys it was read for, until a mint reads it whole again.
    for (const r of all) {
      const p = state.sources?.find((x) => x.namespace === r.namespace && x.name === r.name);
      if (p && r.keys.length === 0) r.keys = p.keys;
    }
    state.sources = all;
    this.d.onSourcesRead?.(key, all);
  }
}
