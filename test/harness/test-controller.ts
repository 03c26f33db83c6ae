// The controller run in the test's own process, for provider end-to-end tests: it reaches the API
// server and the provider (or its double) only over the network, like the deployed controller, but
// the test can shorten its delays and read its metrics and logs.
import type { ControlPlane } from './controlplane.js';
import { Controller } from '../../src/controller/controller.js';
import type { TenantPolicy } from '../../src/config/tenant-policy.js';
import { createMetrics, type Metrics } from '../../src/metrics.js';
import { EventRecorder } from '../../src/kube/events.js';
import { createClusterCredential, waitForClusterCredentialStatus } from './controller-process.js';
import { capturingLogger } from './provider-tests.js';
import { assertNoLeak } from './leak-guard.js';

export interface CredentialStatus {
  conditions?: Array<{ type: string; status: string; reason: string; message: string }>;
  targets?: { total?: number; synced?: number; failed?: number };
  expiresAt?: string;
}

export interface TestController {
  controller: Controller;
  metrics: Metrics;
  /** Every log line so far (JSON), for "no secret in the logs" checks. */
  logLines: string[];
  /** Sum of regcred_refresh_total for a credential, by result. */
  refreshes(name: string, result?: 'success' | 'error'): Promise<number>;
  /** Polls a ClusterRegistryCredential's status until `done` holds; returns the last status seen. */
  waitForStatus(name: string, done: (s: CredentialStatus) => boolean, timeoutMs?: number): Promise<CredentialStatus>;
  createClusterCredential(name: string, spec: Record<string, unknown>): Promise<void>;
  stop(): Promise<void>;
}

export async function startTestController(
  cp: ControlPlane,
  opts: { namespace?: string; minRefreshDelayMs?: number; retryBaseMs?: number; retryMaxMs?: number; tenantPolicy?: TenantPolicy } = {},
): Promise<TestController> {
  const metrics = createMetrics();
  const logLines: string[] = [];
  const log = capturingLogger(logLines);
  const controller = new Controller({
    kubeConfig: cp.kubeConfig,
    namespace: opts.namespace ?? 'regcred-system',
    allowCrossNamespaceRefs: false,
    log,
    metrics,
    events: new EventRecorder({ kubeConfig: cp.kubeConfig, controller: 'regcred.dev/controller', instance: 'test', log }),
    minRefreshDelayMs: opts.minRefreshDelayMs ?? 1000,
    retryBaseMs: opts.retryBaseMs ?? 300,
    retryMaxMs: opts.retryMaxMs ?? 2000,
    // The doubles listen on loopback, which provider calls may not reach unless the installation allows it.
    clusterNetwork: { allowedCidrs: ['127.0.0.0/8'] },
    tenantPolicy: opts.tenantPolicy,
  });
  await controller.start();
  const where = 'the in-process controller logs'; // watched for the final rescan by capturingLogger
  return {
    controller,
    metrics,
    logLines,
    async refreshes(name, result = 'success') {
      const metric = (await metrics.registry.getMetricsAsJSON()).find((m) => m.name === 'regcred_refresh_total');
      const values = (metric?.values ?? []) as Array<{ labels: Record<string, string | number>; value: number }>;
      return values.filter((v) => v.labels['name'] === name && v.labels['result'] === result).reduce((a, v) => a + v.value, 0);
    },
    waitForStatus: (name, done, timeoutMs = 20_000) => waitForClusterCredentialStatus(cp.kubeConfig, name, done, timeoutMs),
    createClusterCredential: (name, spec) => createClusterCredential(cp.kubeConfig, name, spec),
    async stop() {
      await controller.stop();
      assertNoLeak(logLines.join(''), where);
    },
  };
}

/** The Ready condition of a status, if any. */
export function readyOf(status: CredentialStatus): { status: string; reason: string; message: string } | undefined {
  return status.conditions?.find((c) => c.type === 'Ready');
}
