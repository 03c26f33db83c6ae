import { z } from 'zod';
import { secretRef } from '../../config/common.js';
import { httpUrl } from '../internal/schema.js';

// The `acr` provider's configuration (spec.provider.acr).

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
