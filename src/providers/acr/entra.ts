import { RegcredError } from '../../errors.js';
import { registerSecret } from '../../redact.js';
import type { NetworkPolicy } from '../internal/address-policy.js';
import { createGuardedAzureHttpClient, entraClientOptions } from '../internal/azure-http.js';
import type { ProviderDeps } from '../types.js';
import type { AcrConfig } from './schema.js';

// Step 1 of `acr`: a Microsoft Entra access token with @azure/identity, by client secret
// (ClientSecretCredential), workload identity federation with a service-account token regcred mints
// (ClientAssertionCredential), or the managed identity of where regcred runs (ManagedIdentityCredential).

export const DEFAULT_AZURE_AUDIENCE = 'api://AzureADTokenExchange';
/** Lifetime of the service-account token minted as client assertion (used at once; TokenRequest's minimum). */
const ASSERTION_TOKEN_SECONDS = 600;
/** Key of the source Secret holding the service principal's client secret. */
export const CLIENT_SECRET_KEY = 'AZURE_CLIENT_SECRET';

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

export function modeName(kind: EntraTokenRequest['kind']): string {
  return kind === 'clientSecret' ? 'client secret' : kind === 'clientAssertion' ? 'workload identity' : 'managed identity';
}

export async function entraRequest(config: AcrConfig, deps: ProviderDeps, scope: string, signal?: AbortSignal): Promise<EntraTokenRequest> {
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
