// Soak (issue 7 §3): 20 credentials × 200 namespaces (4,000 Secrets), each credential rotated by
// its broker every 30 s, for 15 minutes, against a real API server, with the built controller as a
// child process and the heap the chart's container gives it. Checked: no lost update (every Secret follows its
// broker: never more than one rotation behind during the run, exactly current at the end), the
// controller's RSS flat (start, peak, end) and within the chart's memory limit, and no growth in its open sockets or timers (from its
// own /metrics: prom-client's nodejs_active_handles / nodejs_active_resources by type).
// SOAK_MINUTES shortens it for a local run.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { CoreV1Api } from '@kubernetes/client-node';
import { start, type ControlPlane } from '../harness/controlplane.js';
import { installCrds } from '../harness/crds.js';
import { createClusterCredential, spawnController, waitForClusterCredentialStatus, type ControllerProcess } from '../harness/controller-process.js';
import { startHttpBroker, type HttpBroker } from '../harness/doubles/http-broker.js';
import { chartContainerNodeFlags, chartMemoryLimitBytes } from '../harness/chart-container.js';

const MINUTES = Number(process.env['SOAK_MINUTES'] ?? 15);
const CREDENTIALS = 20;
const NAMESPACES = 200;
const ROTATE_MS = 30_000;
const OVERLAP_MS = 15_000;
const REGISTRY = 'soak.registry.example.com';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let cp: ControlPlane;
let core: CoreV1Api;
let ctl: ControllerProcess;
const brokers: HttpBroker[] = [];
const history: string[][] = []; // per credential: every password, in order
const timers: NodeJS.Timeout[] = [];

before(async () => {
  cp = await start();
  core = cp.kubeConfig.makeApiClient(CoreV1Api);
  await installCrds(cp.kubeConfig);
  await core.createNamespace({ body: { metadata: { name: 'regcred-system' } } });
});

after(async () => {
  for (const t of timers) clearInterval(t);
  await ctl?.stop('SIGKILL');
  for (const b of brokers) await b.stop();
  await cp?.stop();
});

function rotate(i: number): void {
  const password = `soak-${i}-${randomBytes(12).toString('hex')}`;
  history[i]!.push(password);
  brokers[i]!.setCredential(`robot-${i}`, password, new Date(Date.now() + ROTATE_MS + OVERLAP_MS));
}

function vmRss(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

/** Handles and resources by type from the controller's /metrics (prom-client default metrics). */
async function handles(port: number): Promise<Record<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^nodejs_active_(handles|resources)\{type="([^"]+)"\} (\d+)/gm)) out[`${m[1]}:${m[2]}`] = Number(m[3]);
  return out;
}

describe(`soak: ${CREDENTIALS} credentials × ${NAMESPACES} namespaces, rotation every 30 s, ${MINUTES} minutes`, () => {
  test('no lost update; RSS flat; no growth in sockets or timers', { timeout: (MINUTES * 60 + 300) * 1000 }, async () => {
    for (let i = 0; i < NAMESPACES; i += 25) {
      await Promise.all(
        Array.from({ length: Math.min(25, NAMESPACES - i) }, (_, k) =>
          core.createNamespace({ body: { metadata: { name: `soak-${String(i + k).padStart(3, '0')}`, labels: { soak: 'yes' } } } }),
        ),
      );
    }
    for (let i = 0; i < CREDENTIALS; i++) {
      history.push([]);
      brokers.push(await startHttpBroker({ path: '/token' }));
      rotate(i);
      await createClusterCredential(cp.kubeConfig, `soak-${i}`, {
        provider: { http: { url: brokers[i]!.url, allowInsecure: true, registry: REGISTRY, response: { username: '$.data.username', password: '$.data.password', expiresAt: '$.data.expires_at' } } },
        target: { secretName: `soak-pull-${i}`, namespaces: { selector: { matchLabels: { soak: 'yes' } } }, serviceAccounts: [] },
      });
    }
    ctl = spawnController(cp.kubeconfigPath, { nodeFlags: chartContainerNodeFlags(), args: ['--log-format', 'json'] });
    const t0 = Date.now();
    for (let i = 0; i < CREDENTIALS; i++) {
      await waitForClusterCredentialStatus(cp.kubeConfig, `soak-${i}`, (s) => s.targets?.synced === NAMESPACES, 300_000, () => ctl.output.join('').slice(-2000));
    }
    console.log(`# initial sync of ${CREDENTIALS * NAMESPACES} Secrets: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const port = await (async () => {
      for (let i = 0; i < 50; i++) {
        const m = /"metricsPort":(\d+)/.exec(ctl.output.join(''));
        if (m) return Number(m[1]);
        await sleep(100);
      }
      throw new Error('no metrics port in the controller log');
    })();
    const pid = ctl.child.pid!;
    // Stagger the rotations over the 30 s period, as independent brokers would be.
    for (let i = 0; i < CREDENTIALS; i++) {
      const t = setTimeout(() => {
        rotate(i);
        timers.push(setInterval(() => rotate(i), ROTATE_MS));
      }, (ROTATE_MS / CREDENTIALS) * i);
      timers.push(t);
    }

    const rssStart = vmRss(pid);
    const handlesStart = await handles(port);
    let rssPeak = rssStart;
    let behind = 0;
    let checks = 0;
    const deadline = Date.now() + MINUTES * 60_000;
    const samples: Array<{ at: number; rss: number; handles: Record<string, number> }> = [];
    while (Date.now() < deadline) {
      await sleep(15_000);
      rssPeak = Math.max(rssPeak, vmRss(pid));
      samples.push({ at: Date.now(), rss: vmRss(pid), handles: await handles(port) });
      // Every Secret holds its broker's current or previous password (one rotation in flight at most).
      const list = await core.listSecretForAllNamespaces({ labelSelector: 'app.kubernetes.io/managed-by=regcred' });
      for (const s of list.items) {
        const i = Number(/^soak-pull-(\d+)$/.exec(s.metadata?.name ?? '')?.[1]);
        if (!Number.isInteger(i)) continue;
        const text = Buffer.from(s.data?.['.dockerconfigjson'] ?? '', 'base64').toString('utf8');
        const password = (JSON.parse(text) as { auths: Record<string, { password: string }> }).auths[REGISTRY]?.password ?? '';
        const h = history[i]!;
        checks++;
        if (password !== h.at(-1) && password !== h.at(-2)) {
          behind++;
          if (process.env['SOAK_DEBUG'] && behind < 5) console.log(`# behind: ${s.metadata?.namespace}/${s.metadata?.name} holds #${h.indexOf(password)} of ${h.length} (${new Date().toISOString()})`);
        }
      }
      assert.equal(list.items.filter((s) => s.metadata?.name?.startsWith('soak-pull-')).length, CREDENTIALS * NAMESPACES, 'no Secret missing');
      assert.equal(ctl.child.exitCode, null, 'the controller is running');
    }
    for (const t of timers) clearInterval(t);
    // Quiet: every Secret converges to the last password.
    const settle = Date.now();
    let lost = -1;
    while (Date.now() - settle < ROTATE_MS + OVERLAP_MS + 30_000) {
      const list = await core.listSecretForAllNamespaces({ labelSelector: 'app.kubernetes.io/managed-by=regcred' });
      lost = 0;
      for (const s of list.items) {
        const i = Number(/^soak-pull-(\d+)$/.exec(s.metadata?.name ?? '')?.[1]);
        if (!Number.isInteger(i)) continue;
        const text = Buffer.from(s.data?.['.dockerconfigjson'] ?? '', 'base64').toString('utf8');
        if ((JSON.parse(text) as { auths: Record<string, { password: string }> }).auths[REGISTRY]?.password !== history[i]!.at(-1)) lost++;
      }
      if (lost === 0) break;
      await sleep(2000);
    }
    const rssEnd = vmRss(pid);
    const handlesEnd = await handles(port);
    const rotations = history.reduce((a, h) => a + h.length - 1, 0);
    const mb = (b: number) => `${(b / 1e6).toFixed(1)} MB`;
    console.log(`# soak ${MINUTES} min: ${rotations} rotations, ${checks} Secret checks, ${behind} more than one rotation behind, ${lost} not current after settling`);
    console.log(`# RSS start ${mb(rssStart)}, peak ${mb(rssPeak)}, end ${mb(rssEnd)}`);
    console.log(`# handles start ${JSON.stringify(handlesStart)}, end ${JSON.stringify(handlesEnd)}`);
    assert.equal(lost, 0, 'every Secret holds its broker’s last password');
    assert.equal(behind, 0, 'no Secret fell more than one rotation behind');
    assert.ok(rssEnd < rssStart * 1.5 + 20e6, `RSS ${mb(rssStart)} → ${mb(rssEnd)}`);
    assert.ok(rssPeak < chartMemoryLimitBytes(), `RSS peak ${mb(rssPeak)}, over the chart's memory limit`);
    const grew = (k: string) => (handlesEnd[k] ?? 0) - (handlesStart[k] ?? 0);
    for (const k of Object.keys({ ...handlesStart, ...handlesEnd })) {
      if (/Socket|TCPWrap|Timeout|Timer/i.test(k)) assert.ok(grew(k) <= 5, `${k} grew from ${handlesStart[k] ?? 0} to ${handlesEnd[k] ?? 0}`);
    }
    const out = ctl.output.join('');
    for (const h of history) for (const p of h) assert.ok(!out.includes(p), 'a password in the controller output');
    void samples;
  });
});
