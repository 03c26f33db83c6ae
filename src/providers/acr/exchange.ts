import { RegcredError } from '../../errors.js';
import { registerSecret } from '../../redact.js';
import { requestJson } from '../internal/http.js';
import { jwtExpiry } from '../internal/jwt.js';
import type { ProviderDeps } from '../types.js';
import type { AcrConfig } from './schema.js';

// Step 2 of `acr`: POST https://<registry>/oauth2/exchange trades the Entra token for an ACR
// refresh token (https://github.com/Azure/acr/blob/main/docs/AAD-OAuth.md), the docker password.

/** The user name ACR expects with a refresh token as password. */
export const ACR_USERNAME = '00000000-0000-0000-0000-000000000000';
/** Assumed lifetime of a refresh token whose JWT carries no `exp` (ACR's documented 3 hours). */
const DEFAULT_REFRESH_TOKEN_LIFETIME_MS = 3 * 3600_000;

/** POST /oauth2/exchange: the Entra access token for an ACR refresh token. */
export async function exchange(
  config: AcrConfig,
  deps: ProviderDeps,
  aadToken: string,
  tenant: string | undefined,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<string> {
  const base = (config.endpoint ?? `https://${config.registry}`).replace(/\/+$/, '');
  const what = `acr ${config.registry}: oauth2/exchange`;
  const form = new URLSearchParams({ grant_type: 'access_token', service: config.registry });
  if (tenant) form.set('tenant', tenant);
  form.set('access_token', aadToken);
  const body = await requestJson(deps, {
    what,
    url: `${base}/oauth2/exchange`,
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: form.toString(),
    refusedHint: 'does the identity have the AcrPull role on the registry?',
    signal,
    timeoutMs,
  });
  const refreshToken = body['refresh_token'];
  if (typeof refreshToken !== 'string' || refreshToken === '') {
    throw new RegcredError('ProviderError', `${what}: the answer has no refresh_token`, true);
  }
  registerSecret(refreshToken);
  return refreshToken;
}

/** The refresh token's expiry: its `exp` claim; lacking one, now + 3 h (ACR's usual lifetime) and a warning. */
export function refreshTokenExpiry(refreshToken: string, deps: Pick<ProviderDeps, 'now' | 'log'>, where = 'acr'): Date {
  const exp = jwtExpiry(refreshToken);
  if (exp) return exp;
  deps.log.warn(`${where}: the ACR refresh token states no expiry (no JWT "exp"); assuming 3 hours`);
  return new Date(deps.now().getTime() + DEFAULT_REFRESH_TOKEN_LIFETIME_MS);
}
