import { RegcredError } from '../../errors.js';
import { defineProvider, type Credential, type ProviderDeps } from '../types.js';
import { keyAccessToken, readKey } from './key.js';
import { metadataAccessToken } from './metadata.js';
import { DEFAULT_SCOPES, type AccessToken } from './oauth.js';
import { gcpConfig, type GcpConfig } from './schema.js';
import { federatedAccessToken } from './sts.js';

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
// This folder: schema.ts (the config), one file per auth mode (key.ts, metadata.ts, sts.ts), and
// oauth.ts (the access token and token-endpoint calls they share).

export const GCP_TOKEN_USER = 'oauth2accesstoken';
export const GCP_JSON_KEY_USER = '_json_key';

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
