// Reliability: control-plane restarts in the middle of a fan-out. A static-provider
// ClusterRegistryCredential targets 500 namespaces by label; the built controller runs as a child
// process with the heap the chart's container gives it (test/harness/chart-container.ts). Three
// times, while it is writing (at least 50 of the 500 Secrets hold the current password, not all of
// them yet):
//  1. the first fan-out; kube-apiserver is restarted (SIGTERM, start again);
//  2. a rotation (new password in the source Secret, spec bumped so it re-mints at once);
//     kube-apiserver is killed (SIGKILL) and started again;
//  3. another rotation; etcd is stopped, left down 3 s, and started again on the same data.
// Each time the controller must not exit and must converge: all 500 Secrets hold the current
// password, every `default` service account references the Secret, the status says 500/500.
// Measured ("# ..." lines): the restart, time to converge, writes, "reconcile failed" log lines,
// informer retries.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { CoreV1Api, CustomObjectsApi, type V1Secret } from '@kubernetes/client-node';
import { start, type ControlPlane } from '../harness/controlplane.js';
import { installCrds } from '../harness/crds.js';
import { createClusterCredential, spawnController, waitForClusterCredentialStatus, type ControllerProcess } from '../harness/controller-process.js';
import { chartContainerNodeFlags } from '../harness/chart-container.js';

const NAMESPACES = 500;
const TRIGGER = 50;
const REGISTRY = 'restarts.registry.example';
const NAME = 'restarts';
const SECRET = 'rs-pull';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let cp: ControlPlane;
let core: CoreV1Api;
let custom: CustomObjectsApi;
let ctl: ControllerProcess;
let ports: { metrics: number; health: number };
const namespaces = Array.from({ length: NAMESPACES }, (_, i) => `rs-${String(i).padStart(3, '0')}`);

before(async () => {
  cp = await start();
  core = cp.kubeConfig.makeApiClient(CoreV1Api);
  custom = cp.kubeConfig.makeApiClient(CustomObjectsApi);
  await installCrds(cp.kubeConfig);
  await core.createNamespace({ body: { metadata: { name: 'regcred-system' } } });
  await core.createNamespacedSecret({
    namespace: 'regcred-system',
    body: { metadata: { name: 'rs-src' }, stringData: { registry: REGISTRY, username: 'robot', password: 'pw-1' } },
  });
  const t0 = Date.now();
  for (let i = 0; i < namespaces.length; i += 25) {
    await Promise.all(namespaces.slice(i, i + 25).map((name) => core.createNamespace({ body: { metadata: { name, labels: { restarts: 'yes' } } } })));
  }
  // The controller-manager creates each namespace's `default` service account; wait for all of them,
  // so that the convergence measured below is the controller's.
  await until('every namespace has its default service account', 120_000, async () => {
    const sas = await core.listServiceAccountForAllNamespaces({ fieldSelector: 'metadata.name=default' });
    return sas.items.filter((sa) => sa.metadata?.namespace?.startsWith('rs-')).length === NAMESPACES;
  });
  console.log(`# created ${NAMESPACES} namespaces (and their default service accounts) in ${Date.now() - t0} ms`);
  ctl = spawnController(cp.kubeconfigPath, {
    nodeFlags: chartContainerNodeFlags(),
    args: ['--log-format', 'json', '--log-level', 'debug', '--min-refresh-delay', '1s'],
  });
  ports = await controllerPorts(ctl, 30_000);
  await until('the controller is ready', 60_000, async () => (await httpGet(ports.health, '/readyz')).status === 200);
});

after(async () => {
  await ctl?.stop('SIGKILL');
  // For a look at the controller's log: REGCRED_RELIABILITY_LOG=/path/to/file.
  const logPath = process.env['REGCRED_RELIABILITY_LOG'];
  if (logPath && ctl) {
    const out = [...ctl.output];
    for (const m of [...markers].reverse()) out.splice(m.index, 0, `\n=== ${new Date(m.at).toISOString()} ${m.what} ===\n`);
    writeFileSync(logPath, out.join(''));
  }
  await cp?.stop();
});

const markers: Array<{ index: number; at: number; what: string }> = [];
function mark(what: string): void {
  markers.push({ index: ctl.output.length, at: Date.now(), what });
}

async function controllerPorts(c: ControllerProcess, timeoutMs: number): Promise<{ metrics: number; health: number }> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const all = c.output.join('');
    const m = /"metricsPort":(\d+)/.exec(all);
    const h = /"healthPort":(\d+)/.exec(all);
    if (m && h) return { metrics: Number(m[1]), health: Number(h[1]) };
    if (c.child.exitCode !== null) throw new Error(`controller exited ${c.child.exitCode}:\n${all.slice(-3000)}`);
    await sleep(50);
  }
  throw new Error(`no ports in the controller's start log:\n${c.output.join('').slice(-3000)}`);
}

async function httpGet(port: number, path: string): Promise<{ status: number; body: string }> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(2000) });
    return { status: res.status, body: (await res.text()).trim() };
  } catch (err) {
    return { status: 0, body: (err as Error).message };
  }
}

/** Sum of regcred_secret_writes_total (every operation) on the controller's /metrics. */
async function secretWrites(): Promise<number> {
  const { body } = await httpGet(ports.metrics, '/metrics');
  return body
    .split('\n')
    .filter((l) => l.startsWith('regcred_secret_writes_total'))
    .reduce((a, l) => a + Number(l.split(' ').pop()), 0);
}

async function until(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<number> {
  const t0 = Date.now();
  while (Date.now() - t0 < timeoutMs) {
    if (await check().catch(() => false)) return Date.now() - t0;
    await sleep(200);
  }
  throw new Error(`${what}: not after ${timeoutMs} ms\n${ctl?.output.join('').slice(-3000)}`);
}

function passwordOf(secret: V1Secret): string | undefined {
  try {
    const cfg = JSON.parse(Buffer.from(secret.data?.['.dockerconfigjson'] ?? '', 'base64').toString('utf8')) as { auths: Record<string, { username?: string; password?: string; auth?: string }> };
    const e = cfg.auths[REGISTRY];
    if (!e || Buffer.from(e.auth ?? '', 'base64').toString('utf8') !== `${e.username}:${e.password}`) return undefined;
    return e.password;
  } catch {
    return undefined;
  }
}

/** How many of the 500 Secrets hold `password` (and parse). */
async function countCurrent(password: string): Promise<number> {
  const list = await core.listSecretForAllNamespaces({ labelSelector: `regcred.dev/owner-name=${NAME}` });
  return list.items.filter((s) => s.metadata?.name === SECRET && passwordOf(s) === password).length;
}

/**
 * What is not right yet: namespaces without the Secret holding `password` (or with one that does not
 * parse), and namespaces whose `default` service account does not reference it.
 */
async function wrongNamespaces(password: string): Promise<{ secrets: string[]; serviceAccounts: string[] }> {
  const [secrets, sas] = await Promise.all([
    core.listSecretForAllNamespaces({ labelSelector: `regcred.dev/owner-name=${NAME}` }),
    core.listServiceAccountForAllNamespaces({ fieldSelector: 'metadata.name=default' }),
  ]);
  const byNs = new Map(secrets.items.filter((s) => s.metadata?.name === SECRET).map((s) => [s.metadata!.namespace!, s]));
  const saByNs = new Map(sas.items.map((sa) => [sa.metadata!.namespace!, sa]));
  const wrong = { secrets: [] as string[], serviceAccounts: [] as string[] };
  for (const ns of namespaces) {
    const s = byNs.get(ns);
    if (!s) wrong.secrets.push(`${ns}: no Secret`);
    else if (passwordOf(s) !== password) wrong.secrets.push(`${ns}: stale or unparsable Secret`);
    if (!saByNs.get(ns)?.imagePullSecrets?.some((r) => r.name === SECRET)) wrong.serviceAccounts.push(`${ns}: default service account does not reference ${SECRET}`);
  }
  return wrong;
}

function alive(): boolean {
  return ctl.child.exitCode === null && ctl.child.signalCode === null;
}

function countLines(from: number, message: string): number {
  return ctl.output
    .slice(from)
    .join('')
    .split('\n')
    .filter((l) => l.includes(`"msg":"${message}`)).length;
}

interface Phase {
  label: string;
  password: string;
  /** Starts the writes of `password` (creates or changes the credential). */
  begin(): Promise<void>;
  /** The fault. */
  disrupt(): Promise<void>;
}

async function runPhase(p: Phase): Promise<void> {
  const outFrom = ctl.output.length;
  const writes0 = await secretWrites();
  const t0 = Date.now();
  mark(`${p.label}: begins`);
  await p.begin();
  // Wait until the fan-out is under way: at least TRIGGER Secrets hold the new password.
  let atTrigger = 0;
  while (Date.now() - t0 < 60_000) {
    atTrigger = await countCurrent(p.password);
    if (atTrigger >= TRIGGER) break;
    await sleep(20);
  }
  const triggeredAt = Date.now();
  mark(`${p.label}: fault begins`);
  await p.disrupt();
  const upAt = Date.now();
  mark(`${p.label}: fault over`);
  assert.ok(alive(), `the controller exited during the ${p.label}:\n${ctl.output.join('').slice(-3000)}`);

  // Converged: every Secret right (the controller's own writes), then every namespace right (the
  // service-account references too).
  let wrong = { secrets: ['not checked'], serviceAccounts: ['not checked'] };
  let secretsMs: number | undefined;
  const convergeMs = await until(`every namespace holds ${p.password}`, 120_000, async () => {
    wrong = await wrongNamespaces(p.password);
    if (wrong.secrets.length === 0) secretsMs ??= Date.now() - upAt;
    return wrong.secrets.length === 0 && wrong.serviceAccounts.length === 0;
  }).catch((err: Error) => {
    const w = [...wrong.secrets, ...wrong.serviceAccounts];
    throw new Error(`${err.message.split('\n')[0]}; still wrong: ${w.length} (${w.slice(0, 5).join(', ')})\n${ctl.output.join('').slice(-3000)}`);
  });
  const status = await waitForClusterCredentialStatus(
    cp.kubeConfig,
    NAME,
    (s) => s.targets?.synced === NAMESPACES && s.targets.failed === 0 && s.conditions?.find((c) => c.type === 'Ready')?.status === 'True',
    60_000,
    () => ctl.output.join(''),
  );
  const statusMs = Date.now() - upAt;
  assert.ok(alive(), `the controller exited after the ${p.label}`);
  const health = await httpGet(ports.health, '/healthz');
  const writes = (await secretWrites()) - writes0;
  const reconcileFailed = countLines(outFrom, 'reconcile failed');
  const informerRetries = countLines(outFrom, 'list/watch failed');
  const gone = countLines(outFrom, 'watch expired (410 Gone)');
  const stalled = countLines(outFrom, 'watch stalled');
  const refreshFailed = countLines(outFrom, 'refresh failed');
  console.log(
    `# ${p.label}: ${atTrigger}/${NAMESPACES} Secrets held ${p.password} ${triggeredAt - t0} ms after the start of the fan-out; ` +
      `the fault lasted ${upAt - triggeredAt} ms (until the API server was ready again)`,
  );
  console.log(
    `# ${p.label}: controller alive; all ${NAMESPACES} Secrets hold ${p.password} ${upAt - triggeredAt + (secretsMs ?? 0)} ms after the fault began (${secretsMs} ms after the API server was ready); ` +
      `every namespace correct (service accounts too) ${convergeMs} ms after it was ready; status ${status.targets?.synced}/${status.targets?.total} Ready ${statusMs} ms after; /healthz ${health.status}`,
  );
  console.log(
    `# ${p.label}: ${writes} API writes (Secrets + service accounts); log lines: ${reconcileFailed} "reconcile failed", ${refreshFailed} "refresh failed", ` +
      `${informerRetries} "list/watch failed" (informer retries, each resuming its watch or retrying a list), ${gone} "410 Gone" relists, ${stalled} "watch stalled"`,
  );
  assert.ok(atTrigger < NAMESPACES, `${p.label}: the fan-out had finished before the fault (${atTrigger} Secrets): not a mid-fan-out restart`);
  assert.equal(health.status, 200, `/healthz: ${health.body}`);
}

/** A new password in the source Secret, and a spec change so the controller re-mints at once. */
async function rotate(password: string, interval: string): Promise<void> {
  await core.patchNamespacedSecret({
    namespace: 'regcred-system',
    name: 'rs-src',
    body: [{ op: 'replace', path: '/data/password', value: Buffer.from(password).toString('base64') }],
  });
  await custom.patchClusterCustomObject({
    group: 'regcred.dev',
    version: 'v1alpha1',
    plural: 'clusterregistrycredentials',
    name: NAME,
    body: [{ op: 'replace', path: '/spec/refresh/interval', value: interval }],
  });
}

describe(`restarts in the middle of a fan-out to ${NAMESPACES} namespaces (controller child process)`, () => {
  test('kube-apiserver restart (SIGTERM) during the first fan-out', { timeout: 200_000 }, async () => {
    await runPhase({
      label: 'API server restart, first fan-out',
      password: 'pw-1',
      begin: () =>
        createClusterCredential(cp.kubeConfig, NAME, {
          provider: { static: { secretRef: { name: 'rs-src' } } },
          target: { secretName: SECRET, namespaces: { selector: { matchLabels: { restarts: 'yes' } } }, serviceAccounts: ['default'] },
          refresh: { interval: '6h' },
        }),
      disrupt: () => cp.restartApiServer(),
    });
  });

  test('kube-apiserver crash (SIGKILL) and start during a rotation of all Secrets', { timeout: 200_000 }, async () => {
    await runPhase({
      label: 'API server kill, rotation',
      password: 'pw-2',
      begin: () => rotate('pw-2', '5h'),
      disrupt: () => cp.restartApiServer({ kill: true }),
    });
  });

  test('etcd restart (stopped, 3 s down, started on the same data) during a rotation of all Secrets', { timeout: 200_000 }, async () => {
    await runPhase({
      label: 'etcd restart, rotation',
      password: 'pw-3',
      begin: () => rotate('pw-3', '4h'),
      disrupt: () => cp.restartEtcd({ pauseMs: 3000 }),
    });
  });
});
