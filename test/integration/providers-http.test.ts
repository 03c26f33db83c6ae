// The `http` provider end to end: the built CLI (`regcred sync` / `get` / `validate`) and the
// controller against a real kube-apiserver and the token broker double of
// test/harness/doubles/http-broker.ts. The CLI talks HTTPS to the broker (its self-signed
// certificate trusted through NODE_EXTRA_CA_CERTS, as a company CA would be); the broker checks the
// API key taken from a Secret and the service-account token the real API server minted (against the
// API server's JWKS). The in-process controller uses a plain-http broker (`allowInsecure: true`).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { CoreV1Api, CustomObjectsApi, type V1Secret } from '@kubernetes/client-node';
import { start, type ControlPlane } from '../harness/controlplane.js';
import { runCli, writeConfig, type CliResult } from '../harness/cli.js';
import { type Auths, assertCrdRefuses, assertNothingSecret as assertNothingSecretIn, assertRemoteTextInLogOnly, authsOf, degradedOf, forceRefresh } from '../harness/provider-tests.js';
import { secretOrUndefined } from '../harness/kube.js';
import { installCrds } from '../harness/crds.js';
import { readyOf, startTestController, type TestController } from '../harness/test-controller.js';
import { apiServerJwks, type Jwks } from '../harness/doubles/sa-token.js';
import { startHttpBroker, type HttpBroker } from '../harness/doubles/http-broker.js';

let cp: ControlPlane;
let core: CoreV1Api;
let jwks: Jwks;
/** HTTPS, API key + service-account token, POST with a JSON body. */
let broker: HttpBroker;
/** Plain HTTP, API key only, for the failure modes. */
let plain: HttpBroker;

const API_KEY = `ak_${randomBytes(20).toString('hex')}`;
const AUDIENCE = 'https://broker.internal.example.com';
const REGISTRY = 'harbor.example.com';
const printed: string[] = [];

function kube(): string[] {
  return ['--kubeconfig', cp.kubeconfigPath];
}

function run(args: string[]): Promise<CliResult> {
  return runCli(args, { env: { NODE_EXTRA_CA_CERTS: broker.caPath! } });
}

function credential(name: string, http: Record<string, unknown>, namespaces: string[]): string {
  return `apiVersion: regcred.dev/v1alpha1
kind: ClusterRegistryCredential
metadata: {name: ${name}}
spec:
  provider:
    http: ${JSON.stringify(http)}
  target:
    secretName: pull-${name}
    namespaces: {names: [${namespaces.join(', ')}]}
    serviceAccounts: []
`;
}

/** The full-featured spec against the HTTPS broker; `response` and extras override. */
function brokerSpec(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    url: broker.url,
    method: 'POST',
    headers: [
      { name: 'X-Api-Key', valueFrom: { secretKeyRef: { name: 'broker-auth', key: 'api-key' } } },
      { name: 'X-Robot', value: 'puller' },
    ],
    body: '{"robot": "puller", "scope": "pull"}',
    serviceAccountToken: { serviceAccount: { name: 'broker-client' }, audience: AUDIENCE },
    registry: REGISTRY,
    response: { username: '$.data.username', password: '$.data.password', expiresAt: '$.data.expires_at' },
    ...extra,
  };
}


function entry(username: string, password: string): Auths {
  return { [REGISTRY]: { username, password, auth: Buffer.from(`${username}:${password}`).toString('base64') } };
}

/** Every value that must never be printed: the API key, the minted tokens, the issued passwords. */
function secretValues(): string[] {
  const tokens = [broker, plain].flatMap((b) => b.requests.map((r) => String(r.headers['authorization'] ?? '').replace(/^Bearer /, ''))).filter((t) => t.length > 20);
  const passwords = [broker, plain].flatMap((b) => [...b.issued.map((c) => c.password), b.credential.password]);
  return [API_KEY, ...tokens, ...passwords];
}

function assertNothingSecret(text: string, where: string): void {
  assertNothingSecretIn(text, secretValues(), where);
}

before(async () => {
  cp = await start();
  core = cp.kubeConfig.makeApiClient(CoreV1Api);
  jwks = await apiServerJwks(cp);
  broker = await startHttpBroker({
    tls: true,
    method: 'POST',
    requiredHeaders: { 'X-Api-Key': API_KEY, 'X-Robot': 'puller' },
    serviceAccountToken: { jwks, issuer: cp.issuer, audience: AUDIENCE, subjects: ['system:serviceaccount:regcred-system:broker-client'] },
    checkBody: (body) => {
      try {
        const doc = JSON.parse(body) as { robot?: unknown };
        return doc.robot === 'puller' ? undefined : 'robot must be "puller"';
      } catch {
        return 'the body is not JSON';
      }
    },
    rotate: true,
  });
  plain = await startHttpBroker({ requiredHeaders: { 'X-Api-Key': API_KEY } });
  for (const ns of ['regcred-system', 'http-a', 'http-b', 'http-other', 'http-bad']) await core.createNamespace({ body: { metadata: { name: ns } } });
  await core.createNamespacedServiceAccount({ namespace: 'regcred-system', body: { metadata: { name: 'broker-client' } } });
  await core.createNamespacedSecret({ namespace: 'regcred-system', body: { metadata: { name: 'broker-auth' }, stringData: { 'api-key': `${API_KEY}\n` } } });
  await core.createNamespacedSecret({ namespace: 'regcred-system', body: { metadata: { name: 'broker-wrong' }, stringData: { 'api-key': `ak_${randomBytes(20).toString('hex')}` } } });
});

after(async () => {
  await Promise.all([cp?.stop(), broker?.stop(), plain?.stop()]);
});

describe('regcred sync with the http provider (broker double over HTTPS + real API server)', () => {
  test('POST with an API key from a Secret and a service-account token: the Secret in the selected namespaces only', async () => {
    const file = writeConfig(credential('http-full', brokerSpec(), ['http-a', 'http-b']));
    const res = await run(['sync', '-f', file, ...kube()]);
    printed.push(res.stdout, res.stderr);
    assert.equal(res.code, 0, `${res.stdout}\n${res.stderr}`);
    assert.match(res.stdout, /ClusterRegistryCredential\/http-full: synced 2\/2 namespaces/);
    const req = broker.requests.at(-1)!;
    assert.equal(req.rejected, undefined, req.rejected);
    assert.equal(req.method, 'POST');
    assert.equal(req.headers['x-api-key'], API_KEY, 'the Secret value, trimmed');
    assert.equal(req.headers['content-type'], 'application/json');
    assert.equal(req.tokenClaims?.['sub'], 'system:serviceaccount:regcred-system:broker-client', 'a token the API server minted');
    assert.deepEqual(req.tokenClaims?.['aud'], [AUDIENCE]);
    const issued = broker.issued.at(-1)!;
    for (const ns of ['http-a', 'http-b']) {
      const secret = await secretOrUndefined(core, ns, 'pull-http-full');
      assert.deepEqual(authsOf(secret), entry(issued.username, issued.password));
      assert.equal(Date.parse(secret!.metadata!.annotations!['regcred.dev/expires-at']!), issued.expiresAt!.getTime(), 'expiry from $.data.expires_at');
    }
    assert.equal(await secretOrUndefined(core, 'http-other', 'pull-http-full'), undefined, 'no Secret where not selected');
  });

  test('expiry as epoch seconds, as expires_in, or absent (no expiry annotation); a fixed username', async () => {
    const epoch = writeConfig(credential('http-epoch', brokerSpec({ response: { username: '$.data.username', password: '$.data.password', expiresAt: '$.data.expires_at_epoch' } }), ['http-a']));
    let res = await run(['sync', '-f', epoch, ...kube()]);
    printed.push(res.stdout, res.stderr);
    assert.equal(res.code, 0, res.stderr);
    let secret = await secretOrUndefined(core, 'http-a', 'pull-http-epoch');
    assert.equal(Date.parse(secret!.metadata!.annotations!['regcred.dev/expires-at']!), Math.floor(broker.issued.at(-1)!.expiresAt!.getTime() / 1000) * 1000);

    const t0 = Date.now();
    const expiresIn = writeConfig(credential('http-in', brokerSpec({ response: { username: '$.data.username', password: '$.data.password', expiresIn: '$.data.expires_in' } }), ['http-a']));
    res = await run(['sync', '-f', expiresIn, ...kube()]);
    printed.push(res.stdout, res.stderr);
    assert.equal(res.code, 0, res.stderr);
    secret = await secretOrUndefined(core, 'http-a', 'pull-http-in');
    const at = Date.parse(secret!.metadata!.annotations!['regcred.dev/expires-at']!);
    assert.ok(Math.abs(at - broker.issued.at(-1)!.expiresAt!.getTime()) < 5000 && at > t0, 'now + expires_in');

    const none = writeConfig(credential('http-none', brokerSpec({ username: 'robot$fixed', response: { password: '$.data.password' } }), ['http-a']));
    res = await run(['sync', '-f', none, ...kube()]);
    printed.push(res.stdout, res.stderr);
    assert.equal(res.code, 0, res.stderr);
    secret = await secretOrUndefined(core, 'http-a', 'pull-http-none');
    assert.deepEqual(authsOf(secret), entry('robot$fixed', broker.issued.at(-1)!.password));
    assert.equal(secret!.metadata?.annotations?.['regcred.dev/expires-at'], undefined, 'no expiry: refreshed every refresh.interval');
  });

  test('regcred get -o dockerconfigjson prints the credential', async () => {
    const file = writeConfig(credential('http-get', brokerSpec(), ['http-a']));
    const res = await run(['get', '-f', file, '-o', 'dockerconfigjson', ...kube()]);
    printed.push(res.stderr); // stdout is the credential, by design
    assert.equal(res.code, 0, res.stderr);
    const issued = broker.issued.at(-1)!;
    assert.deepEqual((JSON.parse(res.stdout) as { auths: Auths }).auths, entry(issued.username, issued.password));
  });

  test('a wrong API key: the broker’s 401 → exit 1, one clear line, nothing written', async () => {
    const spec = brokerSpec({ headers: [{ name: 'X-Api-Key', valueFrom: { secretKeyRef: { name: 'broker-wrong', key: 'api-key' } } }, { name: 'X-Robot', value: 'puller' }] });
    const file = writeConfig(credential('http-bad', spec, ['http-bad']));
    const res = await run(['sync', '-f', file, ...kube()]);
    printed.push(res.stdout, res.stderr);
    assert.equal(res.code, 1, `${res.stdout}\n${res.stderr}`);
    const lines = res.stderr.split('\n').filter((l) => l.includes('ClusterRegistryCredential/http-bad'));
    assert.equal(lines.length, 1, res.stderr);
    console.log(`# ${lines[0]}`);
    assert.match(lines[0]!, /^ClusterRegistryCredential\/http-bad: ProviderError: http POST https:\/\/127\.0\.0\.1:\d+\/token: HTTP 401 unauthorized \(bad credentials\)$/);
    assert.doesNotMatch(res.stderr, /\n\s+at /, 'no stack trace');
    assert.equal(await secretOrUndefined(core, 'http-bad', 'pull-http-bad'), undefined);
  });

  test('a missing Secret key: exit 2, naming the key, never a value', async () => {
    const spec = brokerSpec({ headers: [{ name: 'X-Api-Key', valueFrom: { secretKeyRef: { name: 'broker-auth', key: 'apikey' } } }, { name: 'X-Robot', value: 'puller' }] });
    const res = await run(['sync', '-f', writeConfig(credential('http-nokey', spec, ['http-bad'])), ...kube()]);
    printed.push(res.stdout, res.stderr);
    assert.equal(res.code, 2, `${res.stdout}\n${res.stderr}`);
    assert.match(res.stderr, /ClusterRegistryCredential\/http-nokey: spec\.provider\.http: Secret regcred-system\/broker-auth lacks key "apikey" \(for header X-Api-Key\)/);
  });

  test('the broker failing: 503 (retryable), not JSON, over 1 MiB (stopped while streaming), silent past the timeout', async () => {
    const spec = (extra: Record<string, unknown> = {}) => ({
      url: plain.url,
      allowInsecure: true,
      headers: [{ name: 'X-Api-Key', valueFrom: { secretKeyRef: { name: 'broker-auth', key: 'api-key' } } }],
      registry: REGISTRY,
      response: { username: '$.data.username', password: '$.data.password' },
      ...extra,
    });
    const cases: Array<[Parameters<HttpBroker['fail']>[0], Record<string, unknown>, RegExp]> = [
      [503, {}, /: http GET http:\/\/127\.0\.0\.1:\d+\/token: HTTP 503 server_error$/],
      ['not-json', {}, /: the response is not JSON \(HTTP 200, \d+ bytes\)$/],
      ['oversized', {}, /: the response is larger than 1 MiB$/],
      ['hang', { timeout: '1s' }, /: timed out after 1 s$/],
    ];
    for (const [mode, extra, message] of cases) {
      plain.fail(mode);
      const started = Date.now();
      const res = await run(['sync', '-f', writeConfig(credential('http-fail', spec(extra), ['http-bad'])), ...kube()]);
      printed.push(res.stdout, res.stderr);
      assert.equal(res.code, 1, `${String(mode)}: ${res.stdout}\n${res.stderr}`);
      const line = res.stderr.split('\n').find((l) => l.includes('ClusterRegistryCredential/http-fail'));
      console.log(`# ${String(mode)}: ${line ?? ''} (${Date.now() - started} ms)`);
      assert.match(line ?? '', message);
    }
    plain.fail(null);
    console.log(`# the oversized answer: ${plain.oversizedBytesSent} bytes written before regcred hung up (of up to 64 MiB)`);
    assert.ok(plain.oversizedBytesSent < 32 * 1024 * 1024, `the client stopped reading early (${plain.oversizedBytesSent} bytes sent of 64 MiB)`);
  });

  test('validate: an http:// URL without allowInsecure, GET with a body, two username sources → exit 2 with paths', async () => {
    const base = { url: 'http://broker.example.com/token', registry: REGISTRY, username: 'u', body: '{}', response: { username: '$.u', password: '$.p' } };
    const res = await run(['validate', '-f', writeConfig(credential('http-invalid', base, ['http-a']))]);
    printed.push(res.stdout, res.stderr);
    assert.equal(res.code, 2, `${res.stdout}\n${res.stderr}`);
    assert.match(res.stderr, /spec\.provider\.http\.url: must be an https:\/\/ URL \(set allowInsecure: true to allow http:\/\/\)/);
    assert.match(res.stderr, /spec\.provider\.http\.method: must be POST when body or bodyFrom is set/);
    assert.match(res.stderr, /needs exactly one of username \(a fixed name\) and response\.username \(a path\)/);
  });

  test('no API key, service-account token or password appears in any output', () => {
    assertNothingSecret(printed.join('\n'), 'CLI output');
  });
});

describe('the controller with the http provider (plain-http broker + real API server)', () => {
  let ctl: TestController;

  before(async () => {
    await installCrds(cp.kubeConfig);
    for (const [name, labels] of [['ctl-http-1', { broker: 'yes' }], ['ctl-http-2', { broker: 'yes' }], ['ctl-http-no', {}]] as const) {
      await core.createNamespace({ body: { metadata: { name, labels } } });
    }
    plain.fail(null);
    ctl = await startTestController(cp, { retryBaseMs: 300, retryMaxMs: 2000 });
  });

  after(async () => {
    await ctl?.stop();
    plain.fail(null);
  });

  test('the CRD’s CEL rules refuse what zod refuses (https, body without POST, username sources, duplicate headers, timeout)', async () => {
    const custom = cp.kubeConfig.makeApiClient(CustomObjectsApi);
    const base = { url: 'https://broker.example.com/token', registry: REGISTRY, username: 'u', response: { password: '$.token' } };
    const refused = (name: string, http: Record<string, unknown>, message: RegExp) => assertCrdRefuses(custom, name, { http }, message);
    await refused('http-cel-1', { ...base, url: 'http://broker.example.com/token' }, /url must be an https:\/\/ URL/);
    await refused('http-cel-2', { ...base, url: 'https://robot:pw@broker.example.com/token' }, /url must not contain a user or password/);
    await refused('http-cel-3', { ...base, body: '{}' }, /method must be POST when body or bodyFrom is set/);
    await refused('http-cel-4', { ...base, username: undefined }, /needs exactly one of username/);
    await refused('http-cel-5', { ...base, headers: [{ name: 'X-A', value: '1' }, { name: 'x-a', value: '2' }] }, /header names must be distinct/);
    await refused('http-cel-6', { ...base, headers: [{ name: 'Authorization', value: '1' }], serviceAccountToken: { serviceAccount: { name: 's' }, audience: 'a' } }, /header names must be distinct/);
    await refused('http-cel-7', { ...base, response: { password: '$.p', expiresAt: '$.a', expiresIn: '$.b' } }, /at most one of expiresAt, expiresIn/);
    await refused('http-cel-8', { ...base, timeout: '10m' }, /timeout must be more than 0s and at most 5m/);
    await refused('http-cel-9', { ...base, response: { password: '$..token' } }, /response\.password/);
  });

  test('Ready with the broker’s credential in the selected namespaces; a 503 is retried with backoff, the Secrets kept; then it recovers', async () => {
    plain.setCredential('robot$ctl', `brk_${randomBytes(24).toString('base64url')}`, new Date(Date.now() + 3600_000));
    await ctl.createClusterCredential('ctl-http', {
      provider: {
        http: {
          url: plain.url,
          allowInsecure: true,
          headers: [{ name: 'X-Api-Key', valueFrom: { secretKeyRef: { name: 'broker-auth', key: 'api-key' } } }],
          registry: REGISTRY,
          response: { username: '$.data.username', password: '$.data.password', expiresAt: '$.data.expires_at' },
        },
      },
      target: { secretName: 'broker-pull', namespaces: { selector: { matchLabels: { broker: 'yes' } } }, serviceAccounts: [] },
    });
    const status = await ctl.waitForStatus('ctl-http', (s) => readyOf(s)?.status === 'True');
    assert.equal(readyOf(status)?.reason, 'Synced');
    assert.equal(status.targets?.synced, 2);
    assert.ok(Math.abs(Date.parse(status.expiresAt ?? '') - plain.credential.expiresAt!.getTime()) < 1000, `status.expiresAt ${status.expiresAt}`);
    const kept: string[] = [];
    for (const ns of ['ctl-http-1', 'ctl-http-2']) {
      const secret = await secretOrUndefined(core, ns, 'broker-pull');
      assert.deepEqual(authsOf(secret), entry('robot$ctl', plain.credential.password));
      kept.push(secret!.data!['.dockerconfigjson']!);
    }
    assert.equal(await secretOrUndefined(core, 'ctl-http-no', 'broker-pull'), undefined);

    // The broker goes down: force a refresh with a spec change.
    plain.fail(503);
    const errorsBefore = await ctl.refreshes('ctl-http', 'error');
    await forceRefresh(cp.kubeConfig.makeApiClient(CustomObjectsApi), 'ctl-http');
    const degraded = await ctl.waitForStatus('ctl-http', (s) => degradedOf(s)?.status === 'True');
    const d = degradedOf(degraded)!;
    assert.equal(d.reason, 'ProviderError');
    assert.match(d.message, /^http GET http:\/\/127\.0\.0\.1:\d+\/token: HTTP 503 server_error; the previous credential is still in place$/);
    const t0 = Date.now();
    await new Promise((r) => setTimeout(r, 3000));
    const errors = (await ctl.refreshes('ctl-http', 'error')) - errorsBefore;
    console.log(`# ${errors} failed refreshes in ${Date.now() - t0} ms while the broker answered 503 (retry base 300 ms, max 2 s)`);
    assert.ok(errors >= 3 && errors <= 8, `retried with backoff (300, 600, 1200, 2000 ms...): ${errors}`);
    await assertRemoteTextInLogOnly(cp.kubeConfig, ctl.logLines, 'ctl-http', degraded, /failing on purpose/);
    for (const [i, ns] of ['ctl-http-1', 'ctl-http-2'].entries()) {
      assert.equal((await secretOrUndefined(core, ns, 'broker-pull'))?.data?.['.dockerconfigjson'], kept[i], 'the last good Secret is kept');
    }

    // The broker is back with a new credential: the next retry picks it up.
    plain.fail(null);
    plain.setCredential('robot$ctl', `brk_${randomBytes(24).toString('base64url')}`, new Date(Date.now() + 3600_000));
    await ctl.waitForStatus('ctl-http', (s) => readyOf(s)?.status === 'True' && degradedOf(s)?.status !== 'True', 15_000);
    for (const ns of ['ctl-http-1', 'ctl-http-2']) {
      assert.deepEqual(authsOf(await secretOrUndefined(core, ns, 'broker-pull')), entry('robot$ctl', plain.credential.password));
    }
    assertNothingSecret(ctl.logLines.join(''), 'the controller logs');
  });
});
