import { RegcredError } from '../../errors.js';
import { clip } from './http-errors.js';

// AWS SDK errors as RegcredErrors: which are retryable, and a message that names the call and never
// carries AWS's own text (that goes to remoteDetail, for logs).

/** Error names that mean the credentials or permissions are wrong: retrying cannot help. */
const AUTH_ERRORS = /^(UnrecognizedClient|InvalidSignature|SignatureDoesNotMatch|InvalidClientTokenId|AccessDenied|ExpiredToken|MissingAuthenticationToken|IncompleteSignature|CredentialsProviderError|NotAuthorized|AuthFailure)/;
const THROTTLING = /Throttl|TooManyRequests|RequestLimitExceeded|SlowDown|LimitExceeded/;
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_SOCKET']);

/**
 * Turns an SDK error into a RegcredError naming the provider, region and call; never a secret.
 * The message holds the error's name (an AWS error code such as AccessDeniedException) and the HTTP
 * status; AWS's message text goes to remoteDetail (logs).
 */
export function classify(err: unknown, region: string, call = 'GetAuthorizationToken', provider = 'ecr'): RegcredError {
  if (err instanceof RegcredError) return err;
  const e = (err ?? {}) as {
    name?: string;
    message?: string;
    code?: string;
    $fault?: string;
    $retryable?: unknown;
    $metadata?: { httpStatusCode?: number };
  };
  const name = typeof e.name === 'string' && /^[A-Za-z][A-Za-z0-9._]{0,63}$/.test(e.name) ? e.name : 'Error';
  const status = e.$metadata?.httpStatusCode;
  const detail = typeof e.message === 'string' ? e.message : '';
  let retryable: boolean;
  if (AUTH_ERRORS.test(name) || status === 401 || status === 403) retryable = false;
  else if (THROTTLING.test(name) || status === 429 || (status !== undefined && status >= 500) || e.$fault === 'server' || e.$retryable) retryable = true;
  else if (status === undefined && (NETWORK_CODES.has(e.code ?? '') || /Timeout|Network|socket|ECONN|EAI_AGAIN|Abort/i.test(`${name} ${detail}`))) retryable = true;
  else retryable = false;
  const network = NETWORK_CODES.has(e.code ?? '') ? ` ${e.code}` : '';
  // Worded as the HTTP core words a failed connection, when the SDK gives it no name of its own.
  const label = network && name === 'Error' ? 'network error' : name;
  return new RegcredError('ProviderError', `${provider} ${call} in ${region}: ${label}${status !== undefined ? ` (HTTP ${status})` : ''}${network}`, retryable, {
    cause: err,
    remoteDetail: clip(detail),
  });
}
