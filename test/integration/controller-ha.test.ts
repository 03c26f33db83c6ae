// Two `regcred controller --leader-elect` processes against a real API server: one leads and
// writes; SIGKILL of the leader hands over to the other within about 20 s; SIGTERM releases the
// Lease and exits 0.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { CoordinationV1Api, CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { start, type ControlPlane } from '../harness/controlplane.js';
import { installCrds } from '../harness/crds.js';
import { CLI_PATH } from '../harness/cli.js';

let cp: ControlPlane;
let core: CoreV1Api;
const procs: Array<{ child: ChildProcess; identity: Promise<string>; output: string[]; ports: Promise<{ metrics: number; health: number }> }> = [];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function spawnController() {
  const child = spawn(
    process.execPath,
    [CLI_PATH, 'controller', '--kubeconfig', cp.kubeconfigPath, '--leader-elect', '--log-format', 'json', '--metrics-bind-address', '127.0.0.1:0', '--health-probe-bind-address', '127.0.0.1:0'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const output: string[] = [];
  const identity = new Promise<string>((resolve) => {
    const onData = (d: Buffer) => {
      output.push(d.toString());
      const m = /"identity":"([^"]+)"/.exec(d.toString());
      if (m) resolve(m[1]!);
    };
    child.stderr!.on('data', onData);
    child.stdout!.on('data', (d: Buffer) => output.push(d.toString()));
  });
  const ports = new Promise<{ metrics: number; health: number }>((resolve) => {
    const onData = () => {
      const all = output.join('');
      const m = /"metricsPort":(\d+)/.exec(all);
      const h = /"healthPort":(\d+)/.exec(all);
      if (m && h) resolve({ metrics: Number(m[1]), health: Number(h[1]) });
    };
    child.stderr!.on('data', onData);
  });
  const p = { child, identity, output, ports };
  procs.push(p);
  return p;
}

async function secretExists(namespace: string, name: string): Promise<boolean> {
  try {
    await core.readNamespacedSecret({ namespace, name });
    return true;
  } catch {
    return false;
  }
}

async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<number> {
  const t0 = Date.now();
  while (Date.now() - t0 < timeoutMs) {
    if (await check().catch(() => false)) return Date.now() - t0;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function holder(): Promise<string | undefined> {
  const lease = await cp.kubeConfig.makeApiClient(CoordinationV1Api).readNamespacedLease({ namespace: 'regcred-system', name: 'regcred-controller' });
  return lease.spec?.holderIdentity ?? undefined;
}

before(async () => {
  cp = await start();
  core = cp.kubeConfig.makeApiClient(CoreV1Api);
  await installCrds(cp.kubeConfig);
  await core.createNamespace({ body: { metadata: { name: 'regcred-system' } } });
  await core.createNamespacedSecret({
    namespace: 'regcred-system',
    body: { metadata: { name: 'ha-src' }, stringData: { registry: 'ha.example', username: 'u', password: 'ha-password-123' } },
  });
  await cp.kubeConfig.makeApiClient(CustomObjectsApi).createClusterCustomObject({
    group: 'regcred.dev',
    version: 'v1alpha1',
    plural: 'clusterregistrycredentials',
    body: {
      apiVersion: 'regcred.dev/v1alpha1',
      kind: 'ClusterRegistryCredential',
      metadata: { name: 'ha' },
      spec: { provider: { static: { secretRef: { name: 'ha-src' } } }, target: { secretName: 'ha-pull', namespaces: { selector: { matchLabels: { ha: 'yes' } } }, serviceAccounts: [] } },
    },
  });
});

after(async () => {
  for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
  await cp?.stop();
  const all = procs.flatMap((p) => p.output).join('');
  assert.ok(!all.includes('ha-password-123'), 'no password in controller output');
});

test('leader election: one leader; SIGKILL fails over within about 20 s; SIGTERM releases and exits 0', async () => {
  const a = spawnController();
  const b = spawnController();
  const ids = [await a.identity, await b.identity];
  await waitUntil('a leader', async () => ids.includes((await holder()) ?? ''), 30_000);
  const leaderId = (await holder())!;
  const [leader, standby] = leaderId === ids[0] ? [a, b] : [b, a];

  await core.createNamespace({ body: { metadata: { name: 'ha-1', labels: { ha: 'yes' } } } });
  await waitUntil('secret from the leader', () => secretExists('ha-1', 'ha-pull'), 10_000);
  const standbyRefreshes = standby.output.join('').match(/credential refreshed/g)?.length ?? 0;
  assert.equal(standbyRefreshes, 0, 'the standby does not reconcile');

  // The leader's metrics and probes, over HTTP. A new namespace's Secret is written before the
  // credential's run counts it (controller.md "A new namespace at once"): the metrics follow.
  const lp = await leader.ports;
  const metricsOf = async () => (await fetch(`http://127.0.0.1:${lp.metrics}/metrics`)).text();
  const synced = 'regcred_target_secrets{kind="ClusterRegistryCredential",namespace="",name="ha",provider="static",state="synced"} 1';
  await waitUntil('the run counted it', async () => (await metricsOf()).includes(synced), 10_000);
  const metricsText = await metricsOf();
  for (const name of [
    'regcred_credential_ready{kind="ClusterRegistryCredential",namespace="",name="ha",provider="static"} 1',
    'regcred_target_secrets{kind="ClusterRegistryCredential",namespace="",name="ha",provider="static",state="synced"} 1',
    'regcred_refresh_total{kind="ClusterRegistryCredential",namespace="",name="ha",provider="static",result="success"}',
    'regcred_secret_writes_total{operation="create"}',
    'regcred_provider_request_duration_seconds_bucket',
    'regcred_credential_next_refresh_timestamp_seconds',
  ]) {
    assert.ok(metricsText.includes(name), `metrics expose ${name}`);
  }
  assert.equal((await fetch(`http://127.0.0.1:${lp.health}/healthz`)).status, 200);
  assert.equal((await fetch(`http://127.0.0.1:${lp.health}/readyz`)).status, 200);
  const sp = await standby.ports;
  assert.equal((await fetch(`http://127.0.0.1:${sp.health}/readyz`)).status, 200, 'a standby is ready');

  const t0 = Date.now();
  leader.child.kill('SIGKILL');
  await core.createNamespace({ body: { metadata: { name: 'ha-2', labels: { ha: 'yes' } } } });
  await waitUntil('secret after failover', () => secretExists('ha-2', 'ha-pull'), 40_000);
  const failoverMs = Date.now() - t0;
  console.log(`# failover after SIGKILL of the leader: ${failoverMs} ms until the new namespace had its Secret`);
  assert.ok(failoverMs < 22_000, `failover took ${failoverMs} ms`);
  assert.equal(await holder(), await standby.identity);

  const exited = new Promise<number | null>((r) => standby.child.once('exit', (code) => r(code)));
  const t1 = Date.now();
  standby.child.kill('SIGTERM');
  const code = await exited;
  console.log(`# SIGTERM: exit ${code} after ${Date.now() - t1} ms`);
  assert.equal(code, 0);
  const lease = await cp.kubeConfig.makeApiClient(CoordinationV1Api).readNamespacedLease({ namespace: 'regcred-system', name: 'regcred-controller' });
  assert.equal(lease.spec?.leaseDurationSeconds, 1, 'released: the next candidate need not wait out the lease');
});
