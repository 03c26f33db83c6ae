import { RegcredError } from '../../errors.js';
import { registerSecret } from '../../redact.js';
import type { ProviderDeps } from '../types.js';
import { requestJson, type HttpDeps } from './http.js';
import { jwtExpiry } from './jwt.js';

// Token endpoints answering {"token": "..."} for a service-account token (chainguard, quay).

/** The service account whose token is exchanged when none is set: regcred's own (the Helm chart's name). */
export const DEFAULT_SERVICE_ACCOUNT = 'regcred';
/** Lifetime of the service-account token (used at once; TokenRequest's minimum). */
export const SA_TOKEN_SECONDS = 600;
/** Assumed lifetime of an exchanged token whose JWT carries no `exp` (Chainguard's and Quay's tokens live an hour). */
const DEFAULT_TOKEN_LIFETIME_MS = 3600_000;

export interface TokenCall {
  /** Names the provider and the call in errors, e.g. "chainguard STS exchange for identity X (https://issuer.enforce.dev)". */
  what: string;
  url: string;
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  /** Added to 401/403 errors: what the user should check. */
  refusedHint: string;
  signal?: AbortSignal | undefined;
  timeoutMs?: number;
}

/** Calls a token endpoint answering {"token": "..."}; registers and returns the token. */
export async function callTokenEndpoint(deps: HttpDeps, call: TokenCall): Promise<string> {
  const body = await requestJson(deps, {
    what: call.what,
    url: call.url,
    method: call.method,
    headers: call.headers,
    refusedHint: call.refusedHint,
    signal: call.signal,
    ...(call.timeoutMs !== undefined ? { timeoutMs: call.timeoutMs } : {}),
  });
  const token = body['token'];
  if (typeof token !== 'string' || token === '') throw new RegcredError('ProviderError', `${call.what}: the answer has no "token"`, true);
  registerSecret(token);
  return token;
}

/** The token's expiry: its JWT `exp`; lacking one, now + 1 hour and a warning. */
export function tokenExpiry(token: string, deps: Pick<ProviderDeps, 'now' | 'log'>, provider: string): Date {
  const exp = jwtExpiry(token);
  if (exp) return exp;
  deps.log.warn(`${provider}: the registry token states no expiry (not a JWT with "exp"); assuming 1 hour`);
  return new Date(deps.now().getTime() + DEFAULT_TOKEN_LIFETIME_MS);
}
