// Unit tests for src/providers/chainguard.ts: the config schema, the TokenRequest and STS exchange it
// sends, the Credential it returns (user `_token`, expiry from the JWT), error classification, and
// that the written `auth` is base64 once (the old pull-secret-updater encoded it twice). fetch and
// tokenRequest are fakes; the real API server and a Chainguard double are in
// test/integration/providers-chainguard.test.ts.
import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CHAINGUARD_USERNAME,
  chainguardConfig,
  createChainguardProvider,
  exchangeChainguardToken,
  type ChainguardConfig,
} from '../../src/providers/chainguard.js';
import { httpError } from '../../src/providers/internal/http-errors.js';
import { providerRegistry } from '../../src/providers/registry.js';
import type { ProviderDeps } from '../../src/providers/types.js';
import { RegcredError } from '../../src/errors.js';
import { REDACTED, resetRegisteredSecrets, scrub } from '../../src/redact.js';
import { answeringAll, capturingLogger, fakeDeps, recordingTokenRequest, unsignedJwt, type SentRequest, type TokenCall } from '../harness/provider-tests.js';
import { buildCrds } from '../../src/crdgen/crd.js';
import { buildDockerConfigJson } from '../../src/dockerconfig.js';

afterEach(() => resetRegisteredSecrets());

const IDENTITY = '720909c9f5279097d847ad02a2f24ba8f59de36a/b6461e99e132298f';
const NOW = new Date('2030-01-01T00:00:00Z');
const EXP = Math.floor(NOW.getTime() / 1000) + 3600;
const SA_TOKEN = 'eyJhbGciOiJSUzI1NiJ9.sa-token-payload.sa-token-signature';

const jwt = (claims: Record<string, unknown>) => unsignedJwt(claims, 'ES256');
const CG_TOKEN = jwt({ iss: 'https://issuer.enforce.dev', sub: IDENTITY, aud: ['cgr.dev'], exp: EXP });

function answering(calls: SentRequest[], status = 200, body: string = JSON.stringify({ token: CG_TOKEN })): typeof globalThis.fetch {
  return answeringAll(calls, status, body);
}

function deps(calls: SentRequest[], minted: TokenCall[], over: Partial<ProviderDeps> = {}): ProviderDeps {
  return fakeDeps({
    sources: {
      read: async () => {
        throw new Error('chainguard reads no source Secret');
      },
    },
    now: () => NOW,
    fetch: answering(calls),
    tokenRequest: recordingTokenRequest(minted, SA_TOKEN),
    ...over,
  });
}

function parse(input: unknown): ChainguardConfig {
  return chainguardConfig.parse(input);
}

describe('chainguard config', () => {
  test('identity alone is enough; the rest is optional', () => {
    assert.deepEqual(parse({ identity: IDENTITY }), { identity: IDENTITY });
    const full = {
      identity: IDENTITY,
      issuer: 'https://issuer.enforce.dev',
      serviceAccount: { namespace: 'regcred-system', name: 'puller' },
      audience: 'issuer.enforce.dev',
      registry: 'cgr.dev',
    };
    assert.deepEqual(parse(full), full);
  });

  test('refuses a missing or malformed identity, unknown fields, a registry with a scheme', () => {
    for (const bad of [
      {},
      { identity: 'kind-pull-secrets' },
      { identity: '720909c9f5279097d847ad02a2f24ba8f59de36a' }, // an organization, not an identity
      { identity: `${IDENTITY} ` },
      { identity: IDENTITY, registry: 'https://cgr.dev' },
      { identity: IDENTITY, issuer: 'issuer.enforce.dev' },
      { identity: IDENTITY, serviceAccount: { name: 'Bad_Name' } },
      { identity: IDENTITY, extra: true },
    ]) {
      assert.equal(chainguardConfig.safeParse(bad).success, false, JSON.stringify(bad));
    }
  });

  test('is registered, and the generated CRDs carry its schema', () => {
    assert.ok(providerRegistry.has('chainguard'));
    const text = JSON.stringify(buildCrds());
    assert.match(text, /"chainguard":\{/);
    assert.match(text, /"chainguard":\{[^]*?"identity":\{/);
  });
});

describe('chainguard exchange', () => {
  test('defaults: a token for SA "regcred" with the issuer as audience, POST /sts/exchange?aud=cgr.dev&identity=..., user _token, expiry = exp', async () => {
    const calls: SentRequest[] = [];
    const minted: TokenCall[] = [];
    const creds = await createChainguardProvider(parse({ identity: IDENTITY }), deps(calls, minted)).mint();
    assert.deepEqual(minted, [{ ref: { name: 'regcred' }, audiences: ['https://issuer.enforce.dev'], seconds: 600 }]);
    assert.equal(calls.length, 1);
    const call = calls[0]!;
    assert.equal(call.method, 'POST');
    const url = new URL(call.url);
    assert.equal(`${url.origin}${url.pathname}`, 'https://issuer.enforce.dev/sts/exchange');
    assert.deepEqual(Object.fromEntries(url.searchParams), { aud: 'cgr.dev', identity: IDENTITY });
    assert.equal(call.headers['authorization'], `Bearer ${SA_TOKEN}`);
    assert.equal(call.headers['accept'], 'application/json');
    assert.equal(call.body, undefined, 'no body: the fields are in the query');
    assert.deepEqual(creds, [{ registry: 'cgr.dev', username: '_token', password: CG_TOKEN, expiresAt: new Date(EXP * 1000) }]);
    assert.equal(scrub(`x ${SA_TOKEN} ${CG_TOKEN}`), `x ${REDACTED} ${REDACTED}`, 'both tokens registered for redaction');
  });

  test('issuer, audience, registry and serviceAccount as configured (a trailing slash on the issuer is dropped)', async () => {
    const calls: SentRequest[] = [];
    const minted: TokenCall[] = [];
    const config = parse({
      identity: IDENTITY,
      issuer: 'http://127.0.0.1:4321/',
      audience: 'issuer.enforce.dev',
      registry: 'registry.example.dev',
      serviceAccount: { namespace: 'team-a', name: 'cg' },
    });
    const creds = await createChainguardProvider(config, deps(calls, minted)).mint();
    assert.deepEqual(minted, [{ ref: { namespace: 'team-a', name: 'cg' }, audiences: ['issuer.enforce.dev'], seconds: 600 }]);
    const url = new URL(calls[0]!.url);
    assert.equal(`${url.origin}${url.pathname}`, 'http://127.0.0.1:4321/sts/exchange');
    assert.equal(url.searchParams.get('aud'), 'registry.example.dev');
    assert.equal(creds[0]?.registry, 'registry.example.dev');
  });

  test('exchangeChainguardToken (for --chainguard-compat): the same exchange from plain options', async () => {
    const calls: SentRequest[] = [];
    const minted: TokenCall[] = [];
    const cred = await exchangeChainguardToken(
      { identity: IDENTITY, issuer: 'https://issuer.enforce.dev', audience: 'https://issuer.enforce.dev', serviceAccount: { namespace: 'regcred-system', name: 'regcred' } },
      deps(calls, minted),
    );
    assert.deepEqual(cred, { registry: 'cgr.dev', username: CHAINGUARD_USERNAME, password: CG_TOKEN, expiresAt: new Date(EXP * 1000) });
    assert.deepEqual(minted[0]?.ref, { namespace: 'regcred-system', name: 'regcred' });
  });

  test('exchangeChainguardToken refuses an issuer that is not a URL (InvalidSpec), before minting', async () => {
    const minted: TokenCall[] = [];
    const err = await exchangeChainguardToken({ identity: IDENTITY, issuer: 'http://[bad' }, deps([], minted)).catch((e: unknown) => e as RegcredError);
    assert.ok(err instanceof RegcredError);
    assert.equal(err.code, 'InvalidSpec');
    assert.equal(minted.length, 0);
  });

  test('the written auth is base64("_token:<token>") once, not base64 of base64 as the old controller wrote it', async () => {
    const creds = await createChainguardProvider(parse({ identity: IDENTITY }), deps([], [])).mint();
    const entry = (JSON.parse(buildDockerConfigJson(creds)) as { auths: Record<string, { username: string; password: string; auth: string }> }).auths['cgr.dev']!;
    assert.equal(entry.username, '_token');
    assert.equal(entry.password, CG_TOKEN);
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    assert.equal(decoded, `_token:${CG_TOKEN}`, 'one decode gives user:password');
    assert.ok(decoded.startsWith('_token:eyJ'), 'the password after one decode is the JWT itself');
    assert.notEqual(entry.auth, Buffer.from(Buffer.from(`_token:${CG_TOKEN}`).toString('base64')).toString('base64'));
  });

  test('a token without exp: now + 1 h and a warning', async () => {
    const lines: string[] = [];
    const log = capturingLogger(lines, 'warn');
    const opaque = 'opaque-registry-token-0123456789';
    const creds = await createChainguardProvider(
      parse({ identity: IDENTITY }),
      deps([], [], { log, fetch: answering([], 200, JSON.stringify({ token: opaque })) }),
    ).mint();
    assert.equal(creds[0]?.expiresAt?.getTime(), NOW.getTime() + 3600_000);
    assert.ok(lines.some((l) => l.includes('states no expiry')), lines.join(''));
    assert.ok(!lines.join('').includes(opaque), 'the token is not logged');
  });
});

describe('chainguard errors', () => {
  async function failure(status: number, body: string): Promise<RegcredError> {
    const provider = createChainguardProvider(parse({ identity: IDENTITY }), deps([], [], { fetch: answering([], status, body) }));
    const err = await provider.mint().then(
      () => assert.fail('expected a failure'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof RegcredError);
    return err;
  }

  test('401 (the identity does not trust this token): permanent, one line naming the call, the status and a hint; the text only in remoteDetail', async () => {
    const err = await failure(401, JSON.stringify({ code: 16, message: 'unable to verify bearer token: subject mismatch', details: [] }));
    assert.equal(err.retryable, false);
    assert.equal(err.code, 'ProviderError');
    assert.equal(
      err.message,
      `chainguard STS exchange for identity ${IDENTITY} (https://issuer.enforce.dev): HTTP 401 (does the identity trust this service account’s issuer and subject, with the registry.pull role?)`,
    );
    assert.ok(!err.message.includes('\n'));
    assert.equal(err.remoteDetail, 'unable to verify bearer token: subject mismatch');
  });

  test('403 and 404 are permanent; 429, 500, 503 retryable; an HTML page is not echoed', async () => {
    assert.equal((await failure(403, JSON.stringify({ code: 7, message: 'permission denied' }))).retryable, false);
    assert.equal((await failure(404, JSON.stringify({ code: 5, message: 'identity not found' }))).retryable, false);
    assert.equal((await failure(429, '{"code":8,"message":"slow down"}')).retryable, true);
    assert.equal((await failure(500, 'internal error')).retryable, true);
    const e503 = await failure(503, '<html><body>Service Unavailable</body></html>');
    assert.equal(e503.retryable, true);
    assert.match(e503.message, /: HTTP 503$/);
  });

  test('a 200 without a token, or not JSON: retryable ProviderError', async () => {
    const none = await failure(200, JSON.stringify({ nope: 1 }));
    assert.match(none.message, /the answer has no "token"/);
    assert.equal(none.retryable, true);
    const notJson = await failure(200, 'not json');
    assert.match(notJson.message, /the response is not a JSON object \(HTTP 200\)/);
  });

  test('a network failure: retryable, the cause code in the message', async () => {
    const fetch = (async () => {
      throw Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } });
    }) as unknown as typeof globalThis.fetch;
    const err = await createChainguardProvider(parse({ identity: IDENTITY }), deps([], [], { fetch }))
      .mint()
      .catch((e: unknown) => e as RegcredError);
    assert.ok(err instanceof RegcredError);
    assert.equal(err.retryable, true);
    assert.match(err.message, /: network error ECONNREFUSED$/);
  });

  test('without Kubernetes access (no tokenRequest): InvalidSource, no call', async () => {
    const calls: SentRequest[] = [];
    const err = await createChainguardProvider(parse({ identity: IDENTITY }), deps(calls, [], { tokenRequest: undefined }))
      .mint()
      .catch((e: unknown) => e as RegcredError);
    assert.ok(err instanceof RegcredError);
    assert.equal(err.code, 'InvalidSource');
    assert.equal(calls.length, 0);
  });

  test('a refused TokenRequest (cross-namespace service account) propagates unchanged, no call', async () => {
    const calls: SentRequest[] = [];
    const refused = new RegcredError('CrossNamespaceRef', 'service account other/sa is not allowed for a token');
    const err = await createChainguardProvider(
      parse({ identity: IDENTITY, serviceAccount: { namespace: 'other', name: 'sa' } }),
      deps(calls, [], { tokenRequest: async () => Promise.reject(refused) }),
    )
      .mint()
      .catch((e: unknown) => e);
    assert.equal(err, refused);
    assert.equal(calls.length, 0);
  });

  test('httpError keeps {"error": ...} bodies (Quay) and plain text for logs only', () => {
    const quay = httpError(401, '{"error":"missing auth"}', 'x', 'h');
    assert.equal(quay.message, 'x: HTTP 401 (h)');
    assert.equal(quay.remoteDetail, 'missing auth');
    const plain = httpError(502, 'bad gateway\nmore', 'x', 'h');
    assert.equal(plain.message, 'x: HTTP 502');
    assert.equal(plain.remoteDetail, 'bad gateway');
  });
});
