// `regcred kubelet-config`, the built CLI as users run it: a CredentialProviderConfig on stdout for
// the credentials node plugins can serve, one note per credential on stderr, exit 2 when none can.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseAllDocuments } from 'yaml';
import { runCli, writeConfig } from '../harness/cli.js';

const exec = `apiVersion: regcred.dev/v1alpha1
kind: ClusterRegistryCredential
metadata: {name: acme}
spec:
  provider:
    exec:
      command: /usr/local/bin/acme-credential-provider
      registries: [registry.acme.example]
      defaultCacheDuration: 30m
      env:
        - {name: ACME_KEY, valueFrom: {secretKeyRef: {name: acme-key, key: key}}}
      serviceAccountToken: {serviceAccount: {name: puller}, audience: acme-registry}
  target: {secretName: acme-pull, namespaces: {names: [ci]}}
`;
const stat = `apiVersion: regcred.dev/v1alpha1
kind: ClusterRegistryCredential
metadata: {name: hub}
spec:
  provider: {static: {secretRef: {name: hub}}}
  target: {secretName: hub-pull, namespaces: {names: [ci]}}
`;

test('exec and static: the plugin for one, a note for the other; valid YAML of the kubelet kind', async () => {
  const res = await runCli(['kubelet-config', '-f', writeConfig(`${exec}---\n${stat}`)]);
  assert.equal(res.code, 0, res.stderr);
  const doc = parseAllDocuments(res.stdout)[0]!.toJS() as { apiVersion: string; kind: string; providers: Array<Record<string, unknown>> };
  assert.equal(doc.apiVersion, 'kubelet.config.k8s.io/v1');
  assert.equal(doc.kind, 'CredentialProviderConfig');
  assert.deepEqual(doc.providers, [
    {
      name: 'acme-credential-provider',
      matchImages: ['registry.acme.example'],
      defaultCacheDuration: '30m',
      apiVersion: 'credentialprovider.kubelet.k8s.io/v1',
      tokenAttributes: { serviceAccountTokenAudience: 'acme-registry', cacheType: 'ServiceAccount', requireServiceAccount: true },
    },
  ]);
  assert.match(res.stderr, /note: ClusterRegistryCredential\/acme: env ACME_KEY comes from a Secret and is not printed/);
  assert.match(res.stderr, /note: ClusterRegistryCredential\/hub: provider static has no kubelet credential plugin; keep it as a pull secret/);
});

test('nothing a plugin can serve: exit 2 with one line; an invalid file: exit 2 with its path', async () => {
  const none = await runCli(['kubelet-config', '-f', writeConfig(stat)]);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /error: none of these credentials can be served by a kubelet credential plugin/);
  assert.equal(none.stdout, '');
  const bad = await runCli(['kubelet-config', '-f', writeConfig(stat.replace('secretName: hub-pull', 'secretName: Hub_Pull'))]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /spec\.target\.secretName/);
});
