// Unit tests for src/providers/internal/http.ts: the deadline covers a trickling body, the size cap
// stops reading early, redirects are refused. How failures are classified: providers-http-errors.test.ts.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { httpRequest, requestJson, type HttpDeps } from '../../src/providers/internal/http.js';
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
