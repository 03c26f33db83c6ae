// `regcred kubelet-config`: which credentials become kubelet credential plugins, and how.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { credentialObject, type CredentialObject } from '../../src/config/schema.js';
import { kubeletConfigFor } from '../../src/commands/kubelet-config.js';

function crc(name: string, provider: Record<string, unknown>): CredentialObject {
  return credentialObject.parse({
    apiVersion: 'regcred.dev/v1alpha1',
    kind: 'ClusterRegistryCredential',
    metadata: { name },
    spec: { provider, target: { secretName: `${name}-pull`, namespaces: { names: ['a'] } } },
  });
}

test('exec: the plugin as configured; literal env only; serviceAccountToken → tokenAttributes (cacheType required since 1.34)', () => {
  const { providers, notes } = kubeletConfigFor([
    crc('plugin', {
      exec: {
        command: '/usr/local/bin/acme-credential-provider',
        args: ['--region', 'eu'],
        env: [{ name: 'ACME_MODE', value: 'pull' }, { name: 'ACME_KEY', valueFrom: { secretKeyRef: { name: 'k', key: 'key' } } }],
        registries: ['registry.acme.example', 'mirror.acme.example:5000/team'],
        defaultCacheDuration: '30m',
        serviceAccountToken: { serviceAccount: { name: 'puller' }, audience: 'acme-registry', annotations: { 'acme.example/role': 'pull' } },
      },
    }),
  ]);
  assert.deepEqual(providers, [
    {
      name: 'acme-credential-provider',
      matchImages: ['registry.acme.example', 'mirror.acme.example:5000/team'],
      defaultCacheDuration: '30m',
      apiVersion: 'credentialprovider.kubelet.k8s.io/v1',
      args: ['--region', 'eu'],
      env: [{ name: 'ACME_MODE', value: 'pull' }],
      tokenAttributes: { serviceAccountTokenAudience: 'acme-registry', cacheType: 'ServiceAccount', requireServiceAccount: true, optionalServiceAccountAnnotationKeys: ['acme.example/role'] },
    },
  ]);
  assert.ok(notes.some((n) => /env ACME_KEY comes from a Secret and is not printed/.test(n)));
  assert.ok(notes.some((n) => /each Pod's own service-account token \(audience acme-registry\)/.test(n)));
});

test('cloud plugins: ECR per region and account, GCP, ACR; several credentials on one plugin share one entry', () => {
  const { providers } = kubeletConfigFor([
    crc('ecr-a', { ecr: { regions: ['eu-west-1', 'cn-north-1'], registryIds: ['123456789012'] } }),
    crc('ecr-b', { ecr: { region: 'us-east-1' } }),
    crc('gar', { gcp: { registries: ['europe-docker.pkg.dev', 'gcr.io'], auth: { metadataServer: {} } } }),
    crc('acr', { acr: { registry: 'team.azurecr.io', auth: { managedIdentity: {} } } }),
  ]);
  const byName = Object.fromEntries(providers.map((p) => [p.name, p]));
  assert.deepEqual(byName['ecr-credential-provider']?.matchImages, ['123456789012.dkr.ecr.eu-west-1.amazonaws.com', '123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn', '*.dkr.ecr.us-east-1.amazonaws.com']);
  assert.equal(byName['ecr-credential-provider']?.defaultCacheDuration, '12h');
  assert.deepEqual(byName['auth-provider-gcp']?.matchImages, ['europe-docker.pkg.dev', 'gcr.io']);
  assert.deepEqual(byName['acr-credential-provider']?.matchImages, ['team.azurecr.io']);
  assert.equal(providers.length, 3);
});

test('providers without a kubelet plugin stay pull secrets, and say so', () => {
  const { providers, notes } = kubeletConfigFor([crc('s', { static: { secretRef: { name: 'src' } } }), crc('cg', { chainguard: { identity: '720909c9f5279097d847ad02a2f24ba8f59de36a/b6461e99e132298f' } })]);
  assert.deepEqual(providers, []);
  assert.equal(notes.filter((n) => /has no kubelet credential plugin; keep it as a pull secret/.test(n)).length, 2);
});

test('the printed document is a CredentialProviderConfig', async () => {
  const { runKubeletConfig } = await import('../../src/commands/kubelet-config.js');
  const { writeFileSync, mkdtempSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const file = join(mkdtempSync(join(tmpdir(), 'kc-')), 'c.yaml');
  writeFileSync(file, 'apiVersion: regcred.dev/v1alpha1\nkind: ClusterRegistryCredential\nmetadata: {name: e}\nspec:\n  provider: {ecr: {region: eu-west-1}}\n  target: {secretName: e-pull, namespaces: {names: [a]}}\n');
  let out = '';
  const errs: string[] = [];
  const code = await runKubeletConfig({ files: [file] }, { out: () => undefined, err: (l: string) => void errs.push(l) } as never, (t) => (out += t));
  assert.equal(code, 0, errs.join('\n'));
  const doc = parseAllDocuments(out)[0]!.toJS() as { apiVersion: string; kind: string; providers: Array<{ name: string }> };
  assert.equal(doc.apiVersion, 'kubelet.config.k8s.io/v1');
  assert.equal(doc.kind, 'CredentialProviderConfig');
  assert.equal(doc.providers[0]?.name, 'ecr-credential-provider');
});
