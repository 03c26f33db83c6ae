import type { CoreV1Api } from '@kubernetes/client-node';
import { RegcredError } from '../errors.js';
import { registerSecret } from '../redact.js';
import type { ProviderDeps, SourceReader, SourceSecret } from '../providers/types.js';
import { statusCode, toRegcredError, withApiRetry, type RetryOptions } from './client.js';

export const DEFAULT_CONTROLLER_NAMESPACE = 'regcred-system';

const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true });
/** Larger source values are refused (a pull Secret holds 1 MiB in all). */
const MAX_SOURCE_VALUE_BYTES = 512 * 1024;

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
      for (const [k, v] of Object.entries(secret.data ?? {})) {
        const bytes = Buffer.from(v, 'base64');
        if (bytes.length > MAX_SOURCE_VALUE_BYTES) {
          // No registry credential is this large, and a pull Secret could not hold it: an input error
          // naming the key, raised only when a provider reads it.
          Object.defineProperty(data, k, {
            enumerable: true,
            get() {
              throw new RegcredError('InvalidSource', `source Secret ${namespace}/${ref.name}: key "${k}" holds ${bytes.length} bytes, more than a registry credential can be (512 KiB)`);
            },
          });
          continue;
        }
        try {
          data[k] = STRICT_UTF8.decode(bytes);
        } catch {
          // Binary junk: reading the key is an input error naming it, never a credential made of
          // replacement characters. Other keys of the Secret stay usable.
          Object.defineProperty(data, k, {
            enumerable: true,
            get() {
              throw new RegcredError('InvalidSource', `source Secret ${namespace}/${ref.name}: key "${k}" is not valid UTF-8 text`);
            },
          });
        }
      }
      return { namespace, name: ref.name, type: secret.type ?? 'Opaque', data };
    },
  };
}

/**
 * Mints service-account tokens (TokenRequest API) for providers that exchange them (e.g. ecr
 * `auth.webIdentity`), scoped like source Secrets: a RegistryCredential only for service accounts in
 * its own namespace, a ClusterRegistryCredential only in the controller's namespace (unless
 * cross-namespace references are allowed).
 */
export function createTokenMinter(core: CoreV1Api, scope: SourceScope, retry: RetryOptions = {}): NonNullable<ProviderDeps['tokenRequest']> {
  return async (ref, audiences, expirationSeconds) => {
    const namespace = ref.namespace ?? scope.defaultNamespace;
    if (scope.allowedNamespace !== undefined && namespace !== scope.allowedNamespace) {
      throw new RegcredError(
        'CrossNamespaceRef',
        `service account ${namespace}/${ref.name} is not allowed for a token: ${scope.rule.replace('reads Secrets from', 'uses service accounts in')}`,
      );
    }
    let res;
    try {
      res = await withApiRetry(
        () => core.createNamespacedServiceAccountToken({ namespace, name: ref.name, body: { spec: { audiences, expirationSeconds } } }),
        retry,
      );
    } catch (err) {
      if (statusCode(err) === 404) throw new RegcredError('SourceNotFound', `service account ${namespace}/${ref.name} not found`, false, { cause: err });
      throw toRegcredError(err, `cannot mint a token for service account ${namespace}/${ref.name}`);
    }
    const token = res.status?.token;
    if (!token) throw new RegcredError('ProviderError', `TokenRequest for service account ${namespace}/${ref.name} returned no token`, true);
    registerSecret(token);
    return token;
  };
}

/**
 * What a provider may use of the cluster, scoped to one credential (its source Secrets and the
 * service accounts it may mint tokens for): shared by `sync`/`get` and the controller.
 */
export function kubeProviderDeps(
  core: CoreV1Api,
  credential: { kind: string; metadata: { namespace?: string | undefined; name?: string | undefined } },
  controllerNamespace: string,
  allowCrossNamespaceRefs: boolean,
  rest: Omit<ProviderDeps, 'sources' | 'tokenRequest' | 'credential'>,
  /** False for `get`, which writes nothing: providers then leave their vendor-side cleanup alone. */
  identify = true,
): ProviderDeps {
  const scope = sourceScope(credential, controllerNamespace, allowCrossNamespaceRefs);
  const name = (credential.metadata as { name?: string }).name;
  const identity = identify && name ? { credential: { kind: credential.kind, namespace: credential.metadata.namespace, name } } : {};
  return { sources: createSourceReader(core, scope), tokenRequest: createTokenMinter(core, scope), ...identity, ...rest };
}
