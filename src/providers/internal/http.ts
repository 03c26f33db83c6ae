import { RegcredError } from '../../errors.js';
import type { ProviderDeps } from '../types.js';
import { abortable, deadline, seconds } from './abort.js';
import { hostAllowed, type NetworkPolicy } from './address-policy.js';
import { clip, httpError, networkError, parseJsonObject, prefixed, redirectError } from './http-errors.js';

// The one HTTP request function of every provider. Around the injected deps.fetch (tests hand in
// fakes; with a network policy it is createPolicyFetch's):
// - the host is checked against deps.network.allowedHosts before anything is sent (HostNotAllowed);
// - a deadline covers the headers AND the body (a ref'd timer: a one-shot CLI waits for it);
// - the body is read from the stream, counting bytes, and the read aborted past the cap (default
//   1 MiB): a 400 MB answer costs at most the cap;
// - redirects are never followed (`redirect: 'manual'`; a 3xx is an error): a redirect would re-send
//   a secret-bearing body or header to wherever the server points, http:// included;
// - the caller's signal (shutdown) aborts the call;
// - failures become RegcredErrors, classified once (http-errors.ts): network errors, HTTP statuses
//   and OAuth errors, with what the remote said kept out of the message (logs only).

export const DEFAULT_TIMEOUT_MS = 30_000;
export const DEFAULT_MAX_BYTES = 1024 * 1024;

export type HttpDeps = Pick<ProviderDeps, 'fetch'> & { network?: NetworkPolicy | undefined };

export interface HttpRequest {
  /** Names the provider and the call in errors, e.g. "jit login" or "acr myregistry.azurecr.io: oauth2/exchange". */
  what: string;
  url: string;
  /** Default GET. */
  method?: string;
  headers?: Record<string, string>;
  /** A body as is (a string, or a form as URLSearchParams). At most one of body, json. */
  body?: string | URLSearchParams;
  /** A body sent as JSON, with content-type application/json. */
  json?: unknown;
  /** The caller's signal (shutdown). */
  signal?: AbortSignal | undefined;
  /** Headers and body; default 30 s. */
  timeoutMs?: number;
  /** The largest body read; default 1 MiB. */
  maxBytes?: number;
  /** Added to the message of a 401 or 403: what the user should check. Fixed text, never remote. */
  refusedHint?: string;
}

export interface HttpResponse {
  status: number;
  headers: Headers;
  body: Buffer;
  text: string;
}

/** One request: resolves for a 2xx answer with its (capped) body; throws RegcredError otherwise. */
export async function httpRequest(deps: HttpDeps, req: HttpRequest): Promise<HttpResponse> {
  const { what } = req;
  let url: URL;
  try {
    url = new URL(req.url);
  } catch {
    throw new RegcredError('InvalidSpec', `${what}: the URL is not valid`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new RegcredError('InvalidSpec', `${what}: the URL must be http(s)`);
  if (deps.network && !hostAllowed(deps.network, url)) {
    throw new RegcredError('HostNotAllowed', `${what}: host ${url.host} is not allowed by the network policy`);
  }
  const timeoutMs = req.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const maxBytes = req.maxBytes ?? DEFAULT_MAX_BYTES;
  const headers: Record<string, string> = { ...req.headers };
  let body: string | URLSearchParams | undefined = req.body;
  if (req.json !== undefined) {
    body = JSON.stringify(req.json);
    if (!Object.keys(headers).some((k) => k.toLowerCase() === 'content-type')) headers['content-type'] = 'application/json';
  }
  const d = deadline(timeoutMs, req.signal);
  const fail = (err: unknown): RegcredError => {
    if (err instanceof RegcredError) return prefixed(err, what);
    if (d.expired) return new RegcredError('ProviderError', `${what}: timed out after ${seconds(timeoutMs)}`, true, { cause: err });
    if (req.signal?.aborted) return new RegcredError('ProviderError', `${what}: aborted`, true, { cause: err });
    return networkError(err, what);
  };
  try {
    let res: Response;
    try {
      res = await abortable(
        deps.fetch(url.href, { method: req.method ?? 'GET', headers, redirect: 'manual', signal: d.signal, ...(body !== undefined ? { body } : {}) }),
        d.signal,
      );
    } catch (err) {
      throw fail(err);
    }
    if (res.status >= 300 && res.status < 400) {
      await res.body?.cancel().catch(() => undefined);
      throw redirectError(res, url, what);
    }
    let raw: Buffer;
    try {
      raw = await readCapped(res, maxBytes, d.signal);
    } catch (err) {
      throw fail(err);
    }
    const text = raw.toString('utf8');
    if (res.status < 200 || res.status >= 300) throw httpError(res.status, text, what, req.refusedHint);
    return { status: res.status, headers: res.headers, body: raw, text };
  } finally {
    d.clear();
  }
}

/**
 * httpRequest expecting a JSON object (accept: application/json). A body that is not one is a
 * retryable ProviderError; with `emptyOk`, an empty body is undefined (a 204 to a DELETE).
 */
export async function requestJson(deps: HttpDeps, req: HttpRequest, emptyOk: true): Promise<Record<string, unknown> | undefined>;
export async function requestJson(deps: HttpDeps, req: HttpRequest, emptyOk?: false): Promise<Record<string, unknown>>;
export async function requestJson(deps: HttpDeps, req: HttpRequest, emptyOk = false): Promise<Record<string, unknown> | undefined> {
  const hasAccept = Object.keys(req.headers ?? {}).some((k) => k.toLowerCase() === 'accept');
  const res = await httpRequest(deps, hasAccept ? req : { ...req, headers: { accept: 'application/json', ...req.headers } });
  const parsed = parseJsonObject(res.text);
  if (parsed === undefined && !(emptyOk && res.text.trim() === '')) {
    throw new RegcredError('ProviderError', `${req.what}: the response is not a JSON object (HTTP ${res.status})`, true, { remoteDetail: clip(res.text) });
  }
  return parsed;
}

/** The body, at most `cap` bytes: refused as soon as more arrive (a declared larger Content-Length: before reading). */
export async function readCapped(res: Response, cap: number, signal?: AbortSignal): Promise<Buffer> {
  const tooLarge = () => new RegcredError('ProviderError', `the response is larger than ${formatBytes(cap)}`, false);
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > cap) {
    await res.body?.cancel().catch(() => undefined);
    throw tooLarge();
  }
  if (!res.body) return Buffer.alloc(0);
  const reader = res.body.getReader();
  // A fake or a stream that ignores the signal: cancel the read ourselves.
  const onAbort = () => void reader.cancel(signal?.reason).catch(() => undefined);
  signal?.addEventListener('abort', onAbort, { once: true });
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (signal?.aborted) throw signal.reason ?? new DOMException('The operation was aborted.', 'AbortError');
      if (done) break;
      total += value.byteLength;
      if (total > cap) {
        await reader.cancel().catch(() => undefined);
        throw tooLarge();
      }
      chunks.push(value);
    }
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
  return Buffer.concat(chunks);
}

function formatBytes(n: number): string {
  return n % (1024 * 1024) === 0 ? `${n / (1024 * 1024)} MiB` : n % 1024 === 0 ? `${n / 1024} KiB` : `${n} bytes`;
}
