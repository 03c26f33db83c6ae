import { z } from 'zod';
import { secretRef } from '../config/common.js';
import { RegcredError } from '../errors.js';
import { registerSecret } from '../redact.js';
import { abortable, deadline, seconds } from './internal/abort.js';
import type { NetworkPolicy } from './internal/address-policy.js';
import { createGuardedAzureHttpClient, entraClientOptions } from './internal/azure-http.js';
import { clip, prefixed, requestJson } from './internal/http.js';
import { claims, jwtExpiry } from './internal/jwt.js';
import { httpUrl } from './internal/schema.js';
import { defineProvider, type Credential, type ProviderDeps } from './types.js';

// `acr`: Azure Container Registry. Two steps, as `az acr login --expose-token` does them:
//  1. a Microsoft Entra access token (scope https://management.azure.com/.default by default) with
//     @azure/identity: a client secret from a source Secret (ClientSecretCredential), workload
//     identity federation with a service-account token regcred mints itself via TokenRequest
//     (ClientAssertionCredential; no Azure webhook or projected token file needed), or a managed
//     identity (ManagedIdentityCredential: IMDS, or IDENTITY_ENDPOINT / AZURE_POD_IDENTITY_AUTHORITY_HOST);
//     see https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-client-creds-grant-flow
//     and https://learn.microsoft.com/en-us/azure/aks/workload-identity-overview ;
//  2. `POST https://<registry>/oauth2/exchange` with the form
//     grant_type=access_token&service=<registry>&tenant=<tenant>&access_token=<Entra token>, answered
//     by {"refresh_token": "<JWT>"} (https://github.com/Azure/acr/blob/main/docs/AAD-OAuth.md).
// The ACR refresh token is the docker password, with the null GUID as user name
// (https://learn.microsoft.com/en-us/azure/container-registry/container-registry-authentication);
// its lifetime (about 3 hours) is the JWT's `exp`.

/** The user name ACR expects with a refresh token as password. */
export const ACR_USERNAME = '00000000-0000-0000-0000-000000000000';
export const DEFAULT_ACR_SCOPE = 'https://management.azure.com/.default';
export const DEFAULT_AZURE_AUDIENCE = 'api://AzureADTokenExchange';
/** Assumed lifetime of a refresh token whose JWT carries no `exp` (ACR's documented 3 hours). */
const DEFAULT_REFRESH_TOKEN_LIFETIME_MS = 3 * 3600_000;
/** Lifetime of the service-account token minted as client assertion (used at once; TokenRequest's minimum). */
const ASSERTION_TOKEN_SECONDS = 600;
/** Each step (Entra token, exchange) gives up after this long. */
export const ACR_STEP_TIMEOUT_MS = 30_000;
/** Key of the source Secret holding the service principal's client secret. */
export const CLIENT_SECRET_KEY = 'AZURE_CLIENT_SECRET';

const registry = z
  .string()
  .max(253)
  .regex(/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?$/, 'must be a registry host such as "myregistry.azurecr.io"');
// A directory (tenant) id: a GUID, or a verified domain such as contoso.onmicrosoft.com.
const tenantId = z
  .string()
  .max(256)
  .regex(/^[A-Za-z0-9][A-Za-z0-9.-]*$/, 'must be a tenant id (a GUID) or a tenant domain such as "contoso.onmicrosoft.com"');
const clientId = z
  .string()
  .regex(/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/, 'must be a client (application) id: a GUID');
const httpsUrl = z
  .string()
  .max(2048)
  .regex(/^https:\/\/[^\t\n\v\f\r ]+$/, 'must be an https URL (Microsoft Entra authorities are https only)');

/** How regcred gets the Entra token: exactly one of these. */
export const acrAuth = z
  .strictObject({
    /** A client secret: the source Secret's key AZURE_CLIENT_SECRET; `tenantId` and `clientId` name the app. */
    secretRef: secretRef.optional(),
    /** Workload identity federation: a service-account token regcred mints is the client assertion. */
    workloadIdentity: z
      .strictObject({
        /** The service account to mint the token for; namespace defaults like a source Secret's. */
        serviceAccount: secretRef,
        /** The token's audience, as in the federated credential; default "api://AzureADTokenExchange". */
        audience: z.string().min(1).max(256).optional(),
      })
      .optional(),
    /** The managed identity of where regcred runs (IMDS and the other endpoints @azure/identity detects). */
    managedIdentity: z
      .strictObject({
        /** A user-assigned identity's client id; default: the system-assigned identity. */
        clientId: clientId.optional(),
      })
      .optional(),
  })
  .refine((a) => [a.secretRef, a.workloadIdentity, a.managedIdentity].filter((x) => x !== undefined).length === 1, {
    message: 'auth: needs exactly one of secretRef, workloadIdentity, managedIdentity',
  })
  .meta({
    'x-kubernetes-validations': [
      {
        rule: '(has(self.secretRef) ? 1 : 0) + (has(self.workloadIdentity) ? 1 : 0) + (has(self.managedIdentity) ? 1 : 0) == 1',
        message: 'auth: needs exactly one of secretRef, workloadIdentity, managedIdentity',
      },
    ],
  });

export const acrConfig = z
  .strictObject({
    /** The registry's login server, e.g. "myregistry.azurecr.io": the exchange's `service` and the auths key. */
    registry,
    /** The Microsoft Entra tenant (directory) id. Required for secretRef and workloadIdentity. */
    tenantId: tenantId.optional(),
    /** The app registration's (or user-assigned managed identity's) client id holding the secret or federated credential. Required for secretRef and workloadIdentity; not used with managedIdentity (see auth.managedIdentity.clientId). */
    clientId: clientId.optional(),
    /** Scope of the Entra token; default "https://management.azure.com/.default" (other clouds: their ARM scope). */
    scope: z.string().min(1).max(512).optional(),
    /** The Entra authority host; default https://login.microsoftonline.com (other clouds differ). */
    authorityHost: httpsUrl.optional(),
    /** Where /oauth2/exchange is called instead of https://<registry> (a private endpoint, or a fake for tests). */
    endpoint: httpUrl.optional(),
    auth: acrAuth,
  })
  .refine((c) => c.auth.managedIdentity !== undefined || (c.tenantId !== undefined && c.clientId !== undefined), {
    message: 'auth.secretRef and auth.workloadIdentity need tenantId and clientId',
  })
  .refine((c) => c.auth.managedIdentity === undefined || c.clientId === undefined, {
    message: 'with auth.managedIdentity, set a user-assigned identity as auth.managedIdentity.clientId, not clientId',
  })
  .meta({
    'x-kubernetes-validations': [
      {
        rule: 'has(self.auth.managedIdentity) || (has(self.tenantId) && has(self.clientId))',
        message: 'auth.secretRef and auth.workloadIdentity need tenantId and clientId',
      },
      {
        rule: '!has(self.auth.managedIdentity) || !has(self.clientId)',
        message: 'with auth.managedIdentity, set a user-assigned identity as auth.managedIdentity.clientId, not clientId',
      },
    ],
  });
export type AcrConfig = z.infer<typeof acrConfig>;

/** What the provider asks of Microsoft Entra: one access token. */
export interface EntraTokenRequest {
  kind: 'clientSecret' | 'clientAssertion' | 'managedIdentity';
  tenantId?: string | undefined;
  clientId?: string | undefined;
  clientSecret?: string | undefined;
  /** Mints the client assertion (a fresh service-account token) each time Entra needs one. */
  getAssertion?: (() => Promise<string>) | undefined;
  authorityHost?: string | undefined;
  scope: string;
  signal?: AbortSignal | undefined;
  /**
   * Where the Entra calls may connect (the credential's network policy): set for the client secret
   * and workload identity modes, whose authority a RegistryCredential may name. A managed identity's
   * endpoint (IMDS, IDENTITY_ENDPOINT) is the controller's own environment and, being a metadata
   * address, is outside what the policy allows; tenants are kept from it by the ambient-credentials
   * rule instead (as gcp's metadata server and ecr's default chain).
   */
  network?: NetworkPolicy | undefined;
}

/** Gets an Entra access token. Tests inject a fake; the default uses @azure/identity. */
export type GetEntraToken = (req: EntraTokenRequest) => Promise<string>;

export const identityGetEntraToken: GetEntraToken = async (req) => {
  // Loaded on first use: most runs never touch Azure, and the library (with MSAL) is a large share of start-up.
  const { ClientSecretCredential, ClientAssertionCredential, ManagedIdentityCredential } = await import('@azure/identity');
  // One retry inside the library, after at most 2 s; the controller retries with its own backoff.
  // The step's deadline (createAcrProvider) aborts the library's requests through req.signal.
  const retryOptions = { maxRetries: 1, retryDelayInMs: 500, maxRetryDelayInMs: 2000 };
  // With a network policy, the requests go through its guarded connections (the address checked
  // before a byte is sent), with the size cap, a deadline, and no redirects.
  const guarded = req.network && req.kind !== 'managedIdentity' ? createGuardedAzureHttpClient(req.network) : undefined;
  const common = {
    retryOptions,
    ...(guarded ? entraClientOptions(guarded) : {}),
    ...(req.authorityHost ? { authorityHost: req.authorityHost, disableInstanceDiscovery: true } : {}),
  };
  let credential;
  if (req.kind === 'clientSecret') {
    credential = new ClientSecretCredential(req.tenantId ?? '', req.clientId ?? '', req.clientSecret ?? '', common);
  } else if (req.kind === 'clientAssertion') {
    const getAssertion = req.getAssertion ?? (() => Promise.reject(new Error('no client assertion')));
    credential = new ClientAssertionCredential(req.tenantId ?? '', req.clientId ?? '', getAssertion, common);
  } else {
    credential = new ManagedIdentityCredential({ ...(req.clientId ? { clientId: req.clientId } : {}), retryOptions });
  }
  try {
    const token = await credential.getToken(req.scope, req.signal ? { abortSignal: req.signal } : {});
    return token.token;
  } catch (err) {
    // The library wraps what the HTTP client threw (endpoints_resolution_error, network_error):
    // a policy refusal is reported as itself.
    throw guarded?.refusal() ?? err;
  }
};

export function createAcrProvider(
  config: AcrConfig,
  deps: ProviderDeps,
  getEntraToken: GetEntraToken = identityGetEntraToken,
  timeoutMs = ACR_STEP_TIMEOUT_MS,
) {
  const where = `acr ${config.registry}`;
  const scope = config.scope ?? DEFAULT_ACR_SCOPE;
  return {
    key: 'acr',
    async mint(signal?: AbortSignal): Promise<Credential[]> {
      const entraDeadline = deadline(timeoutMs, signal);
      let aadToken: string;
      let req: EntraTokenRequest;
      try {
        req = await entraRequest(config, deps, scope, entraDeadline.signal);
        try {
          aadToken = await abortable(getEntraToken(req), req.signal);
        } catch (err) {
          const call = `${where}: Entra token (${modeName(req.kind)})`;
          // A network policy refusal, or an error from minting the assertion: already clear.
          if (err instanceof RegcredError) throw prefixed(err, call);
          if (entraDeadline.expired) throw new RegcredError('ProviderError', `${call}: timed out after ${seconds(timeoutMs)}`, true, { cause: err });
          throw classifyEntraError(err, call);
        }
      } finally {
        entraDeadline.clear();
      }
      registerSecret(aadToken);
      if (!aadToken) throw new RegcredError('ProviderError', `${where}: Entra token (${modeName(req.kind)}): the answer held no access token`, true);
      // The exchange's `tenant`: the token's own tenant id (`tid`, always the GUID, even when
      // tenantId names the tenant by domain), else tenantId; a managed identity's token has a tid.
      const tid = claims(aadToken)?.['tid'];
      const tenant = typeof tid === 'string' && tid ? tid : config.tenantId;
      const refreshToken = await exchange(config, deps, aadToken, tenant, timeoutMs, signal);
      return [{ registry: config.registry, username: ACR_USERNAME, password: refreshToken, expiresAt: refreshTokenExpiry(refreshToken, deps, where) }];
    },
  };
}

export const acrProvider = defineProvider<AcrConfig>({
  key: 'acr',
  configSchema: acrConfig,
  defaultHosts: ['login.microsoftonline.com', 'login.microsoftonline.us', 'login.chinacloudapi.cn', '*.azurecr.io', '*.azurecr.us', '*.azurecr.cn'],
  tenantSurface: (c) => ({
    ambient: c.auth.managedIdentity ? { path: ['auth', 'managedIdentity'], what: "managed identity (the controller's own Entra identity)" } : undefined,
    urls: [
      c.endpoint ? { path: ['endpoint'], url: c.endpoint } : { path: ['registry'], url: `https://${c.registry}` },
      ...(c.authorityHost ? [{ path: ['authorityHost'], url: c.authorityHost }] : []),
    ],
  }),
  create: (config, deps) => createAcrProvider(config, deps),
});

function modeName(kind: EntraTokenRequest['kind']): string {
  return kind === 'clientSecret' ? 'client secret' : kind === 'clientAssertion' ? 'workload identity' : 'managed identity';
}

async function entraRequest(config: AcrConfig, deps: ProviderDeps, scope: string, signal?: AbortSignal): Promise<EntraTokenRequest> {
  const common = { tenantId: config.tenantId, clientId: config.clientId, authorityHost: config.authorityHost, scope, signal, network: deps.network };
  const auth = config.auth;
  if (auth.secretRef) {
    const src = await deps.sources.read(auth.secretRef);
    const secret = src.data[CLIENT_SECRET_KEY]?.trim();
    registerSecret(secret);
    if (!secret) {
      throw new RegcredError('InvalidSource', `Secret ${src.namespace}/${src.name} lacks key "${CLIENT_SECRET_KEY}" (the service principal's client secret)`);
    }
    return { kind: 'clientSecret', ...common, clientSecret: secret };
  }
  if (auth.workloadIdentity) {
    const wi = auth.workloadIdentity;
    const tokenRequest = deps.tokenRequest;
    if (!tokenRequest) {
      throw new RegcredError('InvalidSource', 'acr auth.workloadIdentity needs service-account tokens, which this run cannot mint (no Kubernetes access)');
    }
    const audience = wi.audience ?? DEFAULT_AZURE_AUDIENCE;
    // Mint once up front: a refused service account (cross-namespace, missing) is a clear RegcredError
    // here rather than an error buried inside the library. The callback hands out this token, and
    // mints a fresh one should the library ask again.
    let first: string | undefined = await tokenRequest(wi.serviceAccount, [audience], ASSERTION_TOKEN_SECONDS);
    registerSecret(first);
    const getAssertion = async (): Promise<string> => {
      if (first !== undefined) {
        const t = first;
        first = undefined;
        return t;
      }
      const t = await tokenRequest(wi.serviceAccount, [audience], ASSERTION_TOKEN_SECONDS);
      registerSecret(t);
      return t;
    };
    return { kind: 'clientAssertion', ...common, getAssertion };
  }
  // Managed identity: its `clientId` (if any) selects a user-assigned identity; the tenant is the identity's own.
  return { kind: 'managedIdentity', clientId: auth.managedIdentity?.clientId, scope, signal };
}

/** POST /oauth2/exchange: the Entra access token for an ACR refresh token. */
async function exchange(
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

export { claims };

/** The refresh token's expiry: its `exp` claim; lacking one, now + 3 h (ACR's usual lifetime) and a warning. */
export function refreshTokenExpiry(refreshToken: string, deps: Pick<ProviderDeps, 'now' | 'log'>, where = 'acr'): Date {
  const exp = jwtExpiry(refreshToken);
  if (exp) return exp;
  deps.log.warn(`${where}: the ACR refresh token states no expiry (no JWT "exp"); assuming 3 hours`);
  return new Date(deps.now().getTime() + DEFAULT_REFRESH_TOKEN_LIFETIME_MS);
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT']);

function oneLine(text: string, max = 300): string {
  return text.replace(/\s+/g, ' ').trim().slice(0, max);
}

/** AADSTS codes meaning the credentials or configuration are wrong (retrying cannot help). */
const PERMANENT_AADSTS = /AADSTS(7000215|7000222|700016|90002|900023|70021|700213|700211|700212|700024|50027|50034|53003|500011|50020|7000112|50126|90014|900144)\b/;
const PERMANENT_OAUTH = /\b(invalid_client|invalid_grant|unauthorized_client|invalid_scope|invalid_request|invalid_resource|unsupported_grant_type)\b/;

/**
 * An @azure/identity (or MSAL) failure as a RegcredError naming acr, the registry and the call.
 * Bad credentials or configuration (AADSTS7000215 invalid client secret, invalid_client,
 * invalid_grant, 400/401/403) are permanent; the network, 429 and 5xx retryable. Messages are the
 * library's first line, which holds no secret (it is also scrubbed, like every line regcred prints).
 */
export function classifyEntraError(err: unknown, where: string): RegcredError {
  const e = (err ?? {}) as {
    name?: string;
    message?: string;
    statusCode?: number;
    code?: string;
    errorCode?: string;
    errorResponse?: { error?: string; errorDescription?: string };
    cause?: unknown;
  };
  const name = typeof e.name === 'string' ? e.name : 'Error';
  if (name === 'AbortError') return new RegcredError('ProviderError', `${where}: aborted`, true, { cause: err });
  // The most useful text: an OAuth error's description (AADSTS... line), else the message's first line.
  const description = e.errorResponse?.errorDescription;
  const raw = typeof e.message === 'string' ? e.message : '';
  const oauth = typeof description === 'string' && !!e.errorResponse?.error && e.errorResponse.error !== 'unknown';
  let detail = oauth ? `${e.errorResponse!.error}: ${description}` : raw;
  // MSAL's server errors read "<code>: Error(s): <n> - Timestamp: .. - Description: <text> - Correlation ID: ..":
  // keep the code and the description (Entra's "AADSTS7000215: Invalid client secret provided. ..").
  const msal = /(\w+): Error\(s\): .*? - Description: (.*?)(?: Trace ID:| - Correlation ID:| - Trace ID:|$)/s.exec(detail);
  if (msal) detail = `${detail.slice(0, msal.index)}${msal[1]}: ${msal[2]}`;
  detail = oneLine(detail.split(/\n\s*\n|Trace ID:|Correlation ID:|\n/)[0] ?? '', 400).replace(/[ .,-]+$/, '') || name;
  const all = `${raw} ${description ?? ''} ${e.errorCode ?? ''}`;
  const status = typeof e.statusCode === 'number' ? e.statusCode : statusIn(raw);
  const causeCode = (e.cause as { code?: string } | undefined)?.code;
  const networkCode = [e.code, causeCode].find((c): c is string => typeof c === 'string' && NETWORK_CODES.has(c));
  let retryable: boolean;
  if (PERMANENT_AADSTS.test(all) || PERMANENT_OAUTH.test(all)) retryable = false;
  else if (status === 429 || (status !== undefined && status >= 500)) retryable = true;
  else if (status !== undefined && status >= 400) retryable = false;
  else if (
    networkCode !== undefined ||
    e.errorCode === 'network_error' ||
    /network|ECONN|ETIMEDOUT|ENOTFOUND|EAI_AGAIN|socket hang up|timed? ?out|unreachable|endpoints_resolution_error/i.test(all)
  ) {
    retryable = true;
  } else if (name === 'CredentialUnavailableError') {
    // Managed identity unavailable here (no IMDS, not on Azure) or a missing parameter: configuration.
    retryable = false;
  } else retryable = false;
  // The message holds only codes (the OAuth error, the AADSTS number, the HTTP status, a network
  // error code) and the library's error class: Entra's and the library's text is remote and goes
  // to remoteDetail (logs). The OAuth code says it all; the wrapper class name
  // (AuthenticationRequiredError around Entra's invalid_client, say) would mislead.
  const oauthCode = [e.errorResponse?.error, msal?.[1], /^([a-z_]{1,64}):/.exec(raw)?.[1]].find(
    (c): c is string => typeof c === 'string' && /^[a-z_]{1,64}$/.test(c) && c !== 'unknown' && c !== 'unknown_error',
  );
  const aadsts = /AADSTS[0-9]{1,9}\b/.exec(all)?.[0];
  const parts = [
    oauthCode ?? (/^[A-Za-z]{1,64}$/.test(name) ? name : 'Error'),
    aadsts,
    status !== undefined ? `HTTP ${status}` : undefined,
    networkCode,
  ].filter((p): p is string => p !== undefined);
  let label = parts.join(' ');
  if (/endpoints_resolution_error/.test(all)) {
    label += ' endpoints_resolution_error (could not read the authority\'s OpenID configuration: network, TLS trust or authorityHost)';
  }
  return new RegcredError('ProviderError', `${where}: ${label}`, retryable, { cause: err, remoteDetail: clip(detail) });
}

function statusIn(message: string): number | undefined {
  const m = /Status code: (\d{3})|status(?:Code)?[ :=]+(\d{3})\b|HTTP (\d{3})/i.exec(message);
  const s = m?.[1] ?? m?.[2] ?? m?.[3];
  return s ? Number(s) : undefined;
}
