// `regcred controller --chainguard-compat` against a real API server and the Chainguard STS double
// (which verifies the service-account tokens against the API server's JWKS): Secrets annotated the
// way chainguard-dev's pull-secret-updater expects are filled without touching anything else, for
// the allowlisted identities in the allowlisted namespaces only; at most maxIdentities at once.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CoreV1Api, EventsV1Api, type V1Secret } from '@kubernetes/client-node';
import { runCli } from '../harness/cli.js';
import { capturingLogger } from '../harness/provider-tests.js';
import { ChainguardCompat } from '../../src/controller/chainguard-compat.js';
import { EventRecorder } from '../../src/kube/events.js';
import { start, type ControlPlane } from '../harness/controlplane.js';
import { installCrds } from '../harness/crds.js';
import { secretOrUndefined } from '../harness/kube.js';
import { spawnController, type ControllerProcess } from '../harness/controller-process.js';
import { apiServerJwks } from '../harness/doubles/sa-token.js';
import { startChainguardDouble, type ChainguardDouble } from '../harness/doubles/chainguard.js';
import { eventually as waitFor } from '../harness/eventually.js';

const ANNOTATION = 'pull-secret-updater.chainguard.dev/identity';
const SUBJECT = 'system:serviceaccount:regcred-system:regcred';
const ID_A = 'a1b2c3d4e5/0123456789abcdef';
const ID_B = 'a1b2c3d4e5/fedcba9876543210';
const ID_UNLISTED = 'a1b2c3d4e5/1111111111111111';

let cp: ControlPlane;
let core: CoreV1Api;
let cg: ChainguardDouble;
let ctl: ControllerProcess;

function emptyPullSecret(name: string, annotations: Record<string, string> = {}, type = 'kubernetes.io/dockerconfigjson'): V1Secret {
  return {
    metadata: { name, annotations },
    type,
    stringData: type === 'kubernetes.io/dockerconfigjson' ? { '.dockerconfigjson': '{}' } : { other: 'x' },
  };
}

function auths(secret: V1Secret | undefined): Record<string, { username: string; password: string; auth: string }> {
  const text = Buffer.from(secret?.data?.['.dockerconfigjson'] ?? '', 'base64').toString('utf8');
  return (JSON.parse(text) as { auths?: Record<string, { username: string; password: string; auth: string }> }).auths ?? {};
}

/** Waits, with the controller's output tail in the error. */
const eventually = <T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 20_000): Promise<T> =>
  waitFor(what, check, timeoutMs, () => ctl?.output.join('') ?? '');

before(async () => {
  cp = await start();
  core = cp.kubeConfig.makeApiClient(CoreV1Api);
  await installCrds(cp.kubeConfig);
  cg = await startChainguardDouble({ jwks: await apiServerJwks(cp), kubeIssuer: cp.issuer, identities: { [ID_A]: [SUBJECT], [ID_B]: [SUBJECT], [ID_UNLISTED]: [SUBJECT] } });
  for (const ns of ['regcred-system', 'cg-1', 'cg-2', 'cg-other']) await core.createNamespace({ body: { metadata: { name: ns } } });
  await core.createNamespacedServiceAccount({ namespace: 'regcred-system', body: { metadata: { name: 'regcred' } } });
  await core.createNamespacedSecret({ namespace: 'cg-1', body: emptyPullSecret('pull-secret', { [ANNOTATION]: ID_A }) });
  await core.createNamespacedSecret({ namespace: 'cg-2', body: emptyPullSecret('pull-secret', { [ANNOTATION]: ID_A }) });
  await core.createNamespacedSecret({ namespace: 'cg-2', body: emptyPullSecret('other-identity', { [ANNOTATION]: ID_B }) });
  await core.createNamespacedSecret({ namespace: 'cg-1', body: emptyPullSecret('not-annotated') });
  await core.createNamespacedSecret({ namespace: 'cg-1', body: emptyPullSecret('opaque', { [ANNOTATION]: ID_A }, 'Opaque') });
  await core.createNamespacedSecret({ namespace: 'cg-1', body: emptyPullSecret('unknown-identity', { [ANNOTATION]: 'a1b2c3d4e5/nobody' }) });
  // Chainguard would issue for it, but it is not allowlisted; and an allowlisted one outside the namespaces.
  await core.createNamespacedSecret({ namespace: 'cg-1', body: emptyPullSecret('unlisted-identity', { [ANNOTATION]: ID_UNLISTED }) });
  await core.createNamespacedSecret({ namespace: 'cg-other', body: emptyPullSecret('pull-secret', { [ANNOTATION]: ID_A }) });
  ctl = spawnController(cp.kubeconfigPath, {
    args: [
      '--log-format', 'json', '--chainguard-compat', '--chainguard-issuer', cg.url, '--chainguard-service-account', 'regcred-system/regcred',
      '--chainguard-compat-identities', `${ID_A},${ID_B}`, '--chainguard-compat-identities', 'a1b2c3d4e5/nobody',
      '--chainguard-compat-namespaces', 'cg-1', '--chainguard-compat-namespaces', 'cg-2',
    ],
  });
});

after(async () => {
  await ctl?.stop('SIGKILL');
  await Promise.all([cp?.stop(), cg?.stop()]);
});

describe('regcred controller --chainguard-compat', () => {
  test('annotated dockerconfigjson Secrets get a cgr.dev token, one exchange per identity, auth encoded once, updated in place', async () => {
    const uidBefore = (await secretOrUndefined(core, 'cg-1', 'pull-secret'))?.metadata?.uid;
    const [s1, s2, sb] = await Promise.all(
      (
        [
          ['cg-1', 'pull-secret'],
          ['cg-2', 'pull-secret'],
          ['cg-2', 'other-identity'],
        ] as const
      ).map(([ns, name]) => eventually(`${ns}/${name} filled`, async () => ((s) => (auths(s)['cgr.dev'] ? s : undefined))(await secretOrUndefined(core, ns, name)))),
    );
    assert.ok(s1 && s2 && sb);
    const a1 = auths(s1)['cgr.dev']!;
    assert.equal(a1.username, '_token');
    assert.ok(cg.issued.includes(a1.password), 'a token the double issued');
    // One base64 of "user:password", not base64 of base64 (the original controller's bug).
    assert.equal(a1.auth, Buffer.from(`_token:${a1.password}`).toString('base64'));
    assert.deepEqual(auths(s2)['cgr.dev'], a1, 'the same token for every Secret of the identity');
    assert.notEqual(auths(sb)['cgr.dev']!.password, a1.password, 'another identity, another token');
    assert.equal(s1.metadata?.uid, uidBefore, 'updated in place');
    assert.equal(s1.metadata?.annotations?.[ANNOTATION], ID_A, 'the user’s annotation kept');
    assert.match(s1.metadata?.annotations?.['regcred.dev/expires-at'] ?? '', /^\d{4}-\d\d-\d\dT/);
    assert.equal(s1.metadata?.labels?.['app.kubernetes.io/managed-by'], undefined, 'the Secret stays the user’s: no regcred labels');
    const forA = cg.requests.filter((r) => r.identity === ID_A && r.status === 200);
    assert.equal(forA.length, 1, 'one exchange for identity A, shared by its two Secrets');
    assert.equal(forA[0]!.aud, 'cgr.dev');
    assert.equal(forA[0]!.subject, SUBJECT, 'the configured service account’s token, verified against the API server’s keys');
  });

  test('Secrets without the annotation, or not of type dockerconfigjson, are left alone', async () => {
    assert.equal(Buffer.from((await secretOrUndefined(core, 'cg-1', 'not-annotated'))?.data?.['.dockerconfigjson'] ?? '', 'base64').toString(), '{}');
    const opaque = await secretOrUndefined(core, 'cg-1', 'opaque');
    assert.deepEqual(Object.keys(opaque?.data ?? {}), ['other']);
  });

  test('an identity Chainguard refuses: the Secret is left as it was, a Warning Event says why', async () => {
    const events = await eventually('a warning event', async () => {
      const list = await cp.kubeConfig.makeApiClient(EventsV1Api).listNamespacedEvent({ namespace: 'cg-1' });
      return list.items.find((e) => e.regarding?.name === 'unknown-identity' && e.type === 'Warning');
    });
    assert.match(events.note ?? '', /chainguard identity a1b2c3d4e5\/nobody: chainguard STS exchange/);
    assert.equal(Buffer.from((await secretOrUndefined(core, 'cg-1', 'unknown-identity'))?.data?.['.dockerconfigjson'] ?? '', 'base64').toString(), '{}');
  });

  test('a Secret in a namespace not allowlisted, or naming an identity not allowlisted: nothing minted, a Warning Event says why', async () => {
    const events = cp.kubeConfig.makeApiClient(EventsV1Api);
    const warning = (namespace: string, name: string) =>
      eventually(`a warning event for ${namespace}/${name}`, async () => (await events.listNamespacedEvent({ namespace })).items.find((e) => e.regarding?.name === name && e.type === 'Warning'));
    const unlisted = await warning('cg-1', 'unlisted-identity');
    assert.equal(unlisted.reason, 'IdentityNotAllowed');
    assert.match(unlisted.note ?? '', /chainguard identity a1b2c3d4e5\/1111111111111111 is not in --chainguard-compat-identities/);
    const elsewhere = await warning('cg-other', 'pull-secret');
    assert.equal(elsewhere.reason, 'NamespaceNotAllowed');
    assert.match(elsewhere.note ?? '', /does not serve namespace cg-other/);
    for (const [ns, name] of [['cg-1', 'unlisted-identity'], ['cg-other', 'pull-secret']] as const) {
      assert.equal(Buffer.from((await secretOrUndefined(core, ns, name))?.data?.['.dockerconfigjson'] ?? '', 'base64').toString(), '{}', `${ns}/${name} untouched`);
    }
    assert.ok(!cg.requests.some((r) => r.identity === ID_UNLISTED), 'no exchange was even tried for the unlisted identity');
  });

  test('--chainguard-compat without --chainguard-compat-identities does not start (exit 2)', async () => {
    const res = await runCli(['controller', '--kubeconfig', cp.kubeconfigPath, '--chainguard-compat', '--metrics-bind-address', '0', '--health-probe-bind-address', '0']);
    assert.equal(res.code, 2);
    assert.match(res.stderr, /--chainguard-compat needs --chainguard-compat-identities/);
  });

  test('a Secret annotated while the controller runs is filled within seconds', async () => {
    const t0 = Date.now();
    await core.createNamespacedSecret({ namespace: 'cg-2', body: emptyPullSecret('late', { [ANNOTATION]: ID_A }) });
    const late = await eventually('late filled', async () => ((s) => (auths(s)['cgr.dev'] ? s : undefined))(await secretOrUndefined(core, 'cg-2', 'late')));
    console.log(`# annotated Secret filled ${Date.now() - t0} ms after creation`);
    assert.ok(Date.now() - t0 < 5000);
    assert.deepEqual(auths(late)['cgr.dev'], auths(await secretOrUndefined(core, 'cg-1', 'pull-secret'))['cgr.dev'], 'the identity’s cached token');
  });

  test('an edited Secret is restored; no token in the controller output; SIGTERM exits 0', async () => {
    const s = (await secretOrUndefined(core, 'cg-1', 'pull-secret'))!;
    await core.replaceNamespacedSecret({ namespace: 'cg-1', name: 'pull-secret', body: { ...s, data: { '.dockerconfigjson': Buffer.from('{"auths":{}}').toString('base64') } } });
    await eventually('restored', async () => auths(await secretOrUndefined(core, 'cg-1', 'pull-secret'))['cgr.dev']);
    assert.equal(await ctl.stop(), 0);
    const all = ctl.output.join('');
    assert.ok(all.includes('chainguard compatibility mode started'));
    for (const t of [...cg.issued, ...cg.bearers]) assert.ok(!all.includes(t), 'a token appeared in the controller output');
  });
});

describe('at most maxIdentities identities hold a token (in process)', () => {
  test('a new identity beyond the bound is refused with an event; served once an old one is no longer named', async () => {
    for (const ns of ['cg-bound']) await core.createNamespace({ body: { metadata: { name: ns } } });
    const lines: string[] = [];
    const log = capturingLogger(lines);
    const events = new EventRecorder({ kubeConfig: cp.kubeConfig, controller: 'regcred.dev/controller', instance: 'bound-test', log, minUpdateIntervalMs: 0 });
    const minted: string[] = [];
    const compat = new ChainguardCompat({
      kubeConfig: cp.kubeConfig,
      log,
      events,
      identities: ['*'],
      namespaces: ['cg-bound'],
      maxIdentities: 1,
      retryMaxMs: 500,
      mint: async (identity) => {
        minted.push(identity);
        return { registry: 'cgr.dev', username: '_token', password: `bound-token-${minted.length}-5d1e`, expiresAt: new Date(Date.now() + 3600_000) };
      },
    });
    await core.createNamespacedSecret({ namespace: 'cg-bound', body: emptyPullSecret('first', { [ANNOTATION]: 'org/first' }) });
    await compat.start();
    try {
      await eventually('first filled', async () => auths(await secretOrUndefined(core, 'cg-bound', 'first'))['cgr.dev']);
      await core.createNamespacedSecret({ namespace: 'cg-bound', body: emptyPullSecret('second', { [ANNOTATION]: 'org/second' }) });
      const refused = await eventually('a TooManyIdentities event', async () =>
        (await cp.kubeConfig.makeApiClient(EventsV1Api).listNamespacedEvent({ namespace: 'cg-bound' })).items.find((e) => e.regarding?.name === 'second' && e.reason === 'TooManyIdentities'),
      );
      assert.match(refused.note ?? '', /already holds tokens for 1 identities; nothing minted for identity org\/second/);
      assert.deepEqual(minted, ['org/first']);
      assert.equal(compat.identityCount(), 1);
      // The first Secret goes: its identity is dropped and the second is served.
      await core.deleteNamespacedSecret({ namespace: 'cg-bound', name: 'first' });
      await eventually('second filled', async () => auths(await secretOrUndefined(core, 'cg-bound', 'second'))['cgr.dev']);
      assert.deepEqual(minted, ['org/first', 'org/second']);
      assert.equal(compat.identityCount(), 1);
    } finally {
      await compat.stop();
      await events.flush();
    }
  });
});
