import { RegcredError } from '../../errors.js';
import { registerSecret } from '../../redact.js';
import { withDeadline, seconds } from '../internal/abort.js';
import { DEFAULT_TIMEOUT_MS } from '../internal/http.js';
import { clip, describeRemoteError, retryableStatus } from '../internal/http-errors.js';
import type { ProviderDeps } from '../types.js';
import { DEFAULT_TOKEN_SECONDS, type AccessToken } from './oauth.js';
import { commonJsExports } from '../../util/commonjs.js';

// auth.metadataServer: the GCE / GKE metadata server (GKE Workload Identity), through
// google-auth-library's Compute client (gcp-metadata, which honours GCE_METADATA_HOST), and the
// classification of that library's errors.

/** The library's token with its expiry (the library computes expiry_date with the wall clock). */
function libraryToken(token: string | null | undefined, expiryDate: number | null | undefined, deps: ProviderDeps, call: string): AccessToken {
  registerSecret(token);
  if (!token) throw new RegcredError('ProviderError', `gcp ${call}: the response has no access token`, true);
  const expiresAt = typeof expiryDate === 'number' && expiryDate > 0 ? new Date(expiryDate) : new Date(deps.now().getTime() + DEFAULT_TOKEN_SECONDS * 1000);
  return { token, expiresAt };
}

export async function metadataAccessToken(serviceAccount: string, scopes: string[], deps: ProviderDeps, signal: AbortSignal | undefined): Promise<AccessToken> {
  const call = 'metadata server token request';
  // Loaded on first use, like the AWS SDK in ecr.ts.
  const { Compute } = commonJsExports(await import('google-auth-library'));
  const client = new Compute({ serviceAccountEmail: serviceAccount, scopes });
  // The library takes no AbortSignal here: the deadline stops the wait (a ref'd timer).
  const r = await withDeadline(DEFAULT_TIMEOUT_MS, signal, () => client.getAccessToken());
  if ('error' in r) {
    if (r.expired) throw new RegcredError('ProviderError', `gcp ${call}: timed out after ${seconds(DEFAULT_TIMEOUT_MS)}`, true, { cause: r.error });
    throw classify(r.error, call);
  }
  return libraryToken(r.value.token, client.credentials.expiry_date, deps, call);
}

/** OAuth error codes that mean the credentials or request are wrong: retrying cannot help. */
const PERMANENT_OAUTH = new Set([
  'invalid_grant',
  'invalid_request',
  'invalid_client',
  'unauthorized_client',
  'unsupported_grant_type',
  'invalid_scope',
  'invalid_target',
  'access_denied',
  'unauthorized',
]);
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT']);

/**
 * Turns a failed library call into a RegcredError naming gcp and the call; never a secret, and no
 * remote text in the message (the response's description and the library's message go to
 * remoteDetail). Bad credentials (400 invalid_grant, 401), missing permissions (403) and other
 * 4xx are permanent; network errors, 408, 429 and 5xx are retryable.
 */
export function classify(err: unknown, call: string): RegcredError {
  if (err instanceof RegcredError) return err;
  const e = (err ?? {}) as {
    name?: unknown;
    message?: unknown;
    code?: unknown;
    status?: unknown;
    response?: { status?: unknown; data?: unknown };
    cause?: { code?: unknown; message?: unknown };
  };
  const status = typeof e.status === 'number' ? e.status : typeof e.response?.status === 'number' ? e.response.status : undefined;
  const data = e.response?.data;
  const { code: remoteCode, detail: description } = describeRemoteError(typeof data === 'string' ? data : data === undefined ? '' : JSON.stringify(data));
  const netCode = [e.code, e.cause?.code].find((c): c is string => typeof c === 'string' && NETWORK_CODES.has(c));
  const name = typeof e.name === 'string' && /^[A-Za-z]{1,64}$/.test(e.name) ? e.name : 'Error';
  let message = typeof e.message === 'string' ? e.message : '';
  // undici's fetch says only "fetch failed"; the reason is in its cause.
  if (message === 'fetch failed' && typeof e.cause?.message === 'string') message = `fetch failed: ${e.cause.message}`;
  let retryable: boolean;
  let label: string;
  if (status !== undefined) {
    retryable = retryableStatus(status);
    // RFC 6749 §4.1.2.1 codes for a server-side failure, should one come with a 400.
    if (remoteCode === 'temporarily_unavailable' || remoteCode === 'server_error') retryable = true;
    else if (remoteCode !== undefined && PERMANENT_OAUTH.has(remoteCode)) retryable = false;
    label = `HTTP ${status}${remoteCode ? ` ${remoteCode}` : ''}${status === 403 ? ' (permission denied)' : ''}`;
  } else if (netCode || name === 'AbortError' || name === 'TimeoutError' || /fetch failed|socket|network|timeout|ECONN|EAI_AGAIN/i.test(message)) {
    retryable = true;
    label = netCode ? `network error ${netCode}` : name === 'AbortError' || name === 'TimeoutError' ? 'aborted' : 'network error';
  } else {
    retryable = false;
    label = name;
  }
  const remoteDetail = clip([description, message].filter(Boolean).join(' | '));
  return new RegcredError('ProviderError', `gcp ${call}: ${label}`, retryable, { cause: err, remoteDetail });
}
