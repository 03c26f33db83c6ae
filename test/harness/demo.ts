// `make demo`: the whole loop on this machine, in about a minute. A local control plane, a real
// registry (docker-registry with htpasswd) holding a small image, a token broker that rotates the
// registry's password every 15 s, and `regcred controller` (the built bundle, with the flags the
// chart and image use) keeping a pull Secret filled in every labelled namespace; skopeo proves a
// pull works with each namespace's Secret before and after a rotation. Everything is removed at the end.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api } from '@kubernetes/client-node';
import { start, type ControlPlane } from './controlplane.js';
import { installCrds } from './crds.js';
import { createClusterCredential, spawnController, waitForClusterCredentialStatus, type ControllerProcess } from './controller-process.js';
import { inspectWithAuthfile, pushTestImage, startRegistry, startRotatingCredentials, type Registry, type RotatingCredentials } from './registry.js';
import { controllerNodeFlags } from '../../src/node-flags.js';

const ROTATE_MS = 15_000;
const OVERLAP_MS = 5_000;
const IMAGE = 'demo/hello:v1';
const say = (text: string) => console.log(`\n==> ${text}`);
const note = (text: string) => console.log(`    ${text}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let cp: ControlPlane | undefined;
let registry: Registry | undefined;
let creds: RotatingCredentials | undefined;
let ctl: ControllerProcess | undefined;
const dir = mkdtempSync(join(tmpdir(), 'regcred-demo-'));

async function secretOf(core: CoreV1Api, ns: string): Promise<{ user: string; expires: string; authfile: string } | undefined> {
  try {
    const s = await core.readNamespacedSecret({ namespace: ns, name: 'demo-pull' });
    const text = Buffer.from(s.data?.['.dockerconfigjson'] ?? '', 'base64').toString('utf8');
    const authfile = join(dir, `${ns}-${Date.now()}.json`);
    writeFileSync(authfile, text);
    const auths = (JSON.parse(text) as { auths: Record<string, { username: string }> }).auths;
    return { user: Object.values(auths)[0]?.username ?? '?', expires: s.metadata?.annotations?.['regcred.dev/expires-at'] ?? '-', authfile };
  } catch {
    return undefined;
  }
}

async function until<T>(check: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error('timed out');
    await sleep(50);
  }
}

async function pulls(authfile: string): Promise<boolean> {
  return (await inspectWithAuthfile(authfile, `${registry!.host}/${IMAGE}`)).code === 0;
}

async function table(core: CoreV1Api, namespaces: string[]): Promise<void> {
  console.log(`\n    ${'namespace'.padEnd(10)} ${'secret'.padEnd(10)} ${'user'.padEnd(9)} ${'expires'.padEnd(25)} pull`);
  for (const ns of namespaces) {
    const s = await secretOf(core, ns);
    const ok = s ? await pulls(s.authfile) : false;
    console.log(`    ${ns.padEnd(10)} ${(s ? 'demo-pull' : '-').padEnd(10)} ${(s?.user ?? '-').padEnd(9)} ${(s?.expires ?? '-').padEnd(25)} ${s ? (ok ? 'ok' : 'FAILED') : '-'}`);
  }
}

const t0 = Date.now();
try {
  say('Starting a local control plane: etcd, kube-apiserver, kube-controller-manager (the first run builds them; cached after)');
  cp = await start();
  await installCrds(cp.kubeConfig);
  const core = cp.kubeConfig.makeApiClient(CoreV1Api);
  note(`ready at ${cp.server}`);

  say('Starting a registry (docker-registry, htpasswd auth) and pushing a small image with skopeo');
  const pusher = { pusher: `push-${randomBytes(12).toString('hex')}` };
  registry = await startRegistry(pusher);
  await pushTestImage(registry, 'demo/hello', 'v1', 'pusher', pusher.pusher);
  note(`registry at ${registry.host}, image ${registry.host}/${IMAGE}`);

  say(`Starting a token broker that rotates the registry's password every ${ROTATE_MS / 1000} s (the old one stays valid ${OVERLAP_MS / 1000} s more)`);
  creds = await startRotatingCredentials(registry, { rotateMs: ROTATE_MS, overlapMs: OVERLAP_MS, keepUsers: pusher });
  note(`broker at ${creds.broker.url}: {"data": {"username", "password", "expires_at"}}`);

  say('Creating namespaces team-a and team-b (labelled pull-secrets=demo), and the ClusterRegistryCredential "demo"');
  for (const [name, labels] of [['regcred-system', {}], ['team-a', { 'pull-secrets': 'demo' }], ['team-b', { 'pull-secrets': 'demo' }]] as const) {
    await core.createNamespace({ body: { metadata: { name, labels: { ...labels } } } });
  }
  await createClusterCredential(cp.kubeConfig, 'demo', {
    provider: {
      http: { url: creds.broker.url, allowInsecure: true, registry: registry.host, response: { username: '$.data.username', password: '$.data.password', expiresAt: '$.data.expires_at' } },
    },
    target: { secretName: 'demo-pull', namespaces: { selector: { matchLabels: { 'pull-secrets': 'demo' } } }, serviceAccounts: ['default'] },
  });

  // --min-refresh-delay 2s: this demo's passwords live 20 s; the default (30 s) suits real ones (an hour or more).
  say(`Starting regcred controller (node ${controllerNodeFlags().join(' ')} dist/regcred.mjs controller --min-refresh-delay 2s)`);
  const started = Date.now();
  ctl = spawnController(cp.kubeconfigPath, { nodeFlags: controllerNodeFlags(), args: ['--log-format', 'json', '--log-level', 'warn', '--min-refresh-delay', '2s'] });
  await waitForClusterCredentialStatus(cp.kubeConfig, 'demo', (s) => s.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true && s.targets?.synced === 2, 30_000);
  note(`Ready: both namespaces have their Secret ${Date.now() - started} ms after the controller started`);
  await table(core, ['team-a', 'team-b']);

  say('Adding namespace team-c (labelled) while it runs');
  const added = Date.now();
  await core.createNamespace({ body: { metadata: { name: 'team-c', labels: { 'pull-secrets': 'demo' } } } });
  await until(() => secretOf(core, 'team-c'), 10_000);
  note(`team-c had its Secret ${Date.now() - added} ms after the namespace was created`);

  say('Waiting for the next rotation of the registry password');
  const before = (await secretOf(core, 'team-a'))!;
  note(`before: ${before.user}, pull ${(await pulls(before.authfile)) ? 'ok' : 'FAILED'}`);
  const after = await until(async () => {
    const s = await secretOf(core, 'team-a');
    return s && s.user !== before.user ? s : undefined;
  }, ROTATE_MS * 2);
  note(`after:  ${after.user}, pull ${(await pulls(after.authfile)) ? 'ok' : 'FAILED'} (the controller refreshed from the stated expiry)`);
  const retired = creds.robots.find((r) => r.user === before.user)?.retireAt ?? Date.now();
  await sleep(Math.max(0, retired + 500 - Date.now()));
  note(`${before.user}'s password after its overlap window: pull ${(await pulls(before.authfile)) ? 'still ok?!' : 'refused, as it should be'}; the Secrets already hold ${after.user}`);
  await table(core, ['team-a', 'team-b', 'team-c']);

  const leaked = creds.robots.some((r) => ctl!.output.join('').includes(r.password));
  say(`Controller output scanned for every registry password: ${leaked ? 'LEAKED' : 'none printed'}`);
  say(`Done in ${((Date.now() - t0) / 1000).toFixed(0)} s. Cleaning up.`);
  if (leaked) process.exitCode = 1;
} catch (err) {
  console.error(`demo failed: ${err instanceof Error ? err.message : String(err)}`);
  if (ctl) console.error(ctl.output.join('').slice(-3000));
  process.exitCode = 1;
} finally {
  await ctl?.stop();
  await creds?.stop();
  await registry?.stop();
  await cp?.stop();
  rmSync(dir, { recursive: true, force: true });
}
