// Unit tests for src/providers/http/: the config schema and its cross-field rules, the JSON path
// subset, the request regcred sends (method, URL, headers from literals and Secrets, the
// service-account bearer token, bodies), reading username/password/expiry from the answer, the
// 1 MiB cap enforced while streaming, and error classification. A fake `fetch` records each
// request and answers with a constructed Response.
import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHttpProvider } from '../../src/providers/http/index.js';
import { evaluateJsonPath, parseJsonPath } from '../../src/providers/http/jsonpath.js';
import { MAX_RESPONSE_BYTES } from '../../src/providers/http/response.js';
import { httpConfig, type HttpConfig } from '../../src/providers/http/schema.js';
import { providerRegistry } from '../../src/providers/registry.js';
import type { ProviderDeps } from '../../src/providers/types.js';
import { RegcredError } from '../../src/errors.js';
import { REDACTED, resetRegisteredSecrets, scrub } from '../../src/redact.js';
import { fakeDeps, fakeSources, recordingFetch, rejectsWith, type SentRequest } from '../harness/provider-tests.js';

afterEach(() => resetRegisteredSecrets());

const NOW = new Date('2026-11-23T12:00:00Z');
const URL_ = 'https://broker.example.com/v1/registry-token';
const SA_TOKEN = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6cmVnY3JlZC1zeXN0ZW06YnJva2VyIn0.c2lnbmF0dXJl';

function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });
}

function deps(fetch: typeof globalThis.fetch, secrets: Record<string, Record<string, string>> = {}, extra: Partial<ProviderDeps> = {}): ProviderDeps {
  return fakeDeps({
    sources: fakeSources(secrets),
    now: () => NOW,
    fetch,
    async tokenRequest() {
      return SA_TOKEN;
    },
    ...extra,
  });
}

function config(extra: Record<string, unknown> = {}): HttpConfig {
  return httpConfig.parse({ url: URL_, registry: 'harbor.example.com', username: 'robot$puller', response: { password: '$.secret' }, ...extra });
}

describe('http config schema', () => {
  test('is registered under "http"', () => {
    assert.equal(providerRegistry.get('http')?.key, 'http');
  });

  test('accepts a full spec, and http:// with allowInsecure', () => {
    for (const good of [
      {
        url: URL_,
        method: 'POST',
        headers: [
          { name: 'Accept', value: 'application/json' },
          { name: 'X-Api-Key', valueFrom: { secretKeyRef: { name: 'broker', key: 'api-key' } } },
          { name: 'X-Token', valueFrom: { secretKeyRef: { namespace: 'regcred-system', name: 'broker', key: 'token' }, prefix: 'Token ' } },
        ],
        body: '{"robot":"puller"}',
        serviceAccountToken: { serviceAccount: { name: 'broker-client' }, audience: 'https://broker.example.com', expirationSeconds: 3600 },
        registry: 'harbor.example.com',
        response: { username: '$.name', password: '$.secret', expiresAt: "$.data['expires-at']" },
        timeout: '10s',
      },
      { url: 'http://127.0.0.1:8080/token', allowInsecure: true, registry: 'r.example.com', username: 'u', response: { password: '$.token', expiresIn: '$.ttl' } },
      { url: URL_, method: 'POST', bodyFrom: { secretKeyRef: { name: 'b', key: 'body.json' } }, registry: 'r', username: 'u', response: { password: '$' } },
    ]) {
      const r = httpConfig.safeParse(good);
      assert.ok(r.success, `${JSON.stringify(good)}: ${JSON.stringify(r.error?.issues)}`);
    }
  });

  test('refuses what cannot work', () => {
    const base = { url: URL_, registry: 'r.example.com', username: 'u', response: { password: '$.token' } };
    for (const [bad, message] of [
      [{ ...base, url: 'http://broker.example.com/t' }, /https:\/\/ URL \(set allowInsecure: true/],
      [{ ...base, url: 'https://robot:s3cret@broker.example.com/t' }, /must not contain a user or password/],
      [{ ...base, body: '{}' }, /must be POST when body or bodyFrom is set/],
      [{ ...base, method: 'POST', body: '{}', bodyFrom: { secretKeyRef: { name: 'b', key: 'k' } } }, /at most one of body, bodyFrom/],
      [{ ...base, username: undefined }, /exactly one of username .* and response\.username/],
      [{ ...base, response: { username: '$.u', password: '$.p' } }, /exactly one of username .* and response\.username/],
      [{ ...base, headers: [{ name: 'X-Key', value: 'a' }, { name: 'x-key', value: 'b' }] }, /header names must be distinct/],
      [{ ...base, headers: [{ name: 'authorization', value: 'a' }], serviceAccountToken: { serviceAccount: { name: 's' }, audience: 'a' } }, /header names must be distinct/],
      [{ ...base, headers: [{ name: 'X', value: 'a', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } }] }, /exactly one of value, valueFrom/],
      [{ ...base, headers: [{ name: 'Bad Name', value: 'a' }] }, /HTTP header name/],
      [{ ...base, headers: [{ name: 'X', value: 'a\r\nInjected: yes' }] }, /one line/],
      [{ ...base, response: { password: '$.p', expiresAt: '$.a', expiresIn: '$.b' } }, /at most one of expiresAt, expiresIn/],
      [{ ...base, response: { password: 'token' } }, /JSON path/],
      [{ ...base, response: { password: '$..token' } }, /JSON path/],
      [{ ...base, response: { password: '$.items[?(@.x)]' } }, /JSON path/],
      [{ ...base, timeout: '6m' }, /at most 5m/],
      [{ ...base, method: 'PUT' }, /GET|POST|Invalid option/],
    ] as const) {
      const r = httpConfig.safeParse(bad);
      assert.ok(!r.success, JSON.stringify(bad));
      assert.match(r.error.issues.map((i) => i.message).join('; '), message, JSON.stringify(bad));
    }
  });
});

describe('JSON paths (the hand-written subset)', () => {
  const doc = { data: { items: [{ token: 't0' }, { token: 't1' }], 'expires-at': '2026-11-23T13:00:00Z' }, n: 5, list: ['a'] };
  test('member, quoted member and index steps', () => {
    assert.deepEqual(parseJsonPath("$.data.items[1]['token']"), ['data', 'items', 1, 'token']);
    assert.equal(evaluateJsonPath(doc, '$.data.items[1].token'), 't1');
    assert.equal(evaluateJsonPath(doc, "$.data['expires-at']"), '2026-11-23T13:00:00Z');
    assert.equal(evaluateJsonPath(doc, '$.data.expires-at'), '2026-11-23T13:00:00Z');
    assert.equal(evaluateJsonPath(doc, '$.n'), 5);
    assert.equal(evaluateJsonPath('plain', '$'), 'plain');
    assert.equal(evaluateJsonPath(['x', 'y'], '$[1]'), 'y');
  });
  test('missing steps, wrong types and inherited properties give undefined', () => {
    assert.equal(evaluateJsonPath(doc, '$.data.items[5].token'), undefined);
    assert.equal(evaluateJsonPath(doc, '$.n.x'), undefined);
    assert.equal(evaluateJsonPath(doc, '$.list.length'), undefined);
    assert.equal(evaluateJsonPath(doc, '$.data[0]'), undefined);
    assert.equal(evaluateJsonPath(doc, '$.constructor'), undefined);
    assert.equal(evaluateJsonPath(doc, '$.__proto__'), undefined);
    assert.throws(() => parseJsonPath('$..x'));
  });
});

describe('http provider: the request', () => {
  test('GET with literal and Secret headers (prefix, trimmed), Accept, no redirects, no body', async () => {
    const sent: SentRequest[] = [];
    const fetch = recordingFetch(() => json({ secret: 'robot-secret-1' }), sent);
    const cfg = config({
      url: `${URL_}?robot=puller`,
      headers: [
        { name: 'X-Team', value: 'platform' },
        { name: 'X-Api-Key', valueFrom: { secretKeyRef: { name: 'broker', key: 'api-key' } } },
        { name: 'X-Token', valueFrom: { secretKeyRef: { name: 'broker', key: 'token' }, prefix: 'Token ' } },
      ],
    });
    const creds = await createHttpProvider(cfg, deps(fetch, { broker: { 'api-key': 'ak-1234567890\n', token: 'tk-abcdef' } })).mint();
    assert.deepEqual(creds, [{ registry: 'harbor.example.com', username: 'robot$puller', password: 'robot-secret-1' }]);
    assert.equal(sent.length, 1);
    assert.deepEqual(sent[0], {
      url: `${URL_}?robot=puller`,
      method: 'GET',
      headers: { accept: 'application/json', 'x-team': 'platform', 'x-api-key': 'ak-1234567890', 'x-token': 'Token tk-abcdef' },
      body: undefined,
      redirect: 'manual',
    });
    for (const s of ['ak-1234567890', 'tk-abcdef', 'Token tk-abcdef', 'robot-secret-1']) assert.equal(scrub(s), REDACTED, s);
  });

  test('POST with a literal JSON body (application/json) or a body from a Secret with its own Content-Type', async () => {
    const sent: SentRequest[] = [];
    const fetch = recordingFetch(() => json({ secret: 's1234' }), sent);
    await createHttpProvider(config({ method: 'POST', body: '{"robot":"puller"}' }), deps(fetch)).mint();
    assert.equal(sent[0]!.method, 'POST');
    assert.equal(sent[0]!.body, '{"robot":"puller"}');
    assert.equal(sent[0]!.headers['content-type'], 'application/json');
    await createHttpProvider(
      config({ method: 'POST', bodyFrom: { secretKeyRef: { name: 'broker', key: 'body' } }, headers: [{ name: 'Content-Type', value: 'application/x-www-form-urlencoded' }] }),
      deps(fetch, { broker: { body: 'client_secret=cs-99887766&grant=x' } }),
    ).mint();
    assert.equal(sent[1]!.body, 'client_secret=cs-99887766&grant=x');
    assert.equal(sent[1]!.headers['content-type'], 'application/x-www-form-urlencoded');
    assert.equal(scrub('client_secret=cs-99887766&grant=x'), REDACTED);
  });

  test('serviceAccountToken: a token minted for the audience, as Authorization: Bearer (or another header)', async () => {
    const sent: SentRequest[] = [];
    const calls: unknown[] = [];
    const fetch = recordingFetch(() => json({ secret: 's1234' }), sent);
    const d = deps(fetch, {}, {
      async tokenRequest(ref, audiences, seconds) {
        calls.push({ ref, audiences, seconds });
        return SA_TOKEN;
      },
    });
    await createHttpProvider(config({ serviceAccountToken: { serviceAccount: { name: 'broker-client' }, audience: 'https://broker.example.com' } }), d).mint();
    assert.equal(sent[0]!.headers['authorization'], `Bearer ${SA_TOKEN}`);
    assert.deepEqual(calls, [{ ref: { name: 'broker-client' }, audiences: ['https://broker.example.com'], seconds: 600 }]);
    assert.equal(scrub(SA_TOKEN), REDACTED);
    await createHttpProvider(config({ serviceAccountToken: { serviceAccount: { name: 'b' }, audience: 'a', header: 'X-K8s-Token', expirationSeconds: 3600 } }), d).mint();
    assert.equal(sent[1]!.headers['x-k8s-token'], `Bearer ${SA_TOKEN}`);
    assert.equal(sent[1]!.headers['authorization'], undefined);
    const noKube = deps(fetch);
    delete noKube.tokenRequest;
    await assert.rejects(createHttpProvider(config({ serviceAccountToken: { serviceAccount: { name: 'b' }, audience: 'a' } }), noKube).mint(), rejectsWith('InvalidSource', false, /cannot mint/));
  });

  test('Secret problems: a missing key or a multi-line header value is InvalidSource, naming the key only', async () => {
    const fetch = recordingFetch(() => json({ secret: 's1234' }));
    const cfg = config({ headers: [{ name: 'X-Api-Key', valueFrom: { secretKeyRef: { name: 'broker', key: 'api-key' } } }] });
    await assert.rejects(createHttpProvider(cfg, deps(fetch, { broker: { other: 'x' } })).mint(), rejectsWith('InvalidSource', false, /^Secret regcred-system\/broker lacks key "api-key" \(for header X-Api-Key\)$/));
    await assert.rejects(createHttpProvider(cfg, deps(fetch, { broker: { 'api-key': 'line1\nline2-secret' } })).mint(), (err: unknown) => {
      assert.ok(err instanceof RegcredError && err.code === 'InvalidSource');
      assert.match(err.message, /key "api-key" \(for header X-Api-Key\) must be one line/);
      assert.ok(!err.message.includes('line2-secret'));
      return true;
    });
  });
});

describe('http provider: the answer', () => {
  const run = (body: unknown, response: Record<string, string>, extra: Record<string, unknown> = {}) =>
    createHttpProvider(config({ response: { password: '$.secret', ...response }, ...extra }), deps(recordingFetch(() => json(body)))).mint();

  test('username from a path or a literal; expiresAt as RFC 3339, epoch seconds (number or text); expiresIn', async () => {
    const [a] = await run({ name: 'robot$ci', secret: 'p1234', expires_at: '2026-11-23T18:00:00Z' }, { expiresAt: '$.expires_at' }, { username: undefined, response: { username: '$.name', password: '$.secret', expiresAt: '$.expires_at' } });
    assert.deepEqual(a, { registry: 'harbor.example.com', username: 'robot$ci', password: 'p1234', expiresAt: new Date('2026-11-23T18:00:00Z') });
    const [b] = await run({ secret: 'p1234', exp: 1795464000 }, { expiresAt: '$.exp' });
    assert.deepEqual(b!.expiresAt, new Date(1795464000 * 1000));
    const [c] = await run({ secret: 'p1234', exp: '1795464000' }, { expiresAt: '$.exp' });
    assert.deepEqual(c!.expiresAt, new Date(1795464000 * 1000));
    const [d] = await run({ secret: 'p1234', data: { ttl: 1800 } }, { expiresIn: '$.data.ttl' });
    assert.deepEqual(d!.expiresAt, new Date(NOW.getTime() + 1800_000));
    const [e] = await run({ secret: 'p1234', expires_at: '2026-11-23T18:00:00.5+02:00' }, { expiresAt: '$.expires_at' });
    assert.deepEqual(e!.expiresAt, new Date('2026-11-23T16:00:00.500Z'));
  });

  test('no expiry path: a credential without expiry (refreshed every refresh.interval)', async () => {
    const [a] = await run({ secret: 'p1234', expires_at: '2026-11-23T18:00:00Z' }, {});
    assert.equal(a!.expiresAt, undefined);
  });

  test('missing or mistyped values are permanent errors naming the path, never the value', async () => {
    await assert.rejects(run({ token: 'p1234' }, {}), rejectsWith('ProviderError', false, /http GET https:\/\/broker\.example\.com\/v1\/registry-token: the response has no value at \$\.secret \(response\.password\)/));
    await assert.rejects(run({ secret: 12345 }, {}), rejectsWith('ProviderError', false, /a number, not a string, at \$\.secret/));
    await assert.rejects(run({ secret: 'p1234' }, { expiresAt: '$.exp' }), rejectsWith('ProviderError', false, /no value at \$\.exp \(response\.expiresAt\)/));
    await assert.rejects(run({ secret: 'p1234', exp: 'tomorrow' }, { expiresAt: '$.exp' }), rejectsWith('ProviderError', false, /neither an RFC 3339 time nor epoch seconds/));
    await assert.rejects(run({ secret: 'p1234', ttl: 'soon' }, { expiresIn: '$.ttl' }), rejectsWith('ProviderError', false, /not a number of seconds/));
    await assert.rejects(
      run({ secret: 'p1234', name: ['x'] }, {}, { username: undefined, response: { username: '$.name', password: '$.secret' } }),
      rejectsWith('ProviderError', false, /a list, not a string, at \$\.name \(response\.username\)/),
    );
  });

  test('a body that is not JSON is a clear permanent error (content type and size, not the content)', async () => {
    const fetch = recordingFetch(() => new Response('<html>login page secret-ish</html>', { status: 200, headers: { 'content-type': 'text/html' } }));
    await assert.rejects(createHttpProvider(config(), deps(fetch)).mint(), (err: unknown) => {
      assert.ok(err instanceof RegcredError && !err.retryable);
      assert.match(err.message, /the response is not JSON \(HTTP 200, 34 bytes\)$/);
      assert.ok(!err.message.includes('login page'));
      return true;
    });
  });

  test('more than 1 MiB: refused from Content-Length before reading, or while streaming without reading the rest', async () => {
    let read = false;
    const declared = recordingFetch(
      () =>
        new Response(
          new ReadableStream({
            pull() {
              read = true;
            },
          }, { highWaterMark: 0 }),
          { status: 200, headers: { 'content-length': String(MAX_RESPONSE_BYTES + 1) } },
        ),
    );
    await assert.rejects(createHttpProvider(config(), deps(declared)).mint(), rejectsWith('ProviderError', false, /: the response is larger than 1 MiB$/));
    assert.equal(read, false, 'nothing read');

    let pulled = 0;
    let cancelled = false;
    const chunk = new Uint8Array(64 * 1024).fill(0x20);
    const endless = recordingFetch(
      () =>
        new Response(
          new ReadableStream({
            pull(controller) {
              pulled++;
              controller.enqueue(chunk);
            },
            cancel() {
              cancelled = true;
            },
          }),
          { status: 200, headers: { 'content-type': 'application/json' } },
        ),
    );
    await assert.rejects(createHttpProvider(config(), deps(endless)).mint(), rejectsWith('ProviderError', false, /larger than 1 MiB/));
    assert.ok(pulled <= MAX_RESPONSE_BYTES / chunk.length + 3, `read ${pulled} chunks`);
    assert.ok(cancelled, 'the stream was cancelled');
  });
});

describe('http provider: errors', () => {
  const failWith = (status: number, body: string, contentType = 'application/json') =>
    createHttpProvider(config(), deps(recordingFetch(() => new Response(body, { status, headers: { 'content-type': contentType } })))).mint();

  test('401 and 403: permanent, the broker’s error text only in remoteDetail, where a secret it echoes is scrubbed', async () => {
    const cfg = config({ headers: [{ name: 'X-Api-Key', valueFrom: { secretKeyRef: { name: 'broker', key: 'api-key' } } }] });
    const fetch = recordingFetch(() => json({ error: 'unauthorized', message: 'unknown api key ak-wrong-0001' }, 401));
    await assert.rejects(createHttpProvider(cfg, deps(fetch, { broker: { 'api-key': 'ak-wrong-0001' } })).mint(), (err: unknown) => {
      assert.ok(err instanceof RegcredError && !err.retryable);
      assert.equal(err.message, 'http GET https://broker.example.com/v1/registry-token: HTTP 401 unauthorized (bad credentials)');
      assert.equal(err.remoteDetail, `unauthorized: unknown api key ${REDACTED}`);
      return true;
    });
    await assert.rejects(failWith(403, ''), rejectsWith('ProviderError', false, /HTTP 403 \(permission denied\)$/));
    await assert.rejects(failWith(401, '<html><body>Unauthorized</body></html>', 'text/html'), rejectsWith('ProviderError', false, /HTTP 401 \(bad credentials\)$/));
    await assert.rejects(failWith(400, '{"errors":[{"code":"BAD_REQUEST","message":"robot puller does not exist"}]}'), rejectsWith('ProviderError', false, /HTTP 400$/));
  });

  test('503, 429 and 408 are retryable; plain-text bodies are not quoted', async () => {
    await assert.rejects(failWith(503, 'upstream unavailable\nmore', 'text/plain'), rejectsWith('ProviderError', true, /HTTP 503$/));
    await assert.rejects(failWith(429, '{"error":"rate_limited"}'), rejectsWith('ProviderError', true, /HTTP 429 rate_limited$/));
    await assert.rejects(failWith(408, ''), rejectsWith('ProviderError', true, /HTTP 408$/));
  });

  test('a redirect is not followed: permanent, naming where it pointed', async () => {
    const fetch = recordingFetch(() => new Response(null, { status: 302, headers: { location: 'https://login.example.com/sso?x=1' } }));
    await assert.rejects(createHttpProvider(config(), deps(fetch)).mint(), rejectsWith('ProviderError', false, /HTTP 302: redirects are not followed/));
  });

  test('network errors are retryable; TLS trust errors are not', async () => {
    const refused = recordingFetch(() => {
      throw Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:443'), { code: 'ECONNREFUSED' }) });
    });
    await assert.rejects(createHttpProvider(config(), deps(refused)).mint(), rejectsWith('ProviderError', true, /: network error ECONNREFUSED$/));
    const tls = recordingFetch(() => {
      throw Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error('self-signed certificate'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' }) });
    });
    await assert.rejects(createHttpProvider(config(), deps(tls)).mint(), rejectsWith('ProviderError', false, /TLS error DEPTH_ZERO_SELF_SIGNED_CERT/));
  });

  test('a broker that does not answer in time: retryable "timed out after"', async () => {
    const hang = recordingFetch(
      (_req, init) =>
        new Promise<Response>((_resolve, reject) => {
          init.signal?.addEventListener('abort', () => reject(init.signal?.reason), { once: true });
        }),
    );
    const started = Date.now();
    await assert.rejects(createHttpProvider(config({ timeout: '200ms' }), deps(hang)).mint(), rejectsWith('ProviderError', true, /: timed out after 0\.2 s$/));
    assert.ok(Date.now() - started < 2000);
  });

  test('an http:// URL is refused at run time too, unless allowInsecure', async () => {
    const cfg = { ...config(), url: 'http://broker.example.com/t' } as HttpConfig;
    await assert.rejects(createHttpProvider(cfg, deps(recordingFetch(() => json({})))).mint(), rejectsWith('InvalidSpec', false, /must be https/));
  });
});
