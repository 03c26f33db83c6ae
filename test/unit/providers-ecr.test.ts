// Unit tests for src/providers/ecr.ts: config schema, token decoding, source Secret handling and
// error classification, with the GetAuthorizationToken call injected (no network). The provider
// against a real (fake) AWS API is tested in test/integration/providers-ecr.test.ts (moto).
import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { classify, createEcrProvider, ecrConfig, type AwsCredentials, type EcrConfig, type GetAuthorizationToken, type StsCalls } from '../../src/providers/ecr.js';
import { providerRegistry } from '../../src/providers/registry.js';
import type { SourceReader } from '../../src/providers/types.js';
import { RegcredError } from '../../src/errors.js';
import { resetRegisteredSecrets, scrub } from '../../src/redact.js';
import { silentLogger } from '../../src/log.js';
import { fakeSources } from '../harness/provider-tests.js';

afterEach(() => resetRegisteredSecrets());

const KEY_ID = 'AKIAEXAMPLEKEYID1234';
const SECRET_KEY = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const SESSION = 'FwoGZXIvYXdzEXAMPLESESSIONTOKEN';
const PASSWORD = 'ecr-password-eyJwYXlsb2FkIjoi';
const EXPIRY = new Date('2030-01-01T12:00:00Z');

function token(password = PASSWORD): string {
  return Buffer.from(`AWS:${password}`).toString('base64');
}

const sourcesOf = (data: Record<string, string> | undefined): SourceReader => fakeSources(() => data);

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
    const creds = await provider({ regions: ['us-east-1', 'eu-west-1'], registryIds: ['111111111111', '222222222222'] }, answering(calls)).mint();
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
    })).mint();
    assert.deepEqual(creds, [{ registry: '123456789012.dkr.ecr.us-east-1.amazonaws.com', username: 'AWS', password: PASSWORD, expiresAt: past }]);
  });

  test('auth.secretRef: passes the keys to the SDK and registers every secret value', async () => {
    const calls: Call[] = [];
    const p = provider({ region: 'us-east-1', endpoint: 'http://127.0.0.1:1', auth: { secretRef: { name: 'aws' } } }, answering(calls), {
      AWS_ACCESS_KEY_ID: KEY_ID,
      AWS_SECRET_ACCESS_KEY: `${SECRET_KEY}\n`,
      AWS_SESSION_TOKEN: SESSION,
    });
    const [cred] = await p.mint();
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
      provider({ region: 'us-east-1', auth: { secretRef: { name: 'aws' } } }, call, { AWS_ACCESS_KEY_ID: KEY_ID }).mint(),
      (err: unknown) => {
        assert.ok(err instanceof RegcredError);
        assert.equal(err.code, 'InvalidSource');
        assert.match(err.message, /Secret regcred-system\/aws lacks key\(s\) "AWS_SECRET_ACCESS_KEY"/);
        assert.ok(!err.message.includes(KEY_ID));
        return true;
      },
    );
    assert.equal(called, false);
    await assert.rejects(provider({ region: 'us-east-1', auth: { secretRef: { name: 'aws' } } }, call, {}).mint(), /"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"/);
  });

  test('an empty or malformed response is a ProviderError', async () => {
    await assert.rejects(provider({ region: 'us-east-1' }, async () => ({ authorizationData: [] })).mint(), (err: unknown) => {
      assert.ok(err instanceof RegcredError);
      assert.equal(err.code, 'ProviderError');
      assert.match(err.message, /^ecr GetAuthorizationToken in us-east-1: /);
      return true;
    });
    await assert.rejects(
      provider({ region: 'us-east-1' }, async () => ({
        authorizationData: [{ authorizationToken: Buffer.from('no-colon').toString('base64'), proxyEndpoint: 'https://x' }],
      })).mint(),
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
      }).mint(),
      (err: unknown) => err instanceof RegcredError && !err.retryable && /in us-east-1: UnrecognizedClientException/.test(err.message),
    );
  });
});

const ROLE = 'arn:aws:iam::111111111111:role/puller';
const WEB_ROLE = 'arn:aws:iam::222222222222:role/web-puller';

describe('ecr config schema: assumeRole, webIdentity, stsEndpoint', () => {
  test('accepts assumeRole (with every field) and webIdentity, alone or chained', () => {
    for (const good of [
      { region: 'us-east-1', auth: { assumeRole: { roleArn: ROLE } } },
      {
        region: 'us-east-1',
        stsEndpoint: 'https://sts.us-east-1.amazonaws.com',
        auth: {
          secretRef: { name: 'aws' },
          assumeRole: { roleArn: 'arn:aws-us-gov:iam::111111111111:role/path/to/Puller+x=y,z.w@v_u-t', externalId: 'ext:id/1', sessionName: 'my-session', durationSeconds: 900 },
        },
      },
      { region: 'us-east-1', auth: { assumeRole: { roleArn: ROLE, durationSeconds: 43200 } } },
      { region: 'us-east-1', auth: { webIdentity: { roleArn: WEB_ROLE, serviceAccount: { name: 'puller' } } } },
      {
        region: 'us-east-1',
        auth: {
          webIdentity: { roleArn: WEB_ROLE, audience: 'my-aud', serviceAccount: { namespace: 'regcred-system', name: 'puller' }, sessionName: 'web' },
          assumeRole: { roleArn: ROLE },
        },
      },
    ]) {
      const r = ecrConfig.safeParse(good);
      assert.ok(r.success, `${JSON.stringify(good)}: ${r.success ? '' : r.error.message}`);
    }
  });

  test('roleArn must be an IAM role ARN', () => {
    for (const roleArn of [
      'puller',
      'arn:aws:iam::11111111111:role/puller', // 11 digits
      'arn:aws:iam::111111111111:user/puller',
      'arn:aws:sts::111111111111:role/puller',
      'arn:aws:iam::111111111111:role/',
      'arn:aws:iam::111111111111:role/bad name',
    ]) {
      for (const auth of [{ assumeRole: { roleArn } }, { webIdentity: { roleArn, serviceAccount: { name: 'sa' } } }]) {
        const r = ecrConfig.safeParse({ region: 'us-east-1', auth });
        assert.ok(!r.success, JSON.stringify(auth));
        assert.match(r.error.issues.map((i) => i.message).join('\n'), /IAM role ARN/);
      }
    }
  });

  test('durationSeconds is an integer in 900..43200', () => {
    for (const durationSeconds of [899, 43201, 0, -1, 1000.5, '3600']) {
      const r = ecrConfig.safeParse({ region: 'us-east-1', auth: { assumeRole: { roleArn: ROLE, durationSeconds } } });
      assert.ok(!r.success, String(durationSeconds));
    }
  });

  test('rejects bad session names, external ids, stsEndpoint, missing serviceAccount, unknown fields', () => {
    for (const bad of [
      { region: 'us-east-1', auth: { assumeRole: { roleArn: ROLE, sessionName: 'x' } } },
      { region: 'us-east-1', auth: { assumeRole: { roleArn: ROLE, sessionName: 'has space' } } },
      { region: 'us-east-1', auth: { assumeRole: { roleArn: ROLE, sessionName: 'x'.repeat(65) } } },
      { region: 'us-east-1', auth: { assumeRole: { roleArn: ROLE, externalId: 'a' } } },
      { region: 'us-east-1', auth: { assumeRole: { roleArn: ROLE, role: 'x' } } },
      { region: 'us-east-1', auth: { assumeRole: {} } },
      { region: 'us-east-1', stsEndpoint: 'sts.local' },
      { region: 'us-east-1', auth: { webIdentity: { roleArn: WEB_ROLE } } },
      { region: 'us-east-1', auth: { webIdentity: { roleArn: WEB_ROLE, serviceAccount: { name: 'Bad_Name' } } } },
      { region: 'us-east-1', auth: { webIdentity: { roleArn: WEB_ROLE, serviceAccount: { name: 'sa' }, audience: '' } } },
    ]) {
      assert.ok(!ecrConfig.safeParse(bad).success, JSON.stringify(bad));
    }
  });

  test('secretRef and webIdentity are mutually exclusive', () => {
    const r = ecrConfig.safeParse({
      region: 'us-east-1',
      auth: { secretRef: { name: 'aws' }, webIdentity: { roleArn: WEB_ROLE, serviceAccount: { name: 'sa' } } },
    });
    assert.ok(!r.success);
    assert.match(r.error.issues.map((i) => i.message).join('\n'), /at most one of secretRef, webIdentity/);
  });
});

describe('ecr provider: STS', () => {
  const TEMP: AwsCredentials = { accessKeyId: 'ASIATEMPKEY', secretAccessKey: 'temp-secret-key-value', sessionToken: 'temp-session-token-value' };
  const WEB_TEMP: AwsCredentials = { accessKeyId: 'ASIAWEBKEY', secretAccessKey: 'web-secret-key-value', sessionToken: 'web-session-token-value' };
  const SA_TOKEN = 'eyJhbGciOiJSUzI1NiJ9.service-account-token.sig';

  type AssumeInput = Parameters<StsCalls['assumeRole']>[0];
  type WebInput = Parameters<StsCalls['assumeRoleWithWebIdentity']>[0];

  function fakeSts(log: { assume: AssumeInput[]; web: WebInput[] }, fail?: Error): StsCalls {
    return {
      async assumeRole(input) {
        log.assume.push(input);
        if (fail) throw fail;
        return TEMP;
      },
      async assumeRoleWithWebIdentity(input) {
        log.web.push(input);
        if (fail) throw fail;
        return WEB_TEMP;
      },
    };
  }

  function stsProvider(
    config: unknown,
    calls: Call[],
    sts: StsCalls,
    opts: { data?: Record<string, string>; tokens?: { ref: unknown; audiences: string[]; expirationSeconds: number }[]; noTokens?: boolean } = {},
  ) {
    const parsed = ecrConfig.parse(config) as EcrConfig;
    return createEcrProvider(
      parsed,
      {
        sources: sourcesOf(opts.data),
        now: () => new Date('2029-12-31T00:00:00Z'),
        fetch: globalThis.fetch,
        log: silentLogger(),
        ...(opts.noTokens
          ? {}
          : {
              tokenRequest: async (ref: { namespace?: string | undefined; name: string }, audiences: string[], expirationSeconds: number) => {
                opts.tokens?.push({ ref, audiences, expirationSeconds });
                return SA_TOKEN;
              },
            }),
      },
      answering(calls),
      sts,
    );
  }

  test('assumeRole from secretRef keys: AssumeRole signed with the keys, ECR called with the temporary credentials', async () => {
    const calls: Call[] = [];
    const log = { assume: [] as AssumeInput[], web: [] as WebInput[] };
    const creds = await stsProvider(
      {
        regions: ['eu-west-1', 'us-east-1'],
        stsEndpoint: 'http://127.0.0.1:2',
        auth: { secretRef: { name: 'aws' }, assumeRole: { roleArn: ROLE, externalId: 'ext-1', durationSeconds: 1800 } },
      },
      calls,
      fakeSts(log),
      { data: { AWS_ACCESS_KEY_ID: KEY_ID, AWS_SECRET_ACCESS_KEY: SECRET_KEY } },
    ).mint();
    assert.equal(log.assume.length, 1, 'one AssumeRole per fetch, not per region');
    const a = log.assume[0]!;
    assert.deepEqual(
      { region: a.region, endpoint: a.endpoint, credentials: a.credentials, roleArn: a.roleArn, roleSessionName: a.roleSessionName, externalId: a.externalId, durationSeconds: a.durationSeconds },
      { region: 'eu-west-1', endpoint: 'http://127.0.0.1:2', credentials: { accessKeyId: KEY_ID, secretAccessKey: SECRET_KEY }, roleArn: ROLE, roleSessionName: 'regcred', externalId: 'ext-1', durationSeconds: 1800 },
    );
    assert.equal(calls.length, 2);
    assert.ok(calls.every((c) => c.credentials === TEMP));
    assert.deepEqual(log.web, []);
    assert.ok(creds.every((c) => c.expiresAt?.getTime() === EXPIRY.getTime()), 'the expiry stays the ECR token’s');
  });

  test('assumeRole from the default chain: AssumeRole with no explicit credentials', async () => {
    const calls: Call[] = [];
    const log = { assume: [] as AssumeInput[], web: [] as WebInput[] };
    await stsProvider({ region: 'us-east-1', auth: { assumeRole: { roleArn: ROLE, sessionName: 'custom' } } }, calls, fakeSts(log)).mint();
    assert.equal(log.assume[0]!.credentials, undefined);
    assert.equal(log.assume[0]!.roleSessionName, 'custom');
    assert.equal(log.assume[0]!.endpoint, undefined);
    assert.equal(calls[0]!.credentials, TEMP);
  });

  test('webIdentity: mints a token for the service account with the audience, exchanges it, registers it', async () => {
    const calls: Call[] = [];
    const tokens: { ref: unknown; audiences: string[]; expirationSeconds: number }[] = [];
    const log = { assume: [] as AssumeInput[], web: [] as WebInput[] };
    await stsProvider({ region: 'us-east-1', auth: { webIdentity: { roleArn: WEB_ROLE, serviceAccount: { name: 'puller' } } } }, calls, fakeSts(log), { tokens }).mint();
    assert.equal(tokens.length, 1);
    assert.deepEqual(tokens[0]!.ref, { name: 'puller' });
    assert.deepEqual(tokens[0]!.audiences, ['sts.amazonaws.com']);
    assert.ok(tokens[0]!.expirationSeconds >= 600, 'TokenRequest needs at least 10 minutes');
    assert.equal(log.web.length, 1);
    assert.equal(log.web[0]!.webIdentityToken, SA_TOKEN);
    assert.equal(log.web[0]!.roleArn, WEB_ROLE);
    assert.equal(log.web[0]!.roleSessionName, 'regcred');
    assert.deepEqual(log.assume, []);
    assert.equal(calls[0]!.credentials, WEB_TEMP);
    assert.equal(scrub(SA_TOKEN), '[REDACTED]');
  });

  test('webIdentity then assumeRole: AssumeRole signed with the web identity credentials', async () => {
    const calls: Call[] = [];
    const tokens: { ref: unknown; audiences: string[]; expirationSeconds: number }[] = [];
    const log = { assume: [] as AssumeInput[], web: [] as WebInput[] };
    await stsProvider(
      {
        region: 'us-east-1',
        auth: { webIdentity: { roleArn: WEB_ROLE, audience: 'custom-aud', serviceAccount: { namespace: 'ns', name: 'sa' } }, assumeRole: { roleArn: ROLE } },
      },
      calls,
      fakeSts(log),
      { tokens },
    ).mint();
    assert.deepEqual(tokens[0]!.audiences, ['custom-aud']);
    assert.deepEqual(tokens[0]!.ref, { namespace: 'ns', name: 'sa' });
    assert.equal(log.assume[0]!.credentials, WEB_TEMP);
    assert.equal(calls[0]!.credentials, TEMP);
  });

  test('webIdentity without Kubernetes access (no tokenRequest) is a clear input error', async () => {
    await assert.rejects(
      stsProvider({ region: 'us-east-1', auth: { webIdentity: { roleArn: WEB_ROLE, serviceAccount: { name: 'sa' } } } }, [], fakeSts({ assume: [], web: [] }), { noTokens: true }).mint(),
      (err: unknown) => err instanceof RegcredError && err.code === 'InvalidSource' && /webIdentity/.test(err.message),
    );
  });

  test('a failed STS call is classified and names the call; ECR is not called', async () => {
    const calls: Call[] = [];
    const denied = Object.assign(new Error('User is not authorized to perform: sts:AssumeRole'), { name: 'AccessDenied', $metadata: { httpStatusCode: 403 } });
    await assert.rejects(
      stsProvider({ region: 'us-east-1', auth: { assumeRole: { roleArn: ROLE } } }, calls, fakeSts({ assume: [], web: [] }, denied)).mint(),
      (err: unknown) => {
        assert.ok(err instanceof RegcredError);
        assert.equal(err.code, 'ProviderError');
        assert.equal(err.retryable, false);
        assert.match(err.message, /^ecr sts:AssumeRole in us-east-1: AccessDenied \(HTTP 403\)$/);
        return true;
      },
    );
    const throttled = Object.assign(new Error('Rate exceeded'), { name: 'Throttling', $metadata: { httpStatusCode: 400 } });
    await assert.rejects(
      stsProvider({ region: 'us-east-1', auth: { webIdentity: { roleArn: WEB_ROLE, serviceAccount: { name: 'sa' } } } }, calls, fakeSts({ assume: [], web: [] }, throttled)).mint(),
      (err: unknown) => err instanceof RegcredError && err.retryable && /^ecr sts:AssumeRoleWithWebIdentity in us-east-1: Throttling/.test(err.message),
    );
    assert.deepEqual(calls, []);
  });
});
