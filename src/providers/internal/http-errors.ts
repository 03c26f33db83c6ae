import { RegcredError } from '../../errors.js';
import { scrub } from '../../redact.js';

// How a failed provider call becomes a RegcredError (http.ts makes the calls): HTTP statuses,
// error bodies (OAuth, Google, gRPC-gateway, registry API), redirects and network errors. The
// message is fixed text, the call's name, the HTTP status and at most a well-formed error code;
// what the remote said goes to `remoteDetail`, which only logs show.

/** The text as a JSON object; undefined for anything else (an array, a scalar, not JSON). */
export function parseJsonObject(text: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** Remote text for logs: first non-empty line, whitespace collapsed, scrubbed, at most 200 characters. */
export function clip(text: string, max = 200): string {
  const line = (text.split('\n').find((l) => l.trim() !== '') ?? '').replace(/\s+/g, ' ').trim();
  return scrub(line).slice(0, max);
}

/** OAuth (RFC 6749 §5.2) and similar error codes, safe to quote: lower-case letters and "_". */
const OAUTH_CODE = /^[a-z_]{1,64}$/;
/** Google's error.status values: the fixed gRPC code names (google.rpc.Code). */
const GRPC_CODES = new Set([
  'CANCELLED',
  'UNKNOWN',
  'INVALID_ARGUMENT',
  'DEADLINE_EXCEEDED',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION',
  'ABORTED',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
  'UNAUTHENTICATED',
]);
/** The registry API's error codes (OCI distribution spec), as ACR's /oauth2/exchange answers them. */
const REGISTRY_CODES = new Set(['UNAUTHORIZED', 'DENIED', 'UNSUPPORTED', 'TOOMANYREQUESTS', 'NAME_UNKNOWN', 'NAME_INVALID']);
/** OAuth codes meaning the server failed, not the request: retrying can help even with a 400. */
const RETRYABLE_OAUTH = new Set(['temporarily_unavailable', 'server_error', 'slow_down']);

/**
 * What an error body says: a code safe to put in a message (an OAuth `error` matching
 * /^[a-z_]{1,64}$/, or one of the fixed names of Google's gRPC statuses or the registry API's
 * error codes), and the remote text for logs. Understands OAuth
 * ({"error", "error_description"}), Google ({"error": {"status", "message"}}), gRPC-gateway
 * ({"code", "message"}), registry API ({"errors": [{"code", "message"}]}) and plain text.
 */
export function describeRemoteError(text: string): { code?: string; detail?: string } {
  const body = parseJsonObject(text);
  if (!body) {
    // Plain text is kept for logs; an HTML error page (a proxy's) says nothing useful.
    return text.trimStart().startsWith('<') || !text.trim() ? {} : { detail: clip(text) };
  }
  const parts: string[] = [];
  let code: string | undefined;
  const err = body['error'];
  if (typeof err === 'string') {
    if (OAUTH_CODE.test(err)) code = err;
    parts.push(err);
  } else if (typeof err === 'object' && err !== null) {
    const e = err as { status?: unknown; message?: unknown };
    if (typeof e.status === 'string' && GRPC_CODES.has(e.status)) code = e.status;
    if (typeof e.message === 'string') parts.push(e.message);
  }
  for (const k of ['error_description', 'message', 'detail']) {
    const v = body[k];
    if (typeof v === 'string' && v.trim()) parts.push(v);
  }
  // Crusoe: {"code": "bad_credentials", "message": "..."}
  if (typeof body['code'] === 'string' && parts.length > 0) {
    if (code === undefined && OAUTH_CODE.test(body['code'])) code = body['code'];
    parts.unshift(body['code']);
  }
  if (Array.isArray(body['errors'])) {
    for (const e of body['errors'] as unknown[]) {
      if (typeof e !== 'object' || e === null) continue;
      const { code: c, message: m } = e as { code?: unknown; message?: unknown };
      if (code === undefined && typeof c === 'string' && REGISTRY_CODES.has(c)) code = c;
      parts.push([c, m].filter((x) => typeof x === 'string' && x).join(': '));
    }
  }
  const detail = clip(parts.filter(Boolean).join(': '));
  return { ...(code ? { code } : {}), ...(detail ? { detail } : {}) };
}

/** Retrying can help: timeouts, throttling and server errors. */
export function retryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/**
 * A failed HTTP answer as a RegcredError: "<what>: HTTP <status>[ <code>][ (<hint>)]". Bad
 * credentials (400, 401), no permission (403) and other 4xx are permanent; 408, 429 and 5xx and
 * the OAuth codes temporarily_unavailable and server_error are retryable.
 */
export function httpError(status: number, text: string, what: string, refusedHint?: string): RegcredError {
  const { code, detail } = describeRemoteError(text);
  const retryable = retryableStatus(status) || (code !== undefined && RETRYABLE_OAUTH.has(code));
  const hint = status === 401 || status === 403 ? ` (${refusedHint ?? (status === 401 ? 'bad credentials' : 'permission denied')})` : '';
  return new RegcredError('ProviderError', `${what}: HTTP ${status}${code ? ` ${code}` : ''}${hint}`, retryable, { remoteDetail: detail });
}

/** A 3xx answer: never followed, so a permanent error; only the target's origin goes to logs. */
export function redirectError(res: Response, from: URL, what: string): RegcredError {
  let target = '';
  try {
    const location = res.headers.get('location');
    if (location) target = new URL(location, from).origin;
  } catch {
    // An unparsable Location: nothing to log.
  }
  return new RegcredError('ProviderError', `${what}: HTTP ${res.status}: redirects are not followed (set the URL to the final address)`, false, {
    remoteDetail: target ? `redirected to ${clip(target)}` : undefined,
  });
}

/** Network error codes: retrying can help. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ECONNABORTED',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CLOSED',
]);
/** TLS failures: the certificate is wrong or unknown; retrying does not help. */
const TLS_CODES = /^(CERT_|ERR_TLS_|UNABLE_TO_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|ERR_SSL_|HOSTNAME_MISMATCH)/;

/**
 * A request that got no HTTP answer. Network trouble (refused, reset, DNS, undici's "fetch
 * failed") and aborts are retryable; TLS trust failures and requests fetch cannot make are not.
 * The message names the error code (ECONNREFUSED, a TLS code), the error's own text goes to remoteDetail.
 */
export function networkError(err: unknown, what: string): RegcredError {
  if (err instanceof RegcredError) return prefixed(err, what);
  const e = (err ?? {}) as { name?: unknown; message?: unknown; code?: unknown; cause?: { code?: unknown; message?: unknown; cause?: { code?: unknown } } };
  const codes = [e.code, e.cause?.code, e.cause?.cause?.code].filter((c): c is string => typeof c === 'string' && /^[A-Z0-9_]{1,64}$/.test(c));
  const name = typeof e.name === 'string' ? e.name : 'Error';
  const messages = [e.message, e.cause?.message].filter((m): m is string => typeof m === 'string' && m !== '');
  const remoteDetail = clip(messages.join(': '));
  const opts = { cause: err, remoteDetail };
  const tls = codes.find((c) => TLS_CODES.test(c));
  if (tls) return new RegcredError('ProviderError', `${what}: TLS error ${tls}`, false, opts);
  if (name === 'AbortError' || name === 'TimeoutError') return new RegcredError('ProviderError', `${what}: aborted`, true, opts);
  const net = codes.find((c) => NETWORK_CODES.has(c)) ?? codes[0];
  if (net || /fetch failed|socket|network|ECONN|EAI_AGAIN/i.test(messages.join(' '))) {
    return new RegcredError('ProviderError', `${what}: network error${net ? ` ${net}` : ''}`, true, opts);
  }
  // fetch throws a plain TypeError for a request it cannot make (a URL or header it refuses).
  return new RegcredError('ProviderError', `${what}: the request could not be made (${name})`, false, opts);
}

/** A RegcredError raised below the call (the policy fetch, readCapped) with the call's name put in front. */
export function prefixed(err: RegcredError, what: string): RegcredError {
  if (err.message.startsWith(`${what}:`)) return err;
  return new RegcredError(err.code, `${what}: ${err.message}`, err.retryable, { cause: err.cause ?? err, remoteDetail: err.remoteDetail });
}
