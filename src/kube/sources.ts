import type { CoreV1Api } from '@kubernetes/client-node';
import { RegcredError } from '../errors.js';
import type { SourceReader, SourceSecret } from '../providers/types.js';
import { statusCode, toRegcredError, withApiRetry, type RetryOptions } from './client.js';

export const DEFAULT_CONTROLLER_NAMESPACE = 'regcred-system';

export interface SourceScope {
  /** Namespace used when a reference names none. */
  defaultNamespace: string;
  /** The only namespace references may name; undefined allows any. */
  allowedNamespace: string | undefined;
  /** Why other namespaces are refused, for the error message. */
  rule: string;
}

/**
 * Where a credential may read source Secrets from (../shared/spec/API.md §1): a RegistryCredential
 * only from its own namespace; a ClusterRegistryCredential only from the controller's namespace,
 * unless cross-namespace references are allowed.
 */
export function sourceScope(
  credential: { kind: string; metadata: { namespace?: string | undefined } },
  controllerNamespace: string,
  allowCrossNamespaceRefs: boolean,
): SourceScope {
  if (credential.kind === 'RegistryCredential') {
    const own = credential.metadata.namespace ?? 'default';
    return { defaultNamespace: own, allowedNamespace: own, rule: 'a RegistryCredential reads Secrets from its own namespace only' };
  }
  return {
    defaultNamespace: controllerNamespace,
    allowedNamespace: allowCrossNamespaceRefs ? undefined : controllerNamespace,
    rule: `a ClusterRegistryCredential reads Secrets from "${controllerNamespace}" only, unless --allow-cross-namespace-refs is set`,
  };
}

export function createSourceReader(core: CoreV1Api, scope: SourceScope, retry: RetryOptions = {}): SourceReader {
  return {
    async read(ref): Promise<SourceSecret> {
      const namespace = ref.namespace ?? scope.defaultNamespace;
      if (scope.allowedNamespace !== undefined && namespace !== scope.allowedNamespace) {
        throw new RegcredError('CrossNamespaceRef', `source Secret ${namespace}/${ref.name} is not allowed: ${scope.rule}`);
      }
      let secret;
      try {
        secret = await withApiRetry(() => core.readNamespacedSecret({ namespace, name: ref.name }), retry);
      } catch (err) {
        if (statusCode(err) === 404) throw new RegcredError('SourceNotFound', `source Secret ${namespace}/${ref.name} not found`, false, { cause: err });
        throw toRegcredError(err, `cannot read source Secret ${namespace}/${ref.name}`);
      }
      const data: Record<string, string> = {};
      for (const [k, v] of Object.entries(secret.data ?? {})) data[k] = Buffer.from(v, 'base64').toString('utf8');
      return { namespace, name: ref.name, type: secret.type ?? 'Opaque', data };
    },
  };
}
