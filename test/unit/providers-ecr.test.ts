// Unit tests for src/providers/ecr.ts: config schema, token decoding, source Secret handling and
// error classification, with the GetAuthorizationToken call injected (no network). The provider
// against a real (fake) AWS API is tested in test/integration/providers-ecr.test.ts (moto).
import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { classify, createEcrProvider, ecrConfig, type EcrConfig, type GetAuthorizationToken } from '../../src/providers/ecr.js';
import { providerRegistry } from '../../src/providers/registry.js';
import type { SourceReader, SourceSecret } from '../../src/providers/types.js';
import { RegcredError } from '../../src/errors.js';
import { resetRegisteredSecrets, scrub } from '../../src/redact.js';
import { silentLogger } from '../../src/log.js';

afterEach(() => resetRegisteredSecrets());

const KEY_ID = 'AKIAEXAMPLEKEYID1234';
const SECRET_KEY = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const SESSION = 'FwoGZXIvYXdzEXAMPLESESSIONTOKEN';
const PASSWORD = 'ecr-password-eyJwYXlsb2FkIjoi';
const EXPIRY = new Date('2030-01-01T12:00:00Z');

function token(password = PASSWORD): string {
  return Buffer.from(`AWS:${password}`).toString('base64');
}

function sourcesOf(data: Record<string, string> | undefined): SourceReader {
  return {
    async read(ref): Promise<SourceSecret> {
      if (!data) throw new RegcredError('SourceNotFound', `source Secret regcred-system/${ref.name} not found`);
      return { namespace: ref.namespace ?? 'regcred-system', name: ref.name, type: 'Opaque', data: { ...data } };
    },
  };
}

type Call = Parameters<GetAuthorizationToken>[0];

function provider(config: unknown, call: GetAuthorizationToken, data?: Record<string, string>) {
  const parsed = ecrConfig.parse(config) as EcrConfig;
  return createEcrProvider(
    parsed,
    {
      sources: sourcesOf(data),
      now: () => new Date('2029-12-31T00:00:00Z'),
      fetch: (async () => {
        throw new Error('the ecr provider uses the SDK, not deps.fetch');
      }) as typeof globalThis.fetch,
      log: silentLogger(),
    },
    call,
  );
}

function answering(calls: Call[]): GetAuthorizationToken {
  return async (input) => {
    calls.push(input);
    const ids = input.registryIds ?? ['123456789012'];
    return {
      authorizationData: ids.map((id) => ({
        authorizationToken: token(`${PASSWORD}-${id}-${input.region}`),
        proxyEndpoint: `https://${id}.dkr.ecr.${input.region}.amazonaws.com`,
        expiresAt: EXPIRY,
      })),
    };
  };
}

describe('ecr config schema', () => {
  test('is registered under "ecr"', () => {
    assert.equal(providerRegistry.get('ecr')?.key, 'ecr');
  });

  test('accepts region or regions, registryIds, endpoint, auth {} and auth.secretRef', () => {
    assert.ok(ecrConfig.safeParse({ region: 'us-east-1' }).success);
    assert.ok(ecrConfig.safeParse({ regions: ['us-east-1', 'eu-west-1'], auth: {} }).success);
    assert.ok(
      ecrConfig.safeParse({
        region: 'us-gov-west-1',
        registryIds: ['123456789012'],
        endpoint: 'https://vpce-0abc.api.ecr.us-gov-west-1.vpce.amazonaws.com',
        auth: { secretRef: { namespace: 'regcred-system', name: 'aws' } },
      }).success,
    );
  });

  test('needs exactly one of region, regions', () => {
    for (const bad of [{}, { region: 'us-east-1', regions: ['eu-west-1'] }]) {
      const r = ecrConfig.safeParse(bad);
      assert.ok(!r.success);
      assert.match(r.error.issues.map((i) => i.message).join('\n'), /exactly one of region, regions/);
    }
  });

  test('rejects bad regions, account ids, endpoints and unknown fields', () => {
    for (const bad of [
      { region: 'US-EAST-1' },
      { regions: [] },
      { region: 'us-east-1', registryIds: ['12345'] },
      { region: 'us-east-1', endpoint: 'ecr.local' },
      { region: 'us-east-1', auth: { assumeRole: { roleArn: 'x' } } },
      { region: 'us-east-1', accessKey: 'x' },
    ]) {
      assert.ok(!ecrConfig.safeParse(bad).success, JSON.stringify(bad));
    }
  });
});

describe('ecr provider fetch', () => {
  test('one call per region; each authorizationData entry is a credential', async () => {
    const calls: Call[] = [];
    const creds = await provider({ regions: ['us-east-1', 'eu-west-1'], registryIds: ['111111111111', '222222222222'] }, answering(calls)).fetch();
    assert.deepEqual(calls.map((c) => c.region).sort(), ['eu-west-1', 'us-east-1']);
    assert.ok(calls.every((c) => c.credentials === undefined), 'default chain: no explicit credentials');
    assert.deepEqual(calls[0]!.registryIds, ['111111111111', '222222222222']);
    assert.equal(creds.length, 4);
    assert.deepEqual(creds[0], {
      registry: '111111111111.dkr.ecr.us-east-1.amazonaws.com',
      username: 'AWS',
      password: `${PASSWORD}-111111111111-us-east-1`,
      expiresAt: EXPIRY,
    });
    assert.equal(creds[3]!.registry, '222222222222.dkr.ecr.eu-west-1.amazonaws.com');
  });

  test('returns an expiry in the past as is (the controller clamps refreshes)', async () => {
    const past = new Date('2015-01-01T00:00:00Z');
    const creds = await provider({ region: 'us-east-1' }, async () => ({
      authorizationData: [{ authorizationToken: token(), proxyEndpoint: 'https://123456789012.dkr.ecr.us-east-1.amazonaws.com/', expiresAt: past }],
    })).fetch();
    assert.deepEqual(creds, [{ registry: '123456789012.dkr.ecr.us-east-1.amazonaws.com', username: 'AWS', password: PASSWORD, expiresAt: past }]);
  });

  test('auth.secretRef: passes the keys to the SDK and registers every secret value', async () => {
    const calls: Call[] = [];
    const p = provider({ region: 'us-east-1', endpoint: 'http://127.0.0.1:1', auth: { secretRef: { name: 'aws' } } }, answering(calls), {
      AWS_ACCESS_KEY_ID: KEY_ID,
      AWS_SECRET_ACCESS_KEY: `${SECRET_KEY}\n`,
      AWS_SESSION_TOKEN: SESSION,
    });
    const [cred] = await p.fetch();
    assert.deepEqual(calls[0]!.credentials, { accessKeyId: KEY_ID, secretAccessKey: SECRET_KEY, sessionToken: SESSION });
    assert.equal(calls[0]!.endpoint, 'http://127.0.0.1:1');
    const text = `${KEY_ID} ${SECRET_KEY} ${SESSION} ${cred!.password}`;
    assert.equal(scrub(text), '[REDACTED] [REDACTED] [REDACTED] [REDACTED]');
  });

  test('a source Secret lacking keys: InvalidSource naming the keys, never values', async () => {
    let called = false;
    const call: GetAuthorizationToken = async () => {
      called = true;
      return {};
    };
    await assert.rejects(
      provider({ region: 'us-east-1', auth: { secretRef: { name: 'aws' } } }, call, { AWS_ACCESS_KEY_ID: KEY_ID }).fetch(),
      (err: unknown) => {
        assert.ok(err instanceof RegcredError);
        assert.equal(err.code, 'InvalidSource');
        assert.match(err.message, /Secret regcred-system\/aws lacks key\(s\) "AWS_SECRET_ACCESS_KEY"/);
        assert.ok(!err.message.includes(KEY_ID));
        return true;
      },
    );
    assert.equal(called, false);
    await assert.rejects(provider({ region: 'us-east-1', auth: { secretRef: { name: 'aws' } } }, call, {}).fetch(), /"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"/);
  });

  test('an empty or malformed response is a ProviderError', async () => {
    await assert.rejects(provider({ region: 'us-east-1' }, async () => ({ authorizationData: [] })).fetch(), (err: unknown) => {
      assert.ok(err instanceof RegcredError);
      assert.equal(err.code, 'ProviderError');
      assert.match(err.message, /^ecr GetAuthorizationToken in us-east-1: /);
      return true;
    });
    await assert.rejects(
      provider({ region: 'us-east-1' }, async () => ({
        authorizationData: [{ authorizationToken: Buffer.from('no-colon').toString('base64'), proxyEndpoint: 'https://x' }],
      })).fetch(),
      /not "user:password"/,
    );
  });
});

describe('ecr error classification', () => {
  function sdkError(name: string, status: number | undefined, extra: Record<string, unknown> = {}): Error {
    const err = new Error(`${name} happened`) as Error & Record<string, unknown>;
    err.name = name;
    if (status !== undefined) err['$metadata'] = { httpStatusCode: status };
    err['$fault'] = status !== undefined && status >= 500 ? 'server' : 'client';
    Object.assign(err, extra);
    return err;
  }

  const cases: Array<[string, Error, boolean]> = [
    ['UnrecognizedClientException', sdkError('UnrecognizedClientException', 400), false],
    ['AccessDeniedException', sdkError('AccessDeniedException', 400), false],
    ['InvalidSignatureException', sdkError('InvalidSignatureException', 400), false],
    ['ExpiredTokenException', sdkError('ExpiredTokenException', 400), false],
    ['no credentials in the chain', sdkError('CredentialsProviderError', undefined), false],
    ['InvalidParameterException', sdkError('InvalidParameterException', 400), false],
    ['ThrottlingException', sdkError('ThrottlingException', 400), true],
    ['429', sdkError('TooManyRequestsException', 429), true],
    ['ServerException 500', sdkError('ServerException', 500), true],
    ['503', sdkError('ServiceUnavailable', 503), true],
    ['connection refused', Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }), true],
    ['timeout', sdkError('TimeoutError', undefined), true],
  ];
  for (const [name, err, retryable] of cases) {
    test(`${name}: retryable ${retryable}`, () => {
      const e = classify(err, 'eu-west-1');
      assert.equal(e.code, 'ProviderError');
      assert.equal(e.retryable, retryable);
      assert.match(e.message, /^ecr GetAuthorizationToken in eu-west-1: /);
    });
  }

  test('the provider throws the classified error', async () => {
    await assert.rejects(
      provider({ region: 'us-east-1' }, async () => {
        throw sdkError('UnrecognizedClientException', 400);
      }).fetch(),
      (err: unknown) => err instanceof RegcredError && !err.retryable && /in us-east-1: UnrecognizedClientException/.test(err.message),
    );
  });
});
