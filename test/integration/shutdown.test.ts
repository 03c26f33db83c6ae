// SIGTERM of `regcred controller --leader-elect` (the built bundle, as its own process):
//  - while an `exec` provider's plugin hangs: the plugin (test/harness/doubles/credential-plugin.mjs,
//    mode "hang") waits forever and has started a grandchild that waits forever too, both recording
//    their pids. The controller must exit 0 within 5 s, take the plugin and its grandchild with it,
//    release its Lease (no holder) so a standby would take over at once, and not report the
//    cut-short mint as a failure of the credential (no Degraded condition, no warning Event);
//  - in the middle of a fan-out (slowed down by --kube-qps so that it is): exit 0 within 5 s, no
//    namespace started after the signal, every Secret written whole, the Lease released.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CoordinationV1Api, CoreV1Api, CustomObjectsApi, EventsV1Api } from '@kubernetes/client-node';
import { start, type ControlPlane } from '../harness/controlplane.js';
import { installCrds } from '../harness/crds.js';
import { createClusterCredential, spawnController, type ControllerProcess } from '../harness/controller-process.js';

const PLUGIN = fileURLToPath(new URL('../../../test/harness/doubles/credential-plugin.mjs', import.meta.url));
const LEASE = 'regcred-shutdown-test';
const dir = mkdtempSync(join(tmpdir(), 'regcred-shutdown-it-'));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const FANOUT = 60;

let cp: ControlPlane;
let ctl: ControllerProcess | undefined;

before(async () => {
  cp = await start();
  await installCrds(cp.kubeConfig);
  const core = cp.kubeConfig.makeApiClient(CoreV1Api);
  for (const name of ['regcred-system', 'shutdown-a']) await core.createNamespace({ body: { metadata: { name } } });
  await Promise.all(Array.from({ length: FANOUT }, (_, i) => core.createNamespace({ body: { metadata: { name: `shutdown-fan-${i}`, labels: { 'shutdown-fan': 'yes' } } } })));
  await core.createNamespacedSecret({
    namespace: 'regcred-system',
    body: { metadata: { name: 'fan-src' }, stringData: { registry: 'fan.registry.example', username: 'robot', password: 'fan-password-1' } },
  });
});

after(async () => {
  await ctl?.stop('SIGKILL');
  await cp?.stop();
});

/** Whether signal 0 reaches the pid: true while the process runs, and while it is a zombie not yet reaped. */
function signalable(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The process's state letter from /proc (R, S, Z...), for messages. */
function state(pid: number): string {
  try {
    return /^\d+ \(.*\) (\S)/.exec(readFileSync(`/proc/${pid}/stat`, 'utf8'))?.[1] ?? '?';
  } catch {
    return 'gone';
  }
}

async function until<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const v = await check().catch(() => undefined);
    if (v !== undefined) return v;
    await sleep(100);
  }
  throw new Error(`${what}: not after ${timeoutMs} ms\n${ctl?.output.join('').slice(-3000) ?? ''}`);
}

test('SIGTERM while an exec plugin hangs: exit 0 within 5 s, plugin and grandchild killed, Lease released, no failure reported', { timeout: 120_000 }, async () => {
  const record = join(dir, 'plugin.jsonl');
  ctl = spawnController(cp.kubeconfigPath, {
    args: ['--log-format', 'json', '--leader-elect', '--leader-election-id', LEASE, '--mint-timeout', '10m'],
  });
  const leases = cp.kubeConfig.makeApiClient(CoordinationV1Api);
  const holder = async () => (await leases.readNamespacedLease({ namespace: 'regcred-system', name: LEASE })).spec?.holderIdentity ?? '';
  const leader = await until('the controller holds the Lease', 60_000, async () => (await holder()) || undefined);

  await createClusterCredential(cp.kubeConfig, 'hangs', {
    provider: {
      exec: {
        command: process.execPath,
        args: [PLUGIN],
        env: [
          { name: 'PLUGIN_MODE', value: 'hang' },
          { name: 'PLUGIN_RECORD', value: record },
        ],
        registries: ['hang.registry.example'],
        timeout: '10m',
      },
    },
    target: { secretName: 'hangs-pull', namespaces: { names: ['shutdown-a'] }, serviceAccounts: [] },
  });
  // The plugin records its request, then its own pid and its grandchild's.
  const pids = await until('the plugin runs and has started its grandchild', 60_000, async () => {
    if (!existsSync(record)) return undefined;
    const line = readFileSync(record, 'utf8').split('\n').find((l) => l.includes('"grandchild"'));
    return line ? (JSON.parse(line) as { pid: number; grandchild: number }) : undefined;
  });
  assert.ok(signalable(pids.pid) && signalable(pids.grandchild), 'plugin and grandchild are running');

  const t0 = Date.now();
  const code = await ctl.stop('SIGTERM', 10_000);
  const exitMs = Date.now() - t0;
  const output = ctl.output.join('');
  console.log(`# SIGTERM → exit ${code} in ${exitMs} ms (leader ${leader}); plugin ${pids.pid}, grandchild ${pids.grandchild}`);
  assert.equal(code, 0, output.slice(-3000));
  assert.ok(exitMs < 5000, `exited ${exitMs} ms after SIGTERM`);

  // Killed with the controller's shutdown; gone once reaped (the plugin by the controller, the
  // orphaned grandchild by init).
  await until(`the plugin and its grandchild are gone (states: ${state(pids.pid)}, ${state(pids.grandchild)})`, 5000, async () =>
    signalable(pids.pid) || signalable(pids.grandchild) ? undefined : true,
  );
  for (const pid of [pids.pid, pids.grandchild]) assert.throws(() => process.kill(pid, 0), /ESRCH/);

  assert.equal(await holder(), '', 'the Lease was released: no holder');
  assert.match(output, /"msg":"released leadership"/);

  // The mint was cut short by the shutdown: not a failure of the credential.
  const crc = (await cp.kubeConfig.makeApiClient(CustomObjectsApi).getClusterCustomObject({ group: 'regcred.dev', version: 'v1alpha1', plural: 'clusterregistrycredentials', name: 'hangs' })) as {
    status?: { conditions?: Array<{ type: string; status: string; message?: string }> };
  };
  const degraded = crc.status?.conditions?.find((c) => c.type === 'Degraded' && c.status === 'True');
  assert.equal(degraded, undefined, `Degraded after a shutdown: ${JSON.stringify(degraded)}`);
  const events = await cp.kubeConfig.makeApiClient(EventsV1Api).listEventForAllNamespaces({ fieldSelector: 'regarding.name=hangs' });
  assert.deepEqual(
    events.items.filter((e) => e.type === 'Warning').map((e) => `${e.reason}: ${e.note}`),
    [],
    'no warning Event for the cut-short mint',
  );
  assert.doesNotMatch(output, /"msg":"refresh failed/);
  ctl = undefined;
});

test('SIGTERM in the middle of a fan-out: exit 0 within 5 s, nothing started after it, every Secret whole, Lease released', { timeout: 120_000 }, async () => {
  const lease = `${LEASE}-fan`;
  // 20 writes a second: the fan-out to 60 namespaces takes about 3 s, long enough to be cut.
  ctl = spawnController(cp.kubeconfigPath, {
    args: ['--log-format', 'json', '--leader-elect', '--leader-election-id', lease, '--kube-qps', '20', '--kube-burst', '5'],
  });
  const leases = cp.kubeConfig.makeApiClient(CoordinationV1Api);
  const holder = async () => (await leases.readNamespacedLease({ namespace: 'regcred-system', name: lease })).spec?.holderIdentity ?? '';
  await until('the controller holds the Lease', 60_000, async () => (await holder()) || undefined);
  const core = cp.kubeConfig.makeApiClient(CoreV1Api);
  const written = async () => (await core.listSecretForAllNamespaces({ labelSelector: 'regcred.dev/owner-name=fan' })).items;

  await createClusterCredential(cp.kubeConfig, 'fan', {
    provider: { static: { secretRef: { name: 'fan-src' } } },
    target: { secretName: 'fan-pull', namespaces: { selector: { matchLabels: { 'shutdown-fan': 'yes' } } }, serviceAccounts: [] },
  });
  await until('the fan-out is under way', 30_000, async () => ((await written()).length >= 10 ? true : undefined));
  const t0 = Date.now();
  const code = await ctl.stop('SIGTERM', 10_000);
  const exitMs = Date.now() - t0;
  const output = ctl.output.join('');
  const secrets = await written();
  console.log(`# SIGTERM during a fan-out to ${FANOUT} namespaces: exit ${code} in ${exitMs} ms; ${secrets.length} Secrets written`);
  assert.equal(code, 0, output.slice(-3000));
  assert.ok(exitMs < 5000, `exited ${exitMs} ms after SIGTERM`);
  assert.ok(secrets.length < FANOUT, `the fan-out was not cut (${secrets.length} Secrets): the test proves nothing`);
  for (const s of secrets) {
    const cfg = JSON.parse(Buffer.from(s.data?.['.dockerconfigjson'] ?? '', 'base64').toString('utf8')) as { auths: Record<string, { password?: string }> };
    assert.equal(cfg.auths['fan.registry.example']?.password, 'fan-password-1', `${s.metadata?.namespace}: a whole Secret`);
  }
  await sleep(1000);
  assert.equal((await written()).length, secrets.length, 'no write after the exit');
  assert.match(output, /"msg":"reconcile cut short by the shutdown"/);
  assert.doesNotMatch(output, /"msg":"reconcile failed/);
  assert.equal(await holder(), '', 'the Lease was released');
  ctl = undefined;
});
