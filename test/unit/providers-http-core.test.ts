// Unit tests for src/providers/internal/http.ts: the deadline covers a trickling body, the size cap
// stops reading early, redirects are refused, the error classification table, and remote text
// kept out of error messages (only in remoteDetail).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { RegcredError } from '../../src/errors.js';
import { httpError, httpRequest, networkError, requestJson, type HttpDeps } from '../../src/providers/internal/http.js';
import { rejection } from '../harness/provider-tests.js';

const fetchOf = (fn: (url: string, init?: RequestInit) => Promise<Response>): HttpDeps => ({ fetch: fn as typeof globalThis.fetch });


/** A body that sends `chunk` every `everyMs`, `count` times (or forever). */
function trickle(chunk: Uint8Array, everyMs: number, count = Infinity, onPull?: () => void): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      onPull?.();
      if (sent++ >= count) return controller.close();
      await new Promise((r) => setTimeout(r, everyMs));
      controller.enqueue(chunk);
    },
  });
}

describe('http core: deadline, size cap, redirects, caller signal', () => {
  test('the deadline covers the body: headers at once, then a body trickling forever → timed out', async () => {
    const deps = fetchOf(async () => new Response(trickle(new TextEncoder().encode(' '), 20), { status: 200 }));
    const t0 = Date.now();
    const err = await rejection(httpRequest(deps, { what: 'x call', url: 'https://api.example.test/', timeoutMs: 150 }));
    assert.equal(err.message, 'x call: timed out after 0.15 s');
    assert.equal(err.retryable, true);
    assert.ok(Date.now() - t0 < 1000);
  });

  test('a fetch that ignores the signal still times out', async () => {
    const deps = fetchOf(() => new Promise<Response>(() => undefined));
    const err = await rejection(httpRequest(deps, { what: 'x', url: 'https://a.test/', timeoutMs: 50 }));
    assert.equal(err.message, 'x: timed out after 0.05 s');
  });

  test('the caller aborting (shutdown) stops the call: retryable "aborted"', async () => {
    const ctl = new AbortController();
    const deps = fetchOf(() => new Promise<Response>(() => undefined));
    setTimeout(() => ctl.abort(), 20);
    const err = await rejection(httpRequest(deps, { what: 'x', url: 'https://a.test/', signal: ctl.signal }));
    assert.equal(err.message, 'x: aborted');
    assert.equal(err.retryable, true);
  });

  test('a 5 MB body is aborted soon after the 1 MiB cap, not read to the end', async () => {
    const chunk = new Uint8Array(64 * 1024);
    let pulls = 0;
    const deps = fetchOf(async () => new Response(trickle(chunk, 0, 80, () => pulls++), { status: 200 }));
    const err = await rejection(httpRequest(deps, { what: 'x', url: 'https://a.test/' }));
    assert.equal(err.message, 'x: the response is larger than 1 MiB');
    assert.equal(err.retryable, false);
    assert.ok(pulls <= 20, `read ${pulls} chunks of 64 KiB, expected to stop after about 17`);
  });

  test('a declared Content-Length over the cap is refused before reading', async () => {
    let cancelled = false;
    const body = new ReadableStream<Uint8Array>({ pull: () => new Promise(() => undefined), cancel: () => void (cancelled = true) });
    const deps = fetchOf(async () => new Response(body, { status: 200, headers: { 'content-length': String(5 * 1024 * 1024) } }));
    const err = await rejection(httpRequest(deps, { what: 'x', url: 'https://a.test/', maxBytes: 1024 }));
    assert.equal(err.message, 'x: the response is larger than 1 KiB');
    assert.equal(cancelled, true);
  });

  test('redirect: manual is asked for, and a 3xx is a permanent error naming no remote text', async () => {
    const seen: RequestInit[] = [];
    const deps = fetchOf(async (_u, init) => {
      seen.push(init!);
      return new Response(null, { status: 307, headers: { location: 'http://169.254.169.254/latest' } });
    });
    const err = await rejection(httpRequest(deps, { what: 'x', url: 'https://a.test/', method: 'POST', body: 'secret=1' }));
    assert.equal(seen[0]!.redirect, 'manual');
    assert.equal(err.message, 'x: HTTP 307: redirects are not followed (set the URL to the final address)');
    assert.equal(err.retryable, false);
    assert.equal(err.remoteDetail, 'redirected to http://169.254.169.254');
  });

  test('requestJson: JSON object answers, a non-JSON 200 is retryable, an empty 204 allowed when asked', async () => {
    const answer = (status: number, body: string | null) => fetchOf(async () => new Response(body, { status }));
    assert.deepEqual(await requestJson(answer(200, '{"a":1}'), { what: 'x', url: 'https://a.test/' }), { a: 1 });
    const bad = await rejection(requestJson(answer(200, '<html>'), { what: 'x', url: 'https://a.test/' }));
    assert.equal(bad.message, 'x: the response is not a JSON object (HTTP 200)');
    assert.equal(bad.retryable, true);
    assert.equal(await requestJson(answer(204, null), { what: 'x', url: 'https://a.test/' }, true), undefined);
  });

  test('the host of a URL the policy does not allow is refused before fetch is called', async () => {
    let called = false;
    const deps: HttpDeps = { ...fetchOf(async () => ((called = true), new Response('{}'))), network: { allowedHosts: ['api.jit.io'] } };
    const err = await rejection(httpRequest(deps, { what: 'jit login', url: 'https://evil.example/' }));
    assert.equal(err.code, 'HostNotAllowed');
    assert.equal(err.retryable, false);
    assert.equal(err.message, 'jit login: host evil.example is not allowed by the network policy');
    assert.equal(called, false);
  });
});

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
