// The `chainguard` provider end to end: the built CLI and the controller against a real
// kube-apiserver + controller-manager and the Chainguard STS double (test/harness/doubles/chainguard.ts),
// which verifies the service-account token the API server minted against the API server's own JWKS,
// its issuer, its audience (the issuer URL) and that its subject may assume the identity.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CoreV1Api, CustomObjectsApi, type V1Secret } from '@kubernetes/client-node';
import { start, type ControlPlane } from '../harness/controlplane.js';
import { runCli, writeConfig, type CliResult } from '../harness/cli.js';
import { type Auths, authsOf } from '../harness/provider-tests.js';
import { secretOrUndefined } from '../harness/kube.js';
import { installCrds } from '../harness/crds.js';
import { apiServerJwks } from '../harness/doubles/sa-token.js';
import { startChainguardDouble, type ChainguardDouble } from '../harness/doubles/chainguard.js';
import { readyOf, startTestController, type CredentialStatus, type TestController } from '../harness/test-controller.js';

let cp: ControlPlane;
let cg: ChainguardDouble;
let core: CoreV1Api;

const IDENTITY = '720909c9f5279097d847ad02a2f24ba8f59de36a/b6461e99e132298f';
const OTHER_IDENTITY = '720909c9f5279097d847ad02a2f24ba8f59de36a/0000000000000001';
const PULLER = 'system:serviceaccount:regcred-system:cg-puller';
const OWN = 'system:serviceaccount:regcred-system:regcred';

/** Output of every run whose output must hold no secret (all but `get -o dockerconfigjson`'s stdout). */
const printed: string[] = [];

function kube(): string[] {
  return ['--kubeconfig', cp.kubeconfigPath];
}

async function run(args: string[]): Promise<CliResult> {
  const res = await runCli([...args, ...kube()]);
  return res;
}

function credential(name: string, fields: string, namespace: string): string {
  return `apiVersion: regcred.dev/v1alpha1
kind: ClusterRegistryCredential
metadata: {name: ${name}}
spec:
  provider:
    chainguard: {identity: "${IDENTITY}", issuer: "${cg.url}"${fields ? `, ${fields}` : ''}}
  target:
    secretName: pull-${name}
    namespaces: {names: [${namespace}]}
    serviceAccounts: []
`;
}


function expOf(jwt: string): number {
  return (JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString('utf8')) as { exp: number }).exp;
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
  assert.equal(secret?.metadata?.annotations?.['regcred.dev/expires-at'], new Date(expOf(entry.password) * 1000).toISOString(), 'expiry = the JWT exp');
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

  test('a service account the identity does not trust: exit 1, one line with Chainguard’s reason, nothing written', async () => {
    const file = writeConfig(credential('cg-bad', 'serviceAccount: {name: not-trusted}', 'cg-bad'));
    const res = await run(['sync', '-f', file]);
    printed.push(res.stdout, res.stderr);
    assert.equal(res.code, 1, `${res.stdout}\n${res.stderr}`);
    const lines = res.stderr.split('\n').filter((l) => l.includes('ClusterRegistryCredential/cg-bad'));
    assert.equal(lines.length, 1, res.stderr);
    console.log(`# ${lines[0]}`);
    assert.match(
      lines[0]!,
      /chainguard STS exchange for identity 720909c9f5279097d847ad02a2f24ba8f59de36a\/b6461e99e132298f \(http:\/\/127\.0\.0\.1:\d+\): HTTP 403 subject system:serviceaccount:regcred-system:not-trusted may not assume identity .* \(does the identity trust this service account’s issuer and subject/,
    );
    assert.doesNotMatch(res.stderr, /\n\s+at /, 'no stack trace');
    assert.equal(await secretOrUndefined(core, 'cg-bad', 'pull-cg-bad'), undefined, 'nothing written');
  });

  test('a token with another audience is refused by the STS (its aud is checked): exit 1', async () => {
    const file = writeConfig(credential('cg-aud', 'serviceAccount: {name: cg-puller}, audience: "https://issuer.enforce.dev"', 'cg-aud'));
    const res = await run(['sync', '-f', file]);
    printed.push(res.stdout, res.stderr);
    assert.equal(res.code, 1, `${res.stdout}\n${res.stderr}`);
    assert.match(res.stderr, /ClusterRegistryCredential\/cg-aud: .*HTTP 401 unable to verify bearer token: audience \["https:\/\/issuer\.enforce\.dev"\] does not include http:\/\/127\.0\.0\.1:\d+/);
    assert.equal(await secretOrUndefined(core, 'cg-aud', 'pull-cg-aud'), undefined);
  });

  test('the STS answering 503: exit 1 with the status, nothing written', async () => {
    cg.failNext(503, { code: 14, message: 'upstream connect error', details: [] });
    const file = writeConfig(credential('cg-503', 'serviceAccount: {name: cg-puller}', 'cg-503'));
    const res = await run(['sync', '-f', file]);
    printed.push(res.stdout, res.stderr);
    assert.equal(res.code, 1, `${res.stdout}\n${res.stderr}`);
    assert.match(res.stderr, /ClusterRegistryCredential\/cg-503: .*chainguard STS exchange .*: HTTP 503 upstream connect error$/m);
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
      await assert.rejects(
        custom.createClusterCustomObject({
          group: 'regcred.dev',
          version: 'v1alpha1',
          plural: 'clusterregistrycredentials',
          body: { apiVersion: 'regcred.dev/v1alpha1', kind: 'ClusterRegistryCredential', metadata: { name }, spec: { provider: { chainguard }, target: { secretName: 'x', namespaces: { all: true } } } },
        }),
        (err: unknown) => {
          assert.equal((err as { code?: number }).code, 422, String(err));
          return true;
        },
        name,
      );
    }
  });

  test('no service-account token or registry token appears in any output', () => {
    const all = printed.join('\n');
    assert.ok(all.length > 0);
    assert.ok(cg.bearers.length > 0 && cg.issued.length > 0);
    for (const value of [...cg.bearers, ...cg.issued]) {
      assert.ok(!all.includes(value), 'a token appeared in CLI output');
      assert.ok(!all.includes(value.split('.')[2]!), 'a token signature appeared in CLI output');
    }
  });
});

describe('the controller with the chainguard provider', () => {
  let ctl: TestController;
  const custom = () => cp.kubeConfig.makeApiClient(CustomObjectsApi);
  const degraded = (s: CredentialStatus) => s.conditions?.find((c) => c.type === 'Degraded');
  const patchProvider = (chainguard: Record<string, unknown>) =>
    custom().patchClusterCustomObject({
      group: 'regcred.dev',
      version: 'v1alpha1',
      plural: 'clusterregistrycredentials',
      name: 'cg-ctl',
      body: [{ op: 'replace', path: '/spec/provider/chainguard', value: chainguard }],
    });

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

  test('fills the selected namespaces, Ready=True; a 503 is retried with backoff, a refusal is not; no token in the logs', async () => {
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
    assert.equal(status.expiresAt, new Date(expOf(cg.issued.at(-1)!) * 1000).toISOString());

    // The STS answers 503: retryable, so the controller backs off exponentially (300 ms base).
    cg.failNext(503, { code: 14, message: 'upstream connect error', details: [] }, 1000);
    const errorsBefore = await ctl.refreshes('cg-ctl', 'error');
    await patchProvider({ ...spec, audience: cg.url }); // a spec change re-mints at once (same behaviour)
    const t0 = Date.now();
    const d = await ctl.waitForStatus('cg-ctl', (s) => degraded(s)?.status === 'True');
    assert.equal(degraded(d)?.reason, 'ProviderError');
    assert.match(degraded(d)!.message, /^chainguard STS exchange .*: HTTP 503 upstream connect error; the previous credential is still in place$/);
    await new Promise((r) => setTimeout(r, Math.max(0, 3500 - (Date.now() - t0))));
    const retried = (await ctl.refreshes('cg-ctl', 'error')) - errorsBefore;
    console.log(`# ${retried} failed refreshes in ${Date.now() - t0} ms of 503s (retry base 300 ms, max 4 s)`);
    assert.ok(retried >= 3 && retried <= 7, `retried with backoff, not once and not in a tight loop: ${retried}`);
    assert.ok(ctl.logLines.some((l) => l.includes('"permanent":false') && l.includes('HTTP 503')), 'logged as retryable');
    for (const [i, ns] of ['cg-ctl-1', 'cg-ctl-2'].entries()) {
      assert.equal((await secretOrUndefined(core, ns, 'cgr-pull'))?.data?.['.dockerconfigjson'], kept[i], 'the last good Secret is kept');
    }

    // The STS recovers: the next retry succeeds.
    cg.clearFailures();
    await ctl.waitForStatus('cg-ctl', (s) => degraded(s)?.status !== 'True' && readyOf(s)?.status === 'True');

    // A service account the identity does not trust: permanent, straight to the longest delay.
    const permanentBefore = await ctl.refreshes('cg-ctl', 'error');
    await patchProvider({ ...spec, serviceAccount: { name: 'not-trusted' } });
    const p = await ctl.waitForStatus('cg-ctl', (s) => degraded(s)?.status === 'True');
    assert.match(degraded(p)!.message, /HTTP 403 subject system:serviceaccount:regcred-system:not-trusted may not assume identity/);
    await new Promise((r) => setTimeout(r, 3000));
    assert.equal((await ctl.refreshes('cg-ctl', 'error')) - permanentBefore, 1, 'one attempt, then the longest delay (4 s)');
    assert.ok(ctl.logLines.some((l) => l.includes('"permanent":true') && l.includes('"retryInMs":4000')));

    const logs = ctl.logLines.join('');
    for (const value of [...cg.bearers, ...cg.issued]) assert.ok(!logs.includes(value), 'a token appeared in the controller logs');
  });
});
