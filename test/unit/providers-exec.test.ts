// Unit tests for src/providers/exec/: the config schema, the kubelet's registry matching rules
// (glob keys, ports, path prefixes), Go durations, and real runs of the test plugin
// (test/harness/doubles/credential-plugin.mjs, run by absolute path with this Node, as regcred
// runs any plugin): the request it receives, the answer regcred reads, the clean environment,
// values from Secrets, the service-account token field, and every failure (non-zero exit, invalid
// JSON, wrong kind, a hang killed with its process group, a missing program, secrets on stderr).
import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { credentialObject } from '../../src/config/schema.js';
import { buildCrds } from '../../src/crdgen/crd.js';
import { CLUSTER_ONLY_REASON, createExecProvider } from '../../src/providers/exec/index.js';
import { parseGoDuration } from '../../src/providers/exec/answer.js';
import { stderrExcerpt } from '../../src/providers/exec/plugin.js';
import { execConfig, type ExecConfig } from '../../src/providers/exec/schema.js';
import { bestMatch, registryMatches } from '../../src/credential/keyring.js';
import { providerRegistry } from '../../src/providers/registry.js';
import type { ProviderDeps } from '../../src/providers/types.js';
import { RegcredError } from '../../src/errors.js';
import { REDACTED, registerSecret, resetRegisteredSecrets, scrub } from '../../src/redact.js';
import { fakeDeps, fakeSources, recordingTokenRequest, rejectsWith, type TokenCall } from '../harness/provider-tests.js';

/** The plugin in the source tree (tsc does not copy .mjs files into dist/). */
const PLUGIN = fileURLToPath(new URL('../../../test/harness/doubles/credential-plugin.mjs', import.meta.url));
const NOW = new Date('2026-11-23T12:00:00Z');
const ECR = '123456789012.dkr.ecr.us-east-1.amazonaws.com';
const ECR_WEST = '123456789012.dkr.ecr.us-west-2.amazonaws.com';
const dir = mkdtempSync(join(tmpdir(), 'regcred-exec-unit-'));
let recordCount = 0;

afterEach(() => resetRegisteredSecrets());

function deps(secrets: Record<string, Record<string, string>> = {}, extra: Partial<ProviderDeps> & { tokenCalls?: TokenCall[] } = {}): ProviderDeps {
  const tokenCalls = extra.tokenCalls ?? [];
  return fakeDeps({
    sources: fakeSources(secrets),
    now: () => NOW,
    tokenRequest: recordingTokenRequest(tokenCalls, 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ0ZXN0In0.c2lnbmF0dXJlLXNlY3JldA'),
    ...extra,
  });
}

/** A config running the plugin with `env` (name → literal value) on top of `extra`. */
function config(env: Record<string, string>, extra: Record<string, unknown> = {}): ExecConfig {
  return execConfig.parse({
    command: process.execPath,
    args: [PLUGIN],
    env: Object.entries(env).map(([name, value]) => ({ name, value })),
    registries: [ECR],
    ...extra,
  });
}

function recordFile(): string {
  return join(dir, `record-${++recordCount}.jsonl`);
}

function recorded(path: string): Array<Record<string, any>> {
  return existsSync(path) ? records(path) : [];
}

function records(path: string): Array<Record<string, any>> {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, any>);
}

describe('exec config schema', () => {
  test('is registered under "exec"', () => {
    assert.equal(providerRegistry.get('exec')?.key, 'exec');
  });

  test('accepts absolute paths and program names, literal and Secret env values, ports and paths', () => {
    for (const good of [
      { command: '/usr/local/bin/ecr-credential-provider', args: ['get-credentials'], registries: [ECR] },
      { command: 'ecr-credential-provider', registries: [ECR, ECR_WEST], image: `${ECR}/app:1.0`, timeout: '45s', defaultCacheDuration: '6h' },
      { command: '/p', env: [{ name: 'AWS_REGION', value: 'us-east-1' }, { name: 'KEY', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } }], registries: ['registry.example.com:5000/team'] },
      { command: '/p', registries: ['r.example.com'], serviceAccountToken: { serviceAccount: { name: 'puller' }, audience: 'sts.amazonaws.com', annotations: { 'eks.amazonaws.com/ecr/role-arn': 'arn:aws:iam::1:role/x' } } },
    ]) {
      const r = execConfig.safeParse(good);
      assert.ok(r.success, `${JSON.stringify(good)}: ${JSON.stringify(r.error?.issues)}`);
    }
  });

  test('refuses glob registries, relative commands, duplicate or half-specified env, and long timeouts', () => {
    for (const [bad, message] of [
      [{ command: '/p', registries: ['*.dkr.ecr.*.amazonaws.com'] }, /concrete registry/],
      [{ command: '/p', registries: ['https://r.example.com'] }, /concrete registry/],
      [{ command: '/p', registries: [] }, /registries|too small|>=1/i],
      [{ command: './plugin', registries: ['r.io'] }, /absolute path or a program name/],
      [{ command: 'bin/plugin', registries: ['r.io'] }, /absolute path or a program name/],
      [{ command: '/p', registries: ['r.io'], env: [{ name: 'A', value: '1' }, { name: 'A', value: '2' }] }, /distinct/],
      [{ command: '/p', registries: ['r.io'], env: [{ name: 'A' }] }, /exactly one of value, valueFrom/],
      [{ command: '/p', registries: ['r.io'], env: [{ name: '1A', value: 'x' }] }, /environment variable name/],
      [{ command: '/p', registries: ['r.io'], timeout: '11m' }, /at most 10m/],
      [{ command: '/p', registries: ['r.io'], shell: true }, /unrecognized/i],
    ] as const) {
      const r = execConfig.safeParse(bad);
      assert.ok(!r.success, JSON.stringify(bad));
      assert.match(r.error.issues.map((i) => i.message).join('; '), message, JSON.stringify(bad));
    }
  });
});

describe('registry matching (the kubelet URLsMatch rules)', () => {
  test('globs match one DNS label each; ports must be equal; the key path is a prefix', () => {
    const cases: Array<[string, string, boolean]> = [
      ['*.dkr.ecr.*.amazonaws.com', ECR, true],
      ['123456789012.dkr.ecr.us-east-1.amazonaws.com', ECR, true],
      ['*.azurecr.io', 'myregistry.azurecr.io', true],
      ['*.io', 'k8s.gcr.io', false],
      ['*.*.io', 'k8s.gcr.io', true],
      ['k8s.*', 'k8s.io', true],
      ['app*.k8s.io', 'apps.k8s.io', true],
      ['app*.k8s.io', 'web.k8s.io', false],
      ['gcr.io', 'gcr.io/my-project', true],
      ['gcr.io/my-project', 'gcr.io', false],
      ['gcr.io/my-project', 'gcr.io/my-project/sub', true],
      ['registry.io:8080/path', 'registry.io:8080/path', true],
      ['registry.io:8080', 'registry.io', false],
      ['registry.io', 'registry.io:8080', false],
      ['r?.example.com', 'r1.example.com', true],
      ['r[0-9].example.com', 'r7.example.com', true],
      ['r[0-9].example.com', 'rx.example.com', false],
      ['https://gcr.io', 'gcr.io', true],
      ['GCR.io', 'gcr.IO', true],
    ];
    for (const [pattern, registry, expected] of cases) assert.equal(registryMatches(pattern, registry), expected, `${pattern} vs ${registry}`);
  });

  test('the best key: exact, then without globs, then the longest', () => {
    assert.equal(bestMatch(['*.dkr.ecr.*.amazonaws.com', ECR], ECR), ECR);
    assert.equal(bestMatch(['*.example.com', 'r.example.com'], 'r.example.com/team'), 'r.example.com');
    assert.equal(bestMatch(['r.example.com', 'r.example.com/team'], 'r.example.com/team/x'), 'r.example.com/team');
    assert.equal(bestMatch(['other.io'], 'r.example.com'), undefined);
  });

  test('Go durations as metav1.Duration writes them', () => {
    assert.equal(parseGoDuration('12h0m0s'), 12 * 3600_000);
    assert.equal(parseGoDuration('1m30.5s'), 90_500);
    assert.equal(parseGoDuration('300ms'), 300);
    assert.equal(parseGoDuration('0s'), 0);
    assert.equal(parseGoDuration('0'), 0);
    assert.equal(parseGoDuration('-5m0s'), -300_000);
    assert.equal(parseGoDuration('12 hours'), undefined);
    assert.equal(parseGoDuration(''), undefined);
  });
});

describe('exec provider runs the plugin', () => {
  test('sends a v1 CredentialProviderRequest with the registry as image and args; reads auth and cacheDuration', async () => {
    const record = recordFile();
    const cfg = config({ PLUGIN_EXPECT_IMAGE: ECR, PLUGIN_EXPECT_ARGS: 'get-credentials', PLUGIN_CACHE_DURATION: '12h0m0s', PLUGIN_USERNAME: 'AWS', PLUGIN_PASSWORD: 'ecr-token-abc', PLUGIN_RECORD: record }, { args: [PLUGIN, 'get-credentials'] });
    const creds = await createExecProvider(cfg, deps()).mint();
    assert.deepEqual(creds, [{ registry: ECR, username: 'AWS', password: 'ecr-token-abc', expiresAt: new Date(NOW.getTime() + 12 * 3600_000) }]);
    const [r] = records(record);
    assert.deepEqual(r!['request'], { apiVersion: 'credentialprovider.kubelet.k8s.io/v1', kind: 'CredentialProviderRequest', image: ECR });
    assert.deepEqual(r!['args'], ['get-credentials']);
    assert.equal(scrub('ecr-token-abc'), REDACTED, 'the password is registered as a secret');
  });

  test('a clean environment: PATH and the spec’s env only, nothing of the controller’s', async () => {
    process.env['REGCRED_TEST_LEAK'] = 'must-not-leak';
    try {
      const creds = await createExecProvider(config({ PLUGIN_MODE: 'env-keys' }), deps()).mint();
      assert.equal(creds[0]!.password, 'PATH,PLUGIN_MODE');
    } finally {
      delete process.env['REGCRED_TEST_LEAK'];
    }
  });

  test('env from a Secret is passed and registered as a secret; a missing key is InvalidSource naming it', async () => {
    const cfg = execConfig.parse({
      command: process.execPath,
      args: [PLUGIN],
      env: [{ name: 'PLUGIN_PASSWORD', valueFrom: { secretKeyRef: { name: 'plugin-creds', key: 'password' } } }],
      registries: [ECR],
    });
    const creds = await createExecProvider(cfg, deps({ 'plugin-creds': { password: 'from-the-secret-123' } })).mint();
    assert.equal(creds[0]!.password, 'from-the-secret-123');
    assert.equal(scrub('x from-the-secret-123 y'), `x ${REDACTED} y`);
    await assert.rejects(createExecProvider(cfg, deps({ 'plugin-creds': { other: 'x' } })).mint(), rejectsWith('InvalidSource', false, /Secret regcred-system\/plugin-creds lacks key "password" \(for env PLUGIN_PASSWORD\)/));
  });

  test('no cacheDuration: defaultCacheDuration, else no expiry; "0s" means no stated lifetime', async () => {
    const noExpiry = await createExecProvider(config({}), deps()).mint();
    assert.equal(noExpiry[0]!.expiresAt, undefined);
    const withDefault = await createExecProvider(config({}, { defaultCacheDuration: '2h' }), deps()).mint();
    assert.deepEqual(withDefault[0]!.expiresAt, new Date(NOW.getTime() + 2 * 3600_000));
    const zero = await createExecProvider(config({ PLUGIN_CACHE_DURATION: '0s' }, { defaultCacheDuration: '2h' }), deps()).mint();
    assert.equal(zero[0]!.expiresAt, undefined);
  });

  test('a glob key covers several registries: one run; otherwise one run per registry', async () => {
    const record = recordFile();
    const cfg = config({ PLUGIN_AUTH_KEYS: '*.dkr.ecr.*.amazonaws.com', PLUGIN_PASSWORD: 'shared', PLUGIN_RECORD: record }, { registries: [ECR, ECR_WEST] });
    const creds = await createExecProvider(cfg, deps()).mint();
    assert.deepEqual(creds.map((c) => [c.registry, c.password]), [[ECR, 'shared'], [ECR_WEST, 'shared']]);
    assert.equal(records(record).length, 1, 'one run');

    const record2 = recordFile();
    const perHost = await createExecProvider(config({ PLUGIN_RECORD: record2 }, { registries: [ECR, ECR_WEST] }), deps()).mint();
    assert.deepEqual(perHost.map((c) => [c.registry, c.password]), [[ECR, `plugin-password-${ECR}`], [ECR_WEST, `plugin-password-${ECR_WEST}`]]);
    assert.deepEqual(records(record2).map((r) => r['request'].image), [ECR, ECR_WEST]);
  });

  test('`image` set: one run with that image; a registry its answer does not cover is a clear permanent error', async () => {
    const image = `${ECR}/team/app:1.2`;
    const creds = await createExecProvider(config({ PLUGIN_EXPECT_IMAGE: image }, { image }), deps()).mint();
    assert.equal(creds[0]!.registry, ECR);
    await assert.rejects(
      createExecProvider(config({ PLUGIN_AUTH_KEYS: '*.azurecr.io' }, { image, registries: [ECR, 'other.example.com'] }), deps()).mint(),
      rejectsWith('ProviderError', false, new RegExp(`no auth entry matches registries ${ECR.replace(/\./g, '\\.')}, other\\.example\\.com \\(the plugin answered image ".*": keys "\\*\\.azurecr\\.io"\\)`)),
    );
  });

  test('serviceAccountToken: a minted token and the annotations in the request (KEP-4412)', async () => {
    const record = recordFile();
    const tokenCalls: TokenCall[] = [];
    const cfg = config(
      { PLUGIN_EXPECT_TOKEN: 'yes', PLUGIN_RECORD: record },
      { serviceAccountToken: { serviceAccount: { name: 'ecr-puller' }, audience: 'sts.amazonaws.com', annotations: { 'eks.amazonaws.com/ecr/role-arn': 'arn:aws:iam::123456789012:role/puller' } } },
    );
    await createExecProvider(cfg, deps({}, { tokenCalls })).mint();
    assert.deepEqual(tokenCalls, [{ ref: { name: 'ecr-puller' }, audiences: ['sts.amazonaws.com'], seconds: 600 }]);
    const req = records(record)[0]!['request'];
    assert.equal(req.serviceAccountToken, 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ0ZXN0In0.c2lnbmF0dXJlLXNlY3JldA');
    assert.deepEqual(req.serviceAccountAnnotations, { 'eks.amazonaws.com/ecr/role-arn': 'arn:aws:iam::123456789012:role/puller' });
    assert.equal(scrub(req.serviceAccountToken), REDACTED);
    const noKube = deps();
    delete noKube.tokenRequest;
    await assert.rejects(createExecProvider(cfg, noKube).mint(), rejectsWith('InvalidSource', false, /cannot mint/));
  });
});

describe('exec in a RegistryCredential', () => {
  test('refused at run time when minting for a RegistryCredential, before anything runs; allowed for ClusterRegistryCredential and get', async () => {
    const record = recordFile();
    const cfg = config({ PLUGIN_RECORD: record });
    const tenant = deps({}, { credential: { kind: 'RegistryCredential', namespace: 'team-a', name: 'sneaky' } });
    await assert.rejects(
      createExecProvider(cfg, tenant).mint(),
      rejectsWith('InvalidSpec', false, /^provider exec is allowed only in a ClusterRegistryCredential: it runs a command inside regcred with the controller's privileges$/),
    );
    assert.equal(recorded(record).length, 0, 'the plugin never ran');
    assert.equal((await createExecProvider(cfg, deps({}, { credential: { kind: 'ClusterRegistryCredential', name: 'admin' } })).mint()).length, 1);
    assert.equal((await createExecProvider(cfg, deps()).mint()).length, 1, 'no credential identity (regcred get)');
  });

  test('refused by the schema (and the CRD) in a RegistryCredential, with the same reason', () => {
    const res = credentialObject.safeParse({
      apiVersion: 'regcred.dev/v1alpha1',
      kind: 'RegistryCredential',
      metadata: { name: 'x', namespace: 'team-a' },
      spec: { provider: { exec: { command: '/bin/true', registries: ['r.example.com'] } }, target: { secretName: 's' } },
    });
    assert.equal(res.success, false);
    assert.ok(res.error?.issues.some((i) => i.path.join('.') === 'spec.provider.exec' && i.message === `provider exec is allowed only in a ClusterRegistryCredential: ${CLUSTER_ONLY_REASON}`));
    const crds = buildCrds() as Array<{ spec: { names: { kind: string } } }>;
    const rc = JSON.stringify(crds.find((c) => c.spec.names.kind === 'RegistryCredential'));
    assert.ok(rc.includes('!has(self.exec)'), 'the RegistryCredential CRD refuses exec');
    assert.ok(!JSON.stringify(crds.find((c) => c.spec.names.kind === 'ClusterRegistryCredential')).includes('!has(self.exec)'));
  });
});

describe('exec provider failures', () => {
  test('non-zero exit: retryable, with the plugin’s stderr', async () => {
    await assert.rejects(
      createExecProvider(config({ PLUGIN_MODE: 'fail' }), deps()).mint(),
      rejectsWith('ProviderError', true, /^exec \S+: exited with status 1; stderr: credential-plugin: cannot get credentials for .*AccessDenied/),
    );
  });

  test('a secret echoed on stderr is scrubbed from the message', async () => {
    const cfg = execConfig.parse({
      command: process.execPath,
      args: [PLUGIN],
      env: [
        { name: 'PLUGIN_MODE', value: 'echo-secret' },
        { name: 'PLUGIN_SECRET', valueFrom: { secretKeyRef: { name: 'plugin-creds', key: 'key' } } },
      ],
      registries: [ECR],
    });
    await assert.rejects(createExecProvider(cfg, deps({ 'plugin-creds': { key: 'wJalrXUtnFEMI-very-secret' } })).mint(), (err: unknown) => {
      assert.ok(err instanceof RegcredError);
      assert.ok(!err.message.includes('wJalrXUtnFEMI-very-secret'), err.message);
      assert.match(err.message, /stderr: debug: using key \[REDACTED\] \/ credential-plugin: login failed with key \[REDACTED\]/);
      return true;
    });
  });

  test('invalid JSON, a wrong kind and a bad cacheKeyType are permanent errors', async () => {
    await assert.rejects(createExecProvider(config({ PLUGIN_MODE: 'invalid-json' }), deps()).mint(), rejectsWith('ProviderError', false, /the output is not JSON \(\d+ bytes; expected a CredentialProviderResponse\)/));
    await assert.rejects(
      createExecProvider(config({ PLUGIN_MODE: 'wrong-kind' }), deps()).mint(),
      rejectsWith('ProviderError', false, /kind "CredentialProviderRequest"; expected credentialprovider\.kubelet\.k8s\.io\/v1 CredentialProviderResponse/),
    );
    await assert.rejects(createExecProvider(config({ PLUGIN_CACHE_KEY_TYPE: 'Pod' }), deps()).mint(), rejectsWith('ProviderError', false, /cacheKeyType is "Pod"; expected Image, Registry or Global/));
    await assert.rejects(createExecProvider(config({ PLUGIN_CACHE_DURATION: '12 hours' }), deps()).mint(), rejectsWith('ProviderError', false, /cacheDuration "12 hours" is not a duration/));
    await assert.rejects(createExecProvider(config({ PLUGIN_AUTH_KEYS: ',' }), deps()).mint(), rejectsWith('ProviderError', false, /no auth entry matches registry .* no auth entries/));
    await assert.rejects(createExecProvider(config({ PLUGIN_MODE: 'bad-auth' }), deps()).mint(), rejectsWith('ProviderError', false, /the response's auth entry ".*" is not \{username, password\}/));
  });

  test('a hanging plugin is killed with its process group after the timeout (retryable)', async () => {
    const record = recordFile();
    const started = Date.now();
    await assert.rejects(
      createExecProvider(config({ PLUGIN_MODE: 'hang', PLUGIN_RECORD: record }, { timeout: '1s' }), deps()).mint(),
      rejectsWith('ProviderError', true, /timed out after 1s \(the process group was killed\); stderr: credential-plugin: waiting forever/),
    );
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 900 && elapsed < 4000, `gave up after ${elapsed} ms`);
    const { grandchild, pid } = records(record).find((r) => r['grandchild'])!;
    for (const p of [pid, grandchild]) {
      await waitGone(p as number);
    }
  });

  test('an aborted signal stops the plugin', async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 300);
    await assert.rejects(createExecProvider(config({ PLUGIN_MODE: 'hang' }, { timeout: '20s' }), deps()).mint(ac.signal), rejectsWith('ProviderError', true, /aborted/));
  });

  test('a missing program: a permanent error saying so', async () => {
    await assert.rejects(
      createExecProvider(execConfig.parse({ command: '/nonexistent/credential-provider', registries: [ECR] }), deps()).mint(),
      rejectsWith('ProviderError', false, /^exec \/nonexistent\/credential-provider: cannot run the plugin: not found$/),
    );
    await assert.rejects(
      createExecProvider(execConfig.parse({ command: 'no-such-plugin-anywhere', registries: [ECR] }), deps()).mint(),
      rejectsWith('ProviderError', false, /cannot run the plugin: not found/),
    );
  });

  test('stderr excerpts: the last lines, truncated, control characters dropped', () => {
    registerSecret('hunter2-secret');
    const long = `${'x'.repeat(1000)}\nsecond\x1b[31m line\n\nlast hunter2-secret line\n`;
    const text = stderrExcerpt(long);
    assert.ok(text.length <= 303, text);
    assert.match(text, /second\[31m line \/ last \[REDACTED\] line$/);
  });
});

/** Waits until `pid` is dead: gone, or a zombie (killed; its new parent, init, reaps it when it gets to it). */
async function waitGone(pid: number): Promise<void> {
  for (let i = 0; i < 50; i++) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    try {
      if (/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))) return;
    } catch {
      return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`process ${pid} is still running`);
}
