// Unit tests for src/kube/client.ts: API retry policy, Retry-After, and error mapping, for the
// errors of src/kube/api/http.ts and those of the same shape from client-node (which the tests use).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ApiException } from '@kubernetes/client-node';
import { apiMessage, apiReason, isRetryableApiError, retryAfterMs, statusCode, toRegcredError, withApiRetry } from '../../src/kube/client.js';
import { RegcredError } from '../../src/errors.js';
import { KubeApiError } from '../../src/kube/api/http.js';

/** The error src/kube/api/http.ts throws for an answer other than 2xx. */
function apiError(code: number, opts: { message?: string; headers?: Record<string, string>; body?: unknown } = {}): KubeApiError {
  const body = opts.body ?? { kind: 'Status', apiVersion: 'v1', status: 'Failure', message: opts.message ?? `status ${code}`, code };
  return new KubeApiError(code, `HTTP ${code}`, body, opts.headers ?? {});
}

/** A call that fails with `errors` in turn, then returns `result`; counts calls. */
function flaky<T>(errors: unknown[], result: T) {
  const calls = { n: 0 };
  const fn = async (): Promise<T> => {
    calls.n++;
    const err = errors.shift();
    if (err !== undefined) throw err;
    return result;
  };
  return { fn, calls };
}

function recorder() {
  const delays: number[] = [];
  return { delays, sleep: async (ms: number): Promise<void> => void delays.push(ms) };
}

describe('withApiRetry', () => {
  test('returns the result without sleeping when the call succeeds', async () => {
    const r = recorder();
    const { fn, calls } = flaky([], 'ok');
    assert.equal(await withApiRetry(fn, { sleep: r.sleep }), 'ok');
    assert.equal(calls.n, 1);
    assert.deepEqual(r.delays, []);
  });

  test('retries 429 and waits as long as Retry-After says', async () => {
    const r = recorder();
    const { fn, calls } = flaky([apiError(429, { headers: { 'Retry-After': '3' } }), apiError(429, { headers: { 'retry-after': '1' } })], 'ok');
    assert.equal(await withApiRetry(fn, { sleep: r.sleep }), 'ok');
    assert.equal(calls.n, 3);
    assert.deepEqual(r.delays, [3000, 1000]);
  });

  test('retries 503 with exponential backoff, jittered into [half, full] and capped', async () => {
    const r = recorder();
    const { fn, calls } = flaky(
      Array.from({ length: 6 }, () => apiError(503)),
      'ok',
    );
    assert.equal(await withApiRetry(fn, { sleep: r.sleep, attempts: 10, baseDelayMs: 100, maxDelayMs: 700 }), 'ok');
    assert.equal(calls.n, 7);
    const caps = [100, 200, 400, 700, 700, 700];
    assert.equal(r.delays.length, caps.length);
    r.delays.forEach((d, i) => {
      assert.ok(d >= caps[i]! / 2 && d <= caps[i]!, `delay ${i} = ${d}, expected within [${caps[i]! / 2}, ${caps[i]}]`);
    });
  });

  test('the backoff doubles per attempt (deterministic with Math.random stubbed)', async (t) => {
    t.mock.method(Math, 'random', () => 1); // the upper end of the jitter: the full backoff
    const r = recorder();
    const { fn } = flaky([apiError(503), apiError(500), apiError(502), apiError(504), apiError(503)], 'ok');
    await withApiRetry(fn, { sleep: r.sleep, attempts: 6, baseDelayMs: 200, maxDelayMs: 1000 });
    assert.deepEqual(r.delays, [200, 400, 800, 1000, 1000]);
  });

  test('uses the defaults: 5 attempts, 200 ms base', async (t) => {
    t.mock.method(Math, 'random', () => 0); // the lower end of the jitter: half the backoff
    const r = recorder();
    const { fn, calls } = flaky(Array.from({ length: 10 }, () => apiError(500)), 'never');
    await assert.rejects(withApiRetry(fn, { sleep: r.sleep }), (err: unknown) => statusCode(err) === 500);
    assert.equal(calls.n, 5);
    assert.deepEqual(r.delays, [100, 200, 400, 800]);
  });

  test('retries network errors (no HTTP status)', async () => {
    const r = recorder();
    const { fn, calls } = flaky([new Error('connect ECONNREFUSED 127.0.0.1:6443')], 'ok');
    assert.equal(await withApiRetry(fn, { sleep: r.sleep }), 'ok');
    assert.equal(calls.n, 2);
    assert.equal(r.delays.length, 1);
  });

  for (const code of [400, 401, 403, 404, 409, 422]) {
    test(`does not retry ${code}: the original error is thrown at once`, async () => {
      const r = recorder();
      const err = apiError(code);
      const { fn, calls } = flaky([err], 'ok');
      await assert.rejects(withApiRetry(fn, { sleep: r.sleep }), (e: unknown) => e === err);
      assert.equal(calls.n, 1);
      assert.deepEqual(r.delays, []);
    });
  }

  test('stops after `attempts` calls and throws the last error', async () => {
    const r = recorder();
    const errors = [apiError(503, { message: 'first' }), apiError(503, { message: 'second' }), apiError(503, { message: 'third' }), apiError(503)];
    const last = errors[2];
    const { fn, calls } = flaky(errors, 'ok');
    await assert.rejects(withApiRetry(fn, { sleep: r.sleep, attempts: 3 }), (e: unknown) => e === last);
    assert.equal(calls.n, 3);
    assert.equal(r.delays.length, 2);
  });

  test('attempts: 1 means no retry at all', async () => {
    const r = recorder();
    const { fn, calls } = flaky([apiError(503)], 'ok');
    await assert.rejects(withApiRetry(fn, { sleep: r.sleep, attempts: 1 }));
    assert.equal(calls.n, 1);
    assert.deepEqual(r.delays, []);
  });
});

describe('retryAfterMs', () => {
  const now = Date.parse('2030-01-01T00:00:00Z');

  test('reads seconds, whatever the header name case', () => {
    assert.equal(retryAfterMs(apiError(429, { headers: { 'Retry-After': '5' } }), now), 5000);
    assert.equal(retryAfterMs(apiError(429, { headers: { 'retry-after': '0' } }), now), 0);
    assert.equal(retryAfterMs(apiError(429, { headers: { 'RETRY-AFTER': '2' } }), now), 2000);
  });

  test('reads an HTTP date relative to now', () => {
    const header = new Date(now + 7000).toUTCString();
    assert.equal(retryAfterMs(apiError(503, { headers: { 'Retry-After': header } }), now), 7000);
  });

  test('a date in the past means no wait', () => {
    const header = new Date(now - 60_000).toUTCString();
    assert.equal(retryAfterMs(apiError(503, { headers: { 'Retry-After': header } }), now), 0);
  });

  test('caps the wait at a minute', () => {
    assert.equal(retryAfterMs(apiError(429, { headers: { 'Retry-After': '3600' } }), now), 60_000);
    assert.equal(retryAfterMs(apiError(429, { headers: { 'Retry-After': new Date(now + 600_000).toUTCString() } }), now), 60_000);
  });

  test('garbage, an empty value or no header give undefined', () => {
    assert.equal(retryAfterMs(apiError(429, { headers: { 'Retry-After': 'soon' } }), now), undefined);
    assert.equal(retryAfterMs(apiError(429, { headers: { 'Retry-After': '' } }), now), undefined);
    assert.equal(retryAfterMs(apiError(429), now), undefined);
  });

  test('is undefined for errors that are not API errors', () => {
    assert.equal(retryAfterMs(new Error('Retry-After: 5'), now), undefined);
    assert.equal(retryAfterMs('429', now), undefined);
  });

  test('a garbage Retry-After falls back to the backoff in withApiRetry', async (t) => {
    t.mock.method(Math, 'random', () => 1);
    const r = recorder();
    const { fn } = flaky([apiError(429, { headers: { 'Retry-After': 'later' } })], 'ok');
    await withApiRetry(fn, { sleep: r.sleep, baseDelayMs: 250 });
    assert.deepEqual(r.delays, [250]);
  });
});

describe('isRetryableApiError / statusCode', () => {
  test('429, 5xx and network errors are retryable; other 4xx are not', () => {
    for (const code of [429, 500, 502, 503, 504]) assert.equal(isRetryableApiError(apiError(code)), true, String(code));
    for (const code of [400, 401, 403, 404, 409, 410, 422]) assert.equal(isRetryableApiError(apiError(code)), false, String(code));
    assert.equal(isRetryableApiError(new Error('socket hang up')), true);
  });

  test('statusCode reads API errors only: ours and client-node\'s ApiException, not other errors with a code', () => {
    assert.equal(statusCode(apiError(418)), 418);
    assert.equal(statusCode(new ApiException(409, 'Conflict', '{}', {})), 409);
    assert.equal(statusCode(Object.assign(new Error('x'), { code: 404 })), undefined);
    assert.equal(statusCode(Object.assign(new Error('x'), { code: 'ECONNRESET', headers: {} })), undefined);
    assert.equal(statusCode({ code: 404, headers: {} }), undefined, 'not an Error');
  });

  test('client-node\'s ApiException is retried the same way, Retry-After included', async () => {
    const r = recorder();
    const { fn, calls } = flaky([new ApiException(429, 'x', '{}', { 'retry-after': '4' }), new ApiException(503, 'x', '{}', {})], 'ok');
    assert.equal(await withApiRetry(fn, { sleep: r.sleep, baseDelayMs: 100 }), 'ok');
    assert.equal(calls.n, 3);
    assert.equal(r.delays[0], 4000);
  });
});

describe('toRegcredError', () => {
  test('403 becomes Forbidden, not retryable, with the API message', () => {
    const e = toRegcredError(apiError(403, { message: 'secrets is forbidden: User "x" cannot create resource "secrets"' }), 'cannot create Secret a/b');
    assert.ok(e instanceof RegcredError);
    assert.equal(e.code, 'Forbidden');
    assert.equal(e.retryable, false);
    assert.equal(e.message, 'cannot create Secret a/b: secrets is forbidden: User "x" cannot create resource "secrets"');
  });

  for (const [code, retryable] of [
    [400, false],
    [404, false],
    [409, false],
    [422, false],
    [429, true],
    [500, true],
    [503, true],
  ] as const) {
    test(`${code} becomes ApiError with retryable=${retryable}`, () => {
      const cause = apiError(code);
      const e = toRegcredError(cause, 'doing it');
      assert.equal(e.code, 'ApiError');
      assert.equal(e.retryable, retryable);
      assert.equal(e.message, `doing it: status ${code}`);
      assert.equal(e.cause, cause);
    });
  }

  test('a network error becomes a retryable ApiError with its first line', () => {
    const e = toRegcredError(new Error('connect ECONNREFUSED\nstack-ish detail'), 'cannot list');
    assert.equal(e.code, 'ApiError');
    assert.equal(e.retryable, true);
    assert.equal(e.message, 'cannot list: connect ECONNREFUSED');
  });

  test('a RegcredError passes through unchanged', () => {
    const original = new RegcredError('SecretConflict', 'exists');
    assert.equal(toRegcredError(original, 'ignored'), original);
  });
});

describe('apiMessage / apiReason', () => {
  test('extracts metav1.Status.message from a JSON string body', () => {
    const err = new ApiException(404, 'Not Found', JSON.stringify({ kind: 'Status', message: 'secrets "x" not found', reason: 'NotFound' }), {});
    assert.equal(apiMessage(err), 'secrets "x" not found');
    assert.equal(apiReason(err), 'NotFound');
  });

  test('extracts the message from an object body', () => {
    const err = new ApiException(409, 'Conflict', { kind: 'Status', message: 'the object has been modified', reason: 'Conflict' }, {});
    assert.equal(apiMessage(err), 'the object has been modified');
    assert.equal(apiReason(err), 'Conflict');
  });

  test('falls back to "HTTP <code>" for a body without a message', () => {
    assert.equal(apiMessage(new ApiException(502, 'Bad Gateway', '<html>bad gateway</html>', {})), 'HTTP 502');
    assert.equal(apiMessage(new ApiException(500, 'x', { message: '' }, {})), 'HTTP 500');
    assert.equal(apiMessage(new ApiException(500, 'x', undefined, {})), 'HTTP 500');
    assert.equal(apiMessage(new ApiException(500, 'x', { message: 42 }, {})), 'HTTP 500');
    assert.equal(apiReason(new ApiException(500, 'x', 'not json', {})), undefined);
  });

  test('uses the first line of other errors, and String() of non-errors', () => {
    assert.equal(apiMessage(new Error('line one\nline two')), 'line one');
    assert.equal(apiMessage('plain'), 'plain');
    assert.equal(apiReason(new Error('x')), undefined);
  });
});
