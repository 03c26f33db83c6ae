// Unit tests for src/providers/ecr-public.ts: config schema, token decoding, shared credential
// resolution and error naming, with the SDK call injected. End to end: test/integration/providers-ecr-public.test.ts.
import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createEcrPublicProvider, ecrPublicConfig, type GetPublicAuthorizationToken } from '../../src/providers/ecr-public.js';
import { providerRegistry } from '../../src/providers/registry.js';
import type { SourceReader, SourceSecret } from '../../src/providers/types.js';
import { RegcredError } from '../../src/errors.js';
import { resetRegisteredSecrets, scrub } from '../../src/redact.js';
import { silentLogger } from '../../src/log.js';

afterEach(() => resetRegisteredSecrets());

const KEY_ID = 'AKIAEXAMPLEKEYID1234';
const SECRET_KEY = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const PASSWORD = 'ecr-public-password-eyJwYXlsb2FkIjoi';
const EXPIRY = new Date('2030-01-01T12:00:00Z');

function sources(data: Record<string, string>): SourceReader {
  return {
    async read(ref): Promise<SourceSecret> {
      return { namespace: ref.namespace ?? 'regcred-system', name: ref.name, type: 'Opaque', data: { ...data } };
    },
  };
}

function provider(config: unknown, call: GetPublicAuthorizationToken) {
  return createEcrPublicProvider(
    ecrPublicConfig.parse(config),
    {
      sources: sources({ AWS_ACCESS_KEY_ID: KEY_ID, AWS_SECRET_ACCESS_KEY: SECRET_KEY }),
      now: () => new Date('2029-12-31T00:00:00Z'),
      fetch: (async () => {
        throw new Error('unused');
      }) as typeof globalThis.fetch,
      log: silentLogger(),
    },
    call,
  );
}

describe('ecrPublic config schema', () => {
  test('is registered under the key ecrPublic', () => {
    assert.ok(providerRegistry.has('ecrPublic'));
  });
  test('accepts {}, endpoint, stsEndpoint and the ecr auth modes', () => {
    for (const ok of [
      {},
      { endpoint: 'http://127.0.0.1:1234' },
      { auth: {} },
      { auth: { secretRef: { name: 'aws' } } },
      { auth: { webIdentity: { roleArn: 'arn:aws:iam::123456789012:role/r', serviceAccount: { name: 'sa' } } } },
      { auth: { assumeRole: { roleArn: 'arn:aws:iam::123456789012:role/r', durationSeconds: 900 } }, stsEndpoint: 'https://sts.example' },
    ]) {
      assert.ok(ecrPublicConfig.safeParse(ok).success, JSON.stringify(ok));
    }
  });
  test('rejects region, registryIds, unknown keys, bad URLs and secretRef + webIdentity together', () => {
    for (const bad of [
      { region: 'us-east-1' },
      { registryIds: ['123456789012'] },
      { endpoint: 'ftp://x' },
      { auth: { secretRef: { name: 'a' }, webIdentity: { roleArn: 'arn:aws:iam::123456789012:role/r', serviceAccount: { name: 'sa' } } } },
      { auth: { assumeRole: { roleArn: 'not-an-arn' } } },
    ]) {
      assert.equal(ecrPublicConfig.safeParse(bad).success, false, JSON.stringify(bad));
    }
  });
});

describe('ecrPublic fetch', () => {
  test('one call in us-east-1 with the source Secret keys; registry public.ecr.aws, user AWS', async () => {
    const calls: Parameters<GetPublicAuthorizationToken>[0][] = [];
    const p = provider({ endpoint: 'http://127.0.0.1:9', auth: { secretRef: { name: 'aws' } } }, async (input) => {
      calls.push(input);
      return { authorizationData: { authorizationToken: Buffer.from(`AWS:${PASSWORD}`).toString('base64'), expiresAt: EXPIRY } };
    });
    const creds = await p.mint();
    assert.deepEqual(creds, [{ registry: 'public.ecr.aws', username: 'AWS', password: PASSWORD, expiresAt: EXPIRY }]);
    assert.equal(calls.length, 1);
    assert.equal(calls[0]?.region, 'us-east-1');
    assert.equal(calls[0]?.endpoint, 'http://127.0.0.1:9');
    assert.deepEqual(calls[0]?.credentials, { accessKeyId: KEY_ID, secretAccessKey: SECRET_KEY });
    assert.equal(scrub(`x ${PASSWORD} y`).includes(PASSWORD), false, 'the password is registered for redaction');
  });
  test('no expiresAt: 12 hours from now', async () => {
    const p = provider({}, async () => ({ authorizationData: { authorizationToken: Buffer.from(`AWS:${PASSWORD}`).toString('base64') } }));
    const [c] = await p.mint();
    assert.equal(c?.expiresAt?.toISOString(), '2029-12-31T12:00:00.000Z');
  });
  test('SDK errors name ecrPublic GetAuthorizationToken; auth errors are not retryable', async () => {
    const p = provider({}, async () => {
      throw Object.assign(new Error('The security token included in the request is invalid.'), {
        name: 'UnrecognizedClientException',
        $metadata: { httpStatusCode: 400 },
      });
    });
    await assert.rejects(p.mint(), (err: unknown) => {
      assert.ok(err instanceof RegcredError);
      assert.equal(err.code, 'ProviderError');
      assert.equal(err.retryable, false);
      assert.match(err.message, /^ecrPublic GetAuthorizationToken in us-east-1: UnrecognizedClientException \(HTTP 400\)$/);
      return true;
    });
  });
  test('a response without a token is a retryable ProviderError', async () => {
    const p = provider({}, async () => ({}));
    await assert.rejects(p.mint(), (err: unknown) => err instanceof RegcredError && err.retryable && /no authorizationData/.test(err.message));
  });
});
