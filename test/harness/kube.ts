// Small API helpers shared by the integration tests.
import { request as httpRequest } from 'node:http';
import type { CoreV1Api, V1Pod, V1Secret } from '@kubernetes/client-node';
import { eventually } from './eventually.js';

/** The Secret, or undefined when the API server answers 404. */
export async function secretOrUndefined(core: CoreV1Api, namespace: string, name: string): Promise<V1Secret | undefined> {
  try {
    return await core.readNamespacedSecret({ namespace, name });
  } catch (err) {
    if ((err as { code?: number }).code === 404) return undefined;
    throw err;
  }
}

/**
 * Creates a Pod, retrying while the namespace's service account does not exist yet (the API
 * server's ServiceAccount admission refuses Pods until kube-controller-manager has made it).
 */
export function createPodWhenAdmissible(core: CoreV1Api, namespace: string, body: V1Pod, opts: { dryRun?: boolean; context?: () => string } = {}): Promise<V1Pod> {
  return eventually(
    `Pod ${namespace}/${body.metadata?.name} created`,
    async () => {
      try {
        return await core.createNamespacedPod({ namespace, body, ...(opts.dryRun ? { dryRun: 'All' } : {}) });
      } catch (err) {
        if (/service ?account/i.test(String((err as { body?: unknown }).body ?? err))) return undefined;
        throw err;
      }
    },
    30_000,
    opts.context,
    50,
  );
}

/** The HTTP status of a GET, or 0 when the connection fails. */
export function httpStatus(url: string): Promise<number> {
  return new Promise((resolve) => {
    const req = httpRequest(url, { timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve(0));
    req.end();
  });
}

/** The password of the first registry in a pull Secret's .dockerconfigjson, if any. */
export function passwordIn(secret: V1Secret | undefined): string | undefined {
  if (!secret?.data?.['.dockerconfigjson']) return undefined;
  const cfg = JSON.parse(Buffer.from(secret.data['.dockerconfigjson'], 'base64').toString()) as { auths: Record<string, { password: string }> };
  return Object.values(cfg.auths)[0]?.password;
}

/** Creates or replaces a source Secret (string data). */
export async function putSource(core: CoreV1Api, name: string, data: Record<string, string>, namespace = 'regcred-system'): Promise<void> {
  const body = { metadata: { name }, stringData: data };
  try {
    await core.createNamespacedSecret({ namespace, body });
  } catch (err) {
    if ((err as { code?: number }).code !== 409) throw err;
    await core.replaceNamespacedSecret({ namespace, name, body });
  }
}
