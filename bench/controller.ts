// Controller benchmarks (`make bench`, after the fan-out benchmark), on the local control plane:
//  1. new-namespace latency: namespaces created one by one; time until each has its Secret (p50, p99);
//  2. idle cost: with 500 synced namespaces and nothing changing, the controller's API writes and
//     requests over a window (default 5 minutes; BENCH_IDLE_SECONDS), counted from the API server's
//     audit log by the controller's own identity;
//  3. memory: the controller's RSS after syncing 5,000 namespaces with 3 credentials
//     (BENCH_MEMORY_NAMESPACES);
//  4. rotation (bench/rotation.ts): across 1,000 of those namespaces (BENCH_ROTATION_NAMESPACES),
//     the controller's first sync of two more credentials, each rotation's fan-out time, Secret
//     writes per rotation, and provider calls per refresh (one per credential and region, whatever
//     the namespace count) over a window (default 120 s; BENCH_ROTATION_SECONDS); then RSS again.
// The controller runs as its own process (`regcred controller`), as a service account bound to
// cluster-admin, so the audit log tells its requests apart from everyone else's.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CoreV1Api, CustomObjectsApi, RbacAuthorizationV1Api, Watch } from '@kubernetes/client-node';
import { freePort, start, type ControlPlane } from '../test/harness/controlplane.js';
import { startMoto, type Moto } from '../test/harness/moto.js';
import { percentile, startRotationBench, type RotationBench, type RotationResult } from './rotation.js';
import { installCrds } from '../test/harness/crds.js';
import { CLI_PATH } from '../test/harness/cli.js';
import { createClusterCredential } from '../test/harness/controller-process.js';
import { mapWithConcurrency } from '../src/util/pool.js';
import { IMAGE_MEMORY_ENV, chartContainerNodeFlags, chartMemoryLimitBytes } from '../test/harness/chart-container.js';

const LATENCY_NAMESPACES = Number(process.env['BENCH_LATENCY_NAMESPACES'] ?? 200);
const IDLE_NAMESPACES = Number(process.env['BENCH_IDLE_NAMESPACES'] ?? 500);
const IDLE_SECONDS = Number(process.env['BENCH_IDLE_SECONDS'] ?? 300);
const ROTATION_NAMESPACES = Number(process.env['BENCH_ROTATION_NAMESPACES'] ?? 1000);
const ROTATION_SECONDS = Number(process.env['BENCH_ROTATION_SECONDS'] ?? 120);
const MEMORY_NAMESPACES = Number(process.env['BENCH_MEMORY_NAMESPACES'] ?? 5000);
const RESULTS_DIR = process.env['BENCH_RESULTS_DIR'] || fileURLToPath(new URL('../../bench/results/', import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (s: string) => console.log(`[bench] ${s}`);

interface AuditEntry {
  verb: string;
  user: { username: string };
  requestURI: string;
  stageTimestamp: string;
}

function auditEntries(path: string, user: string, since: number, until: number): AuditEntry[] {
  let text = '';
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return [];
  }
  const out: AuditEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    const e = JSON.parse(line) as AuditEntry;
    const t = Date.parse(e.stageTimestamp);
    if (e.user?.username === user && t >= since && t < until) out.push(e);
  }
  return out;
}

interface MemoryResult {
  namespaces: number;
  credentials: number;
  secrets: number;
  synced: boolean;
  syncSeconds: number;
  rssMB: number;
  peakRssMB: number;
  /** After the rotation phase: two more credentials, the AWS SDK and the http provider loaded. */
  rssAfterRotationMB?: number;
  peakRssAfterRotationMB?: number;
}

const WRITE_VERBS = new Set(['create', 'update', 'patch', 'delete', 'deletecollection']);

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'regcred-bench-'));
  const policy = join(work, 'audit-policy.yaml');
  const auditLog = join(work, 'audit.log');
  writeFileSync(
    policy,
    'apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\nrules:\n- level: Metadata\n',
  );
  log('starting the control plane (audit log on)');
  const cp: ControlPlane = await start({ apiServerFlags: ['--audit-policy-file', policy, '--audit-log-path', auditLog, '--audit-log-format', 'json'] });
  let controller: ChildProcess | undefined;
  let moto: Moto | undefined;
  let rotationBench: RotationBench | undefined;
  try {
    moto = await startMoto();
    rotationBench = await startRotationBench(moto);
    const metricsPort = await freePort();
    const metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
    const core = cp.kubeConfig.makeApiClient(CoreV1Api);
    const custom = cp.kubeConfig.makeApiClient(CustomObjectsApi);
    await installCrds(cp.kubeConfig);
    await core.createNamespace({ body: { metadata: { name: 'regcred-system' } } });
    await core.createNamespacedSecret({
      namespace: 'regcred-system',
      body: { metadata: { name: 'bench-src' }, stringData: { registry: 'bench.example', username: 'u', password: 'bench-password-1' } },
    });
    const kubeconfig = await cp.kubeconfigFor('regcred-system', 'regcred');
    await cp.kubeConfig.makeApiClient(RbacAuthorizationV1Api).createClusterRoleBinding({
      body: {
        metadata: { name: 'regcred-bench' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
        subjects: [{ kind: 'ServiceAccount', name: 'regcred', namespace: 'regcred-system' }],
      },
    });
    const controllerUser = 'system:serviceaccount:regcred-system:regcred';

    // The controller runs with the heap the chart's default container gives it (CONTROLLER_NODE_FLAGS overrides).
    const nodeFlags = (process.env['CONTROLLER_NODE_FLAGS'] ?? chartContainerNodeFlags().join(' ')).split(' ').filter(Boolean);
    log(`controller node flags: ${nodeFlags.join(' ') || '(none)'}`);
    // --min-refresh-delay 5s: the rotation phase's credentials live 30 s (the default 30 s floor is
    // for production, where credentials live hours); no other credential here expires.
    controller = spawn(
      process.execPath,
      [...nodeFlags, CLI_PATH, 'controller', '--kubeconfig', kubeconfig, '--metrics-bind-address', `127.0.0.1:${metricsPort}`, '--health-probe-bind-address', '0', '--log-level', 'warn', '--min-refresh-delay', '5s', '--allowed-cidr', '127.0.0.0/8'],
      { stdio: ['ignore', 'inherit', 'inherit'], env: { ...IMAGE_MEMORY_ENV, ...process.env, ...rotationBench.controllerEnv } },
    );
    const createCrc = (name: string, selector: Record<string, string>) =>
      createClusterCredential(cp.kubeConfig, name, { provider: { static: { secretRef: { name: 'bench-src' } } }, target: { secretName: `${name}-pull`, namespaces: { selector: { matchLabels: selector } } } });
    await createCrc('latency', { bench: 'yes' });
    await sleep(2000); // the controller's caches fill

    // 1. New-namespace latency, observed through a watch on the Secrets.
    const seen = new Map<string, number>();
    const watchAbort = await new Watch(cp.kubeConfig).watch(
      '/api/v1/secrets',
      { labelSelector: 'regcred.dev/owner-name=latency' },
      (type, obj: { metadata?: { namespace?: string } }) => {
        if (type === 'ADDED' && obj.metadata?.namespace && !seen.has(obj.metadata.namespace)) seen.set(obj.metadata.namespace, Date.now());
      },
      () => undefined,
    );
    const created = new Map<string, number>();
    log(`new-namespace latency: creating ${LATENCY_NAMESPACES} namespaces one by one`);
    for (let i = 0; i < LATENCY_NAMESPACES; i++) {
      const name = `lat-${i}`;
      created.set(name, Date.now());
      await core.createNamespace({ body: { metadata: { name, labels: { bench: 'yes' } } } });
    }
    const deadline = Date.now() + 60_000;
    while (seen.size < LATENCY_NAMESPACES && Date.now() < deadline) await sleep(100);
    watchAbort.abort();
    const latencies = [...created].map(([ns, t]) => (seen.get(ns) ?? NaN) - t).filter(Number.isFinite).sort((a, b) => a - b);
    const latency = { namespaces: LATENCY_NAMESPACES, observed: latencies.length, p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99), maxMs: latencies.at(-1) };
    log(`latency: p50 ${latency.p50Ms} ms, p99 ${latency.p99Ms} ms, max ${latency.maxMs} ms (${latency.observed}/${LATENCY_NAMESPACES} seen)`);

    // 2. Idle cost with IDLE_NAMESPACES synced namespaces.
    log(`idle cost: growing to ${IDLE_NAMESPACES} synced namespaces`);
    await mapWithConcurrency(
      Array.from({ length: Math.max(0, IDLE_NAMESPACES - LATENCY_NAMESPACES) }, (_, i) => `idle-${i}`),
      16,
      (name) => core.createNamespace({ body: { metadata: { name, labels: { bench: 'yes' } } } }),
    );
    for (const end = Date.now() + 120_000; Date.now() < end; ) {
      const list = await core.listSecretForAllNamespaces({ labelSelector: 'regcred.dev/owner-name=latency' });
      if (list.items.length >= IDLE_NAMESPACES) break;
      await sleep(500);
    }
    // Settled: every namespace's default service account (created by the controller-manager, a
    // little later than its namespace) carries the reference; then give status a moment.
    for (const end = Date.now() + 300_000; Date.now() < end; ) {
      const sas = await core.listServiceAccountForAllNamespaces({ fieldSelector: 'metadata.name=default' });
      const patched = sas.items.filter((sa) => /^(lat|idle)-/.test(sa.metadata?.namespace ?? '') && sa.imagePullSecrets?.some((r) => r.name === 'latency-pull'));
      if (patched.length >= IDLE_NAMESPACES) break;
      await sleep(1000);
    }
    await sleep(5_000);
    log(`idle cost: watching the controller's requests for ${IDLE_SECONDS} s with nothing changing`);
    const idleStart = Date.now();
    await sleep(IDLE_SECONDS * 1000);
    const idleEnd = Date.now();
    await sleep(2000); // audit batching
    const idle = auditEntries(auditLog, controllerUser, idleStart, idleEnd);
    const idleWrites = idle.filter((e) => WRITE_VERBS.has(e.verb));
    const idleResult = {
      namespaces: IDLE_NAMESPACES,
      seconds: IDLE_SECONDS,
      writes: idleWrites.length,
      requests: idle.length,
      requestsPerMinute: +(idle.length / (IDLE_SECONDS / 60)).toFixed(1),
      byVerb: idle.reduce<Record<string, number>>((acc, e) => ((acc[e.verb] = (acc[e.verb] ?? 0) + 1), acc), {}),
    };
    log(`idle: ${idleResult.writes} writes, ${idleResult.requests} requests (${idleResult.requestsPerMinute}/min) ${JSON.stringify(idleResult.byVerb)}`);
    if (idleWrites.length) log(`idle writes: ${idleWrites.slice(0, 5).map((e) => `${e.verb} ${e.requestURI}`).join('; ')}`);

    // 3. Memory with MEMORY_NAMESPACES namespaces and three credentials.
    log(`memory: growing to ${MEMORY_NAMESPACES} namespaces with 3 credentials`);
    const t0 = Date.now();
    await mapWithConcurrency(
      Array.from({ length: Math.max(0, MEMORY_NAMESPACES - IDLE_NAMESPACES) }, (_, i) => `mem-${i}`),
      16,
      (name) => core.createNamespace({ body: { metadata: { name, labels: { bench: 'yes' } } } }),
    );
    await createCrc('mem-a', { bench: 'yes' });
    await createCrc('mem-b', { bench: 'yes' });
    const syncedAll = async () => {
      for (const name of ['latency', 'mem-a', 'mem-b']) {
        const o = (await custom.getClusterCustomObject({ group: 'regcred.dev', version: 'v1alpha1', plural: 'clusterregistrycredentials', name })) as {
          status?: { targets?: { synced?: number } };
        };
        if ((o.status?.targets?.synced ?? 0) < MEMORY_NAMESPACES) return false;
      }
      return true;
    };
    for (const end = Date.now() + 900_000; Date.now() < end && !(await syncedAll()); ) await sleep(2000);
    const syncSeconds = (Date.now() - t0) / 1000;
    await sleep(10_000);
    const status = readFileSync(`/proc/${controller.pid}/status`, 'utf8');
    const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]);
    const hwmKb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1]);
    const memory: MemoryResult = { namespaces: MEMORY_NAMESPACES, credentials: 3, secrets: 3 * MEMORY_NAMESPACES, synced: await syncedAll(), syncSeconds, rssMB: +(rssKb / 1024).toFixed(1), peakRssMB: +(hwmKb / 1024).toFixed(1) };
    log(`memory: RSS ${memory.rssMB} MB (peak ${memory.peakRssMB} MB) after syncing ${memory.secrets} Secrets in ${syncSeconds.toFixed(0)} s`);

    // 4. Rotation across ROTATION_NAMESPACES of those namespaces (labelled rot=yes), in the loaded
    // controller (the three credentials above stay), then its RSS again (the AWS SDK and the http
    // provider now loaded too).
    let rotation: RotationResult | undefined;
    if (ROTATION_SECONDS > 0) {
      log(`rotation: labelling ${ROTATION_NAMESPACES} of the ${MEMORY_NAMESPACES} namespaces`);
      const all = (await core.listNamespace({ labelSelector: 'bench=yes' })).items.map((n) => n.metadata!.name!).sort();
      await mapWithConcurrency(all.slice(0, ROTATION_NAMESPACES), 16, (name) =>
        core.patchNamespace({ name, body: [{ op: 'add', path: '/metadata/labels/rot', value: 'yes' }] }),
      );
      await sleep(5_000);
      rotation = await rotationBench.run({
        kc: cp.kubeConfig,
        selector: { rot: 'yes' },
        namespaces: ROTATION_NAMESPACES,
        windowSeconds: ROTATION_SECONDS,
        metricsUrl,
        secretWrites: (name, since, until) => {
          const own = auditEntries(auditLog, controllerUser, since, until).filter((e) => e.requestURI.includes(`/secrets/${name}`));
          return { writes: own.filter((e) => e.verb === 'update' || e.verb === 'patch').length, deletes: own.filter((e) => e.verb === 'delete').length };
        },
        log,
      });
      log(
        `rotation: first sync ${rotation.firstSyncSeconds} s; ${rotation.rotations} rotations, fan-out p50 ${rotation.rotationFanOutSeconds.p50} s, max ${rotation.rotationFanOutSeconds.max} s; ` +
          `http: ${rotation.http.providerCalls} calls / ${rotation.http.refreshes} refreshes, ${rotation.http.writesPerRotation} writes per rotation, ${rotation.http.secretDeletes} deletes; ` +
          `ecr: ${JSON.stringify(rotation.ecr.callsByRegion)} / ${rotation.ecr.refreshes} refreshes`,
      );
      const after = readFileSync(`/proc/${controller.pid}/status`, 'utf8');
      memory.rssAfterRotationMB = +(Number(/VmRSS:\s+(\d+)/.exec(after)?.[1]) / 1024).toFixed(1);
      memory.peakRssAfterRotationMB = +(Number(/VmHWM:\s+(\d+)/.exec(after)?.[1]) / 1024).toFixed(1);
      log(`rotation: controller RSS ${memory.rssAfterRotationMB} MB afterwards (peak ${memory.peakRssAfterRotationMB} MB)`);
    }


    console.log('\n| benchmark | result | aim | met |');
    console.log('|---|---|---|---|');
    console.log(`| new-namespace latency (${latency.namespaces} namespaces one by one) | p50 ${latency.p50Ms} ms, p99 ${latency.p99Ms} ms | p99 < 1 s | ${latency.p99Ms < 1000 ? 'yes' : 'no'} |`);
    console.log(`| idle cost (${idleResult.namespaces} namespaces, ${idleResult.seconds} s) | ${idleResult.writes} writes, ${idleResult.requestsPerMinute} requests/min | 0 writes | ${idleResult.writes === 0 ? 'yes' : 'no'} |`);
    if (rotation) {
      console.log(`| rotation fan-out (${rotation.namespaces} namespaces, ${rotation.rotations} rotations) | p50 ${rotation.rotationFanOutSeconds.p50} s, max ${rotation.rotationFanOutSeconds.max} s | | |`);
      console.log(`| provider calls per refresh (http; ecr, ${rotation.ecr.regions} regions) | ${rotation.http.callsPerRefresh}; ${rotation.ecr.callsPerRefresh} | 1; ${rotation.ecr.regions} | ${rotation.http.callsPerRefresh <= 1.05 && rotation.ecr.callsPerRefreshPerRegion <= 1.05 ? 'yes' : 'no'} |`);
    }
    // The aim: the peak stays below the chart's default memory limit (RSS and the limit both in MiB here).
    const aimMB = chartMemoryLimitBytes() / 2 ** 20;
    console.log(`| memory (${memory.namespaces} namespaces x 3 credentials) | RSS ${memory.rssMB} MB (peak ${memory.peakRssMB} MB) | peak < ${aimMB} MB (the chart's limit) | ${memory.peakRssMB < aimMB ? 'yes' : 'no'} |`);
    mkdirSync(RESULTS_DIR, { recursive: true });
    const file = join(RESULTS_DIR, `controller-${new Date().toISOString().slice(0, 10)}.json`);
    writeFileSync(file, JSON.stringify({ date: new Date().toISOString(), nodeFlags, latency, idle: idleResult, rotation, memory }, null, 2) + '\n');
    log(`results written to ${file}`);
  } finally {
    if (controller && controller.exitCode === null) {
      controller.kill('SIGTERM');
      await new Promise((r) => controller!.once('exit', r));
    }
    await rotationBench?.stop();
    await moto?.stop();
    await cp.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
