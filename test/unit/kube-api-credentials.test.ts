// Unit tests for src/kube/api/credentials.ts and exec-plugin.ts: what each request carries for
// each kind of kubeconfig user, when files are read again, and the exec credential plugin.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import type { ClusterInfo, KubeConfigLike, UserInfo } from '../../src/kube/api/config.js';
import { Credentials } from '../../src/kube/api/credentials.js';
import { ExecPlugin, runPlugin, type PluginRun, type RunPlugin } from '../../src/kube/api/exec-plugin.js';
import { registeredCount, resetRegisteredSecrets, scrub } from '../../src/redact.js';

function source(cluster: ClusterInfo, user: UserInfo | null): KubeConfigLike {
  return { getCurrentCluster: () => cluster, getCurrentUser: () => user, getCurrentContext: () => 'x' };
}

function dir(): string {
  return mkdtempSync(join(tmpdir(), 'regcred-creds-'));
}

const b64 = (s: string) => Buffer.from(s).toString('base64');

describe('Credentials', () => {
  test('a bearer token, the cluster CA and TLS settings, impersonation', async () => {
    const c = new Credentials(source({ server: 'https://h:6443/prefix', caData: b64('CA PEM'), skipTLSVerify: true, tlsServerName: 'api' }, { token: 't0k', impersonateUser: 'bob' }));
    const r = await c.current();
    assert.equal(r.server.href, 'https://h:6443/prefix');
    assert.deepEqual(r.headers, { Authorization: 'Bearer t0k', 'Impersonate-User': 'bob' });
    assert.equal(r.tls.ca?.toString(), 'CA PEM');
    assert.equal(r.tls.rejectUnauthorized, false);
    assert.equal(r.tls.servername, 'api');
  });

  test('basic auth; client certificate and key from data or files; no user at all', async () => {
    const d = dir();
    writeFileSync(join(d, 'c.crt'), 'CERT');
    writeFileSync(join(d, 'ca.crt'), 'CA');
    const basic = await new Credentials(source({ server: 'https://h' }, { username: 'u', password: 'p' })).current();
    assert.equal(basic.headers['Authorization'], `Basic ${b64('u:p')}`);
    const cert = await new Credentials(source({ server: 'https://h', caFile: join(d, 'ca.crt') }, { certFile: join(d, 'c.crt'), keyData: b64('KEY') })).current();
    assert.equal(cert.tls.cert?.toString(), 'CERT');
    assert.equal(cert.tls.key?.toString(), 'KEY');
    assert.equal(cert.tls.ca?.toString(), 'CA');
    assert.equal(cert.tls.rejectUnauthorized, undefined, "Node's default (verify) unless the kubeconfig says otherwise");
    assert.deepEqual((await new Credentials(source({ server: 'https://h' }, null)).current()).headers, {});
  });

  test('a token file is read again after a minute, and at once after a 401', async () => {
    const d = dir();
    const file = join(d, 'token');
    writeFileSync(file, 'one\n');
    let now = 0;
    const c = new Credentials(source({ server: 'https://h' }, { tokenFile: file }), { now: () => now });
    assert.equal((await c.current()).headers['Authorization'], 'Bearer one', 'trimmed');
    writeFileSync(file, 'two');
    now = 59_000;
    assert.equal((await c.current()).headers['Authorization'], 'Bearer one', 'cached for a minute');
    now = 60_000;
    assert.equal((await c.current()).headers['Authorization'], 'Bearer two');
    writeFileSync(file, 'three');
    c.invalidate();
    assert.equal((await c.current()).headers['Authorization'], 'Bearer three');
  });

  test("client-node's KubeConfig serves as the source, its in-cluster token file too", async () => {
    const d = dir();
    writeFileSync(join(d, 'token'), 'from-file');
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: 'https://10.0.0.1:443', skipTLSVerify: false, caData: b64('CA') }],
      users: [{ name: 'u', authProvider: { name: 'tokenFile', config: { tokenFile: join(d, 'token') } } }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
    const r = await new Credentials(kc).current();
    assert.equal(r.headers['Authorization'], 'Bearer from-file');
    assert.equal(r.tls.ca?.toString(), 'CA');
  });

  test('what cannot be used fails every request with a reason (no cluster, proxy-url, unknown auth-provider, an unreadable file)', async () => {
    const fails = (s: KubeConfigLike, re: RegExp) => assert.rejects(new Credentials(s).current(), re);
    await fails({ getCurrentCluster: () => null, getCurrentUser: () => null, getCurrentContext: () => '' }, /kubeconfig has no current cluster/);
    await fails(source({ server: 'https://h', proxyUrl: 'http://proxy:3128' }, null), /proxy-url .* is not supported/);
    await fails(source({ server: 'https://h' }, { authProvider: { name: 'gcp', config: {} } }), /auth-provider "gcp" is not supported; use an exec credential plugin/);
    await fails(source({ server: 'https://h', caFile: '/nonexistent/ca.crt' }, null), /cannot read certificate-authority \/nonexistent\/ca\.crt: ENOENT/);
    await fails(source({ server: 'not a url' }, null), /server "not a url" is not a URL/);
    const oidc = await new Credentials(source({ server: 'https://h' }, { authProvider: { name: 'oidc', config: { 'id-token': 'idt' } } })).current();
    assert.equal(oidc.headers['Authorization'], 'Bearer idt');
  });

  test('tokens and passwords read from the kubeconfig are scrubbed from any output', async () => {
    resetRegisteredSecrets();
    await new Credentials(source({ server: 'https://h' }, { token: 'kube-token-value-1' })).current();
    await new Credentials(source({ server: 'https://h' }, { username: 'u', password: 'kube-password-value-2' })).current();
    assert.equal(scrub('a kube-token-value-1 b kube-password-value-2'), 'a [REDACTED] b [REDACTED]');
    assert.ok(registeredCount('kubeconfig') >= 2);
    resetRegisteredSecrets();
  });
});

const EXEC_V1 = 'client.authentication.k8s.io/v1';

function fakeRun(outputs: Array<Partial<PluginRun> | ((env: NodeJS.ProcessEnv) => Partial<PluginRun>)>) {
  const calls: Array<{ command: string; args: string[]; env: NodeJS.ProcessEnv }> = [];
  const run: RunPlugin = async (command, args, env) => {
    calls.push({ command, args, env });
    const next = outputs.shift() ?? { code: 1, stderr: 'no more outputs' };
    const r = typeof next === 'function' ? next(env) : next;
    return { stdout: '', stderr: '', code: 0, ...r };
  };
  return { run, calls };
}

const credential = (status: Record<string, unknown>, apiVersion = EXEC_V1) => ({ stdout: JSON.stringify({ apiVersion, kind: 'ExecCredential', status }) });

describe('ExecPlugin', () => {
  const cluster: ClusterInfo = { server: 'https://h:6443', caData: b64('CA') };

  test('runs the command with its args and env, never interactive; the credential is kept until it expires', async () => {
    let now = Date.parse('2030-01-01T00:00:00Z');
    const { run, calls } = fakeRun([credential({ token: 'a', expirationTimestamp: '2030-01-01T00:10:00Z' }), credential({ token: 'b' })]);
    const plugin = new ExecPlugin({ command: '/bin/get-token', args: ['x'], env: [{ name: 'REGION', value: 'r1' }], apiVersion: EXEC_V1, provideClusterInfo: true }, cluster, { run, now: () => now, env: { PATH: '/bin', HOME: '/h' } });
    assert.equal((await plugin.get()).token, 'a');
    assert.equal(calls.length, 1);
    assert.deepEqual(calls[0]!.args, ['x']);
    assert.equal(calls[0]!.env['REGION'], 'r1');
    assert.equal(calls[0]!.env['PATH'], '/bin');
    assert.deepEqual(JSON.parse(calls[0]!.env['KUBERNETES_EXEC_INFO']!), {
      apiVersion: EXEC_V1,
      kind: 'ExecCredential',
      spec: { interactive: false, cluster: { server: 'https://h:6443', 'certificate-authority-data': b64('CA') } },
    });
    now += 9 * 60_000;
    assert.equal((await plugin.get()).token, 'a', 'still valid');
    now += 60_000;
    assert.equal((await plugin.get()).token, 'b', 'expired: run again');
    assert.equal((await plugin.get()).token, 'b', 'no expiry: kept');
    assert.equal(calls.length, 2);
    plugin.invalidate();
    await assert.rejects(plugin.get(), /exited with 1: no more outputs/, 'after a 401 it runs again');
  });

  test('v1beta1 too; a client certificate instead of a token; concurrent requests share one run', async () => {
    const { run, calls } = fakeRun([credential({ clientCertificateData: 'CERT', clientKeyData: 'KEY' }, 'client.authentication.k8s.io/v1beta1')]);
    const plugin = new ExecPlugin({ command: 'p', apiVersion: 'client.authentication.k8s.io/v1beta1' }, cluster, { run });
    const [a, b] = await Promise.all([plugin.get(), plugin.get()]);
    assert.equal(a, b);
    assert.deepEqual(a, { token: undefined, clientCertificateData: 'CERT', clientKeyData: 'KEY' });
    assert.equal(calls.length, 1);
    assert.equal(JSON.parse(calls[0]!.env['KUBERNETES_EXEC_INFO']!).spec.cluster, undefined, 'no cluster info unless asked');
  });

  test('failures say what went wrong, never what the plugin printed on stdout', async () => {
    assert.throws(() => new ExecPlugin({ command: 'p', apiVersion: 'client.authentication.k8s.io/v1alpha1' }, cluster), /apiVersion "client.authentication.k8s.io\/v1alpha1" is not supported/);
    assert.throws(() => new ExecPlugin({ command: 'p' }, cluster), /apiVersion "" is not supported/);
    const cases: Array<[Partial<PluginRun>, RegExp]> = [
      [{ code: 2, stderr: 'not logged in\nmore', stdout: 'secret-stdout' }, /^exec plugin p exited with 2: not logged in$/],
      [{ stdout: 'secret-stdout {' }, /^exec plugin p printed no ExecCredential JSON$/],
      [credential({ token: 'x' }, 'client.authentication.k8s.io/v1beta1'), /answered client.authentication.k8s.io\/v1beta1, configured for client.authentication.k8s.io\/v1/],
      [credential({}), /returned neither a token nor a client certificate and key/],
      [credential({ token: 'x', expirationTimestamp: 'soon' }), /expirationTimestamp "soon" is not a time/],
    ];
    for (const [out, re] of cases) {
      const { run } = fakeRun([out]);
      await assert.rejects(new ExecPlugin({ command: 'p', apiVersion: EXEC_V1 }, cluster, { run }).get(), (err: Error) => re.test(err.message) && !err.message.includes('secret-stdout'));
    }
  });

  test('a real plugin process: the environment reaches it, its output is read', async () => {
    const d = dir();
    const script = join(d, 'plugin.sh');
    writeFileSync(script, `#!/bin/sh\nprintf '{"apiVersion":"${EXEC_V1}","kind":"ExecCredential","status":{"token":"%s-%s"}}' "$GREETING" "$1"\n`);
    chmodSync(script, 0o755);
    const plugin = new ExecPlugin({ command: script, args: ['arg'], env: [{ name: 'GREETING', value: 'hello' }], apiVersion: EXEC_V1 }, cluster);
    assert.equal((await plugin.get()).token, 'hello-arg');
    await assert.rejects(runPlugin(join(d, 'missing'), [], {}), /ENOENT/);
  });

  test('Credentials use the plugin: its token as bearer, its certificate as the TLS client certificate, refreshed at its expiry', async () => {
    let now = Date.parse('2030-01-01T00:00:00Z');
    const { run, calls } = fakeRun([
      credential({ token: 'first', expirationTimestamp: '2030-01-01T00:00:30Z' }),
      credential({ clientCertificateData: 'CERT', clientKeyData: 'KEY' }),
    ]);
    const c = new Credentials(source(cluster, { exec: { command: 'p', apiVersion: EXEC_V1 } }), { now: () => now, runPlugin: run });
    assert.equal((await c.current()).headers['Authorization'], 'Bearer first');
    now += 31_000;
    const second = await c.current();
    assert.equal(second.headers['Authorization'], undefined);
    assert.equal(second.tls.cert, 'CERT');
    assert.equal(second.tls.key, 'KEY');
    assert.equal(calls.length, 2);
  });
});
