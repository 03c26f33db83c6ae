// Unit tests for src/config/tenant-policy.ts: what the default tenant policy refuses in a
// RegistryCredential (ambient identity, hosts off the allowlist, plain http, metadata headers, a
// refresh faster than the floor) and that a ClusterRegistryCredential is never judged by it.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { credentialObject, type CredentialObject } from '../../src/config/schema.js';
import { checkTenantPolicy, defaultTenantHosts, defaultTenantPolicy, type TenantRule } from '../../src/config/tenant-policy.js';
import { parseDuration } from '../../src/config/common.js';
import { providerRegistry } from '../../src/providers/registry.js';

function credential(kind: 'RegistryCredential' | 'ClusterRegistryCredential', provider: Record<string, unknown>, refresh?: Record<string, unknown>): CredentialObject {
  return credentialObject.parse({
    apiVersion: 'regcred.dev/v1alpha1',
    kind,
    metadata: kind === 'RegistryCredential' ? { name: 'team', namespace: 'team-a' } : { name: 'admin' },
    spec: {
      provider,
      target: { secretName: 'pull', ...(kind === 'ClusterRegistryCredential' ? { namespaces: { all: true } } : {}) },
      ...(refresh ? { refresh } : {}),
    },
  });
}

const policy = defaultTenantPolicy(providerRegistry);
const rules = (obj: CredentialObject, p = policy): TenantRule[] => checkTenantPolicy(obj, p, providerRegistry).map((v) => v.rule);

const HTTP_BROKER = { url: 'https://broker.example.com/token', registry: 'r.example.com', username: 'u', response: { password: '$.token' } };

describe('tenant policy: ambient credentials', () => {
  const ambient: Array<[string, Record<string, unknown>, string[]]> = [
    ['ecr without auth (SDK default chain)', { ecr: { region: 'eu-west-1' } }, ['spec', 'provider', 'ecr', 'auth']],
    ['ecr with only assumeRole (on top of the default chain)', { ecr: { region: 'eu-west-1', auth: { assumeRole: { roleArn: 'arn:aws:iam::111122223333:role/x' } } } }, ['spec', 'provider', 'ecr', 'auth']],
    ['ecrPublic without auth', { ecrPublic: {} }, ['spec', 'provider', 'ecrPublic', 'auth']],
    ['gcp metadataServer', { gcp: { registries: ['gcr.io'], auth: { metadataServer: {} } } }, ['spec', 'provider', 'gcp', 'auth', 'metadataServer']],
    ['acr managedIdentity', { acr: { registry: 'x.azurecr.io', auth: { managedIdentity: {} } } }, ['spec', 'provider', 'acr', 'auth', 'managedIdentity']],
  ];
  for (const [what, provider, path] of ambient) {
    test(`${what}: refused in a RegistryCredential, at its path`, () => {
      const [v, ...rest] = checkTenantPolicy(credential('RegistryCredential', provider), policy, providerRegistry);
      assert.equal(rest.length, 0);
      assert.equal(v?.rule, 'AmbientCredentialsRefused');
      assert.deepEqual(v?.path, path);
      assert.match(v!.message, /controller's own/);
    });
    test(`${what}: kept in a ClusterRegistryCredential`, () => {
      assert.deepEqual(rules(credential('ClusterRegistryCredential', provider)), []);
    });
    test(`${what}: allowed where the installation opts in`, () => {
      assert.deepEqual(rules(credential('RegistryCredential', provider), { ...policy, allowAmbientCredentials: true }), []);
    });
  }

  test("credentials of the tenant's own are not ambient", () => {
    const own = [
      { ecr: { region: 'eu-west-1', auth: { secretRef: { name: 'aws' } } } },
      { ecr: { region: 'eu-west-1', auth: { webIdentity: { roleArn: 'arn:aws:iam::111122223333:role/x', serviceAccount: { name: 'puller' } } } } },
      { gcp: { registries: ['gcr.io'], auth: { secretRef: { name: 'key' } } } },
      { acr: { registry: 'x.azurecr.io', tenantId: '11111111-2222-3333-4444-555555555555', clientId: '11111111-2222-3333-4444-555555555555', auth: { secretRef: { name: 'sp' } } } },
    ];
    for (const p of own) assert.deepEqual(rules(credential('RegistryCredential', p)), [], JSON.stringify(p));
  });
});

describe('tenant policy: hosts, plain http, headers', () => {
  test('the default allowlist is every provider\'s public endpoints, and no broker', () => {
    const hosts = defaultTenantHosts(providerRegistry);
    for (const h of ['*.amazonaws.com', 'oauth2.googleapis.com', 'login.microsoftonline.com', '*.azurecr.io', 'issuer.enforce.dev', 'quay.io', 'api.jit.io', 'api.crusoecloud.com']) {
      assert.ok(hosts.includes(h), h);
    }
    assert.equal(new Set(hosts).size, hosts.length);
  });

  test('an http broker is refused until the administrator allowlists its host', () => {
    const obj = credential('RegistryCredential', { http: HTTP_BROKER });
    const [v] = checkTenantPolicy(obj, policy, providerRegistry);
    assert.equal(v?.rule, 'HostNotAllowed');
    assert.deepEqual(v?.path, ['spec', 'provider', 'http', 'url']);
    assert.deepEqual(rules(obj, defaultTenantPolicy(providerRegistry, { extraHosts: ['broker.example.com'] })), []);
    assert.deepEqual(rules(obj, { ...policy, network: { allowedHosts: ['*.example.com'] } }), []);
    assert.deepEqual(rules(obj, { ...policy, network: { allowedHosts: ['broker.example.com:8443'] } }), ['HostNotAllowed'], 'a port-specific pattern matches that port only');
  });

  test('endpoint overrides off the allowlist are refused, each at its path', () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ jit: { baseUrl: 'https://169.254.169.254', secretRef: { name: 'jit' } } }, 'spec.provider.jit.baseUrl'],
      [{ crusoe: { baseUrl: 'https://127.0.0.1:8443', registry: 'registry.crusoecloud.com', username: 'u', secretRef: { name: 'c' } } }, 'spec.provider.crusoe.baseUrl'],
      [{ chainguard: { identity: 'abc/def', issuer: 'https://evil.example.com' } }, 'spec.provider.chainguard.issuer'],
      [{ quay: { baseUrl: 'https://10.0.0.1', robot: 'org+bot' } }, 'spec.provider.quay.baseUrl'],
      [{ ecr: { region: 'eu-west-1', endpoint: 'https://localhost:5000', auth: { secretRef: { name: 'aws' } } } }, 'spec.provider.ecr.endpoint'],
      [{ acr: { registry: 'x.azurecr.io', endpoint: 'https://metadata.internal', tenantId: '11111111-2222-3333-4444-555555555555', clientId: '11111111-2222-3333-4444-555555555555', auth: { secretRef: { name: 'sp' } } } }, 'spec.provider.acr.endpoint'],
      [{ acr: { registry: 'registry.evil.example', tenantId: '11111111-2222-3333-4444-555555555555', clientId: '11111111-2222-3333-4444-555555555555', auth: { secretRef: { name: 'sp' } } } }, 'spec.provider.acr.registry'],
    ];
    for (const [provider, path] of cases) {
      let obj: CredentialObject;
      try {
        obj = credential('RegistryCredential', provider);
      } catch (err) {
        assert.fail(`${path}: the schema refused the example: ${String(err)}`);
      }
      const v = checkTenantPolicy(obj, policy, providerRegistry);
      assert.deepEqual(v.map((x) => [x.rule, x.path.join('.')]), [['HostNotAllowed', path]], path);
      assert.deepEqual(rules(credential('ClusterRegistryCredential', provider)), [], `${path}: a ClusterRegistryCredential keeps it`);
    }
  });

  test('plain http endpoints are refused even on an allowlisted host', () => {
    const obj = credential('RegistryCredential', { jit: { baseUrl: 'http://api.jit.io', secretRef: { name: 'jit' } } });
    assert.deepEqual(checkTenantPolicy(obj, policy, providerRegistry).map((x) => [x.rule, x.path.join('.')]), [['InsecureTransportRefused', 'spec.provider.jit.baseUrl']]);
  });

  test('allowInsecure and metadata-service headers are refused', () => {
    const obj = credential('RegistryCredential', {
      http: {
        ...HTTP_BROKER,
        url: 'http://broker.example.com/token',
        allowInsecure: true,
        headers: [
          { name: 'Accept', value: 'application/json' },
          { name: 'Metadata-Flavor', value: 'Google' },
          { name: 'X-aws-ec2-metadata-token', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } },
          { name: 'Host', value: 'metadata.google.internal' },
        ],
      },
    });
    const v = checkTenantPolicy(obj, { ...policy, network: { allowedHosts: ['broker.example.com'] } }, providerRegistry);
    assert.deepEqual(
      v.map((x) => [x.rule, x.path.join('.')]),
      [
        ['InsecureTransportRefused', 'spec.provider.http.allowInsecure'],
        ['InsecureTransportRefused', 'spec.provider.http.url'],
        ['HeaderNotAllowed', 'spec.provider.http.headers.1.name'],
        ['HeaderNotAllowed', 'spec.provider.http.headers.2.name'],
        ['HeaderNotAllowed', 'spec.provider.http.headers.3.name'],
      ],
    );
  });
});

describe('tenant policy: refresh floor and durations', () => {
  test('an interval under the floor is refused in a RegistryCredential only', () => {
    const fast = { static: { secretRef: { name: 's' } } };
    assert.deepEqual(rules(credential('RegistryCredential', fast, { interval: '10s' })), ['RefreshTooFrequent']);
    assert.deepEqual(rules(credential('RegistryCredential', fast, { interval: '1m' })), []);
    assert.deepEqual(rules(credential('ClusterRegistryCredential', fast, { interval: '10s' })), []);
    assert.deepEqual(rules(credential('RegistryCredential', fast, { interval: '10s' }), { ...policy, minRefreshIntervalMs: 5000 }), []);
  });

  test('durations have an upper bound: a year', () => {
    const base = { static: { secretRef: { name: 's' } } };
    assert.throws(() => credential('ClusterRegistryCredential', base, { interval: '99999999999999h' }), /at most 8760h/);
    assert.throws(() => credential('ClusterRegistryCredential', base, { interval: '8761h' }), /at most 8760h/);
    assert.equal(parseDuration(credential('ClusterRegistryCredential', base, { interval: '8760h' }).spec.refresh.interval), 8760 * 3_600_000);
  });
});
