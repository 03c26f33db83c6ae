import type { TokenCredentialOptions } from '@azure/identity';
import { RegcredError } from '../../errors.js';
import { deadline } from './abort.js';
import type { NetworkPolicy } from './address-policy.js';
import { createPolicyFetch } from './guarded-net.js';
import { DEFAULT_MAX_BYTES, DEFAULT_TIMEOUT_MS, readCapped } from './http.js';

// An HttpClient for the Azure SDK (@azure/identity's `httpClient` option) that sends through the
// network policy's guarded connections (createPolicyFetch): the host checked against allowedHosts
// before connecting, the address at connect time, so an `authorityHost` naming loopback, a
// metadata address or a private range is refused before a byte is sent. Like the HTTP core
// (http.ts): the body is read with a size cap, every request has a deadline, and a 3xx is an error
// rather than a redirect (the SDK's own redirect policy is switched off as well: entraClientOptions).
//
// The SDK (and MSAL under it) wrap what the client throws in errors of their own
// (endpoints_resolution_error, network_error) and lose it; the client keeps the first refusal it
// raised so that the caller can report it as it is (`refusal`).

type HttpClient = NonNullable<TokenCredentialOptions['httpClient']>;
type PipelineRequest = Parameters<HttpClient['sendRequest']>[0];
type PipelineResponse = Awaited<ReturnType<HttpClient['sendRequest']>>;
type HttpHeaders = PipelineResponse['headers'];

export interface GuardedAzureHttpClient {
  httpClient: HttpClient;
  /** The first policy refusal, size-cap or redirect error this client raised, if any. */
  refusal(): RegcredError | undefined;
}

/** Options for an @azure/identity credential whose requests go through `client`: no redirects followed. */
export function entraClientOptions(client: GuardedAzureHttpClient): Pick<TokenCredentialOptions, 'httpClient' | 'redirectOptions'> {
  return { httpClient: client.httpClient, redirectOptions: { maxRetries: 0 } };
}

export function createGuardedAzureHttpClient(
  policy: NetworkPolicy,
  opts: { maxBytes?: number; timeoutMs?: number; fetch?: typeof globalThis.fetch } = {},
): GuardedAzureHttpClient {
  const policyFetch = opts.fetch ?? createPolicyFetch(policy);
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
  const defaultTimeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  let first: RegcredError | undefined;
  const refuse = (err: RegcredError): RegcredError => {
    first ??= err;
    return err;
  };

  async function sendRequest(request: PipelineRequest): Promise<PipelineResponse> {
    let url: URL;
    try {
      url = new URL(request.url);
    } catch {
      throw refuse(new RegcredError('InvalidSpec', 'Entra: the request URL is not valid'));
    }
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && request.allowInsecureConnection)) {
      throw refuse(new RegcredError('InsecureTransportRefused', `Entra: ${url.protocol} requests are not sent (https only)`));
    }
    const headers = new Headers();
    for (const [name, value] of request.headers) {
      // The response is handed back as it arrives: no compressed bodies.
      if (name.toLowerCase() === 'accept-encoding' || name.toLowerCase() === 'content-length') continue;
      headers.set(name, value);
    }
    const body = requestBody(request.body);
    const timeoutMs = request.timeout > 0 ? Math.min(request.timeout, defaultTimeoutMs) : defaultTimeoutMs;
    const outer = toAbortSignal(request.abortSignal);
    const d = deadline(timeoutMs, outer);
    try {
      if (outer?.aborted) throw abortError();
      let res: Response;
      try {
        res = await policyFetch(url.href, { method: request.method, headers, redirect: 'manual', signal: d.signal, ...(body !== undefined ? { body } : {}) });
      } catch (err) {
        throw translate(err, d.expired);
      }
      if (res.status >= 300 && res.status < 400) {
        await res.body?.cancel().catch(() => undefined);
        throw refuse(
          new RegcredError('ProviderError', `Entra: HTTP ${res.status}: redirects are not followed (set authorityHost to the final address)`, false, {
            remoteDetail: `redirect from ${url.origin}`,
          }),
        );
      }
      let raw: Buffer;
      try {
        raw = await readCapped(res, maxBytes, d.signal);
      } catch (err) {
        throw translate(err, d.expired);
      }
      return { request, status: res.status, headers: toHttpHeaders(res.headers), bodyAsText: raw.toString('utf8') };
    } finally {
      d.clear();
    }
  }

  /** Policy and size errors are kept (and thrown as they are); network errors look like the SDK's own. */
  function translate(err: unknown, expired: boolean): unknown {
    if (err instanceof RegcredError) return refuse(err);
    const e = err as { name?: string; cause?: { code?: unknown } } | undefined;
    if (expired || e?.name === 'AbortError' || e?.name === 'TimeoutError') return abortError(err);
    // As @azure/core-rest-pipeline's client: a RestError with the system error's code, so that its
    // retry policy retries ECONNRESET and the like exactly as before.
    const code = typeof e?.cause?.code === 'string' ? e.cause.code : 'REQUEST_SEND_ERROR';
    const message = err instanceof Error && err.cause instanceof Error ? err.cause.message : String((err as Error | undefined)?.message ?? err);
    return Object.assign(new Error(message, { cause: err }), { name: 'RestError', code });
  }

  return { httpClient: { sendRequest }, refusal: () => first };
}

function abortError(cause?: unknown): Error {
  return Object.assign(new Error('The operation was aborted.', cause === undefined ? {} : { cause }), { name: 'AbortError' });
}

/** The pipeline's AbortSignalLike as an AbortSignal. */
function toAbortSignal(like: PipelineRequest['abortSignal']): AbortSignal | undefined {
  if (!like || like instanceof AbortSignal) return like as AbortSignal | undefined;
  const c = new AbortController();
  if (like.aborted) c.abort();
  else like.addEventListener('abort', () => c.abort(), { once: true });
  return c.signal;
}

/** The bodies MSAL and the SDK's token requests send: strings (forms), bytes or nothing. */
function requestBody(body: PipelineRequest['body']): string | Uint8Array | undefined {
  if (body === undefined || body === null) return undefined;
  if (typeof body === 'string') return body;
  if (body instanceof ArrayBuffer) return new Uint8Array(body);
  if (ArrayBuffer.isView(body)) return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
  throw new RegcredError('ProviderError', 'Entra: a request body of an unsupported kind (stream or form data)', false);
}

/** Case-insensitive headers as the pipeline expects them (names as received for toJSON({preserveCase})). */
function toHttpHeaders(from: Headers): HttpHeaders {
  const map = new Map<string, { name: string; value: string }>();
  from.forEach((value, name) => map.set(name.toLowerCase(), { name, value }));
  const headers: HttpHeaders = {
    get: (name) => map.get(name.toLowerCase())?.value,
    has: (name) => map.has(name.toLowerCase()),
    set: (name, value) => void map.set(name.toLowerCase(), { name, value: String(value) }),
    delete: (name) => void map.delete(name.toLowerCase()),
    toJSON: (options) => Object.fromEntries([...map.entries()].map(([k, v]) => [options?.preserveCase ? v.name : k, v.value])),
    *[Symbol.iterator]() {
      for (const [k, v] of map) yield [k, v.value] as [string, string];
    },
  };
  return headers;
}
