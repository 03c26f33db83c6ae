// Unit tests for src/providers/quay.ts: the config schema, the TokenRequest and the robot federation
// call it sends (GET /oauth2/federation/robot/token, HTTP Basic robot:SA token), the Credential it
// returns (user = the robot, registry = baseUrl's host, expiry from the JWT or an hour), and error
// classification. fetch and tokenRequest are fakes; the real API server and a Quay double are in
// test/integration/providers-quay.test.ts.
import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createQuayProvider, quayConfig, type QuayConfig } from '../../src/providers/quay.js';
import { providerRegistry } from '../../src/providers/registry.js';
import type { ProviderDeps } from '../../src/providers/types.js';
import { RegcredError } from '../../src/errors.js';
import { REDACTED, resetRegisteredSecrets, scrub } from '../../src/redact.js';
import { answeringAll, capturingLogger, fakeDeps, recordingTokenRequest, unsignedJwt, type SentRequest, type TokenCall } from '../harness/provider-tests.js';
import { buildCrds } from '../../src/crdgen/crd.js';
import { buildDockerConfigJson } from '../../src/dockerconfig.js';

afterEach(() => resetRegisteredSecrets());

const ROBOT = 'myorg+puller';
const NOW = new Date('2030-01-01T00:00:00Z');
const EXP = Math.floor(NOW.getTime() / 1000) + 3600;
const SA_TOKEN = 'eyJhbGciOiJSUzI1NiJ9.quay-sa-token-payload.sa-token-signature';

const jwt = (claims: Record<string, unknown>) => unsignedJwt(claims);
const ROBOT_TOKEN = jwt({ iss: 'quay', sub: ROBOT, aud: 'quay.io', exp: EXP });

function answering(calls: SentRequest[], status = 200, body: string = JSON.stringify({ token: ROBOT_TOKEN })): typeof globalThis.fetch {
  return answeringAll(calls, status, body);
}

function deps(calls: SentRequest[], minted: TokenCall[], over: Partial<ProviderDeps> = {}): ProviderDeps {
  return fakeDeps({
    sources: {
      read: async () => {
        throw new Error('quay reads no source Secret');
      },
    },
    now: () => NOW,
    fetch: answering(calls),
    tokenRequest: recordingTokenRequest(minted, SA_TOKEN),
    ...over,
  });
}

function parse(input: unknown): QuayConfig {
  return quayConfig.parse(input);
}

describe('quay config', () => {
  test('robot alone is enough; the rest is optional', () => {
    assert.deepEqual(parse({ robot: ROBOT }), { robot: ROBOT });
    const full = {
      robot: 'my_org.team+ci_bot',
      baseUrl: 'https://quay.example.com',
      registry: 'quay.example.com:8443',
      serviceAccount: { namespace: 'regcred-system', name: 'quay' },
      audience: 'quay',
    };
    assert.deepEqual(parse(full), full);
  });

  test('refuses a robot without its namespace, upper case, unknown fields, a registry with a scheme', () => {
    for (const bad of [
      {},
      { robot: 'puller' },
      { robot: 'MyOrg+puller' },
      { robot: 'myorg+1bot' },
      { robot: 'myorg+' },
      { robot: ROBOT, registry: 'https://quay.io' },
      { robot: ROBOT, baseUrl: 'quay.io' },
      { robot: ROBOT, token: 'x' },
    ]) {
      assert.equal(quayConfig.safeParse(bad).success, false, JSON.stringify(bad));
    }
  });

  test('is registered, and the generated CRDs carry its schema', () => {
    assert.ok(providerRegistry.has('quay'));
    assert.match(JSON.stringify(buildCrds()), /"quay":\{[^]*?"robot":\{/);
  });
});

describe('quay robot federation', () => {
  test('defaults: a token for SA "regcred" with audience quay.io; GET https://quay.io/oauth2/federation/robot/token, Basic robot:token; user = the robot', async () => {
    const calls: SentRequest[] = [];
    const minted: TokenCall[] = [];
    const creds = await createQuayProvider(parse({ robot: ROBOT }), deps(calls, minted)).mint();
    assert.deepEqual(minted, [{ ref: { name: 'regcred' }, audiences: ['quay.io'], seconds: 600 }]);
    assert.equal(calls.length, 1);
    const call = calls[0]!;
    assert.equal(call.method, 'GET');
    assert.equal(call.url, 'https://quay.io/oauth2/federation/robot/token');
    assert.equal(call.headers['authorization'], `Basic ${Buffer.from(`${ROBOT}:${SA_TOKEN}`).toString('base64')}`);
    assert.equal(call.headers['accept'], 'application/json');
    assert.deepEqual(creds, [{ registry: 'quay.io', username: ROBOT, password: ROBOT_TOKEN, expiresAt: new Date(EXP * 1000) }]);
    const basic = Buffer.from(`${ROBOT}:${SA_TOKEN}`).toString('base64');
    assert.equal(scrub(`${SA_TOKEN} ${ROBOT_TOKEN} ${basic}`), `${REDACTED} ${REDACTED} ${REDACTED}`, 'every token registered for redaction');
    const entry = (JSON.parse(buildDockerConfigJson(creds)) as { auths: Record<string, { auth: string }> }).auths['quay.io']!;
    assert.equal(Buffer.from(entry.auth, 'base64').toString('utf8'), `${ROBOT}:${ROBOT_TOKEN}`);
  });

  test('a self-hosted Quay: baseUrl (its host is registry and audience), or registry and audience as set', async () => {
    const calls: SentRequest[] = [];
    const minted: TokenCall[] = [];
    const a = await createQuayProvider(parse({ robot: ROBOT, baseUrl: 'http://127.0.0.1:8080/', serviceAccount: { namespace: 'team', name: 'q' } }), deps(calls, minted)).mint();
    assert.equal(calls[0]?.url, 'http://127.0.0.1:8080/oauth2/federation/robot/token');
    assert.deepEqual(minted[0], { ref: { namespace: 'team', name: 'q' }, audiences: ['127.0.0.1:8080'], seconds: 600 });
    assert.equal(a[0]?.registry, '127.0.0.1:8080');
    const b = await createQuayProvider(parse({ robot: ROBOT, baseUrl: 'https://quay.example.com', registry: 'registry.example.com', audience: 'quay' }), deps(calls, minted)).mint();
    assert.equal(calls[1]?.url, 'https://quay.example.com/oauth2/federation/robot/token');
    assert.deepEqual(minted[1]?.audiences, ['quay']);
    assert.equal(b[0]?.registry, 'registry.example.com');
  });

  test('a token that is not a JWT with exp: now + 1 h, with a warning', async () => {
    const lines: string[] = [];
    const log = capturingLogger(lines, 'warn');
    const opaque = 'opaque-quay-robot-token-987654321';
    const creds = await createQuayProvider(parse({ robot: ROBOT }), deps([], [], { log, fetch: answering([], 200, JSON.stringify({ token: opaque })) })).mint();
    assert.equal(creds[0]?.expiresAt?.getTime(), NOW.getTime() + 3600_000);
    assert.ok(lines.some((l) => l.includes('quay: the registry token states no expiry')), lines.join(''));
    assert.ok(!lines.join('').includes(opaque));
  });
});

describe('quay errors', () => {
  async function failure(status: number, body: string, over: Partial<ProviderDeps> = {}): Promise<RegcredError> {
    const err = await createQuayProvider(parse({ robot: ROBOT }), deps([], [], { fetch: answering([], status, body), ...over }))
      .mint()
      .then(
        () => assert.fail('expected a failure'),
        (e: unknown) => e,
      );
    assert.ok(err instanceof RegcredError);
    return err;
  }

  test('401 {"error": ...}: permanent, one line naming quay, the robot, the host, status and a hint; Quay’s text only in remoteDetail', async () => {
    const err = await failure(401, JSON.stringify({ error: 'Invalid token: Signature verification failed' }));
    assert.equal(err.retryable, false);
    assert.equal(
      err.message,
      `quay robot federation for ${ROBOT} (https://quay.io): HTTP 401 (is the robot federated with this service account’s issuer and subject?)`,
    );
    assert.ok(!err.message.includes(SA_TOKEN));
    assert.equal(err.remoteDetail, 'Invalid token: Signature verification failed');
  });

  test('403, 400 permanent; 429, 502, 503 retryable', async () => {
    assert.equal((await failure(403, '{"error":"forbidden"}')).retryable, false);
    assert.equal((await failure(400, '{"error":"bad request"}')).retryable, false);
    assert.equal((await failure(429, '{"error":"slow_down"}')).retryable, true);
    assert.equal((await failure(502, 'Bad Gateway')).retryable, true);
    const e = await failure(503, '{"error":"temporarily_unavailable"}');
    assert.equal(e.retryable, true);
    assert.match(e.message, /HTTP 503 temporarily_unavailable$/);
  });

  test('no Kubernetes access: InvalidSource', async () => {
    const calls: SentRequest[] = [];
    const err = await createQuayProvider(parse({ robot: ROBOT }), deps(calls, [], { tokenRequest: undefined }))
      .mint()
      .catch((e: unknown) => e as RegcredError);
    assert.ok(err instanceof RegcredError);
    assert.equal(err.code, 'InvalidSource');
    assert.equal(calls.length, 0);
  });

  test('a timeout is retryable and says so', async () => {
    const never = ((_url: unknown, init?: RequestInit) =>
      new Promise((_resolve, reject) => init?.signal?.addEventListener('abort', () => reject(init.signal?.reason)))) as typeof globalThis.fetch;
    const { callTokenEndpoint } = await import('../../src/providers/internal/token.js');
    const err = await callTokenEndpoint({ fetch: never }, { what: 'quay x', url: 'https://quay.io/x', method: 'GET', headers: {}, refusedHint: 'h', timeoutMs: 50 }).catch(
      (e: unknown) => e as RegcredError,
    );
    assert.ok(err instanceof RegcredError);
    assert.equal(err.retryable, true);
    assert.equal(err.message, 'quay x: timed out after 0.05 s');
  });
});
