import { RegcredError } from '../../errors.js';
import { registerSecret } from '../../redact.js';
import { requestJson } from '../internal/http.js';
import type { ProviderDeps } from '../types.js';
import { DEFAULT_SCOPES, DEFAULT_TOKEN_SECONDS, oauthAccessToken, postForm, type AccessToken } from './oauth.js';
import type { GcpConfig } from './schema.js';

// auth.workloadIdentityFederation: a service-account token regcred mints (TokenRequest) exchanged
// at STS, optionally followed by IAM Credentials generateAccessToken (impersonation); both calls
// made here, the way google-auth-library's IdentityPoolClient makes them, through the HTTP core.

export const DEFAULT_STS_ENDPOINT = 'https://sts.googleapis.com';
export const DEFAULT_IAM_CREDENTIALS_ENDPOINT = 'https://iamcredentials.googleapis.com';
const SUBJECT_TOKEN_TYPE_JWT = 'urn:ietf:params:oauth:token-type:jwt';
const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
/** Lifetime of the service-account subject token (TokenRequest's minimum). */
const SUBJECT_TOKEN_SECONDS = 600;

type Federation = NonNullable<GcpConfig['auth']['workloadIdentityFederation']>;

/** The subject token's default audience: Google's Kubernetes guide sets "https:" + the provider's name, its default allowed audience. */
export function defaultTokenAudience(audience: string): string {
  return `https:${audience}`;
}

export async function federatedAccessToken(wif: Federation, scopes: string[], deps: ProviderDeps, signal: AbortSignal | undefined): Promise<AccessToken> {
  if (!deps.tokenRequest) {
    throw new RegcredError(
      'InvalidSource',
      'gcp auth.workloadIdentityFederation needs service-account tokens, which this run cannot mint (no Kubernetes access)',
    );
  }
  const subjectToken = await deps.tokenRequest(wif.serviceAccount, [wif.tokenAudience ?? defaultTokenAudience(wif.audience)], SUBJECT_TOKEN_SECONDS);
  registerSecret(subjectToken);
  const sts = (wif.stsEndpoint ?? DEFAULT_STS_ENDPOINT).replace(/\/+$/, '');
  const iam = (wif.iamCredentialsEndpoint ?? DEFAULT_IAM_CREDENTIALS_ENDPOINT).replace(/\/+$/, '');
  const imp = wif.serviceAccountImpersonation;
  // With impersonation, the STS token only needs to call IAM Credentials: cloud-platform, as the
  // library asks; the registry scopes go to generateAccessToken.
  const stsForm = {
    grant_type: TOKEN_EXCHANGE,
    audience: wif.audience,
    scope: (imp ? DEFAULT_SCOPES : scopes).join(' '),
    requested_token_type: ACCESS_TOKEN_TYPE,
    subject_token: subjectToken,
    subject_token_type: SUBJECT_TOKEN_TYPE_JWT,
  };
  const stsToken = oauthAccessToken(await postForm(deps, 'gcp STS token exchange', `${sts}/v1/token`, stsForm, signal), deps, 'gcp STS token exchange');
  if (!imp) return stsToken;
  const what = `gcp generateAccessToken for ${imp.email}`;
  const lifetime = imp.lifetimeSeconds ?? DEFAULT_TOKEN_SECONDS;
  const body = await requestJson(deps, {
    what,
    url: `${iam}/v1/projects/-/serviceAccounts/${imp.email}:generateAccessToken`,
    method: 'POST',
    headers: { authorization: `Bearer ${stsToken.token}` },
    json: { scope: scopes, lifetime: `${lifetime}s` },
    signal,
  });
  const accessToken = typeof body['accessToken'] === 'string' ? body['accessToken'] : '';
  registerSecret(accessToken);
  if (!accessToken) throw new RegcredError('ProviderError', `${what}: the response has no accessToken`, true);
  const expireTime = typeof body['expireTime'] === 'string' ? Date.parse(body['expireTime']) : NaN;
  return { token: accessToken, expiresAt: Number.isFinite(expireTime) ? new Date(expireTime) : new Date(deps.now().getTime() + lifetime * 1000) };
}

