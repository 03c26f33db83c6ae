import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import { loadKubeConfig } from '../kube/client.js';
import { EventRecorder } from '../kube/events.js';
import { LeaderElector } from '../kube/leader.js';
import { createMetrics } from '../metrics.js';
import { Controller } from '../controller/controller.js';
import { parseBindAddress, startHttpServers, type HttpServers } from '../controller/http.js';
// The webhook's modules (and node-forge) load only when the webhook is enabled: see startWebhook.
import type { CertificateSource } from '../webhook/tls.js';
import type { WebhookServer } from '../webhook/server.js';
import type { KubeClient } from '../kube/api/client.js';
import type { TenantPolicy } from '../config/tenant-policy.js';
import type { NetworkPolicy } from '../providers/internal/address-policy.js';
import { settledWithin } from '../util/wait.js';
import { EXIT_FAILED, EXIT_INVALID, EXIT_OK, type GlobalOptions, type Output } from './common.js';
import { chainguardCompat, listFlag } from './controller-chainguard.js';

export interface ControllerCommandOptions extends GlobalOptions {
  namespace: string;
  allowCrossNamespaceRefs: boolean;
  metricsBindAddress: string;
  healthProbeBindAddress: string;
  leaderElect: boolean;
  leaderElectionId: string;
  chainguardCompat?: boolean;
  chainguardIssuer?: string;
  /** `[namespace/]name` of the service account whose token is exchanged; default regcred's own. */
  chainguardServiceAccount?: string;
  /** Identities --chainguard-compat may mint for ("*": any); required with it. */
  chainguardCompatIdentities?: string[];
  /** Namespaces whose annotated Secrets --chainguard-compat fills; none: every namespace. */
  chainguardCompatNamespaces?: string[];
  /** Namespaced mode: only RegistryCredentials in these namespaces. */
  watchNamespace?: string[];
  /** --min-refresh-delay in ms (default 30 s). */
  minRefreshDelay?: number;
  /** The admission webhook's HTTPS address; "0" or undefined: no webhook. */
  webhookBindAddress?: string;
  /** tls.crt/tls.key provided (cert-manager); otherwise regcred manages its own certificate. */
  webhookCertDir?: string;
  webhookSecretName?: string;
  webhookConfigurationName?: string;
  webhookServiceName?: string;
  /** Names and IPs in the serving certificate; default the Service's DNS names. */
  webhookHost?: string[];
  webhookCertValidity?: number;
  webhookCaValidity?: number;
  tenantPolicy?: TenantPolicy;
  /** The address check of ClusterRegistryCredentials' provider calls (--denied-cidr, --allowed-cidr). */
  clusterNetwork?: NetworkPolicy;
  /** Audiences the API server accepts besides its issuer and the in-cluster names. */
  apiAudience?: string[];
  mintTimeout?: number;
  /** Admission requests handled at once; more are answered 429 (default 16). */
  webhookMaxInFlight?: number;
  /** The client-side rate limit of API requests (kube/api/rate-limit.ts); defaults there. */
  kubeQps?: number;
  kubeBurst?: number;
}

/**
 * SIGTERM: work under way (Secret writes, a status update, a fan-out's namespaces already started;
 * provider calls are aborted and exec plugins killed) gets this long to finish, then the Lease is
 * released and pending Events written, each bounded too: the process is gone within 5 s even when
 * something hangs, and a standby takes over at once.
 */
const SHUTDOWN_WORK_MS = 3000;
const SHUTDOWN_RELEASE_MS = 1000;
const SHUTDOWN_EVENTS_MS = 500;

export const DEFAULT_WEBHOOK_SECRET = 'regcred-webhook-tls';
export const DEFAULT_WEBHOOK_CONFIGURATION = 'regcred';
export const DEFAULT_WEBHOOK_SERVICE = 'regcred-webhook';

/** The webhook's certificate source and server, started next to the controller. */
async function startWebhook(
  opts: ControllerCommandOptions,
  kubeConfig: KubeClient,
  controller: Controller,
  log: Logger,
  metrics: ReturnType<typeof createMetrics>,
  shutdown: AbortSignal,
): Promise<{ server: WebhookServer; certificates: CertificateSource } | undefined> {
  const bind = parseBindAddress(opts.webhookBindAddress ?? '0');
  if (!bind) return undefined;
  const { FileCertificates, SelfManagedCertificates } = await import('../webhook/tls.js');
  const { startWebhookServer } = await import('../webhook/server.js');
  const service = opts.webhookServiceName ?? DEFAULT_WEBHOOK_SERVICE;
  const hosts = opts.webhookHost?.length ? opts.webhookHost : [`${service}.${opts.namespace}.svc`, `${service}.${opts.namespace}.svc.cluster.local`];
  const certificates: CertificateSource = opts.webhookCertDir
    ? new FileCertificates({ dir: opts.webhookCertDir, log })
    : new SelfManagedCertificates({
        kubeConfig,
        namespace: opts.namespace,
        secretName: opts.webhookSecretName ?? DEFAULT_WEBHOOK_SECRET,
        configurationName: opts.webhookConfigurationName ?? DEFAULT_WEBHOOK_CONFIGURATION,
        hosts,
        certValidityMs: opts.webhookCertValidity ?? 365 * 24 * 3600_000,
        caValidityMs: opts.webhookCaValidity ?? 10 * 365 * 24 * 3600_000,
        log,
      });
  // Stopping ends a start still waiting for its first certificate (e.g. no RBAC yet).
  shutdown.addEventListener('abort', () => void certificates.stop(), { once: true });
  await certificates.start();
  if (shutdown.aborted) return undefined;
  const server = await startWebhookServer({
    host: bind.host,
    port: bind.port,
    certificates,
    log,
    backend: {
      candidatesFor: (namespace, signal) => controller.admissionCandidates(namespace, signal),
      ensureSecret: (candidate, namespace, signal) => controller.admissionEnsureSecret(candidate, namespace, signal),
    },
    ...(opts.webhookMaxInFlight !== undefined ? { maxInFlight: opts.webhookMaxInFlight } : {}),
    onAdmission: (result) => metrics.webhookAdmissions.inc({ result }),
  });
  return { server, certificates };
}

/**
 * `regcred controller`: runs until SIGTERM (exit 0). With --leader-elect only the holder of the
 * Lease reconciles; the others wait, ready, to take over. Losing the lease exits 1 so the kubelet
 * restarts the pod clean (what client-go controllers do).
 */
export async function runController(opts: ControllerCommandOptions, output: Output, log: Logger): Promise<number> {
  let kubeConfig;
  let leaseKubeConfig;
  try {
    kubeConfig = loadKubeConfig(opts, log);
    // The Lease is renewed on its own connections, outside the rate limit: a renewal must never
    // queue behind a fan-out (a leader that cannot renew in time gives up), as client-go's leader
    // election runs on a client of its own.
    leaseKubeConfig = opts.leaderElect ? loadKubeConfig({ kubeconfig: opts.kubeconfig, context: opts.context, kubeQps: 0 }) : undefined;
  } catch (err) {
    output.err(`error: ${errorMessage(err)}`);
    return EXIT_INVALID;
  }
  const identity = `${hostname()}_${randomBytes(4).toString('hex')}`;
  const metrics = createMetrics();
  const events = new EventRecorder({ kubeConfig, controller: 'regcred.dev/controller', instance: identity, log });
  const watchNamespaces = opts.watchNamespace?.length ? [...new Set(opts.watchNamespace)] : undefined;
  if (watchNamespaces && opts.chainguardCompat) {
    output.err('error: --chainguard-compat watches Secrets cluster-wide and cannot be combined with --watch-namespace');
    return EXIT_INVALID;
  }
  if (opts.chainguardCompat && listFlag(opts.chainguardCompatIdentities).length === 0) {
    // Whoever can create a Secret could otherwise name any identity that trusts regcred.
    output.err('error: --chainguard-compat needs --chainguard-compat-identities: the Chainguard identities it may mint tokens for ("*" for any)');
    return EXIT_INVALID;
  }
  const controller = new Controller({
    kubeConfig,
    namespace: opts.namespace,
    allowCrossNamespaceRefs: opts.allowCrossNamespaceRefs,
    log,
    metrics,
    events,
    watchNamespaces,
    tenantPolicy: opts.tenantPolicy,
    clusterNetwork: opts.clusterNetwork,
    apiServerAudiences: opts.apiAudience,
    mintTimeoutMs: opts.mintTimeout,
    ...(opts.minRefreshDelay !== undefined ? { minRefreshDelayMs: opts.minRefreshDelay } : {}),
  });
  const compat = opts.chainguardCompat ? chainguardCompat(kubeConfig, opts, log, events) : undefined;
  const elector = leaseKubeConfig
    ? new LeaderElector({ kubeConfig: leaseKubeConfig, namespace: opts.namespace, name: opts.leaderElectionId, identity, log })
    : undefined;

  let controllerStarted = false;
  let servers: HttpServers | undefined;
  const webhookWanted = parseBindAddress(opts.webhookBindAddress ?? '0') !== undefined;
  let webhook: { server: WebhookServer; certificates: CertificateSource } | undefined;
  try {
    servers = await startHttpServers({
      metricsBindAddress: opts.metricsBindAddress,
      healthProbeBindAddress: opts.healthProbeBindAddress,
      registry: metrics.registry,
      log,
      healthz: () => {
        if (!controllerStarted) return { ok: true };
        const h = controller.healthz();
        if (h.ok && compat && compat.unhealthyForMs() > 120_000) return { ok: false, reason: 'chainguard-compat Secret watch failing' };
        return h;
      },
      readyz: () => {
        // Every replica serves the webhook (the Service picks any): ready once it does, on warm caches.
        if (webhookWanted && (!webhook || !controller.cachesSynced())) return { ok: false, reason: 'webhook not serving yet' };
        // A standby replica is ready: it serves probes and waits for the lease.
        if (elector && !elector.isLeader()) return { ok: true, reason: 'standby' };
        const r = controller.readyz();
        if (r.ok && compat && !compat.hasSynced()) return { ok: false, reason: 'caches not synced: chainguard-compat-secrets' };
        return r;
      },
    });
  } catch (err) {
    output.err(`error: cannot listen: ${errorMessage(err)}`);
    return EXIT_INVALID;
  }
  log.info({ identity, namespace: opts.namespace, watchNamespaces, metricsPort: servers.metricsPort, healthPort: servers.healthPort, leaderElect: opts.leaderElect }, 'regcred controller starting');

  let shuttingDown = false;
  const shutdownAbort = new AbortController();
  let resolveShutdown!: () => void;
  const shutdownRequested = new Promise<void>((r) => (resolveShutdown = r));
  const onSignal = (signal: string) => {
    if (shuttingDown) return;
    shuttingDown = true;
    shutdownAbort.abort();
    log.info({ signal }, 'shutting down');
    // A candidate stops waiting for the lease; a leader first stops its work, then releases (below).
    if (elector && !elector.isLeader()) elector.stop();
    resolveShutdown();
  };
  process.once('SIGTERM', () => onSignal('SIGTERM'));
  process.once('SIGINT', () => onSignal('SIGINT'));

  /** A start still waiting (caches not filled: the API server unreachable) must not hold a SIGTERM. */
  const untilShutdown = (p: Promise<unknown>) => Promise.race([p, shutdownRequested]);

  let code = EXIT_OK;
  // The webhook runs on every replica, leader or not, from the controller's caches.
  const webhookStarted = webhookWanted
    ? (async () => {
        await controller.startCaches();
        if (shuttingDown) return;
        webhook = await startWebhook(opts, kubeConfig, controller, log, metrics, shutdownAbort.signal);
      })()
    : Promise.resolve();
  let webhookFailed: unknown;
  webhookStarted.catch((err: unknown) => {
    webhookFailed = err;
    log.error({ err: errorMessage(err) }, 'the admission webhook cannot start');
    onSignal('webhook failure');
  });
  try {
    if (elector) {
      const acquired = await Promise.race([elector.acquire(), shutdownRequested.then(() => false)]);
      if (acquired && !shuttingDown) {
        controllerStarted = true;
        await untilShutdown(Promise.all([controller.start(), compat?.start()]));
        const outcome = await Promise.race([elector.holdUntilLost(), shutdownRequested.then(() => 'shutdown' as const)]);
        if (outcome === 'lost') {
          log.error({ identity }, 'lost the leader lease; exiting so a clean process can rejoin');
          code = EXIT_FAILED;
        }
      }
    } else {
      controllerStarted = true;
      await untilShutdown(Promise.all([controller.start(), compat?.start()]));
      await shutdownRequested;
    }
  } catch (err) {
    log.error({ err: errorMessage(err) }, 'controller failed');
    code = EXIT_FAILED;
  } finally {
    if (webhookFailed) code = EXIT_FAILED;
    // Stop taking work; what is under way finishes (or is abandoned after the grace). Stopping the
    // controller also ends a webhook start still waiting for the caches.
    if (controllerStarted || webhookWanted) {
      if (!(await settledWithin(Promise.all([controller.stop(), compat?.stop()]), SHUTDOWN_WORK_MS))) {
        log.warn({ graceMs: SHUTDOWN_WORK_MS }, 'work still under way at the end of the shutdown grace; leaving it');
      }
    }
    await settledWithin(webhookStarted, SHUTDOWN_EVENTS_MS);
    await webhook?.server.close();
    await webhook?.certificates.stop();
    // Released, not left to expire: the standby takes over at once instead of after the lease duration.
    if (elector?.isLeader()) await settledWithin(elector.release(), SHUTDOWN_RELEASE_MS);
    else elector?.stop();
    await settledWithin(events.flush(), SHUTDOWN_EVENTS_MS);
    await servers.close();
  }
  log.info({ code }, 'regcred controller stopped');
  return code;
}
