// Unit tests for src/kube/sources.ts: which namespaces a credential may read source Secrets from,
// and the SourceReader over a fake CoreV1Api.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ApiException, type CoreV1Api, type V1Secret } from '@kubernetes/client-node';
import { DEFAULT_CONTROLLER_NAMESPACE, createSourceReader, createTokenMinter, sourceScope } from '../../src/kube/sources.js';
import { resetRegisteredSecrets, scrub } from '../../src/redact.js';
import { RegcredError } from '../../src/errors.js';

const CONTROLLER_NS = 'regcred-system';
const NO_SLEEP = { sleep: async () => {} };

describe('sourceScope', () => {
  test('the default controller namespace is regcred-system', () => {
    assert.equal(DEFAULT_CONTROLLER_NAMESPACE, 'regcred-system');
  });

  test('a ClusterRegistryCredential reads from the controller namespace only', () => {
    const s = sourceScope({ kind: 'ClusterRegistryCredential', metadata: {} }, CONTROLLER_NS, false);
    assert.equal(s.defaultNamespace, CONTROLLER_NS);
    assert.equal(s.allowedNamespace, CONTROLLER_NS);
    assert.match(s.rule, /regcred-system/);
    assert.match(s.rule, /--allow-cross-namespace-refs/);
  });

  test('a ClusterRegistryCredential may read anywhere with cross-namespace references allowed', () => {
    const s = sourceScope({ kind: 'ClusterRegistryCredential', metadata: {} }, CONTROLLER_NS, true);
    assert.equal(s.defaultNamespace, CONTROLLER_NS);
    assert.equal(s.allowedNamespace, undefined);
  });

  for (const allow of [false, true]) {
    test(`a RegistryCredential reads from its own namespace only (allowCrossNamespaceRefs=${allow})`, () => {
      const s = sourceScope({ kind: 'RegistryCredential', metadata: { namespace: 'team-a' } }, CONTROLLER_NS, allow);
      assert.equal(s.defaultNamespace, 'team-a');
      assert.equal(s.allowedNamespace, 'team-a');
      assert.match(s.rule, /own namespace/);
    });
  }
});

class FakeCore {
  readonly secrets = new Map<string, V1Secret>();
  readonly reads: string[] = [];
  readonly failures: ApiException<string>[] = [];
  async readNamespacedSecret(p: { namespace: string; name: string }): Promise<V1Secret> {
    this.reads.push(`${p.namespace}/${p.name}`);
    const err = this.failures.shift();
    if (err) throw err;
    const s = this.secrets.get(`${p.namespace}/${p.name}`);
    if (!s) throw new ApiException(404, 'Not Found', JSON.stringify({ kind: 'Status', code: 404, message: `secrets "${p.name}" not found` }), {});
    return structuredClone(s);
  }
  get core(): CoreV1Api {
    return this as unknown as CoreV1Api;
  }
}

const b64 = (s: string): string => Buffer.from(s).toString('base64');

describe('createSourceReader', () => {
  const clusterScope = sourceScope({ kind: 'ClusterRegistryCredential', metadata: {} }, CONTROLLER_NS, false);

  test('reads from the default namespace and decodes base64 data', async () => {
    const fake = new FakeCore();
    fake.secrets.set(`${CONTROLLER_NS}/src`, {
      type: 'Opaque',
      data: { registry: b64('ghcr.io'), username: b64('robot'), password: b64('pässwörd:with "specials"') },
    });
    const got = await createSourceReader(fake.core, clusterScope, NO_SLEEP).read({ name: 'src' });
    assert.deepEqual(got, {
      namespace: CONTROLLER_NS,
      name: 'src',
      type: 'Opaque',
      data: { registry: 'ghcr.io', username: 'robot', password: 'pässwörd:with "specials"' },
    });
    assert.deepEqual(fake.reads, [`${CONTROLLER_NS}/src`]);
  });

  test('a Secret without type or data reads as an empty Opaque Secret', async () => {
    const fake = new FakeCore();
    fake.secrets.set(`${CONTROLLER_NS}/bare`, {});
    assert.deepEqual(await createSourceReader(fake.core, clusterScope, NO_SLEEP).read({ name: 'bare' }), {
      namespace: CONTROLLER_NS,
      name: 'bare',
      type: 'Opaque',
      data: {},
    });
  });

  test('keeps the Secret type', async () => {
    const fake = new FakeCore();
    fake.secrets.set(`${CONTROLLER_NS}/dcj`, { type: 'kubernetes.io/dockerconfigjson', data: { '.dockerconfigjson': b64('{"auths":{}}') } });
    const got = await createSourceReader(fake.core, clusterScope, NO_SLEEP).read({ name: 'dcj' });
    assert.equal(got.type, 'kubernetes.io/dockerconfigjson');
    assert.equal(got.data['.dockerconfigjson'], '{"auths":{}}');
  });

  test('a reference to another namespace is a CrossNamespaceRef error, and nothing is read', async () => {
    const fake = new FakeCore();
    fake.secrets.set('other/src', { data: {} });
    await assert.rejects(createSourceReader(fake.core, clusterScope, NO_SLEEP).read({ namespace: 'other', name: 'src' }), (err: unknown) => {
      assert.ok(err instanceof RegcredError);
      assert.equal(err.code, 'CrossNamespaceRef');
      assert.equal(err.retryable, false);
      assert.match(err.message, /^source Secret other\/src is not allowed: a ClusterRegistryCredential reads Secrets from "regcred-system" only/);
      return true;
    });
    assert.deepEqual(fake.reads, []);
  });

  test('an explicit reference to the allowed namespace is fine', async () => {
    const fake = new FakeCore();
    fake.secrets.set(`${CONTROLLER_NS}/src`, { data: { a: b64('b') } });
    const got = await createSourceReader(fake.core, clusterScope, NO_SLEEP).read({ namespace: CONTROLLER_NS, name: 'src' });
    assert.deepEqual(got.data, { a: 'b' });
  });

  test('a RegistryCredential cannot read from the controller namespace', async () => {
    const fake = new FakeCore();
    const scope = sourceScope({ kind: 'RegistryCredential', metadata: { namespace: 'team-a' } }, CONTROLLER_NS, true);
    await assert.rejects(createSourceReader(fake.core, scope, NO_SLEEP).read({ namespace: CONTROLLER_NS, name: 'src' }), { code: 'CrossNamespaceRef' });
  });

  test('with cross-namespace references allowed, any namespace is read', async () => {
    const fake = new FakeCore();
    fake.secrets.set('other/src', { data: { k: b64('v') } });
    const scope = sourceScope({ kind: 'ClusterRegistryCredential', metadata: {} }, CONTROLLER_NS, true);
    const got = await createSourceReader(fake.core, scope, NO_SLEEP).read({ namespace: 'other', name: 'src' });
    assert.equal(got.namespace, 'other');
    assert.deepEqual(got.data, { k: 'v' });
  });

  test('a missing Secret is SourceNotFound', async () => {
    const fake = new FakeCore();
    await assert.rejects(createSourceReader(fake.core, clusterScope, NO_SLEEP).read({ name: 'nope' }), (err: unknown) => {
      assert.ok(err instanceof RegcredError);
      assert.equal(err.code, 'SourceNotFound');
      assert.equal(err.message, 'source Secret regcred-system/nope not found');
      assert.equal(err.retryable, false);
      return true;
    });
  });

  test('a 403 is Forbidden, a 500 is retried and then reported as a retryable ApiError', async () => {
    const fake = new FakeCore();
    fake.failures.push(new ApiException(403, 'Forbidden', '{"message":"secrets \\"src\\" is forbidden"}', {}));
    await assert.rejects(createSourceReader(fake.core, clusterScope, NO_SLEEP).read({ name: 'src' }), { code: 'Forbidden' });

    const flaky = new FakeCore();
    for (let i = 0; i < 5; i++) flaky.failures.push(new ApiException(500, 'x', '{"message":"etcd timeout"}', {}));
    await assert.rejects(createSourceReader(flaky.core, clusterScope, NO_SLEEP).read({ name: 'src' }), (err: unknown) => {
      assert.ok(err instanceof RegcredError);
      assert.equal(err.code, 'ApiError');
      assert.equal(err.retryable, true);
      assert.equal(err.message, 'cannot read source Secret regcred-system/src: etcd timeout');
      return true;
    });
    assert.equal(flaky.reads.length, 5);
  });
});

/** A fake of CoreV1Api's TokenRequest call. */
class FakeTokens {
  readonly requests: { namespace: string; name: string; audiences: string[] | undefined; expirationSeconds: number | undefined }[] = [];
  readonly failures: ApiException<string>[] = [];
  readonly serviceAccounts = new Set<string>();
  token = 'eyJhbGciOiJSUzI1NiJ9.minted-token-payload.signature';
  async createNamespacedServiceAccountToken(p: {
    namespace: string;
    name: string;
    body: { spec: { audiences?: string[]; expirationSeconds?: number } };
  }): Promise<{ status?: { token?: string } }> {
    this.requests.push({ namespace: p.namespace, name: p.name, audiences: p.body.spec.audiences, expirationSeconds: p.body.spec.expirationSeconds });
    const err = this.failures.shift();
    if (err) throw err;
    if (!this.serviceAccounts.has(`${p.namespace}/${p.name}`)) {
      throw new ApiException(404, 'Not Found', JSON.stringify({ kind: 'Status', code: 404, message: `serviceaccounts "${p.name}" not found` }), {});
    }
    return { status: { token: this.token } };
  }
  get core(): CoreV1Api {
    return this as unknown as CoreV1Api;
  }
}

describe('createTokenMinter', () => {
  const clusterScope = sourceScope({ kind: 'ClusterRegistryCredential', metadata: {} }, CONTROLLER_NS, false);

  test('mints in the default namespace with the audiences and lifetime asked, and registers the token', async () => {
    resetRegisteredSecrets();
    const fake = new FakeTokens();
    fake.serviceAccounts.add(`${CONTROLLER_NS}/puller`);
    const token = await createTokenMinter(fake.core, clusterScope, NO_SLEEP)({ name: 'puller' }, ['sts.amazonaws.com'], 600);
    assert.equal(token, fake.token);
    assert.deepEqual(fake.requests, [{ namespace: CONTROLLER_NS, name: 'puller', audiences: ['sts.amazonaws.com'], expirationSeconds: 600 }]);
    assert.ok(!scrub(`token ${fake.token}`).includes(fake.token), 'the token is registered for redaction');
    resetRegisteredSecrets();
  });

  test('a RegistryCredential may not mint for a service account in another namespace: CrossNamespaceRef, nothing asked', async () => {
    const fake = new FakeTokens();
    fake.serviceAccounts.add(`${CONTROLLER_NS}/puller`);
    const scope = sourceScope({ kind: 'RegistryCredential', metadata: { namespace: 'team-a' } }, CONTROLLER_NS, true);
    await assert.rejects(createTokenMinter(fake.core, scope, NO_SLEEP)({ namespace: CONTROLLER_NS, name: 'puller' }, ['a'], 600), (err: unknown) => {
      assert.ok(err instanceof RegcredError);
      assert.equal(err.code, 'CrossNamespaceRef');
      assert.equal(err.retryable, false);
      assert.equal(
        err.message,
        'service account regcred-system/puller is not allowed for a token: a RegistryCredential uses service accounts in its own namespace only',
      );
      return true;
    });
    assert.deepEqual(fake.requests, []);
  });

  test('a RegistryCredential mints in its own namespace by default', async () => {
    const fake = new FakeTokens();
    fake.serviceAccounts.add('team-a/puller');
    const scope = sourceScope({ kind: 'RegistryCredential', metadata: { namespace: 'team-a' } }, CONTROLLER_NS, false);
    await createTokenMinter(fake.core, scope, NO_SLEEP)({ name: 'puller' }, ['a'], 600);
    assert.equal(fake.requests[0]?.namespace, 'team-a');
  });

  test('a ClusterRegistryCredential may not mint outside the controller namespace', async () => {
    const fake = new FakeTokens();
    await assert.rejects(createTokenMinter(fake.core, clusterScope, NO_SLEEP)({ namespace: 'other', name: 'sa' }, ['a'], 600), (err: unknown) => {
      assert.ok(err instanceof RegcredError);
      assert.equal(err.code, 'CrossNamespaceRef');
      assert.match(err.message, /^service account other\/sa is not allowed for a token: a ClusterRegistryCredential uses service accounts in "regcred-system" only/);
      return true;
    });
    assert.deepEqual(fake.requests, []);
  });

  test('a missing service account is SourceNotFound; a 500 is retried, then a retryable ApiError', async () => {
    const fake = new FakeTokens();
    await assert.rejects(createTokenMinter(fake.core, clusterScope, NO_SLEEP)({ name: 'nope' }, ['a'], 600), (err: unknown) => {
      assert.ok(err instanceof RegcredError);
      assert.equal(err.code, 'SourceNotFound');
      assert.equal(err.message, 'service account regcred-system/nope not found');
      return true;
    });
    const flaky = new FakeTokens();
    for (let i = 0; i < 5; i++) flaky.failures.push(new ApiException(500, 'x', '{"message":"etcd timeout"}', {}));
    await assert.rejects(createTokenMinter(flaky.core, clusterScope, NO_SLEEP)({ name: 'sa' }, ['a'], 600), (err: unknown) => {
      assert.ok(err instanceof RegcredError);
      assert.equal(err.code, 'ApiError');
      assert.equal(err.retryable, true);
      assert.equal(err.message, 'cannot mint a token for service account regcred-system/sa: etcd timeout');
      return true;
    });
    assert.equal(flaky.requests.length, 5);
  });
});
