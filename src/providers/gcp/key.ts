import { createPrivateKey, sign as cryptoSign, type KeyObject } from 'node:crypto';
import { RegcredError } from '../../errors.js';
import { registerSecret } from '../../redact.js';
import type { ProviderDeps } from '../types.js';
import { oauthAccessToken, postForm, type AccessToken } from './oauth.js';

// auth.secretRef: a service-account key (JSON) in a source Secret, traded for a token with the
// OAuth 2.0 JWT bearer flow, signed here (see index.ts for why not by google-auth-library); or a
// user's Application Default Credentials (type "authorized_user"): refresh-token grant.

export const DEFAULT_KEY_FIELD = 'key.json';
const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
/** Lifetime of the JWT assertion (Google's maximum). */
const ASSERTION_SECONDS = 3600;

/** The parts of a service-account key regcred uses. */
export interface ServiceAccountKey {
  type: 'service_account';
  text: string;
  clientEmail: string;
  privateKey: KeyObject;
  privateKeyId: string | undefined;
  tokenUri: string;
}

/**
 * A user's Application Default Credentials (`gcloud auth application-default login` writes
 * application_default_credentials.json with type "authorized_user"): an OAuth client and a refresh
 * token, traded for an access token with the refresh-token grant (RFC 6749 §6). registry-creds took
 * this file for GCR, so its users can bring it as it is; a service account is still the better choice.
 */
export interface AuthorizedUserKey {
  type: 'authorized_user';
  text: string;
  clientId: string;
  clientSecret: string;
  refreshToken: string;
  tokenUri: string;
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$/;

/** Reads and checks the key; registers its secret parts before anything can echo them. */
export async function readKey(ref: { namespace?: string | undefined; name: string; key?: string | undefined }, deps: ProviderDeps): Promise<ServiceAccountKey | AuthorizedUserKey> {
  const src = await deps.sources.read(ref);
  const field = ref.key ?? DEFAULT_KEY_FIELD;
  const where = `Secret ${src.namespace}/${src.name}`;
  const text = src.data[field]?.trim();
  registerSecret(text);
  if (!text) throw new RegcredError('InvalidSource', `${where} lacks key "${field}" (expected a Google service-account key, JSON)`);
  let json: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
    json = parsed as Record<string, unknown>;
  } catch {
    throw new RegcredError('InvalidSource', `${where}: key "${field}" is not JSON (expected a Google service-account key)`);
  }
  const str = (k: string) => (typeof json[k] === 'string' && json[k] !== '' ? (json[k] as string) : undefined);
  registerSecret(str('private_key'));
  registerSecret(str('client_secret'));
  registerSecret(str('refresh_token'));
  if (json['type'] === 'authorized_user') {
    const missingUser = ['client_id', 'client_secret', 'refresh_token'].filter((k) => !str(k));
    if (missingUser.length > 0) throw new RegcredError('InvalidSource', `${where}: key "${field}" lacks field(s) ${missingUser.map((k) => `"${k}"`).join(', ')}`);
    const userTokenUri = checkedTokenUri(str('token_uri'), where, field);
    return { type: 'authorized_user', text, clientId: str('client_id')!, clientSecret: str('client_secret')!, refreshToken: str('refresh_token')!, tokenUri: userTokenUri };
  }
  if (json['type'] !== 'service_account') {
    throw new RegcredError('InvalidSource', `${where}: key "${field}" has type ${JSON.stringify(json['type'] ?? null)}, expected "service_account" or "authorized_user"`);
  }
  const missing = ['client_email', 'private_key'].filter((k) => !str(k));
  if (missing.length > 0) throw new RegcredError('InvalidSource', `${where}: key "${field}" lacks field(s) ${missing.map((k) => `"${k}"`).join(', ')}`);
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(str('private_key')!);
  } catch {
    throw new RegcredError('InvalidSource', `${where}: key "${field}" has a private_key that is not a PEM private key`);
  }
  if (privateKey.asymmetricKeyType !== 'rsa') {
    throw new RegcredError('InvalidSource', `${where}: key "${field}" has a ${privateKey.asymmetricKeyType ?? 'unknown'} private_key, expected RSA`);
  }
  const tokenUri = checkedTokenUri(str('token_uri'), where, field);
  return { type: 'service_account', text, clientEmail: str('client_email')!, privateKey, privateKeyId: str('private_key_id'), tokenUri };
}

/** The key's token_uri (default Google's): https, or plain http to this machine only (test doubles). */
function checkedTokenUri(given: string | undefined, where: string, field: string): string {
  const tokenUri = given ?? 'https://oauth2.googleapis.com/token';
  let url: URL;
  try {
    url = new URL(tokenUri);
  } catch {
    throw new RegcredError('InvalidSource', `${where}: key "${field}" has a token_uri that is not a URL`);
  }
  // What is sent there is a bearer credential: plain HTTP only to this machine (test doubles).
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && LOOPBACK.test(url.hostname))) {
    throw new RegcredError('InvalidSource', `${where}: key "${field}" has token_uri ${url.origin}, which must be https`);
  }
  return tokenUri;
}

function base64url(data: string | Buffer): string {
  return Buffer.from(data).toString('base64url');
}

/** The RS256 JWT assertion of the OAuth 2.0 service-account flow: iss, scope, aud = token_uri, iat, exp. */
export function signAssertion(key: ServiceAccountKey, scopes: string[], now: Date): string {
  const iat = Math.floor(now.getTime() / 1000);
  const header = { alg: 'RS256', typ: 'JWT', ...(key.privateKeyId ? { kid: key.privateKeyId } : {}) };
  const claims = { iss: key.clientEmail, scope: scopes.join(' '), aud: key.tokenUri, iat, exp: iat + ASSERTION_SECONDS };
  const input = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`;
  const signature = cryptoSign('sha256', Buffer.from(input), key.privateKey);
  return `${input}.${base64url(signature)}`;
}

export async function keyAccessToken(key: ServiceAccountKey | AuthorizedUserKey, scopes: string[], deps: ProviderDeps, signal: AbortSignal | undefined): Promise<AccessToken> {
  const what = `gcp token request (${new URL(key.tokenUri).origin})`;
  let form: Record<string, string>;
  if (key.type === 'service_account') {
    const assertion = signAssertion(key, scopes, deps.now());
    registerSecret(assertion);
    form = { grant_type: JWT_BEARER, assertion };
  } else {
    // The refresh token's own scopes apply (the user's consent); `scopes` cannot widen them.
    form = { grant_type: 'refresh_token', client_id: key.clientId, client_secret: key.clientSecret, refresh_token: key.refreshToken };
  }
  const body = await postForm(deps, what, key.tokenUri, form, signal);
  return oauthAccessToken(body, deps, what);
}
