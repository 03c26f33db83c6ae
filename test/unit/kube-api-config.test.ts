// Unit tests for src/kube/api/config.ts (reading kubeconfig files, $KUBECONFIG, contexts, the
// in-cluster service account) and loadKubeConfig's errors (src/kube/client.ts).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { NoKubeconfig, inClusterConfig, loadKubeconfig } from '../../src/kube/api/config.js';
import { Credentials } from '../../src/kube/api/credentials.js';
import { loadKubeConfig } from '../../src/kube/client.js';
import { RegcredError } from '../../src/errors.js';

function dir(): string {
  return mkdtempSync(join(tmpdir(), 'regcred-kubeconfig-'));
}

const FULL = `apiVersion: v1
kind: Config
clusters:
- name: files
  cluster: {server: "https://10.0.0.1:6443/", certificate-authority: ca.crt, tls-server-name: api.internal}
- name: inline
  cluster: {server: "https://10.0.0.2", certificate-authority-data: Q0E=, insecure-skip-tls-verify: true}
users:
- name: cert
  user: {client-certificate: certs/admin.crt, client-key: /abs/admin.key, as: someone}
- name: token
  user: {token: abc, tokenFile: token.txt}
- name: plugin
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: ./bin/get-token
      args: [--cluster, c]
      env: [{name: A, value: b}]
      provideClusterInfo: true
- name: bare
contexts:
- name: one
  context: {cluster: files, user: cert}
- name: two
  context: {cluster: inline, user: plugin, namespace: x}
- name: three
  context: {cluster: inline, user: bare}
current-context: one
`;

describe('loadKubeconfig', () => {
  test('reads clusters, users and the current context; file references are relative to the kubeconfig', () => {
    const d = dir();
    writeFileSync(join(d, 'config'), FULL);
    const kc = loadKubeconfig({ kubeconfig: join(d, 'config'), env: {} });
    assert.equal(kc.getCurrentContext(), 'one');
    assert.deepEqual(kc.getCurrentCluster(), {
      server: 'https://10.0.0.1:6443',
      caData: undefined,
      caFile: join(d, 'ca.crt'),
      skipTLSVerify: false,
      tlsServerName: 'api.internal',
      proxyUrl: undefined,
    });
    const user = kc.getCurrentUser()!;
    assert.equal(user.certFile, join(d, 'certs/admin.crt'));
    assert.equal(user.keyFile, '/abs/admin.key');
    assert.equal(user.impersonateUser, 'someone');
  });

  test('--context picks another entry; an exec command with a path is relative to the kubeconfig, its settings kept', () => {
    const d = dir();
    writeFileSync(join(d, 'config'), FULL);
    const kc = loadKubeconfig({ kubeconfig: join(d, 'config'), context: 'two', env: {} });
    assert.equal(kc.getCurrentContext(), 'two');
    assert.equal(kc.getCurrentCluster()?.caData, 'Q0E=');
    assert.equal(kc.getCurrentCluster()?.skipTLSVerify, true);
    assert.deepEqual(kc.getCurrentUser()?.exec, {
      command: join(d, 'bin/get-token'),
      args: ['--cluster', 'c'],
      env: [{ name: 'A', value: 'b' }],
      apiVersion: 'client.authentication.k8s.io/v1',
      provideClusterInfo: true,
    });
    const bare = loadKubeconfig({ kubeconfig: join(d, 'config'), context: 'three', env: {} });
    assert.equal(bare.getCurrentUser()?.token, undefined, 'a user with no settings: no credentials');
  });

  test('token and tokenFile (or token-file); a bare exec command is left to PATH', () => {
    const d = dir();
    writeFileSync(
      join(d, 'config'),
      `clusters: [{name: c, cluster: {server: "https://h"}}]
users:
- {name: a, user: {token-file: t}}
- {name: b, user: {exec: {apiVersion: client.authentication.k8s.io/v1beta1, command: aws, args: [eks, get-token]}}}
contexts: [{name: a, context: {cluster: c, user: a}}, {name: b, context: {cluster: c, user: b}}]
current-context: a
`,
    );
    assert.equal(loadKubeconfig({ kubeconfig: join(d, 'config') }).getCurrentUser()?.tokenFile, join(d, 't'));
    assert.equal(loadKubeconfig({ kubeconfig: join(d, 'config'), context: 'b' }).getCurrentUser()?.exec?.command, 'aws');
  });

  test('$KUBECONFIG: the files merged, the first definition of a name and the first current-context winning; missing files skipped', () => {
    const d = dir();
    writeFileSync(join(d, 'a'), `clusters: [{name: c, cluster: {server: "https://first"}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n`);
    writeFileSync(
      join(d, 'b'),
      `clusters: [{name: c, cluster: {server: "https://second"}}, {name: d, cluster: {server: "https://d"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: y, context: {cluster: d, user: u}}]
current-context: x
`,
    );
    const kc = loadKubeconfig({ env: { KUBECONFIG: [join(d, 'missing'), join(d, 'a'), join(d, 'b')].join(delimiter) } });
    assert.equal(kc.getCurrentContext(), 'x');
    assert.equal(kc.getCurrentCluster()?.server, 'https://first');
    assert.equal(kc.getCurrentUser()?.token, 't');
    assert.equal(loadKubeconfig({ context: 'y', env: { KUBECONFIG: `${join(d, 'a')}${delimiter}${join(d, 'b')}` } }).getCurrentCluster()?.server, 'https://d');
    assert.throws(() => loadKubeconfig({ env: { KUBECONFIG: join(d, 'nope') } }), /none of the files in KUBECONFIG exist/);
  });

  test('no file given: ~/.kube/config, else the in-cluster service account, else none: loading succeeds, every request fails saying why', async () => {
    const home = dir();
    const sa = dir();
    const none = loadKubeconfig({ env: {}, home, serviceAccountDir: sa });
    assert.ok(none instanceof NoKubeconfig);
    await assert.rejects(new Credentials(none).current(), /^Error: no kubeconfig: pass --kubeconfig, set KUBECONFIG, create ~\/\.kube\/config or run in a Pod$/);
    assert.throws(() => loadKubeconfig({ env: {}, home, serviceAccountDir: sa, context: 'x' }), /kubeconfig has no context "x": no kubeconfig file found/);
    writeFileSync(join(sa, 'token'), 'tok');
    const env = { KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '443' };
    const inCluster = loadKubeconfig({ env, home, serviceAccountDir: sa });
    assert.equal(inCluster.getCurrentCluster()?.server, 'https://[fd00::1]:443');
    assert.equal(inCluster.getCurrentCluster()?.caFile, join(sa, 'ca.crt'));
    assert.equal(inCluster.getCurrentUser()?.tokenFile, join(sa, 'token'));
    mkdirSync(join(home, '.kube'));
    writeFileSync(join(home, '.kube', 'config'), `clusters: [{name: c, cluster: {server: "https://home"}}]\ncontexts: [{name: x, context: {cluster: c}}]\ncurrent-context: x\n`);
    assert.equal(loadKubeconfig({ env, home, serviceAccountDir: sa }).getCurrentCluster()?.server, 'https://home');
  });

  test('inClusterConfig needs the service host, port and token', () => {
    const sa = dir();
    assert.equal(inClusterConfig(sa, { KUBERNETES_SERVICE_HOST: '10.0.0.1', KUBERNETES_SERVICE_PORT: '443' }), undefined, 'no token file');
    writeFileSync(join(sa, 'token'), 'tok');
    assert.equal(inClusterConfig(sa, {}), undefined, 'not in a Pod');
    assert.equal(inClusterConfig(sa, { KUBERNETES_SERVICE_HOST: '10.0.0.1', KUBERNETES_SERVICE_PORT: '6443' })?.getCurrentCluster()?.server, 'https://10.0.0.1:6443');
  });

  test('malformed files say what is wrong', () => {
    const d = dir();
    const cases: Array<[string, RegExp]> = [
      ['clusters: [{name: c, cluster: {}}]', /clusters\[0\]\.cluster\.server is missing/],
      ['clusters: [{cluster: {server: "https://x"}}]', /clusters\[0\]\.name is missing/],
      ['contexts: [{name: x, context: {user: u}}]', /contexts\[0\]\.context\.cluster is missing/],
      ['users: {a: b}', /users is not a list/],
      ['- just a list', /not a kubeconfig/],
      ['users: [{name: u, user: {exec: {args: [x]}}}]', /exec: command is missing/],
    ];
    for (const [text, re] of cases) {
      writeFileSync(join(d, 'bad'), text);
      assert.throws(() => loadKubeconfig({ kubeconfig: join(d, 'bad') }), re, text);
    }
  });
});

describe('loadKubeConfig (the commands)', () => {
  const invalid = (re: RegExp) => (err: unknown) => err instanceof RegcredError && err.code === 'InvalidSpec' && re.test(err.message);

  test('a file that cannot be read or parsed, an unknown context, no current cluster: InvalidSpec, one line', () => {
    const d = dir();
    assert.throws(() => loadKubeConfig({ kubeconfig: join(d, 'missing') }), invalid(new RegExp(`^cannot load kubeconfig ${join(d, 'missing')}: ENOENT`)));
    writeFileSync(join(d, 'bad'), 'clusters: [{name: c, cluster: {}}]');
    assert.throws(() => loadKubeConfig({ kubeconfig: join(d, 'bad') }), invalid(/^cannot load kubeconfig .*bad: clusters\[0\]\.cluster\.server is missing$/));
    writeFileSync(join(d, 'config'), FULL);
    assert.throws(() => loadKubeConfig({ kubeconfig: join(d, 'config'), context: 'nope' }), invalid(/^kubeconfig has no context "nope"$/));
    writeFileSync(join(d, 'empty'), 'clusters: []\n');
    assert.throws(() => loadKubeConfig({ kubeconfig: join(d, 'empty') }), invalid(/^kubeconfig has no current cluster$/));
  });

  test('a loaded cluster connects lazily: loading reads no credential file', () => {
    const d = dir();
    writeFileSync(join(d, 'config'), FULL); // its ca.crt and certificates do not exist
    const kube = loadKubeConfig({ kubeconfig: join(d, 'config') });
    assert.equal(kube.config.getCurrentCluster()?.server, 'https://10.0.0.1:6443');
  });
});
