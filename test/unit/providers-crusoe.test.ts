// Unit tests for src/providers/crusoe.ts: the config schema, the request signature (a fixed vector
// computed with Crusoe's published Python recipe, and the canonical query), the token request as a
// fake fetch sees it, the deletion of expired and superseded tokens (tokensToRevoke, and through the
// double), source Secret handling and error classification. The double
// (test/harness/doubles/crusoe.ts) recomputes every signature and checks the timestamp and body.
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  canonicalQuery,
  createCrusoeProvider,
  crusoeConfig,
  goQueryEscape,
  rfc3339Seconds,
  signRequest,
  tokensToRevoke,
  type CrusoeConfig,
} from '../../src/providers/crusoe.js';
import { aliasFor } from '../../src/providers/crusoe.js';
import { providerRegistry } from '../../src/providers/registry.js';
import type { ProviderDeps } from '../../src/providers/types.js';
import { resetRegisteredSecrets, scrub } from '../../src/redact.js';
import { silentLogger } from '../../src/log.js';
import { answersInTurn, capturingLogger, fakeDeps, fakeSources, rejectsWith, type SentRequest } from '../harness/provider-tests.js';
import { CRUSOE_KEYS_PATH, CRUSOE_TOKENS_PATH, startCrusoeDouble, type CrusoeDouble } from '../harness/doubles/crusoe.js';

afterEach(() => resetRegisteredSecrets());

const ACCESS_KEY = `AK${randomBytes(8).toString('hex').toUpperCase()}`;
const SECRET_KEY = randomBytes(32).toString('base64url');
const KEYS = { CRUSOE_ACCESS_KEY: ACCESS_KEY, CRUSOE_SECRET_KEY: SECRET_KEY };
const BASE = { secretRef: { name: 'crusoe-api' }, registry: 'registry.us-east1.crusoecloud.com', username: 'puller@example.com' };

function deps(data: Record<string, string> | undefined, fetchImpl: typeof globalThis.fetch, now: () => Date = () => new Date(), logLines?: string[]): ProviderDeps {
  return fakeDeps({ sources: fakeSources(() => data), now, fetch: fetchImpl, log: logLines ? capturingLogger(logLines) : silentLogger() });
}

/** What no error message may hold: the secret key, a token. */
const NO_SECRETS = [SECRET_KEY, /ccr-/];

function provider(config: unknown, d: ProviderDeps) {
  return createCrusoeProvider(crusoeConfig.parse(config) as CrusoeConfig, d);
}

describe('crusoe config schema', () => {
  test('is registered under "crusoe"', () => {
    assert.equal(providerRegistry.get('crusoe')?.key, 'crusoe');
  });

  test('accepts the minimal and the full form', () => {
    for (const good of [
      BASE,
      { ...BASE, tokenLifetime: '10m' },
      { ...BASE, tokenLifetime: '2160h', alias: 'regcred-prod_pull.1', baseUrl: 'https://api.crusoecloud.com' },
    ]) {
      const r = crusoeConfig.safeParse(good);
      assert.ok(r.success, `${JSON.stringify(good)}: ${JSON.stringify(r.error?.issues)}`);
    }
  });

  test('rejects what it should, naming the field', () => {
    for (const [bad, path] of [
      [{ ...BASE, registry: undefined }, 'registry'],
      [{ ...BASE, username: undefined }, 'username'],
      [{ ...BASE, username: 'a:b' }, 'username'],
      [{ ...BASE, tokenLifetime: '9m' }, 'tokenLifetime'],
      [{ ...BASE, tokenLifetime: '2161h' }, 'tokenLifetime'],
      [{ ...BASE, alias: '-x' }, 'alias'],
      [{ ...BASE, alias: 'has space' }, 'alias'],
      [{ ...BASE, baseUrl: 'ftp://x' }, 'baseUrl'],
      [{ ...BASE, expiresAt: 'x' }, ''],
    ] as const) {
      const r = crusoeConfig.safeParse(bad);
      assert.ok(!r.success, `${JSON.stringify(bad)} should be rejected`);
      if (path) assert.ok(r.error.issues.some((i) => i.path.join('.') === path), `${JSON.stringify(bad)}: ${JSON.stringify(r.error.issues)}`);
    }
  });
});

describe('crusoe request signing', () => {
  test('matches a vector computed with Crusoe’s published Python recipe', () => {
    // python3: base64.urlsafe_b64encode(hmac.new(urlsafe_b64decode(sk + pad), payload, sha256).digest()).rstrip("=")
    const headers = signRequest({
      method: 'DELETE',
      path: '/v1alpha5/users/limited-usage-api-key',
      query: 'key_id=abc-123',
      timestamp: '2026-11-23T13:00:00Z',
      accessKey: 'AKTEST',
      secretKey: 'cmVnY3JlZC10ZXN0LXNlY3JldC1rZXktMzItYnl0ZXM', // base64url("regcred-test-secret-key-32-bytes"), unpadded
    });
    assert.deepEqual(headers, {
      'x-crusoe-timestamp': '2026-11-23T13:00:00Z',
      authorization: 'Bearer 1.0:AKTEST:DEYSpB0lFb6Q97xnytl7OU-ul7hvWaaxBandly1BFnI',
    });
  });

  test('the canonical query sorts by name and escapes like Go’s url.QueryEscape', () => {
    assert.equal(canonicalQuery([]), '');
    assert.equal(
      canonicalQuery([
        ['sort', 'created_at'],
        ['limit', '10'],
        ['b', 'x y*~'],
        ['b', 'a/b'],
      ]),
      'b=x+y%2A~&b=a%2Fb&limit=10&sort=created_at',
    );
    assert.equal(goQueryEscape("!'()*"), '%21%27%28%29%2A');
  });

  test('timestamps are RFC 3339 UTC to the second', () => {
    assert.equal(rfc3339Seconds(new Date('2026-11-23T13:00:00.987Z')), '2026-11-23T13:00:00Z');
  });
});

describe('crusoe token request', () => {
  test('POSTs expires_at = now + tokenLifetime and the alias, signed; then lists and deletes expired regcred tokens', async () => {
    const now = new Date('2026-11-23T13:00:00.250Z');
    const seen: SentRequest[] = [];
    const fetchImpl = answersInTurn(
      [
        { status: 200, body: { token: 'ccr-minted-token' } },
        {
          status: 200,
          body: {
            items: [
              { key_id: 'old-expired', alias: 'regcred', usage: 'registry', created_at: '2026-11-20T00:00:00Z', expires_at: '2026-11-20T12:00:00Z' },
              { key_id: 'prev', alias: 'regcred', usage: 'registry', created_at: '2026-11-23T05:00:00Z', expires_at: '2026-11-23T17:00:00Z' },
              { key_id: 'older', alias: 'regcred', usage: 'registry', created_at: '2026-11-22T21:00:00Z', expires_at: '2026-11-23T15:00:00Z' },
              { key_id: 'new', alias: 'regcred', usage: 'registry', created_at: '2026-11-23T13:00:00Z', expires_at: '2026-11-24T01:00:00Z' },
              { key_id: 'someone-elses', alias: 'ci', usage: 'registry', created_at: '2026-11-01T00:00:00Z', expires_at: '2026-11-02T00:00:00Z' },
              { key_id: 's3-key', alias: 'regcred', usage: 's3', created_at: '2026-11-01T00:00:00Z', expires_at: '2026-11-02T00:00:00Z' },
            ],
          },
        },
        { status: 204 },
      ],
      seen,
    );
    const creds = await provider({ ...BASE, baseUrl: 'https://api.example.test/' }, deps(KEYS, fetchImpl, () => now)).mint();
    assert.deepEqual(creds, [
      { registry: 'registry.us-east1.crusoecloud.com', username: 'puller@example.com', password: 'ccr-minted-token', expiresAt: new Date('2026-11-24T01:00:00Z') },
    ]);
    assert.deepEqual(
      seen.map((s) => `${s.method} ${s.url}`),
      [
        'POST https://api.example.test/v1alpha5/ccr/tokens',
        'GET https://api.example.test/v1alpha5/users/limited-usage-api-key',
        'DELETE https://api.example.test/v1alpha5/users/limited-usage-api-key?key_id=old-expired',
      ],
      'without an explicit alias only the expired regcred token goes',
    );
    const post = seen[0]!;
    assert.equal(post.headers['content-type'], 'application/json');
    assert.deepEqual(JSON.parse(post.body ?? ''), { expires_at: '2026-11-24T01:00:00Z', alias: 'regcred' });
    const ts = '2026-11-23T13:00:00Z';
    assert.equal(post.headers['x-crusoe-timestamp'], ts);
    assert.equal(post.headers['authorization'], signRequest({ method: 'POST', path: '/v1alpha5/ccr/tokens', query: '', timestamp: ts, accessKey: ACCESS_KEY, secretKey: SECRET_KEY }).authorization);
    assert.equal(
      seen[2]!.headers['authorization'],
      signRequest({ method: 'DELETE', path: '/v1alpha5/users/limited-usage-api-key', query: 'key_id=old-expired', timestamp: ts, accessKey: ACCESS_KEY, secretKey: SECRET_KEY }).authorization,
    );
    assert.equal(scrub(`ccr-minted-token ${SECRET_KEY} ${ACCESS_KEY}`), '[REDACTED] [REDACTED] [REDACTED]');
  });

  test('with an explicit alias, superseded valid tokens go too (the newest two stay); an expires_at in the answer wins', async () => {
    const now = new Date('2026-11-23T13:00:00Z');
    const seen: SentRequest[] = [];
    const alias = 'regcred-prod';
    const fetchImpl = answersInTurn(
      [
        { status: 200, body: { token: 'ccr-t', expires_at: '2026-11-23T23:00:00Z' } },
        {
          status: 200,
          body: {
            items: [
              { key_id: 'a', alias, usage: 'registry', created_at: '2026-11-22T21:00:00Z', expires_at: '2026-11-23T15:00:00Z' },
              { key_id: 'b', alias, usage: 'registry', created_at: '2026-11-23T05:00:00Z', expires_at: '2026-11-23T23:00:00Z' },
              { key_id: 'c', alias, usage: 'registry', created_at: '2026-11-23T13:00:00Z', expires_at: '2026-11-24T07:00:00Z' },
              { key_id: 'other', alias: 'regcred', usage: 'registry', created_at: '2026-11-20T00:00:00Z', expires_at: '2026-11-24T00:00:00Z' },
            ],
          },
        },
        { status: 200, body: {} },
      ],
      seen,
    );
    const creds = await provider({ ...BASE, alias, tokenLifetime: '18h' }, deps(KEYS, fetchImpl, () => now)).mint();
    assert.deepEqual(JSON.parse(seen[0]!.body ?? ''), { expires_at: '2026-11-24T07:00:00Z', alias });
    assert.deepEqual(creds[0]!.expiresAt, new Date('2026-11-23T23:00:00Z'));
    assert.deepEqual(seen.slice(2).map((s) => new URL(s.url).searchParams.get('key_id')), ['a']);
  });

  test('tokensToRevoke: exact alias and usage, expired always, superseded only when asked, ties and unknown times kept', () => {
    const now = new Date('2026-11-23T13:00:00Z');
    const t = (key_id: string, created_at: string, expires_at = '2026-11-24T00:00:00Z', alias = 'x', usage = 'registry') => ({ key_id, alias, usage, created_at, expires_at });
    const items = [
      t('expired', '2026-11-22T00:00:00Z', '2026-11-22T12:00:00Z'),
      t('oldest', '2026-11-23T01:00:00Z'),
      t('tie-1', '2026-11-23T05:00:00Z'),
      t('tie-2', '2026-11-23T05:00:00Z'),
      t('newest', '2026-11-23T13:00:00Z'),
      t('no-created', ''),
      t('no-expiry', '2026-11-20T00:00:00Z', ''),
      t('other-alias', '2026-11-01T00:00:00Z', '2026-11-02T00:00:00Z', 'y'),
      t('other-usage', '2026-11-01T00:00:00Z', '2026-11-02T00:00:00Z', 'x', 'ssh'),
      { alias: 'x', usage: 'registry', created_at: '2026-11-01T00:00:00Z', expires_at: '2026-11-02T00:00:00Z' },
    ];
    assert.deepEqual(tokensToRevoke(items, 'x', now, false), ['expired']);
    assert.deepEqual(tokensToRevoke(items, 'x', now, true).sort(), ['expired', 'no-expiry', 'oldest'].sort());
    assert.deepEqual(tokensToRevoke([t('one', '2026-11-23T01:00:00Z'), t('two', '2026-11-23T02:00:00Z')], 'x', now, true), []);
  });

  test('a failed list or delete is logged, and the new token is still returned', async () => {
    const lines: string[] = [];
    const fetchImpl = answersInTurn(
      [
        { status: 200, body: { token: 'ccr-still-good' } },
        { status: 403, body: { code: 'permission_denied', message: 'not allowed to list keys' } },
      ],
      [],
    );
    const creds = await provider({ ...BASE, alias: 'regcred-x' }, deps(KEYS, fetchImpl, () => new Date(), lines)).mint();
    assert.equal(creds[0]!.password, 'ccr-still-good');
    const warn = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l['level'] === 'warn');
    assert.ok(warn, lines.join(''));
    assert.match(String(warn['err']), /^crusoe GET \/v1alpha5\/users\/limited-usage-api-key: HTTP 403 permission_denied \(permission denied\)$/);
    assert.ok(!lines.join('').includes('ccr-still-good'));
  });

  test('one failed delete does not stop the next', async () => {
    const lines: string[] = [];
    const seen: SentRequest[] = [];
    const gone = { alias: 'regcred', usage: 'registry', created_at: '2026-01-01T00:00:00Z', expires_at: '2026-01-01T12:00:00Z' };
    const fetchImpl = answersInTurn(
      [
        { status: 200, body: { token: 'ccr-t2' } },
        { status: 200, body: { items: [{ ...gone, key_id: 'x1' }, { ...gone, key_id: 'x2' }] } },
        { status: 404, body: { code: 'not_found', message: 'no such key' } },
        { status: 204 },
      ],
      seen,
    );
    const creds = await provider(BASE, deps(KEYS, fetchImpl, () => new Date(), lines)).mint();
    assert.equal(creds[0]!.password, 'ccr-t2');
    assert.deepEqual(seen.slice(2).map((r) => new URL(r.url).searchParams.get('key_id')), ['x1', 'x2']);
    const logged = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.match(String(logged.find((l) => l['level'] === 'warn')?.['err']), /HTTP 404 not_found$/);
    assert.deepEqual(logged.find((l) => l['level'] === 'info')?.['deleted'], ['x2']);
  });

  test('source Secret problems: InvalidSource naming the keys, no network call', async () => {
    const none = answersInTurn([], []);
    await assert.rejects(
      provider(BASE, deps({ CRUSOE_ACCESS_KEY: ACCESS_KEY }, none)).mint(),
      rejectsWith('InvalidSource', false, /^Secret regcred-system\/crusoe-api lacks key\(s\) "CRUSOE_SECRET_KEY" \(expected CRUSOE_ACCESS_KEY and CRUSOE_SECRET_KEY/, NO_SECRETS),
    );
    await assert.rejects(
      provider(BASE, deps({ CRUSOE_ACCESS_KEY: ACCESS_KEY, CRUSOE_SECRET_KEY: 'not base64url!' }, none)).mint(),
      rejectsWith('InvalidSource', false, /key "CRUSOE_SECRET_KEY" is not base64url/, NO_SECRETS),
    );
  });

  test('an answer without a token is a retryable provider error; a network failure too', async () => {
    await assert.rejects(provider(BASE, deps(KEYS, answersInTurn([{ status: 200, body: {} }], []))).mint(), rejectsWith('ProviderError', true, /^crusoe POST \/v1alpha5\/ccr\/tokens: the response has no token$/, NO_SECRETS));
    const reset = (async () => {
      throw Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }) });
    }) as typeof globalThis.fetch;
    await assert.rejects(provider(BASE, deps(KEYS, reset)).mint(), rejectsWith('ProviderError', true, /^crusoe POST \/v1alpha5\/ccr\/tokens: network error ECONNRESET$/, NO_SECRETS));
  });
});

describe('crusoe against the verifying double', () => {
  let double: CrusoeDouble;
  before(async () => {
    double = await startCrusoeDouble({ accessKey: ACCESS_KEY, secretKey: SECRET_KEY });
  });
  after(async () => {
    await double?.stop();
  });

  test('mints a token the double accepts the signature of; deletes expired regcred tokens only', async () => {
    const expired = double.seed({ alias: 'regcred', created_at: '2026-01-01T00:00:00Z', expires_at: '2026-01-01T12:00:00Z' });
    const foreign = double.seed({ alias: 'ci-pipeline' });
    const s3 = double.seed({ alias: 'regcred', usage: 's3', expires_at: '2026-01-01T12:00:00Z' });
    const before = double.requests.length;
    const creds = await provider({ ...BASE, baseUrl: double.baseUrl }, deps(KEYS, globalThis.fetch)).mint();
    const minted = double.minted.at(-1)!;
    assert.equal(creds[0]!.password, minted.token);
    assert.equal(minted.alias, 'regcred');
    assert.deepEqual(creds[0]!.expiresAt, new Date(minted.expires_at));
    const lifetime = creds[0]!.expiresAt!.getTime() - Date.now();
    assert.ok(lifetime > 12 * 3600_000 - 5000 && lifetime <= 12 * 3600_000, `about 12 h: ${lifetime}`);
    const reqs = double.requests.slice(before);
    assert.deepEqual(
      reqs.map((r) => [r.method, r.path, r.status, r.signatureValid]),
      [
        ['POST', CRUSOE_TOKENS_PATH, 200, true],
        ['GET', CRUSOE_KEYS_PATH, 200, true],
        ['DELETE', CRUSOE_KEYS_PATH, 204, true],
      ],
    );
    const ids = double.tokens.map((t) => t.key_id);
    assert.ok(!ids.includes(expired.key_id), 'the expired regcred token is gone');
    assert.ok(ids.includes(foreign.key_id) && ids.includes(s3.key_id) && ids.includes(minted.key_id), 'others are kept');
  });

  test('with an explicit alias, four mints leave the newest two tokens of that alias', async () => {
    const alias = 'regcred-unit';
    const p = provider({ ...BASE, baseUrl: double.baseUrl, alias }, deps(KEYS, globalThis.fetch));
    const tokens: string[] = [];
    for (let i = 0; i < 4; i++) {
      tokens.push((await p.mint())[0]!.password);
      await new Promise((r) => setTimeout(r, 5)); // distinct created_at (the double stamps milliseconds)
    }
    const left = double.tokens.filter((t) => t.alias === alias).map((t) => t.token);
    assert.deepEqual(left, tokens.slice(2), 'the newest two (the one in use and its predecessor) remain');
  });

  test('a wrong secret key: 401 bad_credentials, a permanent error', async () => {
    const wrong = randomBytes(32).toString('base64url');
    await assert.rejects(
      provider({ ...BASE, baseUrl: double.baseUrl }, deps({ CRUSOE_ACCESS_KEY: ACCESS_KEY, CRUSOE_SECRET_KEY: wrong }, globalThis.fetch)).mint(),
      rejectsWith('ProviderError', false, /^crusoe POST \/v1alpha5\/ccr\/tokens: HTTP 401 bad_credentials \(bad credentials\)$/, NO_SECRETS),
    );
    assert.equal(double.requests.at(-1)!.signatureValid, false);
  });

  test('a stale timestamp (a clock 10 minutes behind): 401, permanent', async () => {
    await assert.rejects(
      provider({ ...BASE, baseUrl: double.baseUrl }, deps(KEYS, globalThis.fetch, () => new Date(Date.now() - 10 * 60_000))).mint(),
      rejectsWith('ProviderError', false, /HTTP 401 bad_credentials \(bad credentials\)$/, NO_SECRETS),
    );
  });

  test('the double checks the body: expires_at must be RFC 3339 and in the future', async () => {
    const send = async (body: unknown) => {
      const ts = rfc3339Seconds(new Date());
      const h = signRequest({ method: 'POST', path: CRUSOE_TOKENS_PATH, query: '', timestamp: ts, accessKey: ACCESS_KEY, secretKey: SECRET_KEY });
      const res = await fetch(`${double.baseUrl}${CRUSOE_TOKENS_PATH}`, { method: 'POST', headers: { ...h, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      return [res.status, ((await res.json()) as { message?: string }).message];
    };
    assert.deepEqual(await send({ expires_at: '2020-01-01T00:00:00Z' }), [400, 'expires_at must be in the future']);
    assert.deepEqual(await send({ expires_at: 'tomorrow' }), [400, 'expires_at must be an RFC 3339 time']);
    assert.deepEqual(await send({}), [400, 'expires_at must be an RFC 3339 time']);
  });

  test('a 503 is retryable', async () => {
    double.failWith = 503;
    try {
      await assert.rejects(
        provider({ ...BASE, baseUrl: double.baseUrl }, deps(KEYS, globalThis.fetch)).mint(),
        rejectsWith('ProviderError', true, /^crusoe POST \/v1alpha5\/ccr\/tokens: HTTP 503 service_unavailable$/, NO_SECRETS),
      );
    } finally {
      double.failWith = undefined;
    }
  });
});

describe('crusoe: the default alias is the credential’s own', () => {
  test('aliasFor: regcred-<name>, regcred-<namespace>.<name>, and a hash past 64 characters', () => {
    assert.equal(aliasFor({ kind: 'ClusterRegistryCredential', name: 'prod-pull' }), 'regcred-prod-pull');
    assert.equal(aliasFor({ kind: 'RegistryCredential', namespace: 'team-a', name: 'pull' }), 'regcred-team-a.pull');
    const long = aliasFor({ kind: 'ClusterRegistryCredential', name: 'x'.repeat(200) });
    assert.equal(long.length, 64);
    assert.notEqual(long, aliasFor({ kind: 'ClusterRegistryCredential', name: `${'x'.repeat(199)}y` }), 'distinct names, distinct aliases');
    assert.match(long, /^regcred-x+-[0-9a-f]{8}$/);
  });
});
