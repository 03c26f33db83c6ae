// regcred's controller at cluster scale, each measure beside the raw-client floor of the same run:
// a new credential and a rotation reaching 1,000 namespaces, source edits, new namespaces, watches
// after an API server restart, a soak, then 5,000 and 20,000 namespaces × 3 credentials (memory,
// time to converge, and what a plain GET costs another client meanwhile).
import { spawn, type ChildProcess } from 'node:child_process';
import { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import type { ControlPlane } from '../../test/harness/controlplane.js';
import { freePort } from '../../test/harness/controlplane.js';
import { CLI_PATH } from '../../test/harness/cli.js';
import { IMAGE_MEMORY_ENV, chartContainerNodeFlags } from '../../test/harness/chart-container.js';
import { createClusterCredential } from '../../test/harness/controller-process.js';
import { mapWithConcurrency } from '../../src/util/pool.js';
import { connect } from '../kubeapi.js';
import type { RawOptions, RawReport } from '../raw-client.js';
import { getLatencyProbe, percentile, rssMB, rssPartsMB, SecretObserver, settledHeapMB } from './observe.js';
import { newNamespaceFloor } from './new-namespace-floor.js';
import { run, must } from '../fanout/process.js';
import { RAW_CLIENT } from '../fanout/settings.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (s: string) => console.log(`[scale] ${s}`);
const secs = (ms: number) => +(ms / 1000).toFixed(3);

export interface ScaleSettings {
  namespaces: number;
  largeNamespaces: readonly number[];
  latencyNamespaces: number;
  sourceEdits: number;
  soakSeconds: number;
}

export interface RegcredScaleResult {
  /** The raw client's fan-out, the median of three runs each (runs: every one). */
  floor: { createSeconds: number; updateSeconds: number; runs?: { create: number[]; update: number[] } };
  idleRssMB: number;
  /** After the scenarios at the base size: one credential, its namespaces and the 200 new ones. */
  rssOneCredentialMB?: number;
  newCredentialSeconds: number;
  rotationSeconds: number;
  sourceEditSeconds: { p50: number; p99: number; all: number[] };
  newNamespaceMs: { p50: number; p99: number; max: number; observed: number };
  newCredentialRuns?: number[];
  /** The same measurement with bench/raw-follower.ts writing the Secrets (new-namespace-floor.ts). */
  newNamespaceFloorMs?: { p50: number; p99: number; max: number; observed: number };
  afterApiServerRestart: { newNamespaceSecretMs: number | null };
  soak?: { seconds: number; rssAfterWarmupMB: number; rssEndMB: number; growthMB: number; peakMB: number };
  /** rssMB: settled, SETTLE_MS after convergence; peakRssMB: the highest from the namespaces' creation on. */
  scale: Array<{ namespaces: number; credentials: number; secrets: number; convergeSeconds: number | null; createNamespacesSeconds: number; rssMB: number; rssParts?: { anon: number; file: number }; peakRssMB?: number; heapMB: number; getLatencyMs?: { p50: number; p99: number; max: number; samples: number } }>;
  /** (heap at the largest size − at the first) / the Secrets between: namespace and service-account entries included. */
  heapBytesPerManagedSecret?: number;
  /** What one more managed Secret costs alone: a fourth credential over every namespace of the largest size. */
  heapBytesPerAddedSecret?: { bytes: number; secrets: number };
  baselineGetLatencyMs: { p50: number; p99: number; max: number; samples: number };
}

const nsName = (i: number) => `scale-${i}`;
const SELECTOR = { scale: 'yes' };

async function createNamespaces(core: CoreV1Api, from: number, to: number): Promise<void> {
  await mapWithConcurrency(
    Array.from({ length: Math.max(0, to - from) }, (_, i) => nsName(from + i)),
    32,
    (name) => core.createNamespace({ body: { metadata: { name, labels: SELECTOR } } }),
  );
}

async function putSource(core: CoreV1Api, password: string): Promise<void> {
  await core.replaceNamespacedSecret({ namespace: 'regcred-system', name: 'scale-src', body: { metadata: { name: 'scale-src' }, stringData: { registry: 'scale.example', username: 'u', password } } });
}

const FLOOR_RUNS = 3;
/** How long after convergence the resident memory is read: V8 gives back what a burst of writes took within about a minute. */
const SETTLE_MS = 60_000;

/** The highest RSS of `pid` until stopped, sampled every second. */
function peakRss(pid: number): { stop(): number } {
  let peak = rssMB(pid);
  const t = setInterval(() => (peak = Math.max(peak, rssMB(pid))), 1_000);
  return {
    stop: () => {
      clearInterval(t);
      return Math.max(peak, rssMB(pid));
    },
  };
}

async function rawFloor(cp: ControlPlane, mode: 'create' | 'update', secretName: string): Promise<number> {
  const opts: RawOptions = { server: cp.server, dir: cp.dir, mode, secretName, namespaceSelector: 'scale=yes', sourceNamespace: 'regcred-system', sourceName: 'scale-src', concurrency: 16 };
  const proc = must(await run(process.execPath, [RAW_CLIENT, JSON.stringify(opts)]), 'raw client');
  const report = JSON.parse(proc.stdout.trim().split('\n').pop() ?? '{}') as RawReport;
  return (report.doneMs - report.readyMs) / 1000;
}

export async function runRegcredScale(cp: ControlPlane, s: ScaleSettings): Promise<RegcredScaleResult> {
  const core = cp.kubeConfig.makeApiClient(CoreV1Api);
  const custom = cp.kubeConfig.makeApiClient(CustomObjectsApi);
  const api = connect(cp.server, cp.dir, 4);
  await core.createNamespace({ body: { metadata: { name: 'regcred-system' } } });
  await core.createNamespacedSecret({ namespace: 'regcred-system', body: { metadata: { name: 'scale-src' }, stringData: { registry: 'scale.example', username: 'u', password: 'pw-0' } } });
  const metricsPort = await freePort();
  const metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
  const nodeFlags = (process.env['CONTROLLER_NODE_FLAGS'] ?? chartContainerNodeFlags().join(' ')).split(' ').filter(Boolean);
  const controller: ChildProcess = spawn(
    process.execPath,
    [...nodeFlags, CLI_PATH, 'controller', '--kubeconfig', cp.kubeconfigPath, '--metrics-bind-address', `127.0.0.1:${metricsPort}`, '--health-probe-bind-address', '0', '--log-level', 'warn'],
    { stdio: ['ignore', 'inherit', 'inherit'], env: { ...IMAGE_MEMORY_ENV, ...process.env } },
  );
  const pid = controller.pid!;
  const observers = new Map<string, SecretObserver>();
  const observer = async (secretName: string) => {
    let o = observers.get(secretName);
    if (!o) {
      o = new SecretObserver(cp.kubeConfig, secretName);
      await o.start();
      observers.set(secretName, o);
    }
    return o;
  };
  const median = (xs: number[]) => percentile([...xs].sort((x, y) => x - y), 50);
  const deleteCredential = (name: string) => custom.deleteClusterCustomObject({ group: 'regcred.dev', version: 'v1alpha1', plural: 'clusterregistrycredentials', name });
  const credential = (name: string) =>
    createClusterCredential(cp.kubeConfig, name, { provider: { static: { secretRef: { name: 'scale-src' } } }, target: { secretName: `${name}-pull`, namespaces: { selector: { matchLabels: SELECTOR } }, serviceAccounts: [] }, refresh: { interval: '24h' } });
  try {
    await sleep(15_000);
    const idleRssMB = +rssMB(pid).toFixed(1);
    log(`idle, no credential: RSS ${idleRssMB} MB`);
    const baselineProbe = getLatencyProbe(api);
    await sleep(5_000);
    const baselineGetLatencyMs = await baselineProbe.stop();

    log(`creating ${s.namespaces} namespaces`);
    await createNamespaces(core, 0, s.namespaces);
    const first = Array.from({ length: s.namespaces }, (_, i) => nsName(i));
    // Three runs of each, their median the floor: one run on a shared 2-core machine varies by ±30 %.
    const creates: number[] = [];
    const updates: number[] = [];
    for (let i = 0; i < FLOOR_RUNS; i++) creates.push(await rawFloor(cp, 'create', `floor-${i}-pull`));
    for (let i = 0; i < FLOOR_RUNS; i++) {
      await putSource(core, `pw-floor-${i}`);
      updates.push(await rawFloor(cp, 'update', 'floor-0-pull'));
    }
    const floor = { createSeconds: median(creates), updateSeconds: median(updates), runs: { create: creates, update: updates } };
    await putSource(core, 'pw-0');
    log(`raw-client floor (median of ${FLOOR_RUNS}): create ${floor.createSeconds} s, update ${floor.updateSeconds} s (runs: ${creates.join(", ")} / ${updates.join(", ")})`);

    // Three new credentials, their median: the first fan-out of a fresh process runs on code not yet
    // optimised, as no long-running controller's does; the floor is a median of three too. The two
    // others are deleted again (their Secrets removed) before the rest.
    const newCredential = async (name: string): Promise<number> => {
      const o = await observer(`${name}-pull`);
      const t = Date.now();
      await credential(name);
      const done = await o.allHold(first, 'pw-0', 300_000);
      return done ? secs(done - t) : NaN;
    };
    const newCredentialRuns = [await newCredential('scale-a')];
    for (const name of ['scale-n1', 'scale-n2']) {
      newCredentialRuns.push(await newCredential(name));
      await deleteCredential(name);
      await (await observer(`${name}-pull`)).noneHeld(first, 300_000);
    }
    const newCredentialSeconds = median(newCredentialRuns);
    log(`new credential → ${s.namespaces} namespaces: ${newCredentialSeconds} s (median of ${newCredentialRuns.join(', ')})`);
    let t0: number;
    const a = await observer('scale-a-pull');

    const edits: number[] = [];
    for (let i = 1; i <= s.sourceEdits; i++) {
      await sleep(2_000);
      t0 = Date.now();
      await putSource(core, `pw-${i}`);
      const done = await a.allHold(first, `pw-${i}`, 120_000);
      edits.push(done ? secs(done - t0) : NaN);
    }
    const sortedEdits = [...edits].sort((x, y) => x - y);
    const sourceEditSeconds = { p50: percentile(sortedEdits, 50), p99: percentile(sortedEdits, 99), all: edits };
    // Each edit is a rotation of every copy: their median, as the floor's.
    const rotationSeconds = sourceEditSeconds.p50;
    log(`source edits → ${s.namespaces} copies: ${edits.join(', ')} s`);
    let password = `pw-${s.sourceEdits}`;

    const latencies: number[] = [];
    for (let i = 0; i < s.latencyNamespaces; i++) {
      const name = `late-${i}`;
      const t = Date.now();
      await core.createNamespace({ body: { metadata: { name, labels: SELECTOR } } });
      const got = await a.allHold([name], password, 10_000);
      if (got) latencies.push(got - t);
    }
    latencies.sort((x, y) => x - y);
    const newNamespaceMs = { p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: latencies.at(-1) ?? NaN, observed: latencies.length };
    log(`new namespace → Secret: p50 ${newNamespaceMs.p50} ms, p99 ${newNamespaceMs.p99} ms`);
    const newNamespaceFloorMs = await newNamespaceFloor(cp, core, s.latencyNamespaces, password, { namespace: 'regcred-system', name: 'scale-src' });
    log(`new namespace → Secret, raw follower (the floor): p50 ${newNamespaceFloorMs.p50} ms, p99 ${newNamespaceFloorMs.p99} ms`);
    const rssOneCredentialMB = +rssMB(pid).toFixed(1);
    log(`one credential, ${s.namespaces + s.latencyNamespaces} namespaces: RSS ${rssOneCredentialMB} MB`);

    log('restarting the API server');
    await cp.restartApiServer();
    const tReady = Date.now();
    await core.createNamespace({ body: { metadata: { name: 'after-restart', labels: SELECTOR } } });
    const got = await a.allHold(['after-restart'], password, 30_000);
    const afterApiServerRestart = { newNamespaceSecretMs: got ? got - tReady : null };
    log(`after the API server restart: a new namespace had its Secret ${afterApiServerRestart.newNamespaceSecretMs} ms after the server was ready`);

    let soak: RegcredScaleResult['soak'];
    if (s.soakSeconds > 0) {
      log(`soak: ${s.soakSeconds} s, the source edited every 30 s`);
      const samples: Array<[number, number]> = [];
      const start = Date.now();
      let next = start;
      let n = 0;
      while (Date.now() - start < s.soakSeconds * 1000) {
        if (Date.now() >= next) {
          password = `soak-${++n}`;
          await putSource(core, password);
          next += 30_000;
        }
        samples.push([Date.now() - start, rssMB(pid)]);
        await sleep(5_000);
      }
      const window = (from: number, to: number) => samples.filter(([t]) => t >= from && t < to).map(([, r]) => r).sort((x, y) => x - y);
      const warm = window(120_000, 180_000);
      const end = window(s.soakSeconds * 1000 - 60_000, Infinity);
      const rssAfterWarmupMB = +percentile(warm, 50).toFixed(1);
      const rssEndMB = +percentile(end, 50).toFixed(1);
      soak = { seconds: s.soakSeconds, rssAfterWarmupMB, rssEndMB, growthMB: +(rssEndMB - rssAfterWarmupMB).toFixed(1), peakMB: +Math.max(...samples.map(([, r]) => r)).toFixed(1) };
      log(`soak: RSS ${rssAfterWarmupMB} MB after warm-up, ${rssEndMB} MB at the end (peak ${soak.peakMB})`);
    }

    const scale: RegcredScaleResult['scale'] = [];
    let have = s.namespaces;
    const names = ['scale-a', 'scale-b', 'scale-c'];
    for (const [i, target] of s.largeNamespaces.entries()) {
      const probe = getLatencyProbe(api);
      const peak = peakRss(pid);
      const tStart = Date.now();
      await createNamespaces(core, have, target);
      const createNamespacesSeconds = secs(Date.now() - tStart);
      have = target;
      if (i === 0) for (const n of names.slice(1)) await credential(n);
      const all = [...Array.from({ length: target }, (_, k) => nsName(k)), ...Array.from({ length: s.latencyNamespaces }, (_, k) => `late-${k}`), 'after-restart'];
      let converged: number | undefined = Date.now();
      for (const n of names) {
        const done = await (await observer(`${n}-pull`)).allHold(all, password, 1_800_000);
        converged = done === undefined || converged === undefined ? undefined : Math.max(converged, done);
      }
      const getLatencyMs = await probe.stop();
      // The lowest heap in use over the minute (collections happen in it), then the RSS at its end.
      const heapMB = +(await settledHeapMB(metricsUrl, SETTLE_MS)).toFixed(2);
      const row = { namespaces: target, credentials: 3, secrets: 3 * all.length, convergeSeconds: converged ? secs(converged - tStart) : null, createNamespacesSeconds, rssMB: +rssMB(pid).toFixed(1), rssParts: rssPartsMB(pid), peakRssMB: +peak.stop().toFixed(1), heapMB, getLatencyMs };
      scale.push(row);
      log(`${target} namespaces × 3: converged ${row.convergeSeconds} s after namespaces began (creating them took ${createNamespacesSeconds} s), RSS ${row.rssMB} MB ${SETTLE_MS / 1000} s later (anonymous ${row.rssParts.anon}, file-backed ${row.rssParts.file}; peak ${row.peakRssMB}), heap ${row.heapMB} MB, GET p99 ${getLatencyMs.p99} ms`);
    }
    const [small, large] = [scale[0], scale.at(-1)];
    const heapBytesPerManagedSecret = small && large && large !== small ? Math.round(((large.heapMB - small.heapMB) * 2 ** 20) / (large.secrets - small.secrets)) : undefined;
    let heapBytesPerAddedSecret: RegcredScaleResult['heapBytesPerAddedSecret'];
    if (large) {
      // One more credential over every namespace: its Secrets alone, the namespaces and accounts already held.
      const all = [...Array.from({ length: large.namespaces }, (_, k) => nsName(k)), ...Array.from({ length: s.latencyNamespaces }, (_, k) => `late-${k}`), 'after-restart'];
      const d = await observer('scale-d-pull');
      await credential('scale-d');
      if (await d.allHold(all, password, 1_800_000)) {
        const after = await settledHeapMB(metricsUrl, SETTLE_MS);
        heapBytesPerAddedSecret = { bytes: Math.round(((after - large.heapMB) * 2 ** 20) / all.length), secrets: all.length };
        log(`a fourth credential, ${all.length} more Secrets: heap ${after.toFixed(2)} MB, ${heapBytesPerAddedSecret.bytes} B each`);
      }
    }
    return { floor, idleRssMB, rssOneCredentialMB, newCredentialSeconds, newCredentialRuns, rotationSeconds, sourceEditSeconds, newNamespaceMs, newNamespaceFloorMs, afterApiServerRestart, ...(soak ? { soak } : {}), scale, ...(heapBytesPerManagedSecret !== undefined ? { heapBytesPerManagedSecret } : {}), ...(heapBytesPerAddedSecret ? { heapBytesPerAddedSecret } : {}), baselineGetLatencyMs };
  } finally {
    for (const o of observers.values()) o.stop();
    controller.kill('SIGTERM');
    api.agent.destroy();
  }
}
