import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import { kubeClient, type ClusterSource } from './api/client.js';
import { openIdConfiguration } from './api/resources.js';

/**
 * The API server's service-account issuer: its default audience (`--api-audiences` defaults to it).
 * Read from the discovery document, which every service account may read; nothing when it cannot be.
 */
export async function apiServerIssuer(cluster: ClusterSource, log: Logger): Promise<string[]> {
  try {
    const doc = await openIdConfiguration(kubeClient(cluster).http);
    const issuer = doc?.issuer;
    return typeof issuer === 'string' && issuer ? [issuer] : [];
  } catch (err) {
    log.warn({ err: errorMessage(err) }, "cannot read the API server's issuer; only the in-cluster audiences and --api-audience are refused for RegistryCredentials' tokens");
    return [];
  }
}
