// Reliability under rotation (issue 7 §3), against a real API server, a real registry and the
// built controller as a child process with the chart's Node flags:
//  - zero gap: credentials rotate every few seconds across 100 namespaces for 2 minutes while a
//    reader lists every Secret continuously: never a missing Secret, never an unparsable
//    .dockerconfigjson, never a credential the registry no longer accepts;
//  - provider outage: the broker answers 503, then hangs, for 2 minutes: the Secrets keep their last
//    good content byte for byte, Degraded says why, retries back off, and the first retry after the
//    broker returns recovers;
//  - leader failover under rotation: SIGKILL of the leader; the standby takes over and no namespace
//    stays stale longer than the lease duration plus one refresh.
// RELIABILITY_SECONDS shortens the 2-minute phases for a quick local run.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { CoordinationV1Api, CoreV1Api, type V1Secret } from '@kubernetes/client-node';
import { start, type ControlPlane } from '../harness/controlplane.js';
import { installCrds } from '../harness/crds.js';
import { createClusterCredential, spawnController, waitForClusterCredentialStatus, type ControllerProcess } from '../harness/controller-process.js';
import { readyOf, startTestController, type TestController } from '../harness/test-controller.js';
import { inspectWithAuthfile, pushTestImage, startRegistry, startRotatingCredentials, type Registry, type RotatingCredentials } from '../harness/registry.js';
import { startHttpBroker, type HttpBroker } from '../harness/doubles/http-broker.js';
import { chartContainerNodeFlags } from '../harness/chart-container.js';

const PHASE_MS = Number(process.env['RELIABILITY_SECONDS'] ?? 120) * 1000;
const ROTATE_MS = 5000;
const OVERLAP_MS = 4000;
const IMAGE = 'rel/app:v1';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let cp: ControlPlane;
let core: CoreV1Api;
let registry: Registry;
const pusher = { pusher: `push-${randomBytes(8).toString('hex')}` };
const dir = mkdtempSync(join(tmpdir(), 'regcred-reliability-'));
const secretsUsed: string[] = [];

before(async () => {
  cp = await start();
  core = cp.kubeConfig.makeApiClient(CoreV1Api);
  await installCrds(cp.kubeConfig);
  await core.createNamespace({ body: { metadata: { name: 'regcred-system' } } });
  registry = await startRegistry(pusher);
  await pushTestImage(registry, 'rel/app', 'v1', 'pusher', pusher.pusher);
});

after(async () => {
  await Promise.all([cp?.stop(), registry?.stop()]);
});

function httpProvider(url: string) {
  return { http: { url, allowInsecure: true, registry: registry.host, timeout: '5s', response: { username: '$.data.username', password: '$.data.password', expiresAt: '$.data.expires_at' } } };
}

async function createNamespaces(prefix: string, count: number, label: Record<string, string>): Promise<string[]> {
  const names = Array.from({ length: count }, (_, i) => `${prefix}-${String(i).padStart(3, '0')}`);
  for (let i = 0; i < names.length; i += 20) {
    await Promise.all(names.slice(i, i + 20).map((name) => core.createNamespace({ body: { metadata: { name, labels: label } } })));
  }
  return names;
}

/** Every Secret of a credential, by namespace, in one list call. */
async function listPullSecrets(owner: string): Promise<Map<string, V1Secret>> {
  const list = await core.listSecretForAllNamespaces({ labelSelector: `regcred.dev/owner-name=${owner}` });
  return new Map(list.items.map((s) => [s.metadata!.namespace!, s]));
}

function userOf(secret: V1Secret): string {
  const text = Buffer.from(secret.data?.['.dockerconfigjson'] ?? '', 'base64').toString('utf8');
  const auths = (JSON.parse(text) as { auths: Record<string, { username: string; password: string; auth: string }> }).auths;
  const entry = auths[registry.host];
  if (!entry) throw new Error(`no auths entry for ${registry.host}`);
  if (Buffer.from(entry.auth, 'base64').toString('utf8') !== `${entry.username}:${entry.password}`) throw new Error('auth does not match username:password');
  return entry.username;
}

describe('zero gap: rotation every 5 s across 100 namespaces, a reader polling every Secret', () => {
  let creds: RotatingCredentials;
  let ctl: ControllerProcess;

  after(async () => {
    await ctl?.stop('SIGKILL');
    await creds?.stop();
  });

  test(`${PHASE_MS / 1000} s: no missing Secret, no unparsable config, no credential the registry rejects`, { timeout: PHASE_MS + 120_000 }, async () => {
    creds = await startRotatingCredentials(registry, { rotateMs: ROTATE_MS, overlapMs: OVERLAP_MS, keepUsers: pusher });
    const namespaces = await createNamespaces('gap', 100, { gap: 'yes' });
    await createClusterCredential(cp.kubeConfig, 'zerogap', {
      provider: httpProvider(creds.broker.url),
      target: { secretName: 'gap-pull', namespaces: { selector: { matchLabels: { gap: 'yes' } } }, serviceAccounts: [] },
    });
    ctl = spawnController(cp.kubeconfigPath, { nodeFlags: chartContainerNodeFlags(), args: ['--log-format', 'json', '--min-refresh-delay', '1s'] });
    await waitForClusterCredentialStatus(cp.kubeConfig, 'zerogap', (s) => s.targets?.synced === 100, 60_000, () => ctl.output.join(''));

    let polls = 0;
    let reads = 0;
    let pulls = 0;
    const violations: string[] = [];
    const usersSeen = new Set<string>();
    const t0 = Date.now();
    let nextPull = t0;
    while (Date.now() - t0 < PHASE_MS) {
      const secrets = await listPullSecrets('zerogap');
      const at = Date.now();
      polls++;
      for (const ns of namespaces) {
        const s = secrets.get(ns);
        reads++;
        if (!s) {
          violations.push(`${ns}: missing`);
          continue;
        }
        let user: string;
        try {
          user = userOf(s);
        } catch (err) {
          violations.push(`${ns}: unparsable (${String(err)})`);
          continue;
        }
        usersSeen.add(user);
        // The registry accepts a robot until its overlap window ends (retireAt): held after that, a pull fails.
        const robot = creds.robots.find((r) => r.user === user);
        if (!robot) violations.push(`${ns}: unknown user ${user}`);
        else if (robot.retireAt !== undefined && robot.retireAt < at - 200) violations.push(`${ns}: ${user} retired ${at - robot.retireAt} ms ago`);
      }
      // Now and then, prove it with a real pull.
      if (Date.now() >= nextPull) {
        nextPull = Date.now() + 10_000;
        const sample = secrets.get(namespaces[pulls % namespaces.length]!);
        if (sample) {
          const file = join(dir, `gap-${pulls}.json`);
          writeFileSync(file, Buffer.from(sample.data!['.dockerconfigjson']!, 'base64'));
          const res = await inspectWithAuthfile(file, `${registry.host}/${IMAGE}`);
          if (res.code !== 0) violations.push(`pull ${pulls} with ${sample.metadata?.namespace}'s Secret failed: ${res.stderr.trim().split('\n').at(-1)}`);
          pulls++;
        }
      }
    }
    const rotations = creds.robots.length - 1;
    const brokerCalls = creds.broker.requests.length;
    console.log(
      `# zero gap: ${polls} polls, ${reads} Secret reads, ${pulls} real pulls, ${rotations} rotations, ${usersSeen.size} credentials seen, ${violations.length} violations; ${brokerCalls} broker calls for 100 namespaces (${(brokerCalls / Math.max(1, rotations)).toFixed(1)} per rotation)`,
    );
    // One provider call per refresh of the credential, never one per namespace.
    assert.ok(brokerCalls <= 4 * (rotations + 1) + 10, `${brokerCalls} broker calls for ${rotations} rotations`);
    assert.deepEqual(violations.slice(0, 10), [], `${violations.length} violations`);
    assert.ok(rotations >= Math.floor(PHASE_MS / ROTATE_MS) - 1, 'the broker rotated all along');
    assert.ok(usersSeen.size >= rotations - 1, `the Secrets followed every rotation (${usersSeen.size} of ${rotations + 1})`);
    const out = ctl.output.join('');
    for (const r of creds.robots) assert.ok(!out.includes(r.password), 'a registry password in the controller output');
  });
});

describe('provider outage: the broker answers 503, then hangs, for 2 minutes', () => {
  let broker: HttpBroker;
  let ctl: TestController;
  const password = `stable-${randomBytes(12).toString('hex')}`;

  after(async () => {
    await ctl?.stop();
    await broker?.stop();
  });

  test('Secrets kept byte for byte, Degraded with a reason, retries backed off, recovery at the first retry after', { timeout: PHASE_MS + 180_000 }, async () => {
    secretsUsed.push(password);
    registry.setUsers({ ...pusher, 'robot-outage': password });
    // One password; each answer states an expiry 8 s ahead, so the controller keeps refreshing.
    broker = await startHttpBroker({
      path: '/token',
      credential: { username: 'robot-outage', password, expiresAt: new Date(Date.now() + 8000) },
      rotate: (prev) => ({ ...prev, expiresAt: new Date(Date.now() + 8000) }),
    });
    const namespaces = await createNamespaces('outage', 20, { outage: 'yes' });
    // In-process, for backoff settings a test can wait out: 1 s doubling to 16 s.
    ctl = await startTestController(cp, { minRefreshDelayMs: 500, retryBaseMs: 1000, retryMaxMs: 16_000 });
    await ctl.createClusterCredential('outage', {
      provider: httpProvider(broker.url),
      target: { secretName: 'outage-pull', namespaces: { selector: { matchLabels: { outage: 'yes' } } }, serviceAccounts: [] },
    });
    await ctl.waitForStatus('outage', (s) => readyOf(s)?.status === 'True' && s.targets?.synced === 20, 30_000);
    await sleep(1000);

    const snapshot = new Map([...(await listPullSecrets('outage'))].map(([ns, s]) => [ns, s.data!['.dockerconfigjson']!]));
    assert.equal(snapshot.size, 20);
    const requestsBefore = broker.requests.length;
    const t0 = Date.now();
    broker.fail(503);
    let degradedAt: number | undefined;
    let degradedReason = '';
    let changed = 0;
    while (Date.now() - t0 < PHASE_MS) {
      if (Date.now() - t0 >= PHASE_MS / 2) broker.fail('hang');
      const now = await listPullSecrets('outage');
      for (const ns of namespaces) if (now.get(ns)?.data?.['.dockerconfigjson'] !== snapshot.get(ns)) changed++;
      if (degradedAt === undefined) {
        const status = await ctl.waitForStatus('outage', () => true);
        const d = status.conditions?.find((c) => c.type === 'Degraded' && c.status === 'True');
        if (d) {
          degradedAt = Date.now() - t0;
          degradedReason = `${d.reason}: ${d.message}`;
        }
      }
      await sleep(500);
    }
    const attempts = broker.requests.length - requestsBefore;
    const errors = await ctl.refreshes('outage', 'error');
    broker.fail(null);
    const back = Date.now();
    const recovered = await ctl.waitForStatus('outage', (s) => readyOf(s)?.status === 'True' && !s.conditions?.some((c) => c.type === 'Degraded' && c.status === 'True'), 40_000);
    const recoveryMs = Date.now() - back;
    console.log(
      `# outage of ${PHASE_MS / 1000} s: ${attempts} requests reached the broker, ${errors} failed refreshes (backoff 1 s doubling to 16 s), Degraded after ${degradedAt} ms (${degradedReason.split(';')[0]}), Secrets changed ${changed} times, recovered ${recoveryMs} ms after the broker returned`,
    );
    assert.equal(changed, 0, 'the last good Secrets stayed byte for byte');
    assert.ok(degradedAt !== undefined && degradedAt < 30_000, 'Degraded within 30 s');
    assert.match(degradedReason, /^ProviderError: http /);
    // 1+2+4+8+16 then every 16 s (plus 5 s timeouts while hanging): a couple dozen at most, no tight loop.
    const ceiling = Math.ceil(PHASE_MS / 16_000) + 6;
    assert.ok(errors >= 4 && errors <= ceiling, `failed refreshes ${errors}, expected 4..${ceiling}`);
    assert.ok(recoveryMs <= 16_000 + 5000, 'recovered within one backoff step');
    assert.equal(recovered.targets?.synced, 20);
    assert.ok(!ctl.logLines.join('').includes(password));
  });
});

describe('leader failover under rotation: SIGKILL the leader', () => {
  let creds: RotatingCredentials;
  const ctls: ControllerProcess[] = [];

  after(async () => {
    for (const c of ctls) await c.stop('SIGKILL');
    await creds?.stop();
  });

  test('the standby takes over; no namespace stays stale longer than the lease duration plus one refresh', { timeout: 180_000 }, async () => {
    creds = await startRotatingCredentials(registry, { rotateMs: ROTATE_MS, overlapMs: OVERLAP_MS, keepUsers: pusher });
    const namespaces = await createNamespaces('fail', 30, { failover: 'yes' });
    await createClusterCredential(cp.kubeConfig, 'failover', {
      provider: httpProvider(creds.broker.url),
      target: { secretName: 'failover-pull', namespaces: { selector: { matchLabels: { failover: 'yes' } } }, serviceAccounts: [] },
    });
    for (let i = 0; i < 2; i++) {
      ctls.push(spawnController(cp.kubeconfigPath, { nodeFlags: chartContainerNodeFlags(), args: ['--log-format', 'json', '--leader-elect', '--min-refresh-delay', '1s'] }));
    }
    await waitForClusterCredentialStatus(cp.kubeConfig, 'failover', (s) => s.targets?.synced === 30, 60_000);
    const leases = cp.kubeConfig.makeApiClient(CoordinationV1Api);
    const holder = (await leases.readNamespacedLease({ namespace: 'regcred-system', name: 'regcred-controller' })).spec?.holderIdentity ?? '';
    const leader = ctls.find((c) => c.output.join('').includes(`"identity":"${holder}"`));
    assert.ok(leader, `the leader (${holder}) is one of ours`);
    await sleep(3000);

    // Staleness of a namespace: how long the broker has been answering a newer credential than the one it holds.
    const issuedAt = (user: string) => creds.robots.find((r) => r.user === user)?.issuedAt ?? 0;
    const nextIssued = (user: string) => {
      const i = creds.robots.findIndex((r) => r.user === user);
      return creds.robots[i + 1]?.issuedAt;
    };
    let maxStale = 0;
    const killedAt = Date.now();
    leader.child.kill('SIGKILL');
    let newHolder = holder;
    while (Date.now() - killedAt < 45_000) {
      const secrets = await listPullSecrets('failover');
      const now = Date.now();
      for (const ns of namespaces) {
        const s = secrets.get(ns);
        assert.ok(s, `${ns} never loses its Secret`);
        const newer = nextIssued(userOf(s));
        if (newer !== undefined) maxStale = Math.max(maxStale, now - newer);
      }
      if (newHolder === holder) newHolder = (await leases.readNamespacedLease({ namespace: 'regcred-system', name: 'regcred-controller' })).spec?.holderIdentity ?? holder;
      await sleep(200);
    }
    const standby = ctls.find((c) => c !== leader)!;
    console.log(`# failover: leader ${holder} killed; new holder ${newHolder}; max staleness ${maxStale} ms (lease 15 s + refresh)`);
    assert.notEqual(newHolder, holder, 'the standby holds the lease');
    assert.ok(standby.child.exitCode === null, 'the standby is running');
    // 15 s lease duration, plus one refresh period of this credential (at most the rotation period), plus polling slack.
    assert.ok(maxStale <= 15_000 + ROTATE_MS + 3000, `max staleness ${maxStale} ms`);
    void issuedAt;
  });
});
