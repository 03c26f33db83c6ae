// The `chainguard` provider end to end: the built CLI and the controller against a real
// kube-apiserver + controller-manager and the Chainguard STS double (test/harness/doubles/chainguard.ts),
// which verifies the service-account token the API server minted against the API server's own JWKS,
// its issuer, its audience (the issuer URL) and that its subject may assume the identity.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CoreV1Api, CustomObjectsApi, type V1Secret } from '@kubernetes/client-node';
import { start, type ControlPlane } from '../harness/controlplane.js';
import { runCli, writeConfig, type CliResult } from '../harness/cli.js';
import {
  assertCrdRefuses,
  assertNoSecret,
  assertNotRetried,
  assertRemoteTextInLogOnly,
  assertRetriedWithBackoff,
  authsOf,
  credentialYaml,
  degradedOf,
  jwtExp,
  patchClusterProvider,
} from '../harness/provider-tests.js';
import { secretOrUndefined } from '../harness/kube.js';
import { installCrds } from '../harness/crds.js';
import { apiServerJwks } from '../harness/doubles/sa-token.js';
import { startChainguardDouble, type ChainguardDouble } from '../harness/doubles/chainguard.js';
import { readyOf, startTestController, type TestController } from '../harness/test-controller.js';

let cp: ControlPlane;
let cg: ChainguardDouble;
let core: CoreV1Api;

const IDENTITY = '720909c9f5279097d847ad02a2f24ba8f59de36a/b6461e99e132298f';
const OTHER_IDENTITY = '720909c9f5279097d847ad02a2f24ba8f59de36a/0000000000000001';
const PULLER = 'system:serviceaccount:regcred-system:cg-puller';
const OWN = 'system:serviceaccount:regcred-system:regcred';

/** Output of every run whose output must hold no secret (all but `get -o dockerconfigjson`'s stdout). */
const printed: string[] = [];

function run(args: string[]): Promise<CliResult> {
  return runCli([...args, '--kubeconfig', cp.kubeconfigPath]);
}

function credential(name: string, fields: string, namespace: string): string {
  return credentialYaml('chainguard', name, `{identity: "${IDENTITY}", issuer: "${cg.url}"${fields ? `, ${fields}` : ''}}`, namespace);
}


/** The Secret holds exactly one cgr.dev login with a token the double issued, auth encoded once; returns the token. */
async function assertChainguardSecret(namespace: string, name: string): Promise<string> {
  const secret = await secretOrUndefined(core, namespace, name);
  const auths = authsOf(secret);
  assert.deepEqual(Object.keys(auths), ['cgr.dev']);
  const entry = auths['cgr.dev']!;
  assert.equal(entry.username, '_token');
  assert.ok(cg.issued.includes(entry.password), 'the password is a token the double issued');
  // The old pull-secret-updater wrote base64(base64(user:pass)); one decode must give user:pass.
  assert.equal(Buffer.from(entry.auth, 'base64').toString('utf8'), `_token:${entry.password}`);
  assert.equal(secret?.metadata?.annotations?.['regcred.dev/expires-at'], new Date(jwtExp(entry.password) * 1000).toISOString(), 'expiry = the JWT exp');
  return entry.password;
}

before(async () => {
  cp = await start();
  const jwks = await apiServerJwks(cp);
  cg = await startChainguardDouble({ jwks, kubeIssuer: cp.issuer, identities: { [IDENTITY]: [PULLER, OWN], [OTHER_IDENTITY]: [] } });
  core = cp.kubeConfig.makeApiClient(CoreV1Api);
  await installCrds(cp.kubeConfig);
  for (const ns of ['regcred-system', 'cg-a', 'cg-own', 'cg-bad', 'cg-aud', 'cg-503', 'cg-tenant']) {
    await core.createNamespace({ body: { metadata: { name: ns } } });
  }
  for (const sa of ['cg-puller', 'regcred', 'not-trusted']) {
    await core.createNamespacedServiceAccount({ namespace: 'regcred-system', body: { metadata: { name: sa } } });
  }
});

after(async () => {
  await Promise.all([cp?.stop(), cg?.stop()]);
});

describe('regcred sync with the chainguard provider (STS double + real API server)', () => {
  test('a token minted for the service account, exchanged at /sts/exchange: cgr.dev, user _token, auth encoded once, expiry = exp', async () => {
    const file = writeConfig(credential('cg-a', 'serviceAccount: {name: cg-puller}', 'cg-a'));
    const before = cg.requests.length;
    const res = await run(['sync', '-f', file]);
    printed.push(res.stdout, res.stderr);
    assert.equal(res.code, 0, `${res.stdout}\n${res.stderr}`);
    assert.match(res.stdout, /ClusterRegistryCredential\/cg-a: synced 1\/1 namespaces/);
    const seen = cg.requests.slice(before);
    assert.equal(seen.length, 1, 'one exchange');
    assert.deepEqual(seen[0], { identity: IDENTITY, aud: 'cgr.dev', subject: PULLER, tokenAud: [cg.url], status: 200 });
    const token = await assertChainguardSecret('cg-a', 'pull-cg-a');
    assert.equal(token, cg.issued.at(-1));
  });

  test('no serviceAccount: regcred’s own ("regcred" in the controller’s namespace)', async () => {
    const file = writeConfig(credential('cg-own', '', 'cg-own'));
    const res = await run(['sync', '-f', file]);
    printed.push(res.stdout, res.stderr);
    assert.equal(res.code, 0, `${res.stdout}\n${res.stderr}`);
    assert.equal(cg.requests.at(-1)?.subject, OWN);
    await assertChainguardSecret('cg-own', 'pull-cg-own');
  });

  test('a service account the identity does not trust: exit 1, one line with the status and the hint (not the STS’s own text), nothing written', async () => {
    const file = writeConfig(credential('cg-bad', 'serviceAccount: {name: not-trusted}', 'cg-bad'));
    const res = await run(['sync', '-f', file]);
    printed.push(res.stdout, res.stderr);
    assert.equal(res.code, 1, `${res.stdout}\n${res.stderr}`);
    const lines = res.stderr.split('\n').filter((l) => l.includes('ClusterRegistryCredential/cg-bad'));
    assert.equal(lines.length, 1, res.stderr);
    console.log(`# ${lines[0]}`);
    assert.match(
      lines[0]!,
      /chainguard STS exchange for identity 720909c9f5279097d847ad02a2f24ba8f59de36a\/b6461e99e132298f \(http:\/\/127\.0\.0\.1:\d+\): HTTP 403 \(does the identity trust this service account’s issuer and subject, with the registry\.pull role\?\)$/,
    );
    assert.doesNotMatch(res.stdout + res.stderr, /may not assume identity/, 'the STS’s own words are not printed');
    assert.doesNotMatch(res.stderr, /\n\s+at /, 'no stack trace');
    assert.equal(await secretOrUndefined(core, 'cg-bad', 'pull-cg-bad'), undefined, 'nothing written');
  });

  test('a token with another audience is refused by the STS (its aud is checked): exit 1, HTTP 401', async () => {
    const file = writeConfig(credential('cg-aud', 'serviceAccount: {name: cg-puller}, audience: "https://issuer.enforce.dev"', 'cg-aud'));
    const res = await run(['sync', '-f', file]);
    printed.push(res.stdout, res.stderr);
    assert.equal(res.code, 1, `${res.stdout}\n${res.stderr}`);
    assert.match(res.stderr, /ClusterRegistryCredential\/cg-aud: .*chainguard STS exchange .*: HTTP 401 \(does the identity trust this service account’s issuer and subject/);
    assert.equal(cg.requests.at(-1)?.status, 401, 'the STS refused the token');
    const sent = JSON.parse(Buffer.from(cg.bearers.at(-1)!.split('.')[1]!, 'base64url').toString('utf8')) as { aud: unknown };
    assert.deepEqual(sent.aud, ['https://issuer.enforce.dev'], 'the token sent had the other audience');
    assert.doesNotMatch(res.stdout + res.stderr, /unable to verify bearer token/, 'the STS’s own words are not printed');
    assert.equal(await secretOrUndefined(core, 'cg-aud', 'pull-cg-aud'), undefined);
  });

  test('the STS answering 503: exit 1 with the status, nothing written', async () => {
    cg.failNext(503, { code: 14, message: 'upstream connect error', details: [] });
    const file = writeConfig(credential('cg-503', 'serviceAccount: {name: cg-puller}', 'cg-503'));
    const res = await run(['sync', '-f', file]);
    printed.push(res.stdout, res.stderr);
    assert.equal(res.code, 1, `${res.stdout}\n${res.stderr}`);
    assert.match(res.stderr, /ClusterRegistryCredential\/cg-503: .*chainguard STS exchange .*: HTTP 503$/m);
    assert.doesNotMatch(res.stdout + res.stderr, /upstream connect error/, 'the STS’s own words are not printed');
    assert.equal(await secretOrUndefined(core, 'cg-503', 'pull-cg-503'), undefined);
  });

  test('regcred get -o dockerconfigjson prints the login', async () => {
    const file = writeConfig(credential('cg-get', 'serviceAccount: {name: cg-puller}', 'cg-a'));
    const res = await run(['get', '-f', file, '-o', 'dockerconfigjson']);
    printed.push(res.stderr); // stdout is the credential itself, by design
    assert.equal(res.code, 0, res.stderr);
    const token = cg.issued.at(-1)!;
    assert.deepEqual(JSON.parse(res.stdout), { auths: { 'cgr.dev': { username: '_token', password: token, auth: Buffer.from(`_token:${token}`).toString('base64') } } });
  });

  test('a RegistryCredential naming a service account of another namespace: CrossNamespaceRef, exit 2, no exchange', async () => {
    const file = writeConfig(`apiVersion: regcred.dev/v1alpha1
kind: RegistryCredential
metadata: {name: sneaky, namespace: cg-tenant}
spec:
  provider:
    chainguard: {identity: "${IDENTITY}", issuer: "${cg.url}", serviceAccount: {namespace: regcred-system, name: cg-puller}}
  target: {secretName: stolen, serviceAccounts: []}
`);
    const before = cg.requests.length;
    const res = await run(['sync', '-f', file]);
    printed.push(res.stdout, res.stderr);
    assert.equal(res.code, 2, `${res.stdout}\n${res.stderr}`);
    assert.match(res.stderr, /RegistryCredential\/cg-tenant\/sneaky: .*service account regcred-system\/cg-puller is not allowed for a token/);
    assert.equal(cg.requests.length, before, 'no exchange');
    assert.equal(await secretOrUndefined(core, 'cg-tenant', 'stolen'), undefined);
  });

  test('validate refuses a malformed identity (exit 2, the field named)', async () => {
    const file = writeConfig(credential('cg-val', '', 'cg-a').replace(IDENTITY, 'kind-pull-secrets'));
    const res = await runCli(['validate', '-f', file]);
    printed.push(res.stdout, res.stderr);
    assert.equal(res.code, 2, `${res.stdout}\n${res.stderr}`);
    assert.match(res.stdout + res.stderr, /chainguard\.identity/);
  });

  test('the API server refuses a malformed identity or registry (CRD schema; unknown fields are pruned, as for every CRD)', async () => {
    const custom = cp.kubeConfig.makeApiClient(CustomObjectsApi);
    for (const [name, chainguard] of [
      ['cg-crd-id', { identity: 'kind-pull-secrets' }],
      ['cg-crd-reg', { identity: IDENTITY, registry: 'https://cgr.dev' }],
    ] as const) {
      await assertCrdRefuses(custom, name, { chainguard });
    }
  });

  test('no service-account token or registry token appears in any output', () => {
    const all = printed.join('\n');
    assert.ok(all.length > 0);
    assert.ok(cg.bearers.length > 0 && cg.issued.length > 0);
    const tokens = [...cg.bearers, ...cg.issued];
    assertNoSecret(all, [...tokens, ...tokens.map((t) => t.split('.')[2]!)], 'CLI output');
  });
});

describe('the controller with the chainguard provider', () => {
  let ctl: TestController;
  const patchProvider = (value: Record<string, unknown>) => patchClusterProvider(cp.kubeConfig.makeApiClient(CustomObjectsApi), 'cg-ctl', 'chainguard', value);

  before(async () => {
    for (const [name, labels] of [['cg-ctl-1', { cgr: 'yes' }], ['cg-ctl-2', { cgr: 'yes' }], ['cg-ctl-no', {}]] as const) {
      await core.createNamespace({ body: { metadata: { name, labels } } });
    }
    ctl = await startTestController(cp, { retryBaseMs: 300, retryMaxMs: 4000 });
  });

  after(async () => {
    await ctl?.stop();
    cg.clearFailures();
  });

  test('fills the selected namespaces, Ready=True; a 503 is retried with backoff, a refusal is not; the STS’s text only in the log; no token in the logs', async () => {
    const spec = { identity: IDENTITY, issuer: cg.url, serviceAccount: { name: 'cg-puller' } };
    await ctl.createClusterCredential('cg-ctl', {
      provider: { chainguard: spec },
      target: { secretName: 'cgr-pull', namespaces: { selector: { matchLabels: { cgr: 'yes' } } }, serviceAccounts: [] },
    });
    const status = await ctl.waitForStatus('cg-ctl', (s) => readyOf(s)?.status === 'True');
    assert.equal(readyOf(status)?.reason, 'Synced');
    assert.equal(status.targets?.synced, 2);
    const kept: string[] = [];
    for (const ns of ['cg-ctl-1', 'cg-ctl-2']) {
      await assertChainguardSecret(ns, 'cgr-pull');
      kept.push((await secretOrUndefined(core, ns, 'cgr-pull'))!.data!['.dockerconfigjson']!);
    }
    assert.equal(await secretOrUndefined(core, 'cg-ctl-no', 'cgr-pull'), undefined, 'an unselected namespace gets nothing');
    assert.equal(status.expiresAt, new Date(jwtExp(cg.issued.at(-1)!) * 1000).toISOString());

    // The STS answers 503: retryable, so the controller backs off exponentially (300 ms base).
    cg.failNext(503, { code: 14, message: 'upstream connect error', details: [] }, 1000);
    const errorsBefore = await ctl.refreshes('cg-ctl', 'error');
    await patchProvider({ ...spec, audience: cg.url }); // a spec change re-mints at once (same behaviour)
    const t0 = Date.now();
    const d = await ctl.waitForStatus('cg-ctl', (s) => degradedOf(s)?.status === 'True');
    assert.equal(degradedOf(d)?.reason, 'ProviderError');
    assert.match(degradedOf(d)!.message, /^chainguard STS exchange .*: HTTP 503; the previous credential is still in place$/);
    await assertRemoteTextInLogOnly(cp.kubeConfig, ctl.logLines, 'cg-ctl', d, /upstream connect error/);
    await assertRetriedWithBackoff(ctl, 'cg-ctl', errorsBefore, t0, { logged: 'HTTP 503' });
    for (const [i, ns] of ['cg-ctl-1', 'cg-ctl-2'].entries()) {
      assert.equal((await secretOrUndefined(core, ns, 'cgr-pull'))?.data?.['.dockerconfigjson'], kept[i], 'the last good Secret is kept');
    }

    // The STS recovers: the next retry succeeds.
    cg.clearFailures();
    await ctl.waitForStatus('cg-ctl', (s) => degradedOf(s)?.status !== 'True' && readyOf(s)?.status === 'True');

    // A service account the identity does not trust: permanent, straight to the longest delay.
    const permanentBefore = await ctl.refreshes('cg-ctl', 'error');
    await patchProvider({ ...spec, serviceAccount: { name: 'not-trusted' } });
    const p = await ctl.waitForStatus('cg-ctl', (s) => degradedOf(s)?.status === 'True');
    assert.match(degradedOf(p)!.message, /^chainguard STS exchange .*: HTTP 403 \(does the identity trust this service account’s issuer and subject, with the registry\.pull role\?\); the previous credential is still in place$/);
    await assertRemoteTextInLogOnly(cp.kubeConfig, ctl.logLines, 'cg-ctl', p, /subject system:serviceaccount:regcred-system:not-trusted may not assume identity/);
    await assertNotRetried(ctl, 'cg-ctl', permanentBefore);

    const logs = ctl.logLines.join('');
    assertNoSecret(logs, [...cg.bearers, ...cg.issued], 'the controller logs');
  });
});
