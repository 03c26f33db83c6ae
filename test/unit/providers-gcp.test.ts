// Unit tests for src/providers/gcp/: config schema, the service-account key flow (a JWT signed
// with node:crypto), jsonKey, the metadata server and Workload Identity Federation flows (through
// google-auth-library), source Secret handling and error classification. The Google endpoints are
// the loopback doubles of test/harness/doubles/gcp.ts; the subject token is minted here with a
// test key (the integration test uses the real API server's TokenRequest).
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { createGcpProvider } from '../../src/providers/gcp/index.js';
import { classify } from '../../src/providers/gcp/metadata.js';
import { gcpConfig, type GcpConfig } from '../../src/providers/gcp/schema.js';
import { defaultTokenAudience } from '../../src/providers/gcp/sts.js';
import { providerRegistry } from '../../src/providers/registry.js';
import type { ProviderDeps } from '../../src/providers/types.js';
import { RegcredError } from '../../src/errors.js';
import { resetRegisteredSecrets, scrub } from '../../src/redact.js';
import { fakeDeps, fakeSources, noFetch, rejectsWith } from '../harness/provider-tests.js';
import { startGcpDoubles, verifyJwt, type GcpDoubles } from '../harness/doubles/gcp.js';

afterEach(() => resetRegisteredSecrets());

/** The doubles check iat against their own clock: the provider's clock is the real one, frozen. */
const NOW = new Date();
const EMAIL = 'puller@my-project.iam.gserviceaccount.com';
const OTHER_EMAIL = 'stranger@my-project.iam.gserviceaccount.com';
const IMPERSONATED = 'registry-reader@my-project.iam.gserviceaccount.com';
const AUDIENCE = '//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/k8s/providers/test';
const ISSUER = 'https://kubernetes.test';

function rsa() {
  return generateKeyPairSync('rsa', { modulusLength: 2048 });
}
const keyPair = rsa();
const wrongPair = rsa();
const issuerPair = rsa();
const PRIVATE_PEM = keyPair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();

let doubles: GcpDoubles;

function keyJson(overrides: Record<string, unknown> = {}, pem = PRIVATE_PEM): string {
  return JSON.stringify({
    type: 'service_account',
    project_id: 'my-project',
    private_key_id: 'abc123',
    private_key: pem,
    client_email: EMAIL,
    client_id: '1234567890',
    token_uri: doubles.tokenUri,
    ...overrides,
  });
}

/** A service-account token as the API server's TokenRequest would mint it, signed with issuerPair. */
function mintSubjectToken(ref: { namespace?: string | undefined; name: string }, audiences: string[], seconds: number): string {
  const iat = Math.floor(Date.now() / 1000);
  const header = { alg: 'RS256', kid: 'test-kid' };
  const claims = { iss: ISSUER, aud: audiences, sub: `system:serviceaccount:${ref.namespace ?? 'regcred-system'}:${ref.name}`, iat, exp: iat + seconds };
  const input = `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
  return `${input}.${sign('sha256', Buffer.from(input), issuerPair.privateKey).toString('base64url')}`;
}

interface TokenCall {
  ref: { namespace?: string | undefined; name: string };
  audiences: string[];
  seconds: number;
  token: string;
}

function deps(data?: Record<string, string>, extra: Partial<ProviderDeps> & { tokenCalls?: TokenCall[] } = {}): ProviderDeps {
  const tokenCalls = extra.tokenCalls ?? [];
  return fakeDeps({
    sources: fakeSources(() => data),
    now: () => NOW,
    fetch: globalThis.fetch,
    async tokenRequest(ref, audiences, seconds) {
      const token = mintSubjectToken(ref, audiences, seconds);
      tokenCalls.push({ ref, audiences, seconds, token });
      return token;
    },
    ...extra,
  });
}

function provider(config: unknown, d: ProviderDeps) {
  return createGcpProvider(gcpConfig.parse(config) as GcpConfig, d);
}

/** What no error message may hold: a private key, an access token, a JWT. */
const NO_SECRETS = [/PRIVATE KEY|ya29\.|eyJ/];

before(async () => {
  doubles = await startGcpDoubles({
    keys: new Map<string, KeyObject>([[EMAIL, keyPair.publicKey]]),
    fetchJwks: async () => ({ keys: [{ ...(issuerPair.publicKey.export({ format: 'jwk' }) as object), kid: 'test-kid', alg: 'RS256', use: 'sig' }] }),
    issuer: ISSUER,
    stsAudience: AUDIENCE,
    subjectTokenAudience: defaultTokenAudience(AUDIENCE),
    allowedSubjects: ['system:serviceaccount:regcred-system:gcp-puller'],
    impersonable: [IMPERSONATED],
  });
});

after(async () => {
  await doubles?.stop();
});

describe('gcp config schema', () => {
  test('is registered under "gcp"', () => {
    assert.equal(providerRegistry.get('gcp')?.key, 'gcp');
  });

  test('accepts each auth mode and the registry forms', () => {
    for (const good of [
      { registries: ['gcr.io', 'eu.gcr.io', 'europe-docker.pkg.dev', 'us-central1-docker.pkg.dev'], auth: { secretRef: { name: 'gcp-key' } } },
      { registries: ['gcr.io'], jsonKey: true, auth: { secretRef: { namespace: 'regcred-system', name: 'gcp-key', key: 'sa.json' } } },
      { registries: ['gcr.io'], jsonKey: false, scopes: ['https://www.googleapis.com/auth/devstorage.read_only'], auth: { metadataServer: {} } },
      { registries: ['gcr.io'], auth: { metadataServer: { serviceAccount: EMAIL } } },
      { registries: ['asia-docker.pkg.dev'], auth: { workloadIdentityFederation: { audience: AUDIENCE, serviceAccount: { name: 'gcp-puller' } } } },
      {
        registries: ['asia-docker.pkg.dev'],
        auth: {
          workloadIdentityFederation: {
            audience: AUDIENCE,
            serviceAccount: { namespace: 'regcred-system', name: 'gcp-puller' },
            tokenAudience: 'my-audience',
            serviceAccountImpersonation: { email: IMPERSONATED, lifetimeSeconds: 1800 },
            stsEndpoint: 'https://sts.example.internal',
            iamCredentialsEndpoint: 'http://127.0.0.1:1',
          },
        },
      },
    ]) {
      const r = gcpConfig.safeParse(good);
      assert.ok(r.success, `${JSON.stringify(good)}: ${r.success ? '' : r.error.message}`);
    }
  });

  test('needs exactly one auth mode', () => {
    for (const bad of [{ registries: ['gcr.io'], auth: {} }, { registries: ['gcr.io'], auth: { secretRef: { name: 'k' }, metadataServer: {} } }]) {
      const r = gcpConfig.safeParse(bad);
      assert.ok(!r.success);
      assert.match(r.error.issues.map((i) => i.message).join('\n'), /exactly one of secretRef, metadataServer, workloadIdentityFederation/);
    }
    assert.ok(!gcpConfig.safeParse({ registries: ['gcr.io'] }).success, 'auth is required');
  });

  test('jsonKey only with secretRef', () => {
    const r = gcpConfig.safeParse({ registries: ['gcr.io'], jsonKey: true, auth: { metadataServer: {} } });
    assert.ok(!r.success);
    assert.match(r.error.issues.map((i) => i.message).join('\n'), /jsonKey: true needs auth.secretRef/);
  });

  test('rejects other registries, bad audiences, emails, lifetimes and unknown fields', () => {
    const ok = { secretRef: { name: 'k' } };
    for (const bad of [
      { registries: [], auth: ok },
      { registries: ['docker.io'], auth: ok },
      { registries: ['gcr.io.evil.example'], auth: ok },
      { registries: ['europe-docker.pkg.dev.evil'], auth: ok },
      { registries: ['https://gcr.io'], auth: ok },
      { registries: Array.from({ length: 21 }, () => 'gcr.io'), auth: ok },
      { registries: ['gcr.io'], scopes: ['a b'], auth: ok },
      { registries: ['gcr.io'], auth: { secretRef: { name: 'k', key: 'a/b' } } },
      { registries: ['gcr.io'], auth: { metadataServer: { serviceAccount: 'not-an-email' } } },
      { registries: ['gcr.io'], auth: { metadataServer: { host: '169.254.169.254' } } },
      { registries: ['gcr.io'], auth: { workloadIdentityFederation: { audience: 'https://iam.googleapis.com/x', serviceAccount: { name: 'a' } } } },
      { registries: ['gcr.io'], auth: { workloadIdentityFederation: { audience: AUDIENCE, serviceAccount: { name: 'a' }, serviceAccountImpersonation: { email: IMPERSONATED, lifetimeSeconds: 50000 } } } },
      { registries: ['gcr.io'], auth: { workloadIdentityFederation: { audience: AUDIENCE, serviceAccount: { name: 'a' }, stsEndpoint: 'sts.local' } } },
      { registries: ['gcr.io'], auth: ok, tokenUri: 'http://x' },
    ]) {
      assert.ok(!gcpConfig.safeParse(bad).success, JSON.stringify(bad));
    }
  });
});

describe('gcp auth.secretRef: service-account key', () => {
  test('signs an RS256 JWT the token endpoint verifies; one token for every registry', async () => {
    const reads: Array<{ namespace?: string | undefined; name: string }> = [];
    // The double checks iat against its own clock: the real one here.
    const now = new Date();
    const d = { ...deps({ 'key.json': keyJson() }, { now: () => now }), sources: fakeSources(() => ({ 'key.json': keyJson() }), reads) };
    const before = doubles.assertions.length;
    const creds = await provider({ registries: ['gcr.io', 'europe-docker.pkg.dev', 'gcr.io'], auth: { secretRef: { name: 'gcp-key' } } }, d).mint();
    assert.deepEqual(reads, [{ name: 'gcp-key' }]);
    assert.equal(doubles.assertions.length, before + 1, 'one token request');
    const claims = doubles.assertions.at(-1)!;
    assert.equal(claims['iss'], EMAIL);
    assert.equal(claims['aud'], doubles.tokenUri);
    assert.equal(claims['scope'], 'https://www.googleapis.com/auth/cloud-platform');
    const token = doubles.issued.key.at(-1)!;
    const expiresAt = new Date(now.getTime() + 3599_000);
    assert.deepEqual(creds, [
      { registry: 'gcr.io', username: 'oauth2accesstoken', password: token, expiresAt },
      { registry: 'europe-docker.pkg.dev', username: 'oauth2accesstoken', password: token, expiresAt },
    ]);
    assert.equal(scrub(`${token} ${PRIVATE_PEM} ${JSON.stringify(PRIVATE_PEM)}`), '[REDACTED] [REDACTED] "[REDACTED]"');
  });

  test('the JWT: header kid, iat = now, exp = iat + 3600, custom scopes space-separated', async () => {
    let sent = '';
    const spy = (async (url: string | URL | Request, init?: RequestInit) => {
      sent = String(init?.body ?? '');
      return globalThis.fetch(url, init);
    }) as typeof globalThis.fetch;
    // The double checks iat against its own clock: use the real one here.
    const realNow = new Date();
    await provider(
      { registries: ['gcr.io'], scopes: ['https://www.googleapis.com/auth/devstorage.read_only', 'openid'], auth: { secretRef: { name: 'k', key: 'sa.json' } } },
      deps({ 'sa.json': `\n${keyJson()}\n` }, { fetch: spy, now: () => realNow }),
    ).mint();
    const form = new URLSearchParams(sent);
    assert.equal(form.get('grant_type'), 'urn:ietf:params:oauth:grant-type:jwt-bearer');
    const checked = verifyJwt(form.get('assertion')!, () => keyPair.publicKey);
    assert.ok(!('error' in checked), 'verifies with the key’s public key');
    assert.deepEqual(checked.header, { alg: 'RS256', typ: 'JWT', kid: 'abc123' });
    const iat = Math.floor(realNow.getTime() / 1000);
    assert.deepEqual(checked.claims, {
      iss: EMAIL,
      scope: 'https://www.googleapis.com/auth/devstorage.read_only openid',
      aud: doubles.tokenUri,
      iat,
      exp: iat + 3600,
    });
  });

  test('jsonKey: the key itself as _json_key, no expiry, no network', async () => {
    const text = keyJson();
    const creds = await provider(
      { registries: ['gcr.io', 'us-docker.pkg.dev'], jsonKey: true, auth: { secretRef: { name: 'k' } } },
      deps({ 'key.json': `${text}\n` }, { fetch: noFetch }),
    ).mint();
    assert.deepEqual(creds, [
      { registry: 'gcr.io', username: '_json_key', password: text },
      { registry: 'us-docker.pkg.dev', username: '_json_key', password: text },
    ]);
    assert.equal(scrub(text), '[REDACTED]');
  });

  test('a wrong key: the endpoint answers 400 invalid_grant → permanent, naming gcp and the call', async () => {
    const wrong = wrongPair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    await assert.rejects(
      provider({ registries: ['gcr.io'], auth: { secretRef: { name: 'k' } } }, deps({ 'key.json': keyJson({}, wrong) }, { now: () => new Date() })).mint(),
      rejectsWith('ProviderError', false, /^gcp token request \(http:\/\/127\.0\.0\.1:\d+\): HTTP 400 invalid_grant$/, NO_SECRETS),
    );
  });

  for (const [status, body, retryable, pattern] of [
    [503, { error: 'temporarily_unavailable' }, true, /HTTP 503 temporarily_unavailable/],
    [500, 'oops', true, /HTTP 500$/],
    [429, { error: { code: 429, message: 'Quota exceeded', status: 'RESOURCE_EXHAUSTED' } }, true, /HTTP 429 RESOURCE_EXHAUSTED$/],
    [401, { error: 'invalid_client', error_description: 'The OAuth client was not found.' }, false, /HTTP 401 invalid_client \(bad credentials\)$/],
    [403, { error: 'access_denied' }, false, /HTTP 403 access_denied/],
  ] as const) {
    test(`token endpoint ${status}: retryable ${retryable}`, async () => {
      doubles.failNext('token', status, body);
      await assert.rejects(
        provider({ registries: ['gcr.io'], auth: { secretRef: { name: 'k' } } }, deps({ 'key.json': keyJson() })).mint(),
        rejectsWith('ProviderError', retryable, pattern, NO_SECRETS),
      );
    });
  }

  test('unreachable token endpoint: retryable', async () => {
    const srv = createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as AddressInfo).port;
    await new Promise((r) => srv.close(r)); // nothing listens there now
    await assert.rejects(
      provider({ registries: ['gcr.io'], auth: { secretRef: { name: 'k' } } }, deps({ 'key.json': keyJson({ token_uri: `http://127.0.0.1:${port}/token` }) })).mint(),
      rejectsWith('ProviderError', true, new RegExp(`^gcp token request \\(http://127\\.0\\.0\\.1:${port}\\): network error ECONNREFUSED$`), NO_SECRETS),
    );
  });

  test('a bad source Secret: InvalidSource naming the Secret and key, never a value', async () => {
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{}, /Secret regcred-system\/k lacks key "key\.json"/],
      [{ 'key.json': 'not json {' }, /key "key\.json" is not JSON/],
      [{ 'key.json': JSON.stringify({ type: 'authorized_user', refresh_token: 'secret-refresh-token' }) }, /lacks field\(s\) "client_id", "client_secret"/],
      [{ 'key.json': JSON.stringify({ type: 'external_account', audience: 'x' }) }, /has type "external_account", expected "service_account" or "authorized_user"/],
      [{ 'key.json': keyJson({ client_email: '' }) }, /lacks field\(s\) "client_email"/],
      [{ 'key.json': keyJson({}, '-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n') }, /private_key that is not a PEM private key/],
      [{ 'key.json': keyJson({ token_uri: 'http://oauth2.example.com/token' }) }, /token_uri http:\/\/oauth2\.example\.com, which must be https/],
    ];
    for (const [data, pattern] of cases) {
      await assert.rejects(provider({ registries: ['gcr.io'], auth: { secretRef: { name: 'k' } } }, deps(data, { fetch: noFetch })).mint(), (err: unknown) => {
        assert.ok(err instanceof RegcredError);
        assert.equal(err.code, 'InvalidSource');
        assert.match(err.message, pattern);
        assert.doesNotMatch(err.message, /secret-refresh-token|not a key/);
        return true;
      });
    }
  });
});

describe('gcp auth.metadataServer', () => {
  let saved: string | undefined;
  before(() => {
    saved = process.env['GCE_METADATA_HOST'];
    process.env['GCE_METADATA_HOST'] = doubles.host;
  });
  after(() => {
    if (saved === undefined) delete process.env['GCE_METADATA_HOST'];
    else process.env['GCE_METADATA_HOST'] = saved;
  });

  test('the double refuses a request without Metadata-Flavor: Google', async () => {
    const before = doubles.metadataRejected;
    const res = await fetch(`${doubles.url}/computeMetadata/v1/instance/service-accounts/default/token`);
    assert.equal(res.status, 403);
    assert.equal(doubles.metadataRejected, before + 1);
  });

  test('a token of the default service account, with the scopes; expiry from expires_in', async () => {
    const t0 = Date.now();
    const creds = await provider({ registries: ['gcr.io', 'eu.gcr.io'], auth: { metadataServer: {} } }, deps(undefined, { fetch: noFetch })).mint();
    const token = doubles.issued.metadata.at(-1)!;
    assert.deepEqual(doubles.metadataRequests.at(-1), { account: 'default', scopes: 'https://www.googleapis.com/auth/cloud-platform' });
    assert.equal(creds.length, 2);
    for (const c of creds) {
      assert.equal(c.username, 'oauth2accesstoken');
      assert.equal(c.password, token);
      const ms = c.expiresAt!.getTime();
      assert.ok(ms >= t0 + 3599_000 && ms <= Date.now() + 3599_000, 'expires_in from now (the library’s clock)');
    }
    assert.equal(scrub(token), '[REDACTED]');
  });

  test('serviceAccount: that account’s token path', async () => {
    await provider({ registries: ['gcr.io'], auth: { metadataServer: { serviceAccount: EMAIL } } }, deps()).mint();
    assert.equal(doubles.metadataRequests.at(-1)!.account, EMAIL);
  });

  test('a 403 from the metadata server is permanent; a 503 retryable', async () => {
    doubles.failNext('metadata', 403, { error: 'denied' });
    await assert.rejects(
      provider({ registries: ['gcr.io'], auth: { metadataServer: {} } }, deps()).mint(),
      rejectsWith('ProviderError', false, /^gcp metadata server token request: HTTP 403/, NO_SECRETS),
    );
    doubles.failNext('metadata', 503, 'unavailable', 10); // gcp-metadata retries 5xx itself
    await assert.rejects(
      provider({ registries: ['gcr.io'], auth: { metadataServer: {} } }, deps()).mint(),
      rejectsWith('ProviderError', true, /^gcp metadata server token request: HTTP 503/, NO_SECRETS),
    );
    doubles.failNext('metadata', 200, {}, 0);
  });
});

describe('gcp auth.workloadIdentityFederation', () => {
  const wif = (extra: Record<string, unknown> = {}) => ({
    registries: ['gcr.io', 'europe-docker.pkg.dev'],
    auth: { workloadIdentityFederation: { audience: AUDIENCE, serviceAccount: { name: 'gcp-puller' }, stsEndpoint: doubles.url, iamCredentialsEndpoint: doubles.url, ...extra } },
  });

  test('mints a subject token (audience https: + provider), exchanges it at STS', async () => {
    const tokenCalls: TokenCall[] = [];
    const t0 = Date.now();
    const creds = await provider(wif(), deps(undefined, { tokenCalls })).mint();
    assert.equal(tokenCalls.length, 1);
    assert.deepEqual(tokenCalls[0]!.ref, { name: 'gcp-puller' });
    assert.deepEqual(tokenCalls[0]!.audiences, [`https:${AUDIENCE}`]);
    assert.equal(tokenCalls[0]!.seconds, 600);
    const form = doubles.stsRequests.at(-1)!;
    assert.equal(form['audience'], AUDIENCE);
    assert.equal(form['scope'], 'https://www.googleapis.com/auth/cloud-platform');
    const token = doubles.issued.sts.at(-1)!;
    assert.deepEqual(
      creds.map((c) => [c.registry, c.username, c.password]),
      [
        ['gcr.io', 'oauth2accesstoken', token],
        ['europe-docker.pkg.dev', 'oauth2accesstoken', token],
      ],
    );
    assert.ok(t0 > 0 && creds[0]!.expiresAt!.getTime() >= NOW.getTime() + 3599_000, 'expires_in from the provider’s clock');
    assert.equal(scrub(`${token} ${tokenCalls[0]!.token}`), '[REDACTED] [REDACTED]');
  });

  test('then impersonation: generateAccessToken with the STS token; expiry from expireTime', async () => {
    const creds = await provider(wif({ tokenAudience: `https:${AUDIENCE}`, serviceAccountImpersonation: { email: IMPERSONATED, lifetimeSeconds: 1800 } }), deps()).mint();
    const req = doubles.iamRequests.at(-1)!;
    assert.equal(req.email, IMPERSONATED);
    assert.deepEqual(req.body, { scope: ['https://www.googleapis.com/auth/cloud-platform'], lifetime: '1800s' });
    assert.equal(creds[0]!.password, doubles.issued.iam.at(-1));
    const left = creds[0]!.expiresAt!.getTime() - Date.now();
    assert.ok(left > 1790_000 && left <= 1800_000, `expires in about 1800 s (${left} ms)`);
  });

  test('a subject the pool does not accept: STS 403 access_denied → permanent', async () => {
    await assert.rejects(
      provider(wif({ serviceAccount: { name: 'someone-else' } }), deps()).mint(),
      rejectsWith('ProviderError', false, /^gcp STS token exchange: HTTP 403 access_denied/, NO_SECRETS),
    );
  });

  test('a token audience the provider does not accept: STS 400 invalid_grant → permanent', async () => {
    await assert.rejects(
      provider(wif({ tokenAudience: 'wrong' }), deps()).mint(),
      rejectsWith('ProviderError', false, /^gcp STS token exchange: HTTP 400 invalid_grant$/, NO_SECRETS),
    );
  });

  test('impersonating an account the principal may not: 403 PERMISSION_DENIED → permanent, naming generateAccessToken', async () => {
    await assert.rejects(
      provider(wif({ serviceAccountImpersonation: { email: OTHER_EMAIL } }), deps()).mint(),
      rejectsWith('ProviderError', false, new RegExp(`^gcp generateAccessToken for ${OTHER_EMAIL.replace(/\./g, '\\.')}: HTTP 403 PERMISSION_DENIED`), NO_SECRETS),
    );
  });

  test('STS 503 (after the library’s own retries): retryable', async () => {
    doubles.failNext('sts', 503, { error: 'temporarily_unavailable' }, 10);
    await assert.rejects(provider(wif(), deps()).mint(), rejectsWith('ProviderError', true, /^gcp STS token exchange: HTTP 503/, NO_SECRETS));
    doubles.failNext('sts', 200, {}, 0);
  });

  test('STS unreachable: retryable, naming the call', async () => {
    const srv = createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as AddressInfo).port;
    await new Promise((r) => srv.close(r));
    await assert.rejects(provider(wif({ stsEndpoint: `http://127.0.0.1:${port}` }), deps()).mint(), rejectsWith('ProviderError', true, /^gcp STS token exchange: network error ECONNREFUSED$/, NO_SECRETS));
  });

  test('no Kubernetes access to mint tokens: InvalidSource', async () => {
    const d = deps();
    delete d.tokenRequest;
    await assert.rejects(provider(wif(), d).mint(), rejectsWith('InvalidSource', false, /gcp auth\.workloadIdentityFederation needs service-account tokens/, NO_SECRETS));
  });
});

describe('gcp error classification', () => {
  const http = (status: number, data?: unknown) => Object.assign(new Error(`Request failed with status code ${status}`), { status, response: { status, data } });
  const cases: Array<[string, unknown, boolean]> = [
    ['400 invalid_grant', http(400, { error: 'invalid_grant', error_description: 'Invalid JWT Signature.' }), false],
    ['400 invalid_scope', http(400, { error: 'invalid_scope' }), false],
    ['400 temporarily_unavailable', http(400, { error: 'temporarily_unavailable' }), true],
    ['401', http(401, { error: { code: 401, status: 'UNAUTHENTICATED', message: 'no' } }), false],
    ['403', http(403, { error: { code: 403, status: 'PERMISSION_DENIED', message: 'denied' } }), false],
    ['404', http(404, 'Not Found'), false],
    ['408', http(408), true],
    ['429', http(429), true],
    ['500', http(500), true],
    ['503', http(503), true],
    ['fetch failed, ECONNREFUSED', Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } }), true],
    ['node-fetch ENOTFOUND', Object.assign(new Error('request to http://metadata.google.internal failed'), { code: 'ENOTFOUND' }), true],
    ['AbortError', Object.assign(new Error('This operation was aborted'), { name: 'AbortError' }), true],
    ['anything else', new Error('Invalid response from metadata service: incorrect Metadata-Flavor header.'), false],
  ];
  for (const [name, err, retryable] of cases) {
    test(`${name}: retryable ${retryable}`, () => {
      const e = classify(err, 'token request (https://oauth2.googleapis.com)');
      assert.equal(e.code, 'ProviderError');
      assert.equal(e.retryable, retryable);
      assert.match(e.message, /^gcp token request \(https:\/\/oauth2\.googleapis\.com\): /);
    });
  }

  test('a RegcredError passes through', () => {
    const inner = new RegcredError('InvalidSource', 'x');
    assert.equal(classify(inner, 'y'), inner);
  });

  test('the message holds the status and the OAuth code; the description is in remoteDetail, on one line', () => {
    const e = classify(http(400, { error: 'invalid_grant', error_description: 'Invalid JWT Signature.\nsecond line' }), 'token request (x)');
    assert.equal(e.message, 'gcp token request (x): HTTP 400 invalid_grant');
    assert.match(e.remoteDetail ?? '', /^invalid_grant: Invalid JWT Signature\./);
  });
});

describe('gcp auth.secretRef: a user’s Application Default Credentials (authorized_user)', () => {
  test('refresh-token grant to token_uri with the client id, secret and refresh token; expiry from expires_in', async () => {
    const seen: Array<{ url: string; body: string }> = [];
    const fake: typeof fetch = async (url, init) => {
      seen.push({ url: String(url), body: String(init?.body) });
      return new Response(JSON.stringify({ access_token: 'ya29.user-token', expires_in: 3599, token_type: 'Bearer' }), { status: 200 });
    };
    const adc = JSON.stringify({ type: 'authorized_user', client_id: 'cid.apps.googleusercontent.com', client_secret: 'csecret', refresh_token: 'rtoken' });
    const creds = await provider({ registries: ['gcr.io'], auth: { secretRef: { name: 'k' } } }, deps({ 'key.json': adc }, { fetch: fake })).mint();
    assert.equal(seen.length, 1);
    assert.equal(seen[0]!.url, 'https://oauth2.googleapis.com/token');
    assert.deepEqual(Object.fromEntries(new URLSearchParams(seen[0]!.body)), {
      grant_type: 'refresh_token',
      client_id: 'cid.apps.googleusercontent.com',
      client_secret: 'csecret',
      refresh_token: 'rtoken',
    });
    assert.equal(creds[0]!.password, 'ya29.user-token');
    assert.equal(creds[0]!.username, 'oauth2accesstoken');
    assert.ok(creds[0]!.expiresAt);
  });
});
