import { RegcredError } from '../../errors.js';
import { registerSecret } from '../../redact.js';
import { requestJson, type HttpDeps } from '../internal/http.js';
import type { ProviderDeps } from '../types.js';

// What the `gcp` flows share: the access token they produce, and OAuth token endpoint calls
// (form POST, {"access_token", "expires_in"} answer) through the HTTP core.

export const DEFAULT_SCOPES = ['https://www.googleapis.com/auth/cloud-platform'];
/** Google access tokens live an hour unless stated otherwise. */
export const DEFAULT_TOKEN_SECONDS = 3600;

/** An access token and when it expires. */
export interface AccessToken {
  token: string;
  expiresAt: Date;
}

/** A form POST answered by JSON (OAuth token endpoints, STS). */
export function postForm(deps: HttpDeps, what: string, url: string, form: Record<string, string>, signal: AbortSignal | undefined): Promise<Record<string, unknown>> {
  return requestJson(deps, {
    what,
    url,
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: new URLSearchParams(form).toString(),
    signal,
  });
}

/** {"access_token", "expires_in"} (RFC 6749 §5.1) as an AccessToken. */
export function oauthAccessToken(body: Record<string, unknown>, deps: ProviderDeps, what: string): AccessToken {
  const accessToken = typeof body['access_token'] === 'string' ? body['access_token'] : '';
  registerSecret(accessToken);
  if (!accessToken) throw new RegcredError('ProviderError', `${what}: the response has no access_token`, true);
  const expiresIn = Number(body['expires_in']);
  const secs = Number.isFinite(expiresIn) && expiresIn > 0 ? expiresIn : DEFAULT_TOKEN_SECONDS;
  return { token: accessToken, expiresAt: new Date(deps.now().getTime() + secs * 1000) };
}
