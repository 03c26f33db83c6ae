// Unit tests for src/providers/jit.ts: the config schema, the two requests (login, then registry
// authenticate) as a fake fetch sees them, the credential built from the answer (the registry key
// is the host of registry_url, or `registry`; expiry = assumedLifetime), source Secret handling and
// error classification, against a fake fetch and the verifying double of test/harness/doubles/jit.ts.
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createJitProvider, jitConfig, registryHostOf, type JitConfig } from '../../src/providers/jit.js';
import { httpRequest } from '../../src/providers/internal/http.js';
import { providerRegistry } from '../../src/providers/registry.js';
import type { ProviderDeps } from '../../src/providers/types.js';
import { resetRegisteredSecrets, scrub } from '../../src/redact.js';
import { answersInTurn, fakeDeps, fakeSources, rejectsWith, type SentRequest } from '../harness/provider-tests.js';
import { startJitDouble, type JitDouble } from '../harness/doubles/jit.js';

afterEach(() => resetRegisteredSecrets());

const NOW = new Date('2026-11-23T13:00:00Z');
const CLIENT_ID = 'c0ffee00-1111-2222-3333-444455556666';
const SECRET = `jit-secret-${randomBytes(16).toString('hex')}`;

function deps(data: Record<string, string> | undefined, fetchImpl: typeof globalThis.fetch, now = NOW): ProviderDeps {
  return fakeDeps({ sources: fakeSources(() => data), now: () => now, fetch: fetchImpl });
}

function provider(config: unknown, d: ProviderDeps) {
  return createJitProvider(jitConfig.parse(config) as JitConfig, d);
}

const KEYS = { client_id: CLIENT_ID, secret: SECRET };
/** What no error message may hold: the client secret, a token or password. */
const NO_SECRETS = [SECRET, /jitat-|jitpw-/];

describe('jit config schema', () => {
  test('is registered under "jit"', () => {
    assert.equal(providerRegistry.get('jit')?.key, 'jit');
  });

  test('accepts the minimal and the full form', () => {
    for (const good of [
      { secretRef: { name: 'jit-api' } },
      { secretRef: { namespace: 'regcred-system', name: 'jit-api' }, baseUrl: 'https://api.jit.io', registry: 'registry.jit.io', assumedLifetime: '45m' },
      { secretRef: { name: 'jit-api' }, assumedLifetime: '5m' },
      { secretRef: { name: 'jit-api' }, assumedLifetime: '24h' },
    ]) {
      const r = jitConfig.safeParse(good);
      assert.ok(r.success, `${JSON.stringify(good)}: ${JSON.stringify(r.error?.issues)}`);
    }
  });

  test('rejects what it should, naming the field', () => {
    for (const [bad, path] of [
      [{}, 'secretRef'],
      [{ secretRef: { name: 'jit-api' }, baseUrl: 'api.jit.io' }, 'baseUrl'],
      [{ secretRef: { name: 'jit-api' }, assumedLifetime: '4m' }, 'assumedLifetime'],
      [{ secretRef: { name: 'jit-api' }, assumedLifetime: '25h' }, 'assumedLifetime'],
      [{ secretRef: { name: 'jit-api' }, assumedLifetime: 'an hour' }, 'assumedLifetime'],
      [{ secretRef: { name: 'jit-api' }, assumedLifetime: '1h', registry: 'bad host' }, 'registry'],
      [{ secretRef: { name: 'jit-api' }, clientId: 'x' }, ''],
    ] as const) {
      const r = jitConfig.safeParse(bad);
      assert.ok(!r.success, `${JSON.stringify(bad)} should be rejected`);
      if (path) assert.ok(r.error.issues.some((i) => i.path.join('.') === path), `${JSON.stringify(bad)}: ${JSON.stringify(r.error.issues)}`);
    }
  });

  test('the CRD rule mirrors the lifetime range', () => {
    const rules = (jitConfig.meta() as { 'x-kubernetes-validations'?: Array<{ rule: string }> } | undefined)?.['x-kubernetes-validations'] ?? [];
    assert.ok(rules.some((r) => r.rule.includes("duration('5m')") && r.rule.includes("duration('24h')")));
  });
});

describe('jit requests and credential', () => {
  test('logs in with the client id and secret, then authenticates to the registry with the access token', async () => {
    const seen: SentRequest[] = [];
    const fetchImpl = answersInTurn(
      [
        { status: 200, body: { accessToken: 'jitat-abc123' } },
        { status: 200, body: { username: 'org-user', password: 'jitpw-xyz789', registry_url: 'registry.jit.io/org-42/controls' } },
      ],
      seen,
    );
    const creds = await provider({ secretRef: { name: 'jit-api' }, baseUrl: 'https://api.example.test/' }, deps(KEYS, fetchImpl)).mint();
    assert.equal(seen.length, 2);
    assert.equal(seen[0]!.url, 'https://api.example.test/authentication/login');
    assert.equal(seen[0]!.method, 'POST');
    assert.equal(seen[0]!.headers['content-type'], 'application/json');
    assert.equal(seen[0]!.headers['authorization'], undefined, 'the login carries no bearer');
    assert.equal(seen[0]!.redirect, 'manual', 'redirects are not followed (the body holds the secret)');
    assert.deepEqual(JSON.parse(seen[0]!.body ?? ''), { clientId: CLIENT_ID, secret: SECRET });
    assert.equal(seen[1]!.url, 'https://api.example.test/ide/registry/authenticate');
    assert.equal(seen[1]!.method, 'POST');
    assert.equal(seen[1]!.headers['authorization'], 'Bearer jitat-abc123');
    assert.deepEqual(creds, [
      { registry: 'registry.jit.io', username: 'org-user', password: 'jitpw-xyz789', expiresAt: new Date(NOW.getTime() + 3600_000) },
    ]);
    assert.equal(scrub('jitat-abc123 jitpw-xyz789 ' + SECRET), '[REDACTED] [REDACTED] [REDACTED]', 'token, password and secret are registered');
  });

  test('default base URL is https://api.jit.io; `registry` overrides the key; assumedLifetime sets the expiry', async () => {
    const seen: SentRequest[] = [];
    const fetchImpl = answersInTurn(
      [
        { status: 200, body: { accessToken: 'jitat-1' } },
        { status: 200, body: { username: 'u', password: 'p4ssword', registry_url: 'https://registry.jit.io:443/x/y' } },
      ],
      seen,
    );
    const creds = await provider({ secretRef: { name: 'jit-api' }, registry: 'jit-mirror.example.com', assumedLifetime: '30m' }, deps(KEYS, fetchImpl)).mint();
    assert.equal(seen[0]!.url, 'https://api.jit.io/authentication/login');
    assert.equal(creds[0]!.registry, 'jit-mirror.example.com');
    assert.deepEqual(creds[0]!.expiresAt, new Date(NOW.getTime() + 30 * 60_000));
  });

  test('registryHostOf strips scheme and path, keeps a port', () => {
    assert.equal(registryHostOf('registry.jit.io'), 'registry.jit.io');
    assert.equal(registryHostOf('registry.jit.io/org/controls'), 'registry.jit.io');
    assert.equal(registryHostOf('https://registry.jit.io:5000/org'), 'registry.jit.io:5000');
  });

  test('an answer without password or registry_url is a (retryable) provider error', async () => {
    const fetchImpl = answersInTurn(
      [
        { status: 200, body: { accessToken: 'jitat-1' } },
        { status: 200, body: { username: 'u' } },
      ],
      [],
    );
    await assert.rejects(provider({ secretRef: { name: 'jit-api' } }, deps(KEYS, fetchImpl)).mint(), rejectsWith('ProviderError', true, /^jit registry authenticate: the response lacks password, registry_url$/, NO_SECRETS));
    const noToken = answersInTurn([{ status: 200, body: { token: 'x' } }], []);
    await assert.rejects(provider({ secretRef: { name: 'jit-api' } }, deps(KEYS, noToken)).mint(), rejectsWith('ProviderError', true, /^jit login: the response has no accessToken$/, NO_SECRETS));
  });

  test('a source Secret without the keys: InvalidSource naming them, no network call', async () => {
    const noFetch = answersInTurn([], []);
    await assert.rejects(
      provider({ secretRef: { name: 'jit-api' } }, deps({ client_id: CLIENT_ID }, noFetch)).mint(),
      rejectsWith('InvalidSource', false, /^Secret regcred-system\/jit-api lacks key\(s\) "secret" \(expected client_id and secret/, NO_SECRETS),
    );
    await assert.rejects(
      provider({ secretRef: { name: 'jit-api' } }, deps({}, noFetch)).mint(),
      rejectsWith('InvalidSource', false, /lacks key\(s\) "client_id", "secret"/, NO_SECRETS),
    );
  });

  test('a network failure is retryable and says what failed', async () => {
    const refused = (async () => {
      throw Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }) });
    }) as typeof globalThis.fetch;
    await assert.rejects(provider({ secretRef: { name: 'jit-api' } }, deps(KEYS, refused)).mint(), rejectsWith('ProviderError', true, /^jit login: network error ECONNREFUSED$/, NO_SECRETS));
  });
});

describe('jit HTTP limits', () => {
  test('a silent API times out (retryable), naming the call', async () => {
    const hanging = ((_u: string, init?: RequestInit) =>
      new Promise((_r, reject) => init?.signal?.addEventListener('abort', () => reject(init.signal?.reason)))) as typeof globalThis.fetch;
    await assert.rejects(httpRequest(deps(KEYS, hanging), { what: 'jit login', url: 'http://127.0.0.1:1/x', timeoutMs: 50 }), rejectsWith('ProviderError', true, /^jit login: timed out after 0\.05 s$/, NO_SECRETS));
  });

  test('a redirect is an error, not followed: the login body would go elsewhere', async () => {
    const redirect = (async () => new Response(null, { status: 307, headers: { location: 'https://elsewhere.example/login' } })) as typeof globalThis.fetch;
    await assert.rejects(provider({ secretRef: { name: 'jit-api' } }, deps(KEYS, redirect)).mint(), rejectsWith('ProviderError', false, /^jit login: HTTP 307: redirects are not followed/, NO_SECRETS));
  });
});

describe('jit against the verifying double', () => {
  let double: JitDouble;
  before(async () => {
    double = await startJitDouble({ clientId: CLIENT_ID, secret: SECRET });
  });
  after(async () => {
    await double?.stop();
  });

  test('a full login: the double saw its own access token and handed out the password we return', async () => {
    const creds = await provider({ secretRef: { name: 'jit-api' }, baseUrl: double.baseUrl }, deps(KEYS, globalThis.fetch)).mint();
    assert.deepEqual(creds, [{ registry: 'registry.jit.io', username: 'jit-registry-user', password: double.passwords.at(-1)!, expiresAt: new Date(NOW.getTime() + 3600_000) }]);
    assert.deepEqual(
      double.requests.slice(-2).map((r) => [r.path, r.status]),
      [
        ['/authentication/login', 200],
        ['/ide/registry/authenticate', 200],
      ],
    );
    assert.equal(double.requests.at(-1)!.authorization, `Bearer ${double.accessTokens.at(-1)}`);
  });

  test('wrong client credentials: permanent error naming the call, the status and the API text', async () => {
    await assert.rejects(
      provider({ secretRef: { name: 'jit-api' }, baseUrl: double.baseUrl }, deps({ client_id: CLIENT_ID, secret: 'not-the-secret' }, globalThis.fetch)).mint(),
      rejectsWith('ProviderError', false, /^jit login: HTTP 401 \(bad credentials\)$/, NO_SECRETS),
    );
    assert.equal(double.requests.at(-1)!.status, 401);
  });

  test('the double refuses a bearer it did not issue', async () => {
    const res = await fetch(`${double.baseUrl}/ide/registry/authenticate`, { method: 'POST', headers: { authorization: 'Bearer jitat-forged' } });
    assert.equal(res.status, 401);
    assert.deepEqual(await res.json(), { message: 'Invalid access token' });
  });

  test('a 503 is retryable', async () => {
    double.failWith = 503;
    try {
      await assert.rejects(
        provider({ secretRef: { name: 'jit-api' }, baseUrl: double.baseUrl }, deps(KEYS, globalThis.fetch)).mint(),
        rejectsWith('ProviderError', true, /^jit login: HTTP 503$/, NO_SECRETS),
      );
    } finally {
      double.failWith = undefined;
    }
  });
});
