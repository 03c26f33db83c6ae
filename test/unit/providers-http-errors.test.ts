// Unit tests for src/providers/internal/http-errors.ts: the error classification table, and remote
// text kept out of error messages (only in remoteDetail).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { RegcredError } from '../../src/errors.js';
import { httpRequest, type HttpDeps } from '../../src/providers/internal/http.js';
import { clip, describeRemoteError, httpError, networkError, parseJsonObject, prefixed, redirectError, retryableStatus } from '../../src/providers/internal/http-errors.js';
import { rejection } from '../harness/provider-tests.js';

const fetchOf = (fn: (url: string, init?: RequestInit) => Promise<Response>): HttpDeps => ({ fetch: fn as typeof globalThis.fetch });

describe('http core: error classification', () => {
  const cases: Array<[string, number, string, boolean, string]> = [
    ['400 invalid_grant', 400, '{"error":"invalid_grant","error_description":"Invalid JWT Signature."}', false, 'w: HTTP 400 invalid_grant'],
    ['400 temporarily_unavailable', 400, '{"error":"temporarily_unavailable"}', true, 'w: HTTP 400 temporarily_unavailable'],
    ['401 with a hint', 401, '{"error":"invalid_client"}', false, 'w: HTTP 401 invalid_client (bad credentials)'],
    ['403 Google', 403, '{"error":{"code":403,"status":"PERMISSION_DENIED","message":"denied"}}', false, 'w: HTTP 403 PERMISSION_DENIED (permission denied)'],
    ['404 plain text', 404, 'Not Found', false, 'w: HTTP 404'],
    ['408', 408, '', true, 'w: HTTP 408'],
    ['429', 429, '{"errors":[{"code":"TOOMANYREQUESTS","message":"slow"}]}', true, 'w: HTTP 429 TOOMANYREQUESTS'],
    ['500 HTML', 500, '<html>oops</html>', true, 'w: HTTP 500'],
    ['503', 503, '{"error":"server_error"}', true, 'w: HTTP 503 server_error'],
    ['an OAuth code that is not well-formed is not quoted', 400, '{"error":"Evil Text <b>"}', false, 'w: HTTP 400'],
    ['a gRPC-like status that is not a real one is not quoted', 403, '{"error":{"status":"YOU_WIN_A_PRIZE"}}', false, 'w: HTTP 403 (permission denied)'],
  ];
  for (const [name, status, body, retryable, message] of cases) {
    test(`${name}: retryable ${retryable}`, () => {
      const e = httpError(status, body, 'w');
      assert.equal(e.code, 'ProviderError');
      assert.equal(e.retryable, retryable);
      assert.equal(e.message, message);
    });
  }

  const net: Array<[string, unknown, boolean, string]> = [
    ['undici ECONNREFUSED', Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:443'), { code: 'ECONNREFUSED' }) }), true, 'w: network error ECONNREFUSED'],
    ['DNS', Object.assign(new Error('getaddrinfo ENOTFOUND x'), { code: 'ENOTFOUND' }), true, 'w: network error ENOTFOUND'],
    ['TLS trust', Object.assign(new TypeError('fetch failed'), { cause: { code: 'DEPTH_ZERO_SELF_SIGNED_CERT', message: 'self-signed certificate' } }), false, 'w: TLS error DEPTH_ZERO_SELF_SIGNED_CERT'],
    ['AbortError', new DOMException('This operation was aborted', 'AbortError'), true, 'w: aborted'],
    ['a request fetch cannot make', new TypeError('Invalid header value'), false, 'w: the request could not be made (TypeError)'],
  ];
  for (const [name, err, retryable, message] of net) {
    test(`network: ${name}`, () => {
      const e = networkError(err, 'w');
      assert.equal(e.retryable, retryable);
      assert.equal(e.message, message);
    });
  }

  test('remote text never reaches the message; it is clipped to 200 characters in remoteDetail', async () => {
    const evil = `Please visit https://phish.example/${'x'.repeat(500)}`;
    const bodies = [
      JSON.stringify({ error: 'invalid_grant', error_description: evil }),
      JSON.stringify({ message: evil }),
      JSON.stringify({ error: { status: 'PERMISSION_DENIED', message: evil } }),
      JSON.stringify({ errors: [{ code: 'DENIED', message: evil }] }),
      evil,
    ];
    for (const body of bodies) {
      for (const status of [400, 401, 403, 500]) {
        const deps = fetchOf(async () => new Response(body, { status }));
        const err = await rejection(httpRequest(deps, { what: 'w', url: 'https://a.test/' }));
        assert.doesNotMatch(err.message, /phish|Please/);
        assert.match(err.remoteDetail ?? '', /phish\.example/);
        assert.ok((err.remoteDetail ?? '').length <= 200);
      }
    }
  });
});

describe('http errors: helpers', () => {
  test('parseJsonObject: objects only', () => {
    assert.deepEqual(parseJsonObject('{"a":1}'), { a: 1 });
    assert.equal(parseJsonObject('[1]'), undefined);
    assert.equal(parseJsonObject('3'), undefined);
    assert.equal(parseJsonObject('null'), undefined);
    assert.equal(parseJsonObject('<html>'), undefined);
  });

  test('clip: the first non-empty line, whitespace collapsed, cut to max', () => {
    assert.equal(clip('\n  \n  first   line \nsecond'), 'first line');
    assert.equal(clip('x'.repeat(300)).length, 200);
    assert.equal(clip('abcdef', 3), 'abc');
  });

  test('describeRemoteError: a quotable code and the text for logs', () => {
    assert.deepEqual(describeRemoteError('{"error":"invalid_grant","error_description":"bad"}'), { code: 'invalid_grant', detail: 'invalid_grant: bad' });
    assert.deepEqual(describeRemoteError('{"code":"bad_credentials","message":"no"}'), { code: 'bad_credentials', detail: 'bad_credentials: no' });
    assert.deepEqual(describeRemoteError('<html>proxy</html>'), {});
    assert.deepEqual(describeRemoteError(''), {});
    assert.deepEqual(describeRemoteError('plain text'), { detail: 'plain text' });
  });

  test('retryableStatus: 408, 429 and 5xx', () => {
    assert.deepEqual([400, 401, 403, 404, 408, 429, 500, 503].map(retryableStatus), [false, false, false, false, true, true, true, true]);
  });

  test('redirectError: permanent, the target origin only in remoteDetail', () => {
    const res = new Response(null, { status: 302, headers: { location: '/next?token=secret' } });
    const err = redirectError(res, new URL('https://a.test/start'), 'w');
    assert.equal(err.retryable, false);
    assert.equal(err.message, 'w: HTTP 302: redirects are not followed (set the URL to the final address)');
    assert.equal(err.remoteDetail, 'redirected to https://a.test');
    assert.equal(redirectError(new Response(null, { status: 301 }), new URL('https://a.test/'), 'w').remoteDetail, undefined);
  });

  test('prefixed: the call\'s name put in front once', () => {
    const inner = new RegcredError('ProviderError', 'the response is larger than 1 MiB', false);
    const err = prefixed(inner, 'w');
    assert.equal(err.message, 'w: the response is larger than 1 MiB');
    assert.equal(err.retryable, false);
    assert.equal(err.cause, inner);
    assert.equal(prefixed(err, 'w'), err);
  });
});
