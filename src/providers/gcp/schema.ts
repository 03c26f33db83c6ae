import { z } from 'zod';
import { dns1123Label, dns1123Subdomain, secretRef } from '../../config/common.js';
import { httpUrl, secretKey } from '../internal/schema.js';

// The `gcp` provider's configuration (spec.provider.gcp).

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
