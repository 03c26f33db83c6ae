// Small API helpers shared by the integration tests.
import type { CoreV1Api, V1Secret } from '@kubernetes/client-node';

/** The Secret, or undefined when the API server answers 404. */
export async function secretOrUndefined(core: CoreV1Api, namespace: string, name: string): Promise<V1Secret | undefined> {
  try {
    return await core.readNamespacedSecret({ namespace, name });
  } catch (err) {
    if ((err as { code?: number }).code === 404) return undefined;
    throw err;
  }
}
