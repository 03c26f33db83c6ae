import { RegcredError } from '../errors.js';
import type { ProviderDeps } from './types.js';

// The HTTP calls of the JSON-API providers (jit, crusoe): a timeout, no redirects followed, the
// body parsed as a JSON object, and failures classified (retryable or not) with the API's own text.

/** Per request: the API gets this long to answer (headers and body). */
export const REQUEST_TIMEOUT_MS = 30_000;

/**
 * deps.fetch with a timeout and no redirects followed (a redirect would re-send a secret-bearing
 * body or signed request elsewhere; it surfaces as an HTTP 3xx error instead); returns the
 * response and its body text. The timer is a plain (ref'd) one, not AbortSignal.timeout(), so a
 * one-shot `sync` waiting on a silent API times out instead of simply exiting.
 */
export async function timedFetch(
  deps: ProviderDeps,
  url: string,
  init: RequestInit,
  signal: AbortSignal | undefined,
  what: string,
  timeoutMs = REQUEST_TIMEOUT_MS,
): Promise<{ res: Response; text: string }> {
  const timeout = new AbortController();
  const timer = setTimeout(() => timeout.abort(new DOMException(`timed out after ${timeoutMs / 1000} s`, 'TimeoutError')), timeoutMs);
  const combined = signal ? AbortSignal.any([signal, timeout.signal]) : timeout.signal;
  try {
    const res = await deps.fetch(url, { ...init, redirect: 'manual', signal: combined });
    return { res, text: await res.text() };
  } catch (err) {
    if (timeout.signal.aborted && !signal?.aborted) throw new RegcredError('ProviderError', `${what}: timed out after ${timeoutMs / 1000} s`, true, { cause: err });
    throw networkError(err, what);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * One JSON API call through timedFetch: `body` (if any) sent as JSON, the answer parsed as a JSON
 * object. A failed status is httpError; a body that is not a JSON object is a retryable error, but
 * with `emptyOk` an empty body is undefined (a 204 to a DELETE).
 */
export async function callJsonApi(deps: ProviderDeps, url: string, req: JsonRequest, signal: AbortSignal | undefined, what: string, emptyOk: true): Promise<Record<string, unknown> | undefined>;
export async function callJsonApi(deps: ProviderDeps, url: string, req: JsonRequest, signal: AbortSignal | undefined, what: string, emptyOk?: false): Promise<Record<string, unknown>>;
export async function callJsonApi(
  deps: ProviderDeps,
  url: string,
  req: JsonRequest,
  signal: AbortSignal | undefined,
  what: string,
  emptyOk = false,
): Promise<Record<string, unknown> | undefined> {
  const headers: Record<string, string> = { accept: 'application/json', ...req.headers };
  if (req.body !== undefined) headers['content-type'] = 'application/json';
  const { res, text } = await timedFetch(deps, url, { method: req.method, headers, ...(req.body !== undefined ? { body: JSON.stringify(req.body) } : {}) }, signal, what);
  const parsed = parseJsonObject(text);
  if (!res.ok) throw httpError(res.status, parsed, text, what);
  if (parsed === undefined && !(emptyOk && text.trim() === '')) throw new RegcredError('ProviderError', `${what}: the response is not a JSON object (HTTP ${res.status})`, true);
  return parsed;
}

export interface JsonRequest {
  method: string;
  headers?: Record<string, string>;
  /** Sent as JSON, with content-type application/json. */
  body?: unknown;
}

export function parseJsonObject(text: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function oneLine(text: string, max = 200): string {
  return (text.split('\n')[0] ?? '').trim().slice(0, max);
}

/** The API's own error text: `message`, `detail`, `error` or `error_description`, whichever it sent. */
export function errorText(body: Record<string, unknown> | undefined, raw: string): string {
  // Crusoe: {"code": "bad_credentials", "message": "..."}
  if (typeof body?.['code'] === 'string' && typeof body['message'] === 'string' && body['message'].trim()) {
    return oneLine(`${body['code']}: ${body['message']}`);
  }
  for (const k of ['message', 'detail', 'error_description', 'error', 'code']) {
    const v = body?.[k];
    if (typeof v === 'string' && v.trim()) return oneLine(v);
    if (typeof v === 'object' && v !== null && typeof (v as { message?: unknown }).message === 'string') return oneLine((v as { message: string }).message);
  }
  return body ? '' : oneLine(raw);
}

/**
 * A failed HTTP call as a RegcredError: bad credentials (400, 401), no permission (403) and other
 * 4xx are permanent; 408, 429 and 5xx are retryable. `what` names the provider and the call.
 */
export function httpError(status: number, body: Record<string, unknown> | undefined, raw: string, what: string): RegcredError {
  const retryable = status === 408 || status === 429 || status >= 500;
  const detail = errorText(body, raw);
  const hint = status === 401 ? ' (bad credentials)' : status === 403 ? ' (permission denied)' : '';
  return new RegcredError('ProviderError', `${what}: HTTP ${status}${hint}${detail ? `: ${detail}` : ''}`, retryable);
}

/** A network failure (refused, reset, timeout, DNS) as a retryable RegcredError. */
export function networkError(err: unknown, what: string): RegcredError {
  if (err instanceof RegcredError) return err;
  const e = (err ?? {}) as { name?: unknown; message?: unknown; code?: unknown; cause?: { code?: unknown; message?: unknown } };
  const code = [e.code, e.cause?.code].find((c): c is string => typeof c === 'string');
  let message = typeof e.message === 'string' ? oneLine(e.message) : String(err);
  if (message === 'fetch failed' && typeof e.cause?.message === 'string') message = `fetch failed: ${oneLine(e.cause.message)}`;
  const detail = code && !message.includes(code) ? `${code} (${message})` : message;
  // undici throws TypeError("fetch failed") for network errors; any other TypeError is a bad request (a URL it cannot parse).
  const retryable = !(e.name === 'TypeError' && !message.startsWith('fetch failed'));
  return new RegcredError('ProviderError', `${what}: ${detail}`, retryable, { cause: err });
}
