import { RegcredError } from '../../errors.js';
import { registerSecret } from '../../redact.js';
import { abortable, deadline, seconds } from '../internal/abort.js';
import { prefixed } from '../internal/http-errors.js';
import { claims } from '../internal/jwt.js';
import { defineProvider, type Credential, type ProviderDeps } from '../types.js';
import { entraRequest, identityGetEntraToken, modeName, type EntraTokenRequest, type GetEntraToken } from './entra.js';
import { classifyEntraError } from './entra-errors.js';
import { ACR_USERNAME, exchange, refreshTokenExpiry } from './exchange.js';
import { acrConfig, type AcrConfig } from './schema.js';

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
// This folder: schema.ts (the config), entra.ts and entra-errors.ts (step 1), exchange.ts (step 2).

export const DEFAULT_ACR_SCOPE = 'https://management.azure.com/.default';
/** Each step (Entra token, exchange) gives up after this long. */
export const ACR_STEP_TIMEOUT_MS = 30_000;

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
