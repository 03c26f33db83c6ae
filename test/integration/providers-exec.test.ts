// The `exec` provider end to end: the built CLI (`regcred sync` / `get`) and the controller
// against a real kube-apiserver, running the test kubelet credential provider plugin
// (test/harness/doubles/credential-plugin.mjs) by absolute path, as `node <plugin>`. The plugin
// checks the CredentialProviderRequest it gets; it records each request, so the test can verify the
// service-account token regcred passed (KEP-4412 mode) against the API server's own JWKS.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CoreV1Api, CustomObjectsApi, type V1Secret } from '@kubernetes/client-node';
import { start, type ControlPlane } from '../harness/controlplane.js';
import { runCli, writeConfig, type CliResult } from '../harness/cli.js';
import { type Auths, assertCrdRefuses, assertNothingSecret as assertNothingSecretIn, authsOf, degradedOf, patchClusterProvider } from '../harness/provider-tests.js';
import { secretOrUndefined } from '../harness/kube.js';
import { installCrds } from '../harness/crds.js';
import { readyOf, startTestController, type TestController } from '../harness/test-controller.js';
import { apiServerJwks, verifyServiceAccountToken } from '../harness/doubles/sa-token.js';

/** The plugin in the source tree (tsc does not copy .mjs files into dist/): dist/test/integration → repo root. */
const PLUGIN = fileURLToPath(new URL('../../../test/harness/doubles/credential-plugin.mjs', import.meta.url));
const ECR = '123456789012.dkr.ecr.us-east-1.amazonaws.com';
const ECR_WEST = '123456789012.dkr.ecr.us-west-2.amazonaws.com';
const PASSWORD = `ecr_${randomBytes(24).toString('base64url')}`;
const PLUGIN_KEY = `wJalrXUtnFEMI/${randomBytes(16).toString('hex')}`;
const dir = mkdtempSync(join(tmpdir(), 'regcred-exec-it-'));
let cp: ControlPlane;
let core: CoreV1Api;
const printed: string[] = [];
let records = 0;

function kube(): string[] {
  return ['--kubeconfig', cp.kubeconfigPath];
}

function run(args: string[]): Promise<CliResult> {
  return runCli(args, { env: { REGCRED_TEST_LEAK: 'the-controller-environment' } });
}

function recordFile(): string {
  return join(dir, `record-${++records}.jsonl`);
}

function recorded(path: string): Array<Record<string, any>> {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, any>);
}

/** The plugin spec: node runs the plugin; `env` literal values plus the password from a Secret. */
function execSpec(env: Record<string, string>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    command: process.execPath,
    args: [PLUGIN, 'get-credentials'],
    env: [
      ...Object.entries({ PLUGIN_EXPECT_ARGS: 'get-credentials', PLUGIN_USERNAME: 'AWS', ...env }).map(([name, value]) => ({ name, value })),
      { name: 'PLUGIN_PASSWORD', valueFrom: { secretKeyRef: { name: 'plugin-creds', key: 'password' } } },
      { name: 'PLUGIN_SECRET', valueFrom: { secretKeyRef: { name: 'plugin-creds', key: 'aws-secret-key' } } },
    ],
    registries: [ECR, ECR_WEST],
    ...extra,
  };
}

function credential(name: string, exec: Record<string, unknown>, namespaces: string[]): string {
  return `apiVersion: regcred.dev/v1alpha1
kind: ClusterRegistryCredential
metadata: {name: ${name}}
spec:
  provider:
    exec: ${JSON.stringify(exec)}
  target:
    secretName: pull-${name}
    namespaces: {names: [${namespaces.join(', ')}]}
    serviceAccounts: []
`;
}


function entries(password = PASSWORD): Auths {
  const e = { username: 'AWS', password, auth: Buffer.from(`AWS:${password}`).toString('base64') };
  return { [ECR]: e, [ECR_WEST]: e };
}

function assertNothingSecret(text: string, where: string, extra: string[] = []): void {
  assertNothingSecretIn(text, [PASSWORD, PLUGIN_KEY, ...extra], where);
}

const tokens: string[] = [];

before(async () => {
  cp = await start();
  core = cp.kubeConfig.makeApiClient(CoreV1Api);
  for (const ns of ['regcred-system', 'exec-a', 'exec-b', 'exec-other', 'exec-bad']) await core.createNamespace({ body: { metadata: { name: ns } } });
  await core.createNamespacedServiceAccount({ namespace: 'regcred-system', body: { metadata: { name: 'ecr-plugin' } } });
  await core.createNamespacedSecret({ namespace: 'regcred-system', body: { metadata: { name: 'plugin-creds' }, stringData: { password: PASSWORD, 'aws-secret-key': PLUGIN_KEY } } });
});

after(async () => {
  await cp?.stop();
});

describe('regcred sync with the exec provider (test plugin + real API server)', () => {
  test('a glob answer covers both registries in one run; expiry from cacheDuration; a clean environment', async () => {
    const record = recordFile();
    const spec = execSpec({ PLUGIN_AUTH_KEYS: '*.dkr.ecr.*.amazonaws.com', PLUGIN_CACHE_DURATION: '12h0m0s', PLUGIN_EXPECT_IMAGE: ECR, PLUGIN_RECORD: record });
    const t0 = Date.now();
    const res = await run(['sync', '-f', writeConfig(credential('exec-ecr', spec, ['exec-a', 'exec-b'])), ...kube()]);
    printed.push(res.stdout, res.stderr);
    assert.equal(res.code, 0, `${res.stdout}\n${res.stderr}`);
    assert.match(res.stdout, /ClusterRegistryCredential\/exec-ecr: synced 2\/2 namespaces/);
    const runs = recorded(record);
    assert.equal(runs.length, 1, 'one plugin run');
    assert.deepEqual(runs[0]!['request'], { apiVersion: 'credentialprovider.kubelet.k8s.io/v1', kind: 'CredentialProviderRequest', image: ECR });
    assert.deepEqual(runs[0]!['args'], ['get-credentials']);
    assert.deepEqual(
      runs[0]!['envKeys'],
      ['PATH', 'PLUGIN_AUTH_KEYS', 'PLUGIN_CACHE_DURATION', 'PLUGIN_EXPECT_ARGS', 'PLUGIN_EXPECT_IMAGE', 'PLUGIN_PASSWORD', 'PLUGIN_RECORD', 'PLUGIN_SECRET', 'PLUGIN_USERNAME'],
      'PATH and the spec’s env only (not REGCRED_TEST_LEAK, HOME, KUBECONFIG...)',
    );
    for (const ns of ['exec-a', 'exec-b']) {
      const secret = await secretOrUndefined(core, ns, 'pull-exec-ecr');
      assert.deepEqual(authsOf(secret), entries());
      const at = Date.parse(secret!.metadata!.annotations!['regcred.dev/expires-at']!);
      assert.ok(at >= t0 + 12 * 3600_000 - 1000 && at <= Date.now() + 12 * 3600_000, 'expires-at = now + cacheDuration');
    }
    assert.equal(await secretOrUndefined(core, 'exec-other', 'pull-exec-ecr'), undefined, 'no Secret where not selected');
  });

  test('serviceAccountToken (KEP-4412): a token the API server minted, passed in the request with the annotations', async () => {
    const record = recordFile();
    const spec = execSpec(
      { PLUGIN_EXPECT_TOKEN: 'yes', PLUGIN_RECORD: record },
      { registries: [ECR], serviceAccountToken: { serviceAccount: { name: 'ecr-plugin' }, audience: 'ecr-credential-provider', annotations: { 'eks.amazonaws.com/ecr/role-arn': 'arn:aws:iam::123456789012:role/puller' } } },
    );
    const res = await run(['sync', '-f', writeConfig(credential('exec-sa', spec, ['exec-a'])), ...kube()]);
    printed.push(res.stdout, res.stderr);
    assert.equal(res.code, 0, `${res.stdout}\n${res.stderr}`);
    const req = recorded(record)[0]!['request'];
    tokens.push(req.serviceAccountToken);
    const checked = verifyServiceAccountToken(req.serviceAccountToken, await apiServerJwks(cp), {
      issuer: cp.issuer,
      audience: 'ecr-credential-provider',
      subjects: ['system:serviceaccount:regcred-system:ecr-plugin'],
    });
    assert.ok(!('error' in checked), 'error' in checked ? checked.error : '');
    assert.deepEqual(req.serviceAccountAnnotations, { 'eks.amazonaws.com/ecr/role-arn': 'arn:aws:iam::123456789012:role/puller' });
    assert.deepEqual(authsOf(await secretOrUndefined(core, 'exec-a', 'pull-exec-sa')), { [ECR]: entries()[ECR]! });
  });

  test('regcred get -o dockerconfigjson prints the config', async () => {
    const res = await run(['get', '-f', writeConfig(credential('exec-get', execSpec({ PLUGIN_AUTH_KEYS: '*.dkr.ecr.*.amazonaws.com' }), ['exec-a'])), '-o', 'dockerconfigjson', ...kube()]);
    printed.push(res.stderr); // stdout is the credential, by design
    assert.equal(res.code, 0, res.stderr);
    assert.deepEqual((JSON.parse(res.stdout) as { auths: Auths }).auths, entries());
  });

  test('the plugin failing: exit 1 with one line quoting its stderr, a secret it echoes scrubbed, nothing written', async () => {
    const cases: Array<[Record<string, string>, Record<string, unknown>, RegExp]> = [
      [{ PLUGIN_MODE: 'fail' }, {}, /: ProviderError: exec \S+node\S*: exited with status 1; stderr: credential-plugin: cannot get credentials for 123456789012\.dkr\.ecr\.us-east-1\.amazonaws\.com: AccessDenied: the role may not call ecr:GetAuthorizationToken$/],
      [{ PLUGIN_MODE: 'echo-secret' }, {}, /: exited with status 1; stderr: debug: using key \[REDACTED\] \/ credential-plugin: login failed with key \[REDACTED\]$/],
      [{ PLUGIN_MODE: 'invalid-json' }, {}, /: the output is not JSON \(\d+ bytes; expected a CredentialProviderResponse\)$/],
      [{ PLUGIN_MODE: 'hang' }, { timeout: '1s' }, /: timed out after 1s \(the process group was killed\); stderr: credential-plugin: waiting forever$/],
      [{ PLUGIN_AUTH_KEYS: '*.azurecr.io' }, {}, /: no auth entry matches registry 123456789012\.dkr\.ecr\.us-east-1\.amazonaws\.com \(the plugin answered image "123456789012\.dkr\.ecr\.us-east-1\.amazonaws\.com": keys "\*\.azurecr\.io"\)$/],
    ];
    for (const [env, extra, message] of cases) {
      const started = Date.now();
      const res = await run(['sync', '-f', writeConfig(credential('exec-bad', execSpec(env, { registries: [ECR], ...extra }), ['exec-bad'])), ...kube()]);
      printed.push(res.stdout, res.stderr);
      assert.equal(res.code, 1, `${JSON.stringify(env)}: ${res.stdout}\n${res.stderr}`);
      const lines = res.stderr.split('\n').filter((l) => l.includes('ClusterRegistryCredential/exec-bad'));
      assert.equal(lines.length, 1, res.stderr);
      console.log(`# ${lines[0]} (${Date.now() - started} ms)`);
      assert.match(lines[0]!, message);
      assert.doesNotMatch(res.stderr, /\n\s+at /, 'no stack trace');
    }
    assert.equal(await secretOrUndefined(core, 'exec-bad', 'pull-exec-bad'), undefined, 'nothing written');
  });

  test('validate: glob registries and relative commands are refused with their paths (exit 2)', async () => {
    const res = await run(['validate', '-f', writeConfig(credential('exec-invalid', { command: './plugin', registries: ['*.dkr.ecr.*.amazonaws.com'] }, ['exec-a']))]);
    printed.push(res.stdout, res.stderr);
    assert.equal(res.code, 2, `${res.stdout}\n${res.stderr}`);
    assert.match(res.stderr, /spec\.provider\.exec\.command: must be an absolute path or a program name/);
    assert.match(res.stderr, /spec\.provider\.exec\.registries\[0\]: must be a concrete registry/);
  });

  test('regcred sync of a RegistryCredential with exec: refused (exit 2), the plugin never runs', async () => {
    const record = recordFile();
    const file = writeConfig(`apiVersion: regcred.dev/v1alpha1
kind: RegistryCredential
metadata: {name: tenant, namespace: exec-a}
spec:
  provider:
    exec: ${JSON.stringify(execSpec({ PLUGIN_RECORD: record }, { registries: [ECR] }))}
  target: {secretName: tenant-pull, serviceAccounts: []}
`);
    const res = await run(['sync', '-f', file, ...kube()]);
    printed.push(res.stdout, res.stderr);
    assert.equal(res.code, 2, `${res.stdout}\n${res.stderr}`);
    assert.match(res.stderr, /RegistryCredential\/exec-a\/tenant: spec\.provider\.exec: provider exec is allowed only in a ClusterRegistryCredential: it runs a command inside regcred/);
    assert.deepEqual(recorded(record), [], 'the plugin never ran');
  });

  test('no password, Secret value or service-account token appears in any output', () => {
    assertNothingSecret(printed.join('\n'), 'CLI output', tokens);
  });
});

describe('the controller with the exec provider (test plugin + real API server)', () => {
  let ctl: TestController;
  const custom = () => cp.kubeConfig.makeApiClient(CustomObjectsApi);

  before(async () => {
    await installCrds(cp.kubeConfig);
    for (const [name, labels] of [['ctl-exec-1', { plugin: 'yes' }], ['ctl-exec-2', { plugin: 'yes' }], ['ctl-exec-no', {}]] as const) {
      await core.createNamespace({ body: { metadata: { name, labels } } });
    }
    ctl = await startTestController(cp, { retryBaseMs: 300, retryMaxMs: 2000 });
  });

  after(async () => {
    await ctl?.stop();
  });

  test('the CRD’s rules refuse glob registries, relative commands, duplicate env names and long timeouts', async () => {
    const refused = (name: string, exec: Record<string, unknown>, message: RegExp) => assertCrdRefuses(custom(), name, { exec }, message);
    await refused('exec-cel-1', { command: '/p', registries: ['*.dkr.ecr.*.amazonaws.com'] }, /registries\[0\]/);
    await refused('exec-cel-2', { command: './p', registries: [ECR] }, /command/);
    await refused('exec-cel-3', { command: '/p', registries: [ECR], env: [{ name: 'A', value: '1' }, { name: 'A', value: '2' }] }, /env variable names must be distinct/);
    await refused('exec-cel-4', { command: '/p', registries: [ECR], env: [{ name: 'A' }] }, /needs exactly one of value, valueFrom/);
    await refused('exec-cel-5', { command: '/p', registries: [ECR], timeout: '11m' }, /timeout must be more than 0s and at most 10m/);
  });

  test('Ready in the selected namespaces; a failing plugin is retried with backoff, the Secrets kept; then it recovers', async () => {
    const good = execSpec({ PLUGIN_AUTH_KEYS: '*.dkr.ecr.*.amazonaws.com', PLUGIN_CACHE_DURATION: '6h0m0s' });
    await ctl.createClusterCredential('ctl-exec', {
      provider: { exec: good },
      target: { secretName: 'plugin-pull', namespaces: { selector: { matchLabels: { plugin: 'yes' } } }, serviceAccounts: [] },
    });
    const status = await ctl.waitForStatus('ctl-exec', (s) => readyOf(s)?.status === 'True');
    assert.equal(readyOf(status)?.reason, 'Synced');
    assert.equal(status.targets?.synced, 2);
    assert.ok(status.expiresAt, 'an expiry from cacheDuration');
    const kept: string[] = [];
    for (const ns of ['ctl-exec-1', 'ctl-exec-2']) {
      const secret = await secretOrUndefined(core, ns, 'plugin-pull');
      assert.deepEqual(authsOf(secret), entries());
      kept.push(secret!.data!['.dockerconfigjson']!);
    }
    assert.equal(await secretOrUndefined(core, 'ctl-exec-no', 'plugin-pull'), undefined);

    const patch = (exec: Record<string, unknown>) => patchClusterProvider(custom(), 'ctl-exec', 'exec', exec);
    const errorsBefore = await ctl.refreshes('ctl-exec', 'error');
    await patch(execSpec({ PLUGIN_MODE: 'echo-secret' }));
    const degraded = await ctl.waitForStatus('ctl-exec', (s) => degradedOf(s)?.status === 'True');
    const d = degradedOf(degraded)!;
    assert.equal(d.reason, 'ProviderError');
    assert.match(d.message, /^exec \S+: exited with status 1; stderr: debug: using key \[REDACTED\] \/ credential-plugin: login failed with key \[REDACTED\]; the previous credential is still in place$/);
    const t0 = Date.now();
    await new Promise((r) => setTimeout(r, 3000));
    const errors = (await ctl.refreshes('ctl-exec', 'error')) - errorsBefore;
    console.log(`# ${errors} failed refreshes in ${Date.now() - t0} ms while the plugin exited 1 (retry base 300 ms, max 2 s)`);
    assert.ok(errors >= 3 && errors <= 8, `retried with backoff: ${errors}`);
    for (const [i, ns] of ['ctl-exec-1', 'ctl-exec-2'].entries()) {
      assert.equal((await secretOrUndefined(core, ns, 'plugin-pull'))?.data?.['.dockerconfigjson'], kept[i], 'the last good Secret is kept');
    }

    await patch(good);
    await ctl.waitForStatus('ctl-exec', (s) => readyOf(s)?.status === 'True' && degradedOf(s)?.status !== 'True', 15_000);
    assertNothingSecret(ctl.logLines.join(''), 'the controller logs', tokens);
    assert.ok(ctl.logLines.some((l) => l.includes('[REDACTED]')), 'the echoed secret reached the logs only redacted');
  });

  // A tenant must not run commands in the controller (docs/providers/exec.md, Security): the API
  // server itself refuses a RegistryCredential with exec (the CRD's CEL rule), so it never reaches it.
  test('the API server refuses a RegistryCredential with exec (422, the CRD rule); a ClusterRegistryCredential may use it', async () => {
    await core.createNamespace({ body: { metadata: { name: 'exec-tenant' } } });
    const body = {
      apiVersion: 'regcred.dev/v1alpha1',
      kind: 'RegistryCredential',
      metadata: { name: 'tenant-exec', namespace: 'exec-tenant' },
      spec: { provider: { exec: execSpec({}, { registries: [ECR] }) }, target: { secretName: 'tenant-pull', serviceAccounts: [] } },
    };
    await assert.rejects(
      custom().createNamespacedCustomObject({ group: 'regcred.dev', version: 'v1alpha1', namespace: 'exec-tenant', plural: 'registrycredentials', body }),
      (err: unknown) => {
        const e = err as { code?: number; body?: unknown };
        assert.equal(e.code, 422);
        assert.match(String(typeof e.body === 'string' ? e.body : JSON.stringify(e.body)), /provider exec is allowed only in a ClusterRegistryCredential: it runs a command inside regcred/);
        return true;
      },
    );
  });
});
