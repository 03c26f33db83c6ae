import { createPrivateKey, sign as cryptoSign, type KeyObject } from 'node:crypto';
import { z } from 'zod';
import { dns1123Label, dns1123Subdomain, secretRef } from '../config/common.js';
import { RegcredError } from '../errors.js';
import { registerSecret } from '../redact.js';
import { withDeadline, seconds } from './internal/abort.js';
import { clip, describeRemoteError, DEFAULT_TIMEOUT_MS, requestJson, retryableStatus, type HttpDeps } from './internal/http.js';
import { httpUrl, secretKey } from './internal/schema.js';
import { defineProvider, type Credential, type ProviderDeps } from './types.js';

// `gcp`: Google Container Registry (gcr.io, <x>.gcr.io) and Artifact Registry (<location>-docker.pkg.dev).
// Both take an OAuth 2.0 access token as the password of user `oauth2accesstoken`; one token serves
// every registry, so one call per refresh however many registries are listed.
// https://cloud.google.com/artifact-registry/docs/docker/authentication
//
// The access token comes from exactly one of:
// - auth.secretRef: a service-account key (JSON) in a source Secret, traded for a token with the
//   OAuth 2.0 JWT bearer flow (https://developers.google.com/identity/protocols/oauth2/service-account#httprest).
//   HAND-WRITTEN here (node:crypto signs the RS256 JWT): google-auth-library 10.9.1 sends key logins
//   to a fixed https://oauth2.googleapis.com/token, with that URL as the JWT's `aud`, and ignores the
//   key's `token_uri` (build/src/gtoken/getToken.js and jwsSign.js; no option changes either). Other
//   Google libraries honour `token_uri` (keys of other universes, private endpoints, test doubles),
//   so regcred does too. The Secret may instead hold a user's Application Default Credentials
//   (type "authorized_user", what registry-creds took for GCR): refresh-token grant to token_uri.
// - auth.metadataServer: the GCE / GKE metadata server (GKE Workload Identity), through the
//   library's Compute client (gcp-metadata), which honours GCE_METADATA_HOST.
//   https://cloud.google.com/compute/docs/metadata/querying-metadata
// - auth.workloadIdentityFederation: a service-account token regcred mints with the TokenRequest API,
//   exchanged at STS (https://cloud.google.com/iam/docs/reference/sts/rest/v1/TopLevel/token),
//   optionally followed by IAM Credentials generateAccessToken to impersonate a Google service account
//   (https://cloud.google.com/iam/docs/reference/credentials/rest/v1/projects.serviceAccounts/generateAccessToken).
//   Both calls are made here, as google-auth-library's IdentityPoolClient makes them (the same form
//   and JSON), so that they go through the HTTP core: deadline, size cap, no redirects, network policy.
// Every call gets a deadline (DEFAULT_TIMEOUT_MS); the metadata server's through the library too.
// `jsonKey: true` (secretRef only) writes the key itself as the password of user `_json_key`: a
// long-lived credential, no expiry, rewritten every refresh.interval.

export const GCP_TOKEN_USER = 'oauth2accesstoken';
export const GCP_JSON_KEY_USER = '_json_key';
export const DEFAULT_SCOPES = ['https://www.googleapis.com/auth/cloud-platform'];
export const DEFAULT_KEY_FIELD = 'key.json';
export const DEFAULT_STS_ENDPOINT = 'https://sts.googleapis.com';
export const DEFAULT_IAM_CREDENTIALS_ENDPOINT = 'https://iamcredentials.googleapis.com';
const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const SUBJECT_TOKEN_TYPE_JWT = 'urn:ietf:params:oauth:token-type:jwt';
const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
/** Lifetime of the JWT assertion (Google's maximum) and of the service-account subject token (TokenRequest's minimum). */
const ASSERTION_SECONDS = 3600;
const SUBJECT_TOKEN_SECONDS = 600;
/** Google access tokens live an hour unless stated otherwise. */
const DEFAULT_TOKEN_SECONDS = 3600;

/** gcr.io, <x>.gcr.io (us., eu., asia., ...) or <location>-docker.pkg.dev (Artifact Registry). */
export const gcpRegistry = z
  .string()
  .max(253)
  .regex(
    /^(([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)?gcr\.io|[a-z0-9]([a-z0-9-]*[a-z0-9])?-docker\.pkg\.dev)$/,
    'must be gcr.io, <name>.gcr.io or <location>-docker.pkg.dev',
  );

const scope = z
  .string()
  .min(1)
  .max(256)
  .regex(/^[^\t\n\v\f\r ]+$/, 'must be one OAuth scope (no whitespace)');

const gcpServiceAccountEmail = z
  .string()
  .max(254)
  // Service-account emails are lower-case letters, digits, "-" and "."; nothing a URL path must escape.
  .regex(/^[a-z0-9][a-z0-9._-]*@[a-z0-9][a-z0-9.-]*\.[a-z]+$/, 'must be a service account email such as "puller@my-project.iam.gserviceaccount.com"');

/** The Workload Identity Federation provider's resource name, STS's `audience`. */
const wifAudience = z
  .string()
  .max(512)
  .regex(
    /^\/\/iam\.googleapis\.com\/projects\/[0-9]+\/locations\/global\/workloadIdentityPools\/[a-z0-9-]+\/providers\/[a-z0-9-]+$/,
    'must be a workload identity pool provider such as "//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/POOL/providers/PROVIDER"',
  );

export const gcpAuth = z
  .strictObject({
    /** A source Secret holding a service-account key (JSON), under `key` (default "key.json"). */
    secretRef: z
      .strictObject({
        namespace: dns1123Label.optional(),
        name: dns1123Subdomain,
        /** The Secret's key holding the JSON; default "key.json". */
        key: secretKey.optional(),
      })
      .optional(),
    /** The GCE / GKE metadata server (GKE Workload Identity); its address from GCE_METADATA_HOST, else metadata.google.internal. */
    metadataServer: z
      .strictObject({
        /** The instance's service account to get a token for; default "default". */
        serviceAccount: z.union([z.literal('default'), gcpServiceAccountEmail]).optional(),
      })
      .optional(),
    /** STS token exchange of a service-account token regcred mints (TokenRequest). */
    workloadIdentityFederation: z
      .strictObject({
        /** The pool provider: //iam.googleapis.com/projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER */
        audience: wifAudience,
        /** The Kubernetes service account to mint the subject token for; namespace defaults like a source Secret's. */
        serviceAccount: secretRef,
        /** The minted token's audience; default "https:" + audience (the provider's default allowed audience). */
        tokenAudience: z.string().min(1).max(512).optional(),
        /** Then impersonate this Google service account (IAM Credentials generateAccessToken). */
        serviceAccountImpersonation: z
          .strictObject({
            email: gcpServiceAccountEmail,
            /** Lifetime of the impersonated token; default 3600 (more needs an organization policy). */
            lifetimeSeconds: z.number().int().min(300).max(43200).optional(),
          })
          .optional(),
        /** Overrides https://sts.googleapis.com (a private endpoint, or a double for tests). */
        stsEndpoint: httpUrl.optional(),
        /** Overrides https://iamcredentials.googleapis.com (a private endpoint, or a double for tests). */
        iamCredentialsEndpoint: httpUrl.optional(),
      })
      .optional(),
  })
  .refine((a) => [a.secretRef, a.metadataServer, a.workloadIdentityFederation].filter((x) => x !== undefined).length === 1, {
    message: 'auth: exactly one of secretRef, metadataServer, workloadIdentityFederation',
  })
  .meta({
    'x-kubernetes-validations': [
      {
        rule: '(has(self.secretRef) ? 1 : 0) + (has(self.metadataServer) ? 1 : 0) + (has(self.workloadIdentityFederation) ? 1 : 0) == 1',
        message: 'auth: exactly one of secretRef, metadataServer, workloadIdentityFederation',
      },
    ],
  });

export const gcpConfig = z
  .strictObject({
    /** The registries to log in to, all with the same token: gcr.io, <x>.gcr.io, <location>-docker.pkg.dev. */
    registries: z.array(gcpRegistry).min(1).max(20),
    /** OAuth scopes of the access token; default cloud-platform. */
    scopes: z.array(scope).min(1).max(10).optional(),
    /** Write the key itself (user `_json_key`) instead of an access token; long-lived. Only with auth.secretRef. */
    jsonKey: z.boolean().optional(),
    /** Where the access token comes from: exactly one of secretRef, metadataServer, workloadIdentityFederation. */
    auth: gcpAuth,
  })
  .refine((c) => c.jsonKey !== true || c.auth.secretRef !== undefined, {
    message: 'jsonKey: true needs auth.secretRef (the key to write)',
  })
  .meta({
    'x-kubernetes-validations': [
      { rule: '!has(self.jsonKey) || !self.jsonKey || has(self.auth.secretRef)', message: 'jsonKey: true needs auth.secretRef (the key to write)' },
    ],
  });
export type GcpConfig = z.infer<typeof gcpConfig>;

/** An access token and when it expires. */
export interface AccessToken {
  token: string;
  expiresAt: Date;
}

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

export function createGcpProvider(config: GcpConfig, deps: ProviderDeps) {
  const registries = [...new Set(config.registries)];
  const scopes = config.scopes ?? DEFAULT_SCOPES;
  return {
    key: 'gcp',
    async mint(signal?: AbortSignal): Promise<Credential[]> {
      const auth = config.auth;
      let token: AccessToken;
      if (auth.secretRef) {
        const key = await readKey(auth.secretRef, deps);
        if (config.jsonKey && key.type !== 'service_account') {
          throw new RegcredError('InvalidSource', 'gcp jsonKey: true needs a service-account key (type "service_account"); the registry does not take user credentials as _json_key');
        }
        if (config.jsonKey) {
          // The key is the password: no expiry; the controller rewrites it every refresh.interval.
          return registries.map((registry) => ({ registry, username: GCP_JSON_KEY_USER, password: key.text }));
        }
        token = await keyAccessToken(key, scopes, deps, signal);
      } else if (auth.metadataServer) {
        token = await metadataAccessToken(auth.metadataServer.serviceAccount ?? 'default', scopes, deps, signal);
      } else if (auth.workloadIdentityFederation) {
        token = await federatedAccessToken(auth.workloadIdentityFederation, scopes, deps, signal);
      } else {
        throw new RegcredError('InvalidSpec', 'gcp: auth needs one of secretRef, metadataServer, workloadIdentityFederation');
      }
      return registries.map((registry) => ({ registry, username: GCP_TOKEN_USER, password: token.token, expiresAt: token.expiresAt }));
    },
  };
}

export const gcpProvider = defineProvider<GcpConfig>({
  key: 'gcp',
  configSchema: gcpConfig,
  // The key's token_uri comes from a Secret, so it is checked when the request is made, not here.
  defaultHosts: ['oauth2.googleapis.com', 'sts.googleapis.com', 'iamcredentials.googleapis.com'],
  tenantSurface: (c) => {
    const wif = c.auth.workloadIdentityFederation;
    return {
      ambient: c.auth.metadataServer ? { path: ['auth', 'metadataServer'], what: "the metadata server (the controller's own Google service account)" } : undefined,
      urls: [
        ...(wif?.stsEndpoint ? [{ path: ['auth', 'workloadIdentityFederation', 'stsEndpoint'], url: wif.stsEndpoint }] : []),
        ...(wif?.iamCredentialsEndpoint ? [{ path: ['auth', 'workloadIdentityFederation', 'iamCredentialsEndpoint'], url: wif.iamCredentialsEndpoint }] : []),
      ],
    };
  },
  create: (config, deps) => createGcpProvider(config, deps),
});

// ---------------------------------------------------------------------------------------------
// auth.secretRef: the service-account key

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

async function keyAccessToken(key: ServiceAccountKey | AuthorizedUserKey, scopes: string[], deps: ProviderDeps, signal: AbortSignal | undefined): Promise<AccessToken> {
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

/** A form POST answered by JSON (OAuth token endpoints, STS). */
function postForm(deps: HttpDeps, what: string, url: string, form: Record<string, string>, signal: AbortSignal | undefined): Promise<Record<string, unknown>> {
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
function oauthAccessToken(body: Record<string, unknown>, deps: ProviderDeps, what: string): AccessToken {
  const accessToken = typeof body['access_token'] === 'string' ? body['access_token'] : '';
  registerSecret(accessToken);
  if (!accessToken) throw new RegcredError('ProviderError', `${what}: the response has no access_token`, true);
  const expiresIn = Number(body['expires_in']);
  const secs = Number.isFinite(expiresIn) && expiresIn > 0 ? expiresIn : DEFAULT_TOKEN_SECONDS;
  return { token: accessToken, expiresAt: new Date(deps.now().getTime() + secs * 1000) };
}

// ---------------------------------------------------------------------------------------------
// auth.metadataServer and auth.workloadIdentityFederation: google-auth-library

/** The library's token with its expiry (the library computes expiry_date with the wall clock). */
function libraryToken(token: string | null | undefined, expiryDate: number | null | undefined, deps: ProviderDeps, call: string): AccessToken {
  registerSecret(token);
  if (!token) throw new RegcredError('ProviderError', `gcp ${call}: the response has no access token`, true);
  const expiresAt = typeof expiryDate === 'number' && expiryDate > 0 ? new Date(expiryDate) : new Date(deps.now().getTime() + DEFAULT_TOKEN_SECONDS * 1000);
  return { token, expiresAt };
}

async function metadataAccessToken(serviceAccount: string, scopes: string[], deps: ProviderDeps, signal: AbortSignal | undefined): Promise<AccessToken> {
  const call = 'metadata server token request';
  // Loaded on first use, like the AWS SDK in ecr.ts.
  const { Compute } = await import('google-auth-library');
  const client = new Compute({ serviceAccountEmail: serviceAccount, scopes });
  // The library takes no AbortSignal here: the deadline stops the wait (a ref'd timer).
  const r = await withDeadline(DEFAULT_TIMEOUT_MS, signal, () => client.getAccessToken());
  if ('error' in r) {
    if (r.expired) throw new RegcredError('ProviderError', `gcp ${call}: timed out after ${seconds(DEFAULT_TIMEOUT_MS)}`, true, { cause: r.error });
    throw classify(r.error, call);
  }
  return libraryToken(r.value.token, client.credentials.expiry_date, deps, call);
}

type Federation = NonNullable<GcpConfig['auth']['workloadIdentityFederation']>;

/** The subject token's default audience: Google's Kubernetes guide sets "https:" + the provider's name, its default allowed audience. */
export function defaultTokenAudience(audience: string): string {
  return `https:${audience}`;
}

async function federatedAccessToken(wif: Federation, scopes: string[], deps: ProviderDeps, signal: AbortSignal | undefined): Promise<AccessToken> {
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

// ---------------------------------------------------------------------------------------------
// Errors of the library (metadata server)

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
