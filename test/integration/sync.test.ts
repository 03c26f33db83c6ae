// `regcred sync` of a static credential against a real kube-apiserver + controller-manager.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { CoreV1Api, RbacAuthorizationV1Api, type V1Secret } from '@kubernetes/client-node';
import { start, type ControlPlane } from '../harness/controlplane.js';
import { allCliOutput, runCli, writeConfig } from '../harness/cli.js';
import { secretOrUndefined } from '../harness/kube.js';

let cp: ControlPlane;
let core: CoreV1Api;
const PASSWORD = `pw-${randomBytes(12).toString('hex')}`;
const USERNAME = 'robot$ci';
const REGISTRY = 'registry.example.com:5000';

async function createNamespace(name: string, labels: Record<string, string> = {}): Promise<void> {
  await core.createNamespace({ body: { metadata: { name, labels } } });
}

function readSecret(namespace: string, name: string): Promise<V1Secret | undefined> {
  return secretOrUndefined(core, namespace, name);
}

/** Waits for the controller-manager to create a namespace's default service account. */
async function waitForDefaultSA(namespace: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    try {
      await core.readNamespacedServiceAccount({ namespace, name: 'default' });
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`no default service account in ${namespace}`);
}

function staticCredential(name: string, target: string, extra = ''): string {
  return `apiVersion: regcred.dev/v1alpha1
kind: ClusterRegistryCredential
metadata: {name: ${name}}
spec:
  provider:
    static: {secretRef: {name: static-source}}
  target:
    secretName: pull-${name}
${target}
${extra}`;
}

/** client-node returns class instances; compare plain data. */
function plain<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

function kube(): string[] {
  return ['--kubeconfig', cp.kubeconfigPath];
}

function decodeConfig(secret: V1Secret): { auths: Record<string, { username: string; password: string; auth: string }> } {
  return JSON.parse(Buffer.from(secret.data?.['.dockerconfigjson'] ?? '', 'base64').toString('utf8'));
}

before(async () => {
  cp = await start();
  core = cp.kubeConfig.makeApiClient(CoreV1Api);
  await createNamespace('regcred-system');
  await core.createNamespacedSecret({
    namespace: 'regcred-system',
    body: { metadata: { name: 'static-source' }, stringData: { registry: REGISTRY, username: USERNAME, password: PASSWORD } },
  });
});

after(async () => {
  // The static password must not appear in anything the CLI printed in this file, plain or encoded.
  const printed = allCliOutput.join('\n');
  assert.ok(!printed.includes(PASSWORD), 'the static password appeared in CLI output');
  assert.ok(!printed.includes(Buffer.from(`${USERNAME}:${PASSWORD}`).toString('base64')), 'the auth field appeared in CLI output');
  await cp?.stop();
});

describe('regcred sync (static provider, real API server)', () => {
  test('targets by names: writes a correct dockerconfigjson Secret and patches the default SA', async () => {
    await createNamespace('names-a');
    await createNamespace('names-b');
    await waitForDefaultSA('names-a');
    await waitForDefaultSA('names-b');
    const file = writeConfig(staticCredential('by-names', '    namespaces: {names: [names-a, names-b]}'));
    const res = await runCli(['sync', '-f', file, ...kube()]);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, /ClusterRegistryCredential\/by-names: synced 2\/2 namespaces \(created 2, updated 0, unchanged 0\)/);

    for (const ns of ['names-a', 'names-b']) {
      const secret = await readSecret(ns, 'pull-by-names');
      assert.ok(secret, `secret in ${ns}`);
      assert.equal(secret.type, 'kubernetes.io/dockerconfigjson');
      const cfg = decodeConfig(secret);
      assert.deepEqual(cfg.auths[REGISTRY], {
        username: USERNAME,
        password: PASSWORD,
        auth: Buffer.from(`${USERNAME}:${PASSWORD}`).toString('base64'),
      });
      assert.equal(secret.metadata?.labels?.['app.kubernetes.io/managed-by'], 'regcred');
      assert.equal(secret.metadata?.labels?.['regcred.dev/owner-kind'], 'ClusterRegistryCredential');
      assert.equal(secret.metadata?.labels?.['regcred.dev/owner-name'], 'by-names');
      const raw = Buffer.from(secret.data!['.dockerconfigjson']!, 'base64');
      assert.equal(secret.metadata?.annotations?.['regcred.dev/content-hash'], createHash('sha256').update(raw).digest('hex'));
      assert.equal(secret.metadata?.annotations?.['regcred.dev/expires-at'], undefined, 'static never expires');
      const sa = await core.readNamespacedServiceAccount({ namespace: ns, name: 'default' });
      assert.deepEqual(plain(sa.imagePullSecrets), [{ name: 'pull-by-names' }]);
    }
  });

  test('targets by label selector (matchLabels and matchExpressions)', async () => {
    await createNamespace('sel-1', { team: 'blue', env: 'prod' });
    await createNamespace('sel-2', { team: 'blue', env: 'dev' });
    await createNamespace('sel-3', { team: 'red', env: 'prod' });
    const file = writeConfig(
      staticCredential(
        'by-selector',
        `    namespaces:
      selector:
        matchLabels: {team: blue}
        matchExpressions: [{key: env, operator: In, values: [prod, dev]}]`,
        '',
      ).replace('    secretName', '    serviceAccounts: []\n    secretName'),
    );
    const res = await runCli(['sync', '-f', file, ...kube()]);
    assert.equal(res.code, 0, res.stderr);
    assert.ok(await readSecret('sel-1', 'pull-by-selector'));
    assert.ok(await readSecret('sel-2', 'pull-by-selector'));
    assert.equal(await readSecret('sel-3', 'pull-by-selector'), undefined);
  });

  test('targets all namespaces with exclude', async () => {
    await createNamespace('all-x');
    const file = writeConfig(
      staticCredential('everywhere', '    namespaces: {all: true, exclude: [kube-system, kube-public, kube-node-lease, sel-3]}\n    serviceAccounts: []'),
    );
    const res = await runCli(['sync', '-f', file, ...kube()]);
    assert.equal(res.code, 0, res.stderr);
    const all = (await core.listNamespace()).items.map((n) => n.metadata!.name!);
    for (const ns of all) {
      const secret = await readSecret(ns, 'pull-everywhere');
      if (['kube-system', 'kube-public', 'kube-node-lease', 'sel-3'].includes(ns)) assert.equal(secret, undefined, `excluded ${ns}`);
      else assert.ok(secret, `secret in ${ns}`);
    }
    assert.match(res.stdout, new RegExp(`synced ${all.length - 4}/${all.length - 4} namespaces`));
  });

  test('service-account patching keeps existing entries and is idempotent; a second run writes nothing', async () => {
    await createNamespace('sa-keep');
    await core.createNamespacedServiceAccount({
      namespace: 'sa-keep',
      body: { metadata: { name: 'builder' }, imagePullSecrets: [{ name: 'someone-elses' }] },
    });
    await waitForDefaultSA('sa-keep');
    const file = writeConfig(staticCredential('sa-cred', '    namespaces: {names: [sa-keep]}\n    serviceAccounts: [default, builder, ghost]'));
    const first = await runCli(['sync', '-f', file, ...kube()]);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stderr, /ServiceAccount ghost not found, skipped/);
    const builder = await core.readNamespacedServiceAccount({ namespace: 'sa-keep', name: 'builder' });
    assert.deepEqual(plain(builder.imagePullSecrets), [{ name: 'someone-elses' }, { name: 'pull-sa-cred' }]);

    const before = {
      secret: (await readSecret('sa-keep', 'pull-sa-cred'))!.metadata!.resourceVersion,
      builder: builder.metadata!.resourceVersion,
      default: (await core.readNamespacedServiceAccount({ namespace: 'sa-keep', name: 'default' })).metadata!.resourceVersion,
    };
    const second = await runCli(['sync', '-f', file, ...kube()]);
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stdout, /created 0, updated 0, unchanged 1\); service accounts patched 0/);
    const afterRun = {
      secret: (await readSecret('sa-keep', 'pull-sa-cred'))!.metadata!.resourceVersion,
      builder: (await core.readNamespacedServiceAccount({ namespace: 'sa-keep', name: 'builder' })).metadata!.resourceVersion,
      default: (await core.readNamespacedServiceAccount({ namespace: 'sa-keep', name: 'default' })).metadata!.resourceVersion,
    };
    assert.deepEqual(afterRun, before, 'a second identical run must not write');
    const builderAgain = await core.readNamespacedServiceAccount({ namespace: 'sa-keep', name: 'builder' });
    assert.deepEqual(plain(builderAgain.imagePullSecrets), [{ name: 'someone-elses' }, { name: 'pull-sa-cred' }]);
  });

  test('"*" patches every service account in the namespace', async () => {
    await createNamespace('sa-star');
    await core.createNamespacedServiceAccount({ namespace: 'sa-star', body: { metadata: { name: 'one' } } });
    await core.createNamespacedServiceAccount({ namespace: 'sa-star', body: { metadata: { name: 'two' } } });
    await waitForDefaultSA('sa-star');
    const file = writeConfig(staticCredential('star', '    namespaces: {names: [sa-star]}\n    serviceAccounts: ["*"]'));
    const res = await runCli(['sync', '-f', file, ...kube()]);
    assert.equal(res.code, 0, res.stderr);
    for (const name of ['default', 'one', 'two']) {
      const sa = await core.readNamespacedServiceAccount({ namespace: 'sa-star', name });
      assert.deepEqual(plain(sa.imagePullSecrets), [{ name: 'pull-star' }], name);
    }
  });

  test('a deleted managed Secret is re-created; an edited one is restored in place (same UID)', async () => {
    await createNamespace('restore');
    const file = writeConfig(staticCredential('restore', '    namespaces: {names: [restore]}\n    serviceAccounts: []'));
    assert.equal((await runCli(['sync', '-f', file, ...kube()])).code, 0);
    await core.deleteNamespacedSecret({ namespace: 'restore', name: 'pull-restore' });
    const res = await runCli(['sync', '-f', file, ...kube()]);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, /created 1/);
    const recreated = (await readSecret('restore', 'pull-restore'))!;

    // Someone edits the data by hand: the content-hash annotation stays, the bytes differ.
    await core.replaceNamespacedSecret({
      namespace: 'restore',
      name: 'pull-restore',
      body: { ...recreated, data: { '.dockerconfigjson': Buffer.from('{"auths":{}}').toString('base64') } },
    });
    const fixed = await runCli(['sync', '-f', file, ...kube()]);
    assert.equal(fixed.code, 0, fixed.stderr);
    assert.match(fixed.stdout, /updated 1/);
    const restored = (await readSecret('restore', 'pull-restore'))!;
    assert.equal(restored.metadata?.uid, recreated.metadata?.uid, 'updated in place');
    assert.equal(decodeConfig(restored).auths[REGISTRY]?.password, PASSWORD);
  });

  test('an unmanaged Secret of the same name is left untouched and reported; adopt: true takes it over', async () => {
    await createNamespace('conflict-a');
    await createNamespace('conflict-b');
    const theirs = Buffer.from('{"auths":{"other.example":{"auth":"eDp5"}}}').toString('base64');
    for (const ns of ['conflict-a', 'conflict-b']) {
      await core.createNamespacedSecret({
        namespace: ns,
        body: { metadata: { name: 'pull-conflict', labels: { owner: 'human' } }, type: 'kubernetes.io/dockerconfigjson', data: { '.dockerconfigjson': theirs } },
      });
    }
    const original = (await readSecret('conflict-a', 'pull-conflict'))!;
    const file = writeConfig(staticCredential('conflict', '    namespaces: {names: [conflict-a, conflict-b, conflict-free]}\n    serviceAccounts: []'));
    await createNamespace('conflict-free');
    const res = await runCli(['sync', '-f', file, ...kube()]);
    assert.equal(res.code, 1, res.stderr);
    assert.match(res.stderr, /namespace conflict-a: SecretConflict: Secret conflict-a\/pull-conflict exists and is not managed by regcred; set target.adopt: true/);
    assert.match(res.stdout, /partially synced 1\/3 namespaces/);
    const untouched = (await readSecret('conflict-a', 'pull-conflict'))!;
    assert.equal(untouched.metadata?.resourceVersion, original.metadata?.resourceVersion);
    assert.ok(await readSecret('conflict-free', 'pull-conflict'), 'the namespace without a conflict is synced');

    const adoptFile = writeConfig(
      staticCredential('conflict', '    namespaces: {names: [conflict-a, conflict-b, conflict-free]}\n    serviceAccounts: []\n    adopt: true'),
    );
    const adopted = await runCli(['sync', '-f', adoptFile, ...kube()]);
    assert.equal(adopted.code, 0, adopted.stderr);
    assert.match(adopted.stderr, /namespace conflict-a: adopted existing Secret pull-conflict/);
    const now = (await readSecret('conflict-a', 'pull-conflict'))!;
    assert.equal(now.metadata?.uid, original.metadata?.uid, 'adopted in place');
    assert.equal(now.metadata?.labels?.['app.kubernetes.io/managed-by'], 'regcred');
    assert.equal(now.metadata?.labels?.['owner'], 'human', 'labels others set are kept');
    assert.equal(decodeConfig(now).auths[REGISTRY]?.password, PASSWORD);
  });

  test('adopting a kubernetes.io/dockercfg Secret replaces it (the type is immutable)', async () => {
    await createNamespace('adopt-dockercfg');
    await core.createNamespacedSecret({
      namespace: 'adopt-dockercfg',
      body: { metadata: { name: 'pull-dockercfg' }, type: 'kubernetes.io/dockercfg', data: { '.dockercfg': Buffer.from('{}').toString('base64') } },
    });
    const file = writeConfig(staticCredential('dockercfg', '    namespaces: {names: [adopt-dockercfg]}\n    serviceAccounts: []\n    adopt: true'));
    const res = await runCli(['sync', '-f', file, ...kube()]);
    assert.equal(res.code, 0, res.stderr);
    const secret = (await readSecret('adopt-dockercfg', 'pull-dockercfg'))!;
    assert.equal(secret.type, 'kubernetes.io/dockerconfigjson');
    assert.equal(decodeConfig(secret).auths[REGISTRY]?.username, USERNAME);
  });

  test('adopt never takes a Secret that is not a pull secret: an Opaque one is reported and left as it was', async () => {
    await createNamespace('adopt-opaque');
    const before = await core.createNamespacedSecret({ namespace: 'adopt-opaque', body: { metadata: { name: 'pull-opaque' }, stringData: { foo: 'bar' } } });
    const file = writeConfig(staticCredential('opaque', '    namespaces: {names: [adopt-opaque]}\n    serviceAccounts: []\n    adopt: true'));
    const res = await runCli(['sync', '-f', file, ...kube()]);
    assert.equal(res.code, 1, res.stderr);
    assert.match(res.stderr, /SecretConflict: Secret adopt-opaque\/pull-opaque exists and is of type Opaque; only kubernetes.io\/dockerconfigjson or kubernetes.io\/dockercfg Secrets are taken over/);
    const secret = (await readSecret('adopt-opaque', 'pull-opaque'))!;
    assert.equal(secret.metadata?.resourceVersion, before.metadata?.resourceVersion);
    assert.deepEqual(secret.data, before.data);
  });

  test('a Secret managed by another credential is a conflict too', async () => {
    await createNamespace('two-owners');
    const first = writeConfig(staticCredential('owner-one', '    namespaces: {names: [two-owners]}\n    serviceAccounts: []').replace('pull-owner-one', 'shared-name'));
    const second = writeConfig(staticCredential('owner-two', '    namespaces: {names: [two-owners]}\n    serviceAccounts: []').replace('pull-owner-two', 'shared-name'));
    assert.equal((await runCli(['sync', '-f', first, ...kube()])).code, 0);
    const res = await runCli(['sync', '-f', second, ...kube()]);
    assert.equal(res.code, 1);
    assert.match(res.stderr, /exists and is managed by ClusterRegistryCredential\/owner-one/);
  });

  test('a dockerconfigjson source Secret is copied whole', async () => {
    await createNamespace('copy-whole');
    const auths = {
      auths: {
        'ghcr.io': { username: 'gh-user', password: PASSWORD, auth: Buffer.from(`gh-user:${PASSWORD}`).toString('base64') },
        'quay.io': { auth: Buffer.from(`quay-user:${PASSWORD}`).toString('base64') },
      },
    };
    await core.createNamespacedSecret({
      namespace: 'regcred-system',
      body: { metadata: { name: 'whole-config' }, type: 'kubernetes.io/dockerconfigjson', stringData: { '.dockerconfigjson': JSON.stringify(auths) } },
    });
    const file = writeConfig(
      staticCredential('whole', '    namespaces: {names: [copy-whole]}\n    serviceAccounts: []').replace('static-source', 'whole-config'),
    );
    const res = await runCli(['sync', '-f', file, ...kube()]);
    assert.equal(res.code, 0, res.stderr);
    const cfg = decodeConfig((await readSecret('copy-whole', 'pull-whole'))!);
    assert.deepEqual(Object.keys(cfg.auths).sort(), ['ghcr.io', 'quay.io']);
    assert.equal(cfg.auths['quay.io']?.username, 'quay-user');
    assert.equal(cfg.auths['quay.io']?.password, PASSWORD);
  });

  test('a RegistryCredential writes into its own namespace and reads its source there', async () => {
    await createNamespace('tenant');
    await core.createNamespacedSecret({
      namespace: 'tenant',
      body: { metadata: { name: 'own-source' }, stringData: { registry: 'tenant.example', username: 'tenant', password: PASSWORD } },
    });
    const file = writeConfig(`apiVersion: regcred.dev/v1alpha1
kind: RegistryCredential
metadata: {name: mine, namespace: tenant}
spec:
  provider: {static: {secretRef: {name: own-source}}}
  target: {secretName: tenant-pull, serviceAccounts: []}
`);
    const res = await runCli(['sync', '-f', file, ...kube()]);
    assert.equal(res.code, 0, res.stderr);
    const secret = (await readSecret('tenant', 'tenant-pull'))!;
    assert.equal(secret.metadata?.labels?.['regcred.dev/owner-namespace'], 'tenant');
    assert.ok(decodeConfig(secret).auths['tenant.example']);

    const escape = writeConfig(`apiVersion: regcred.dev/v1alpha1
kind: RegistryCredential
metadata: {name: sneaky, namespace: tenant}
spec:
  provider: {static: {secretRef: {namespace: regcred-system, name: static-source}}}
  target: {secretName: stolen, serviceAccounts: []}
`);
    const refused = await runCli(['sync', '-f', escape, ...kube()]);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /RegistryCredential\/tenant\/sneaky: spec.provider.static: source Secret regcred-system\/static-source is not allowed/);
    assert.equal(await readSecret('tenant', 'stolen'), undefined);
  });

  test('a namespace the identity may not write to fails alone with Forbidden', async () => {
    for (const ns of ['rbac-ok-1', 'rbac-ok-2', 'rbac-denied']) await createNamespace(ns);
    const rbac = cp.kubeConfig.makeApiClient(RbacAuthorizationV1Api);
    const kubeconfig = await cp.kubeconfigFor('regcred-system', 'limited');
    const subject = { kind: 'ServiceAccount', name: 'limited', namespace: 'regcred-system' };
    await rbac.createNamespacedRole({
      namespace: 'regcred-system',
      body: { metadata: { name: 'read-source' }, rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['get'] }] },
    });
    await rbac.createNamespacedRoleBinding({
      namespace: 'regcred-system',
      body: { metadata: { name: 'read-source' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'read-source' }, subjects: [subject] },
    });
    for (const ns of ['rbac-ok-1', 'rbac-ok-2']) {
      await rbac.createNamespacedRole({
        namespace: ns,
        body: {
          metadata: { name: 'writer' },
          rules: [
            { apiGroups: [''], resources: ['secrets'], verbs: ['get', 'create', 'update'] },
            { apiGroups: [''], resources: ['serviceaccounts'], verbs: ['get', 'patch'] },
          ],
        },
      });
      await rbac.createNamespacedRoleBinding({
        namespace: ns,
        body: { metadata: { name: 'writer' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'writer' }, subjects: [subject] },
      });
    }
    const file = writeConfig(staticCredential('limited', '    namespaces: {names: [rbac-ok-1, rbac-denied, rbac-ok-2]}'));
    const res = await runCli(['sync', '-f', file, '--kubeconfig', kubeconfig]);
    assert.equal(res.code, 1, res.stderr);
    assert.match(res.stderr, /namespace rbac-denied: Forbidden: cannot read Secret rbac-denied\/pull-limited: .*forbidden/);
    assert.equal(res.stderr.split('\n').filter((l) => l.includes('Forbidden')).length, 1, 'one line for the one failing namespace');
    assert.match(res.stdout, /partially synced 2\/3 namespaces/);
    assert.ok(await readSecret('rbac-ok-1', 'pull-limited'));
    assert.ok(await readSecret('rbac-ok-2', 'pull-limited'));
    assert.equal(await readSecret('rbac-denied', 'pull-limited'), undefined);
  });

  describe('invalid input exits 2 with one clear line each and writes nothing', () => {
    const target = '    namespaces: {names: [invalid-target]}';
    before(async () => createNamespace('invalid-target'));

    const cases: Array<{ name: string; yaml: string; expect: RegExp }> = [
      {
        name: 'unknown provider key',
        yaml: staticCredential('bad-key', target).replace('static: {secretRef: {name: static-source}}', 'dockerhub: {user: x}'),
        expect: /document 2: ClusterRegistryCredential\/bad-key: spec\.provider\.dockerhub: unknown provider "dockerhub" \(known: .*static/,
      },
      {
        name: 'two provider keys',
        yaml: staticCredential('two-keys', target).replace('static: {secretRef: {name: static-source}}', 'static: {secretRef: {name: static-source}}\n    ecr: {region: us-east-1}'),
        expect: /ClusterRegistryCredential\/two-keys: spec\.provider: exactly one provider key is allowed, found 2: static, ecr/,
      },
      {
        name: 'bad names',
        yaml: staticCredential('Bad_Name', '    namespaces: {names: [ok, Not_OK]}').replace('pull-Bad_Name', 'UPPER'),
        expect: /metadata\.name: must be a DNS-1123 subdomain/,
      },
      {
        name: 'YAML syntax error',
        yaml: 'apiVersion: regcred.dev/v1alpha1\nkind: ClusterRegistryCredential\nmetadata: {name: [unclosed\n',
        expect: /document 2: YAML syntax error at line \d+, column \d+/,
      },
      {
        name: 'missing source Secret',
        yaml: staticCredential('no-source', target).replace('static-source', 'does-not-exist'),
        expect: /ClusterRegistryCredential\/no-source: spec\.provider\.static: source Secret regcred-system\/does-not-exist not found/,
      },
      {
        name: 'two of names/selector/all',
        yaml: staticCredential('two-targets', '    namespaces: {names: [a], all: true}'),
        expect: /spec\.target\.namespaces: takes exactly one of names, selector, all; found names and all/,
      },
      {
        name: 'selector without values for In',
        yaml: staticCredential('bad-selector', '    namespaces: {selector: {matchExpressions: [{key: a, operator: In}]}}'),
        expect: /spec\.target\.namespaces\.selector\.matchExpressions\[0\]\.values: operator In needs values/,
      },
    ];
    for (const c of cases) {
      test(c.name, async () => {
        // A valid credential in the same file must not be written either.
        const valid = staticCredential('innocent', target);
        const file = writeConfig(`${valid}\n---\n${c.yaml}`);
        const res = await runCli(['sync', '-f', file, ...kube()]);
        assert.equal(res.code, 2, `${res.stdout}\n${res.stderr}`);
        assert.match(res.stderr, c.expect);
        assert.doesNotMatch(res.stderr, /\n\s+at /, 'no stack trace');
        assert.equal(await readSecret('invalid-target', 'pull-innocent'), undefined, 'nothing written');
        const validated = await runCli(['validate', '-f', file]);
        if (c.name !== 'missing source Secret') {
          assert.equal(validated.code, 2);
          assert.match(validated.stderr, c.expect);
        }
      });
    }

    test('every error of a file is listed, one line each', async () => {
      const file = writeConfig(`apiVersion: regcred.dev/v1alpha1
kind: ClusterRegistryCredential
metadata: {name: many-errors}
spec:
  provider: {}
  target:
    secretName: Bad
    namespaces: {}
    adopt: maybe
`);
      const res = await runCli(['validate', '-f', file]);
      assert.equal(res.code, 2);
      const lines = res.stderr.trim().split('\n');
      assert.equal(lines.length, 4, res.stderr);
      assert.ok(lines.some((l) => l.includes('spec.provider: exactly one provider key is required')));
      assert.ok(lines.some((l) => l.includes('spec.target.secretName: must be a DNS-1123 subdomain')));
      assert.ok(lines.some((l) => l.includes('spec.target.namespaces: needs exactly one of names, selector, all')));
      assert.ok(lines.some((l) => l.includes('spec.target.adopt:')));
    });
  });

  test('the static password appears nowhere in the output, even at debug level in JSON', async () => {
    await createNamespace('quiet');
    const file = writeConfig(staticCredential('quiet', '    namespaces: {names: [quiet, quiet-missing]}'));
    const res = await runCli(['sync', '-f', file, ...kube(), '--log-level', 'trace', '--log-format', 'json']);
    assert.equal(res.code, 1, 'the missing namespace fails');
    assert.match(res.stderr, /namespace quiet-missing: NamespaceNotFound/);
    const printed = res.stdout + res.stderr;
    assert.ok(!printed.includes(PASSWORD));
  });
});
