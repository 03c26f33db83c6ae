import { WellKnownApi, type KubeConfig } from '@kubernetes/client-node';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';

/**
 * The API server's service-account issuer: its default audience (`--api-audiences` defaults to it).
 * Read from the discovery document, which every service account may read; nothing when it cannot be.
 */
export async function apiServerIssuer(kubeConfig: KubeConfig, log: Logger): Promise<string[]> {
  try {
    const doc: unknown = await kubeConfig.makeApiClient(WellKnownApi).getServiceAccountIssuerOpenIDConfiguration();
    const issuer = (typeof doc === 'string' ? (JSON.parse(doc) as { issuer?: unknown }) : (doc as { issuer?: unknown })).issuer;
    return typeof issuer === 'string' && issuer ? [issuer] : [];
  } catch (err) {
    log.warn({ err: errorMessage(err) }, "cannot read the API server's issuer; only the in-cluster audiences and --api-audience are refused for RegistryCredentials' tokens");
    return [];
  }
}
