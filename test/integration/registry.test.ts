// A real registry in the loop: docker-registry (distribution) with htpasswd auth, a token broker
// double that rotates the registry's password on a schedule, the controller writing what the broker
// answers through the `http` provider, and skopeo proving that the written .dockerconfigjson really
// authenticates a pull, before and after several rotations, and that an old password stops working
// while the Secret already holds the new one.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api } from '@kubernetes/client-node';
import { start, type ControlPlane } from '../harness/controlplane.js';
import { installCrds } from '../harness/crds.js';
import { secretOrUndefined } from '../harness/kube.js';
import { readyOf, startTestController, type TestController } from '../harness/test-controller.js';
import { inspectWithAuthfile, pushTestImage, startRegistry, startRotatingCredentials, type Registry, type RotatingCredentials } from '../harness/registry.js';
import { eventually } from '../harness/eventually.js';

/** A new robot user every ROTATE_MS; the previous one stays valid OVERLAP_MS longer (the broker's overlap window). */
const ROTATE_MS = 4000;
const OVERLAP_MS = 2500;
const PUSHER = 'pusher';
const PUSHER_PASSWORD = `push-${randomBytes(12).toString('hex')}`;
const REPO = 'team/app';
const TAG = 'v1';

let cp: ControlPlane;
let core: CoreV1Api;
let registry: Registry;
let creds: RotatingCredentials;
let ctl: TestController;
const dir = mkdtempSync(join(tmpdir(), 'regcred-authfiles-'));

let authfiles = 0;
async function authfileOf(namespace: string): Promise<{ path: string; user: string }> {
  const secret = await secretOrUndefined(core, namespace, 'registry-pull');
  assert.ok(secret?.data?.['.dockerconfigjson'], `a pull Secret in ${namespace}`);
  const text = Buffer.from(secret.data['.dockerconfigjson'], 'base64').toString('utf8');
  const path = join(dir, `auth-${++authfiles}.json`);
  writeFileSync(path, text);
  const user = (JSON.parse(text) as { auths: Record<string, { username: string }> }).auths[registry.host]!.username;
  return { path, user };
}


before(async () => {
  cp = await start();
  core = cp.kubeConfig.makeApiClient(CoreV1Api);
  await installCrds(cp.kubeConfig);
  for (const [name, labels] of [['regcred-system', {}], ['reg-a', { pull: 'yes' }], ['reg-b', { pull: 'yes' }]] as const) {
    await core.createNamespace({ body: { metadata: { name, labels } } });
  }
  registry = await startRegistry({ [PUSHER]: PUSHER_PASSWORD });
  await pushTestImage(registry, REPO, TAG, PUSHER, PUSHER_PASSWORD);
  creds = await startRotatingCredentials(registry, { rotateMs: ROTATE_MS, overlapMs: OVERLAP_MS, keepUsers: { [PUSHER]: PUSHER_PASSWORD } });
  ctl = await startTestController(cp, { minRefreshDelayMs: 300 });
  await ctl.createClusterCredential('registry', {
    provider: {
      http: {
        url: creds.broker.url,
        allowInsecure: true,
        registry: registry.host,
        response: { username: '$.data.username', password: '$.data.password', expiresAt: '$.data.expires_at' },
      },
    },
    target: { secretName: 'registry-pull', namespaces: { selector: { matchLabels: { pull: 'yes' } } }, serviceAccounts: [] },
  });
});

after(async () => {
  await ctl?.stop();
  await creds?.stop();
  await Promise.all([cp?.stop(), registry?.stop()]);
});

describe('a real registry: the written Secret authenticates pulls through rotations', () => {
  test('skopeo inspect with each namespace’s Secret succeeds; a wrong password is refused', async () => {
    await ctl.waitForStatus('registry', (s) => readyOf(s)?.status === 'True' && s.targets?.synced === 2);
    for (const ns of ['reg-a', 'reg-b']) {
      const { path } = await authfileOf(ns);
      const res = await inspectWithAuthfile(path, `${registry.host}/${REPO}:${TAG}`);
      assert.equal(res.code, 0, res.stderr);
      assert.match(res.stdout, /"Digest": "sha256:/);
    }
    const wrong = join(dir, 'wrong.json');
    writeFileSync(wrong, JSON.stringify({ auths: { [registry.host]: { auth: Buffer.from('robot-0:nope').toString('base64') } } }));
    const refused = await inspectWithAuthfile(wrong, `${registry.host}/${REPO}:${TAG}`);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /unauthorized|authentication required/i);
  });

  test('through three rotations: the Secret follows the broker, pulls keep working, the old password stops working while the Secret holds the new one', async () => {
    const seenUsers = new Set<string>();
    for (let round = 0; round < 3; round++) {
      const before = await authfileOf('reg-a');
      // Wait until the controller has written the next robot's password.
      const next = await eventually(`a rotation after ${before.user}`, async () => {
        const now = await authfileOf('reg-a');
        return now.user !== before.user ? now : undefined;
      }, ROTATE_MS * 3);
      seenUsers.add(next.user);
      const ok = await inspectWithAuthfile(next.path, `${registry.host}/${REPO}:${TAG}`);
      assert.equal(ok.code, 0, `round ${round}: the new Secret authenticates: ${ok.stderr}`);
      // The previous user is retired when its overlap ends; by then the Secret already holds the new one.
      const old = creds.robots.find((r) => r.user === before.user)!;
      await eventually(`${before.user} removed from the registry`, async () => old.removedAt, OVERLAP_MS + 10_000);
      const stale = await inspectWithAuthfile(before.path, `${registry.host}/${REPO}:${TAG}`);
      assert.notEqual(stale.code, 0, `round ${round}: ${before.user}'s password no longer works`);
      const current = await authfileOf('reg-a');
      const still = await inspectWithAuthfile(current.path, `${registry.host}/${REPO}:${TAG}`);
      assert.equal(still.code, 0, `round ${round}: the Secret at that moment authenticates (${current.user}): ${still.stderr}`);
      console.log(`# round ${round}: ${before.user} -> ${next.user}; old password refused, Secret (${current.user}) pulls`);
    }
    assert.equal(seenUsers.size, 3);
    // Both namespaces follow.
    const b = await authfileOf('reg-b');
    assert.equal((await inspectWithAuthfile(b.path, `${registry.host}/${REPO}:${TAG}`)).code, 0);
  });

  test('no robot password in the controller logs', () => {
    const logs = ctl.logLines.join('');
    for (const p of creds.robots.map((r) => r.password)) assert.ok(!logs.includes(p), 'a registry password appeared in the logs');
  });
});
