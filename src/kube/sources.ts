import type { CoreApi } from './api/resources.js';
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

export function createSourceReader(core: CoreApi, scope: SourceScope, retry: RetryOptions = {}): SourceReader {
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
      const version = secret.metadata?.resourceVersion;
      return { namespace, name: ref.name, type: secret.type ?? 'Opaque', data, ...(version ? { resourceVersion: version } : {}) };
    },
  };
}

/**
 * Mints service-account tokens (TokenRequest API) for providers that exchange them (e.g. ecr
 * `auth.webIdentity`), scoped like source Secrets: a RegistryCredential only for service accounts in
 * its own namespace, a ClusterRegistryCredential only in the controller's namespace (unless
 * cross-namespace references are allowed).
 */
export function createTokenMinter(core: CoreApi, scope: SourceScope, retry: RetryOptions = {}, tenant?: TenantTokenRules): NonNullable<ProviderDeps['tokenRequest']> {
  return async (ref, audiences, expirationSeconds) => {
    const namespace = ref.namespace ?? scope.defaultNamespace;
    if (scope.allowedNamespace !== undefined && namespace !== scope.allowedNamespace) {
      throw new RegcredError(
        'CrossNamespaceRef',
        `service account ${namespace}/${ref.name} is not allowed for a token: ${scope.rule.replace('reads Secrets from', 'uses service accounts in')}`,
      );
    }
    if (tenant) {
      await checkTenantToken(core, tenant, namespace, ref.name, audiences, retry);
      expirationSeconds = Math.min(expirationSeconds, TENANT_MAX_TOKEN_SECONDS);
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
 * The rules for tokens a RegistryCredential's provider asks for: the service account must name the
 * credential in its ANNOTATION_TOKEN_FOR annotation, no audience may be one the API server accepts
 * (a token for the API server would let the tenant's broker act as that service account in the
 * cluster), and the lifetime is capped at TENANT_MAX_TOKEN_SECONDS.
 */
export interface TenantTokenRules {
  /** The RegistryCredential's name. */
  credentialName: string;
  /** Audiences the API server accepts: its issuer, the well-known in-cluster names, the administrator's list. */
  deniedAudiences: readonly string[];
}

/** The longest service-account token a RegistryCredential's provider gets (TokenRequest's floor is 600 s). */
export const TENANT_MAX_TOKEN_SECONDS = 3600;

/** On a ServiceAccount: the RegistryCredentials of its namespace that may mint tokens for it ("a,b" or "*"). */
export const ANNOTATION_TOKEN_FOR = 'regcred.dev/token-for';
/** Audiences every API server is reached by in-cluster; the issuer URL is added at start-up. */
export const API_SERVER_AUDIENCES = ['kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'https://kubernetes.default.svc', 'https://kubernetes.default.svc.cluster.local', 'api'];

async function checkTenantToken(core: CoreApi, rules: TenantTokenRules, namespace: string, name: string, audiences: readonly string[], retry: RetryOptions): Promise<void> {
  const denied = new Set(rules.deniedAudiences.map(normalizeAudience));
  const bad = audiences.length === 0 ? '(none: the API server\'s own)' : audiences.find((a) => denied.has(normalizeAudience(a)));
  if (bad !== undefined) {
    throw new RegcredError('TokenNotAllowed', `service account token audience ${bad} is accepted by the API server, which a RegistryCredential may not ask for`);
  }
  let sa;
  try {
    sa = await withApiRetry(() => core.readNamespacedServiceAccount({ namespace, name }), retry);
  } catch (err) {
    if (statusCode(err) === 404) throw new RegcredError('ServiceAccountNotFound', `service account ${namespace}/${name} not found`, false, { cause: err });
    throw toRegcredError(err, `cannot read service account ${namespace}/${name}`);
  }
  const allowed = (sa.metadata?.annotations?.[ANNOTATION_TOKEN_FOR] ?? '').split(',').map((s) => s.trim());
  if (!allowed.includes('*') && !allowed.includes(rules.credentialName)) {
    throw new RegcredError(
      'TokenNotAllowed',
      `service account ${namespace}/${name} does not allow tokens for RegistryCredential ${rules.credentialName}: annotate it ${ANNOTATION_TOKEN_FOR}=${rules.credentialName}`,
    );
  }
}

function normalizeAudience(a: string): string {
  return a.trim().toLowerCase().replace(/\/+$/, '');
}

/**
 * What a provider may use of the cluster, scoped to one credential (its source Secrets and the
 * service accounts it may mint tokens for): shared by `sync`/`get` and the controller.
 */
export function kubeProviderDeps(
  core: CoreApi,
  credential: { kind: string; metadata: { namespace?: string | undefined; name?: string | undefined } },
  controllerNamespace: string,
  allowCrossNamespaceRefs: boolean,
  rest: Omit<ProviderDeps, 'sources' | 'tokenRequest' | 'credential'>,
  /** False for `get`, which writes nothing: providers then leave their vendor-side cleanup alone. */
  identify = true,
  /** The API server's audiences, refused for a RegistryCredential's tokens; undefined: no tenant token rules (the CLI). */
  tenantDeniedAudiences?: readonly string[],
): ProviderDeps {
  const scope = sourceScope(credential, controllerNamespace, allowCrossNamespaceRefs);
  const name = (credential.metadata as { name?: string }).name;
  const identity = identify && name ? { credential: { kind: credential.kind, namespace: credential.metadata.namespace, name } } : {};
  const tenant = tenantDeniedAudiences && credential.kind === 'RegistryCredential' ? { credentialName: name ?? '', deniedAudiences: tenantDeniedAudiences } : undefined;
  return { sources: createSourceReader(core, scope), tokenRequest: createTokenMinter(core, scope, {}, tenant), ...identity, ...rest };
}
