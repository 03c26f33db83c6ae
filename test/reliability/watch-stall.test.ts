// Reliability: watch stalls. The controller runs in this process (its stall settings are
// not flags) with short watch timeouts, behind a TCP proxy (test/harness/tcp-proxy.ts) in front of a
// real API server, with its HTTP probe server (src/controller/http.ts) on a free port:
//  - freeze: the proxy stops moving bytes on every connection without closing any and leaves new
//    connections hanging; the watches fall silent. The controller must notice (informer stall
//    count), /healthz must report it while it lasts (with the reason), and after the thaw it must
//    relist, /healthz return to ok, and changes made during the freeze (a new namespace, an edited
//    Secret) be applied;
//  - a cut: every connection reset while the API server stays up: the watches resume from their
//    resourceVersion, no relist, and a change made right after is applied within 5 s;
//  - a long API-server outage (stopped, 20 s pause, started): every connection is refused; /healthz
//    reports it, the watches are retried from their resourceVersion (the restarted API server
//    answers 410 Gone, and only then do they relist), and changes made right after the API server
//    is back are applied within 5 s of it answering.
// Each test prints its measurements as "# ..." lines.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CoreV1Api, KubeConfig, type V1Secret } from '@kubernetes/client-node';
import { start, type ControlPlane } from '../harness/controlplane.js';
import { installCrds } from '../harness/crds.js';
import { startTcpProxy, type TcpProxy } from '../harness/tcp-proxy.js';
import { createClusterCredential, waitForClusterCredentialStatus } from '../harness/controller-process.js';
import { Controller } from '../../src/controller/controller.js';
import { startHttpServers, type HttpServers } from '../../src/controller/http.js';
import { Informer } from '../../src/kube/informer.js';
import { createMetrics } from '../../src/metrics.js';
import { EventRecorder } from '../../src/kube/events.js';
import { capturingLogger } from '../harness/provider-tests.js';

const WATCH_TIMEOUT_S = 5;
const STALL_GRACE_MS = 2000;
const LIVENESS_STALL_MS = 3000;
const FREEZE_MS = 25_000;
const OUTAGE_PAUSE_MS = 20_000;
const REGISTRY = 'stall.registry.example';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let cp: ControlPlane;
let core: CoreV1Api;
let proxy: TcpProxy;
let controller: Controller;
let servers: HttpServers;
const logLines: string[] = [];

before(async () => {
  cp = await start();
  core = cp.kubeConfig.makeApiClient(CoreV1Api);
  await installCrds(cp.kubeConfig);
  await core.createNamespace({ body: { metadata: { name: 'regcred-system' } } });
  await core.createNamespacedSecret({
    namespace: 'regcred-system',
    body: { metadata: { name: 'stall-src' }, stringData: { registry: REGISTRY, username: 'robot', password: 'pw-1' } },
  });
  for (let i = 0; i < 5; i++) await core.createNamespace({ body: { metadata: { name: `stall-${i}`, labels: { stall: 'yes' } } } });
  await createClusterCredential(cp.kubeConfig, 'stall', {
    provider: { static: { secretRef: { name: 'stall-src' } } },
    target: { secretName: 'stall-pull', namespaces: { selector: { matchLabels: { stall: 'yes' } } }, serviceAccounts: [] },
  });

  // The controller's kubeconfig: the admin one, with the proxy as the server (same CA: the serving
  // certificate is valid for 127.0.0.1).
  const apiPort = Number(new URL(cp.server).port);
  proxy = await startTcpProxy({ host: '127.0.0.1', port: apiPort });
  const proxiedPath = join(cp.dir, 'proxied.kubeconfig');
  const text = readFileSync(cp.kubeconfigPath, 'utf8');
  assert.ok(text.includes(`server: ${cp.server}`));
  writeFileSync(proxiedPath, text.replace(`server: ${cp.server}`, `server: ${proxy.url}`));
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(proxiedPath);

  const log = capturingLogger(logLines);
  const metrics = createMetrics();
  controller = new Controller({
    kubeConfig,
    namespace: 'regcred-system',
    allowCrossNamespaceRefs: false,
    log,
    metrics,
    events: new EventRecorder({ kubeConfig, controller: 'regcred.dev/controller', instance: 'stall-test', log }),
    minRefreshDelayMs: 1000,
    retryBaseMs: 300,
    retryMaxMs: 2000,
    informer: { watchTimeoutSeconds: [WATCH_TIMEOUT_S, WATCH_TIMEOUT_S], stallGraceMs: STALL_GRACE_MS, listTimeoutMs: 5000 },
    livenessStallMs: LIVENESS_STALL_MS,
  });
  servers = await startHttpServers({
    metricsBindAddress: '0',
    healthProbeBindAddress: '127.0.0.1:0',
    registry: metrics.registry,
    log,
    healthz: () => controller.healthz(),
    readyz: () => controller.readyz(),
  });
  await controller.start();
  await waitForClusterCredentialStatus(cp.kubeConfig, 'stall', (s) => s.targets?.synced === 5, 30_000, () => logLines.join(''));
});

after(async () => {
  proxy?.thaw();
  await controller?.stop();
  await servers?.close();
  await proxy?.close();
  await cp?.stop();
});

interface InformerTotals {
  lists: number;
  watches: number;
  restarts: number;
  resumes: number;
  gone: number;
  stalls: number;
  /** How many of the five informers counted a stall. */
  stalledInformers: number;
}

type Snapshot = Map<string, Informer<never>['stats']>;

/** Each informer's counters (stats), copied. */
function snapshot(): Snapshot {
  const out: Snapshot = new Map();
  for (const [name, i] of Object.entries(controller.informers)) if (i instanceof Informer) out.set(name, { ...i.stats });
  return out;
}

/** What the informers counted between two snapshots. */
function diff(a: Snapshot, b: Snapshot): InformerTotals {
  const t: InformerTotals = { lists: 0, watches: 0, restarts: 0, resumes: 0, gone: 0, stalls: 0, stalledInformers: 0 };
  for (const [name, after] of b) {
    const before = a.get(name) ?? { lists: 0, watches: 0, restarts: 0, resumes: 0, gone: 0, stalls: 0 };
    t.lists += after.lists - before.lists;
    t.watches += after.watches - before.watches;
    t.restarts += after.restarts - before.restarts;
    t.resumes += after.resumes - before.resumes;
    t.gone += after.gone - before.gone;
    t.stalls += after.stalls - before.stalls;
    if (after.stalls > before.stalls) t.stalledInformers++;
  }
  return t;
}

function getHealth(path = '/healthz'): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port: servers.healthPort, path, timeout: 2000 }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: body.trim() }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err) => resolve({ status: 0, body: err.message }));
    req.end();
  });
}

/** Polls /healthz every 200 ms; records every sample. */
function healthMonitor() {
  const samples: Array<{ at: number; status: number; body: string }> = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const h = await getHealth();
      samples.push({ at: Date.now(), ...h });
      await sleep(200);
    }
  })();
  return {
    samples,
    async stop() {
      running = false;
      await loop;
    },
    /** First unhealthy sample at or after `from`, first healthy one after that, total unhealthy time. */
    summary(from: number) {
      const after = samples.filter((s) => s.at >= from);
      const firstBad = after.find((s) => s.status !== 200);
      const recovered = firstBad ? after.find((s) => s.at > firstBad.at && s.status === 200) : undefined;
      let unhealthyMs = 0;
      for (let k = 1; k < after.length; k++) if (after[k - 1]!.status !== 200) unhealthyMs += after[k]!.at - after[k - 1]!.at;
      return { firstBad, recovered, unhealthyMs, reasons: [...new Set(after.filter((s) => s.status !== 200).map((s) => s.body))] };
    },
  };
}

function passwordOf(secret: V1Secret | undefined): string | undefined {
  if (!secret?.data?.['.dockerconfigjson']) return undefined;
  const cfg = JSON.parse(Buffer.from(secret.data['.dockerconfigjson'], 'base64').toString('utf8')) as { auths: Record<string, { password?: string }> };
  return cfg.auths[REGISTRY]?.password;
}

async function readPull(namespace: string): Promise<V1Secret | undefined> {
  try {
    return await core.readNamespacedSecret({ namespace, name: 'stall-pull' });
  } catch {
    return undefined;
  }
}

/** Milliseconds from `from` until `check` holds, polling every 100 ms; throws after `timeoutMs`. */
async function until(what: string, from: number, timeoutMs: number, check: () => Promise<boolean>): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return Date.now() - from;
    await sleep(100);
  }
  throw new Error(`${what}: not after ${timeoutMs} ms\n${logLines.slice(-20).join('')}`);
}

/** Tampers with a managed Secret (a foreign password), directly at the API server. */
async function tamper(namespace: string): Promise<void> {
  const s = await core.readNamespacedSecret({ namespace, name: 'stall-pull' });
  const cfg = { auths: { [REGISTRY]: { username: 'intruder', password: 'tampered', auth: Buffer.from('intruder:tampered').toString('base64') } } };
  s.data = { '.dockerconfigjson': Buffer.from(JSON.stringify(cfg)).toString('base64') };
  await core.replaceNamespacedSecret({ namespace, name: 'stall-pull', body: s });
}

describe('watch stall: a TCP proxy between the controller and the API server freezes', () => {
  // One scenario, observed once; the tests below assert on what was observed, one property each.
  const seen = {
    baseline: undefined as InformerTotals | undefined,
    baselineUnhealthy: 0,
    duringFreeze: undefined as InformerTotals | undefined,
    afterThaw: undefined as InformerTotals | undefined,
    firstStallMs: undefined as number | undefined,
    health: undefined as ReturnType<ReturnType<typeof healthMonitor>['summary']> | undefined,
    freezeAt: 0,
    thawAt: 0,
    newNamespaceMs: undefined as number | undefined,
    restoredMs: undefined as number | undefined,
    proxyStats: '',
    errors: [] as string[],
  };

  test(`scenario: ${WATCH_TIMEOUT_S} s watches run normally, then a ${FREEZE_MS / 1000} s freeze with changes made meanwhile, then a thaw`, { timeout: 150_000 }, async () => {
    const monitor = healthMonitor();
    try {
      // Baseline: short watches end and restart every few seconds; nothing counts as a stall.
      const t0 = snapshot();
      const baseStart = Date.now();
      await sleep(3 * WATCH_TIMEOUT_S * 1000);
      seen.baseline = diff(t0, snapshot());
      seen.baselineUnhealthy = monitor.samples.filter((s) => s.at >= baseStart && s.status !== 200).length;
      console.log(`# baseline ${3 * WATCH_TIMEOUT_S} s: ${JSON.stringify(seen.baseline)}; unhealthy /healthz samples: ${seen.baselineUnhealthy}`);

      const beforeFreeze = snapshot();
      seen.freezeAt = Date.now();
      proxy.freeze();
      // Changes the controller can only learn about from its (frozen) watches.
      await sleep(1000);
      await core.createNamespace({ body: { metadata: { name: 'stall-late', labels: { stall: 'yes' } } } });
      await tamper('stall-1');
      // Watch the stall counter while frozen.
      while (Date.now() - seen.freezeAt < FREEZE_MS) {
        if (seen.firstStallMs === undefined && diff(beforeFreeze, snapshot()).stalls > 0) seen.firstStallMs = Date.now() - seen.freezeAt;
        await sleep(100);
      }
      seen.duringFreeze = diff(beforeFreeze, snapshot());
      seen.thawAt = Date.now();
      proxy.thaw();
      console.log(`# frozen ${seen.thawAt - seen.freezeAt} ms: first stall counted after ${seen.firstStallMs ?? 'never'} ms; during the freeze: ${JSON.stringify(seen.duringFreeze)}`);

      seen.newNamespaceMs = await until('the namespace created during the freeze gets its Secret', seen.thawAt, 60_000, async () => passwordOf(await readPull('stall-late')) === 'pw-1');
      seen.restoredMs = await until('the Secret edited during the freeze is restored', seen.thawAt, 60_000, async () => passwordOf(await readPull('stall-1')) === 'pw-1');
      await until('/healthz ok again', seen.thawAt, 60_000, async () => (await getHealth()).status === 200);
      await waitForClusterCredentialStatus(cp.kubeConfig, 'stall', (s) => s.targets?.synced === 6 && s.targets.failed === 0, 30_000, () => logLines.join(''));
      await sleep(1000);
      seen.afterThaw = diff(beforeFreeze, snapshot());
    } finally {
      await monitor.stop();
    }
    seen.health = monitor.summary(seen.freezeAt);
    seen.proxyStats = JSON.stringify(proxy.stats);
    const h = seen.health;
    console.log(
      `# /healthz: first unhealthy ${h.firstBad ? `${h.firstBad.at - seen.freezeAt} ms after the freeze` : 'never'}; ` +
        `ok again ${h.recovered ? `${h.recovered.at - seen.thawAt} ms after the thaw` : 'never'}; unhealthy for ${h.unhealthyMs} ms in all; reasons: ${JSON.stringify(h.reasons)}`,
    );
    console.log(`# after the thaw: new namespace's Secret in ${seen.newNamespaceMs} ms, tampered Secret restored in ${seen.restoredMs} ms; informers since the freeze: ${JSON.stringify(seen.afterThaw)}`);
    console.log(`# proxy: ${seen.proxyStats}`);
    console.log(`# warnings logged: ${logLines.filter((l) => l.includes('"watch stalled; relisting"')).length} "watch stalled", ${logLines.filter((l) => l.includes('"list/watch failed; retrying"')).length} "list/watch failed", ${logLines.filter((l) => l.includes('"reconcile failed; retrying"')).length} "reconcile failed"`);
  });

  test('no false alarm: short watches ending normally count no stall and keep /healthz ok', () => {
    assert.ok(seen.baseline, 'scenario ran');
    assert.equal(seen.baseline.stalls, 0);
    assert.ok(seen.baseline.watches >= 5 * 2, `watches restarted every ${WATCH_TIMEOUT_S} s: ${seen.baseline.watches}`);
    assert.equal(seen.baselineUnhealthy, 0);
  });

  test('the informers notice: every watched collection counts a stall while frozen', () => {
    assert.ok(seen.duringFreeze, 'scenario ran');
    assert.equal(seen.duringFreeze.stalledInformers, 5, JSON.stringify(seen.duringFreeze));
    assert.ok(seen.firstStallMs !== undefined && seen.firstStallMs <= (WATCH_TIMEOUT_S * 1000 + STALL_GRACE_MS) * 2, `first stall after ${seen.firstStallMs} ms`);
  });

  // A stall makes the informer relist at once; that relist goes through the same frozen path and
  // hangs too. The informer must count as failing from the stall on, or the probe never fails.
  test('/healthz reports the stall (with its reason) while it lasts', () => {
    assert.ok(seen.health, 'scenario ran');
    const { firstBad } = seen.health;
    assert.ok(firstBad, `/healthz never failed during a ${FREEZE_MS / 1000} s freeze (livenessStallMs ${LIVENESS_STALL_MS})`);
    assert.ok(firstBad.at < seen.thawAt, 'unhealthy before the thaw');
    assert.match(firstBad.body, /^watch failing for over 3s: /);
    // Every informer's stall is named at some point (they stall a few seconds apart), the watch of
    // the credentials' source Secrets included.
    const named = new Set(seen.health.reasons.flatMap((r) => r.replace(/^.*: /, '').split(', ')));
    assert.deepEqual([...named].sort(), ['crc', 'namespaces', 'rc', 'secrets', 'serviceAccounts', 'sourceSecrets']);
    assert.ok(seen.health.recovered && seen.health.recovered.at >= seen.thawAt, '/healthz ok again only after the thaw');
  });

  test('after the thaw: relisted, /healthz ok again, changes made during the freeze applied', () => {
    assert.ok(seen.afterThaw && seen.duringFreeze, 'scenario ran');
    // Each collection relisted: the relists started during the freeze (a stall relists at once) and
    // completed after the thaw, when the watches resumed (a watch starts only after a complete list).
    assert.ok(seen.afterThaw.lists >= 5, JSON.stringify(seen.afterThaw));
    assert.equal(seen.duringFreeze.watches, 0, `no watch could start while frozen: ${JSON.stringify(seen.duringFreeze)}`);
    assert.ok(seen.afterThaw.watches >= 5, `watching again after the thaw: ${JSON.stringify(seen.afterThaw)}`);
    assert.ok(seen.newNamespaceMs !== undefined && seen.newNamespaceMs < 30_000);
    assert.ok(seen.restoredMs !== undefined && seen.restoredMs < 30_000);
  });
});

describe('watch cut: every connection reset, the API server up', () => {
  test('the watches resume from their resourceVersion without a relist, and a Secret deleted right after is restored within 5 s', { timeout: 60_000 }, async () => {
    await until('/healthz ok', Date.now(), 30_000, async () => (await getHealth()).status === 200);
    const before = snapshot();
    const cutAt = Date.now();
    proxy.cut();
    await core.deleteNamespacedSecret({ namespace: 'stall-2', name: 'stall-pull' });
    const ms = await until('the deleted Secret is restored', cutAt, 30_000, async () => passwordOf(await readPull('stall-2')) === 'pw-1');
    const watchingMs = await until('every informer watches again', cutAt, 30_000, async () => diff(before, snapshot()).watches >= 5);
    const d = diff(before, snapshot());
    console.log(`# connections cut: the Secret deleted right after was restored in ${ms} ms; every informer watching again after ${watchingMs} ms; informers: ${JSON.stringify(d)}`);
    assert.ok(ms < 5000, `restored ${ms} ms after the cut`);
    assert.ok(watchingMs < 5000, `every informer watching again ${watchingMs} ms after the cut`);
    assert.equal(d.lists, 0, `a cut watch resumes from its resourceVersion, which the API server still serves: ${JSON.stringify(d)}`);
    assert.equal(d.gone, 0, JSON.stringify(d));
  });
});

describe('watch cut: the API server stops for 20 s (connections refused), then starts again', () => {
  test('the informers retry, /healthz reports it while it lasts, and changes made right after it is back are handled within 5 s', { timeout: 150_000 }, async () => {
    const monitor = healthMonitor();
    const before = snapshot();
    const stopAt = Date.now();
    let upAt = 0;
    try {
      // restartApiServer waits until the new one is ready; the pause is the outage.
      await cp.restartApiServer({ pauseMs: OUTAGE_PAUSE_MS });
      upAt = Date.now();
      // Changes the controller can only learn about once its watches are back.
      await core.createNamespace({ body: { metadata: { name: 'stall-after-outage', labels: { stall: 'yes' } } } });
      await core.deleteNamespacedSecret({ namespace: 'stall-3', name: 'stall-pull' });
      const nsMs = await until('the new namespace gets its Secret', upAt, 30_000, async () => passwordOf(await readPull('stall-after-outage')) === 'pw-1');
      const restoredMs = await until('the deleted Secret is restored', upAt, 30_000, async () => passwordOf(await readPull('stall-3')) === 'pw-1');
      await until('/healthz ok again', upAt, 60_000, async () => (await getHealth()).status === 200);
      await sleep(500);
      const h = monitor.summary(stopAt);
      const d = diff(before, snapshot());
      console.log(`# API server down ${upAt - stopAt} ms (incl. its start-up); informers: ${JSON.stringify(d)}`);
      console.log(
        `# /healthz: first unhealthy ${h.firstBad ? `${h.firstBad.at - stopAt} ms after the stop` : 'never'}; ok again ${h.recovered ? `${h.recovered.at - upAt} ms after the API server was ready` : 'never'}; ` +
          `unhealthy for ${h.unhealthyMs} ms; reasons: ${JSON.stringify(h.reasons)}`,
      );
      console.log(`# after the API server was ready: the namespace created then got its Secret in ${nsMs} ms, the Secret deleted then was restored in ${restoredMs} ms`);
      assert.ok(h.firstBad, '/healthz never failed during the outage');
      assert.match(h.firstBad.body, /watch failing for over 3s/);
      assert.ok(h.recovered, '/healthz ok again');
      assert.ok(nsMs < 5000, `the new namespace got its Secret ${nsMs} ms after the API server was ready`);
      assert.ok(restoredMs < 5000, `the deleted Secret was restored ${restoredMs} ms after the API server was ready`);
      assert.ok(d.restarts >= 5, `every informer retried: ${JSON.stringify(d)}`);
      assert.ok(d.resumes >= 5, `failed watches were retried from their resourceVersion: ${JSON.stringify(d)}`);
      // A restarted API server starts a fresh watch cache, which answers 410 for older versions:
      // each relist follows one, none follows a mere connection failure.
      assert.equal(d.lists, d.gone, `a relist only after 410 Gone: ${JSON.stringify(d)}`);
    } finally {
      await monitor.stop();
    }
  });
});
