import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import { loadKubeConfig } from '../kube/client.js';
import { EventRecorder } from '../kube/events.js';
import { LeaderElector } from '../kube/leader.js';
import { createMetrics } from '../metrics.js';
import { Controller } from '../controller/controller.js';
import { startHttpServers, type HttpServers } from '../controller/http.js';
import { EXIT_FAILED, EXIT_INVALID, EXIT_OK, type GlobalOptions, type Output } from './common.js';

export interface ControllerCommandOptions extends GlobalOptions {
  namespace: string;
  allowCrossNamespaceRefs: boolean;
  metricsBindAddress: string;
  healthProbeBindAddress: string;
  leaderElect: boolean;
  leaderElectionId: string;
}

/**
 * `regcred controller`: runs until SIGTERM (exit 0). With --leader-elect only the holder of the
 * Lease reconciles; the others wait, ready, to take over. Losing the lease exits 1 so the kubelet
 * restarts the pod clean (what client-go controllers do).
 */
export async function runController(opts: ControllerCommandOptions, output: Output, log: Logger): Promise<number> {
  let kubeConfig;
  try {
    kubeConfig = loadKubeConfig(opts);
  } catch (err) {
    output.err(`error: ${errorMessage(err)}`);
    return EXIT_INVALID;
  }
  const identity = `${hostname()}_${randomBytes(4).toString('hex')}`;
  const metrics = createMetrics();
  const events = new EventRecorder({ kubeConfig, controller: 'regcred.dev/controller', instance: identity, log });
  const controller = new Controller({ kubeConfig, namespace: opts.namespace, allowCrossNamespaceRefs: opts.allowCrossNamespaceRefs, log, metrics, events });
  const elector = opts.leaderElect
    ? new LeaderElector({ kubeConfig, namespace: opts.namespace, name: opts.leaderElectionId, identity, log })
    : undefined;

  let controllerStarted = false;
  let servers: HttpServers | undefined;
  try {
    servers = await startHttpServers({
      metricsBindAddress: opts.metricsBindAddress,
      healthProbeBindAddress: opts.healthProbeBindAddress,
      registry: metrics.registry,
      log,
      healthz: () => (controllerStarted ? controller.healthz() : { ok: true }),
      readyz: () => {
        // A standby replica is ready: it serves probes and waits for the lease.
        if (elector && !elector.isLeader()) return { ok: true, reason: 'standby' };
        return controller.readyz();
      },
    });
  } catch (err) {
    output.err(`error: cannot listen: ${errorMessage(err)}`);
    return EXIT_INVALID;
  }
  log.info({ identity, namespace: opts.namespace, metricsPort: servers.metricsPort, healthPort: servers.healthPort, leaderElect: opts.leaderElect }, 'regcred controller starting');

  let shuttingDown = false;
  let resolveShutdown!: () => void;
  const shutdownRequested = new Promise<void>((r) => (resolveShutdown = r));
  const onSignal = (signal: string) => {
    if (shuttingDown) return;
    shuttingDown = true;
    log.info({ signal }, 'shutting down');
    // A candidate stops waiting for the lease; a leader first stops its work, then releases (below).
    if (elector && !elector.isLeader()) elector.stop();
    resolveShutdown();
  };
  process.once('SIGTERM', () => onSignal('SIGTERM'));
  process.once('SIGINT', () => onSignal('SIGINT'));

  let code = EXIT_OK;
  try {
    if (elector) {
      const acquired = await Promise.race([elector.acquire(), shutdownRequested.then(() => false)]);
      if (acquired && !shuttingDown) {
        controllerStarted = true;
        await controller.start();
        const outcome = await Promise.race([elector.holdUntilLost(), shutdownRequested.then(() => 'shutdown' as const)]);
        if (outcome === 'lost') {
          log.error({ identity }, 'lost the leader lease; exiting so a clean process can rejoin');
          code = EXIT_FAILED;
        }
      }
    } else {
      controllerStarted = true;
      await controller.start();
      await shutdownRequested;
    }
  } catch (err) {
    log.error({ err: errorMessage(err) }, 'controller failed');
    code = EXIT_FAILED;
  } finally {
    if (controllerStarted) await controller.stop();
    // Released, not left to expire: the standby takes over at once instead of after the lease duration.
    if (elector?.isLeader()) await elector.release().catch(() => undefined);
    else elector?.stop();
    await events.flush();
    await servers.close();
  }
  log.info({ code }, 'regcred controller stopped');
  return code;
}
