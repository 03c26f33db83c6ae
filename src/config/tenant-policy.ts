import { parseDuration } from './common.js';
import type { CredentialObject } from './schema.js';
import type { ConfigPath, ProviderDefinition } from '../providers/types.js';
import { hostAllowed, type NetworkPolicy } from '../providers/internal/address-policy.js';

// The tenant boundary, as the administrator sets it (controller flags, chart values `tenantPolicy`):
// what a namespaced RegistryCredential may ask of the controller. A ClusterRegistryCredential is the
// administrator's own object and is not judged here (it keeps every auth mode; the address check at
// connect time still applies to it, see providers/internal/address-policy.ts). The split follows
// cert-manager's Issuer/ClusterIssuer (ambient credentials only for the cluster kind unless
// enabled) and ESO's SecretStore/ClusterSecretStore.

export interface TenantPolicy {
  /** Let RegistryCredentials authenticate as the controller itself (its IAM role, metadata server, managed identity). */
  allowAmbientCredentials: boolean;
  /**
   * Where a RegistryCredential's provider calls may go: allowedHosts (each provider's public endpoints
   * plus the administrator's), and at connect time never the always-refused addresses or deniedCidrs
   * (by default the private ranges, where cluster services, pods and neighbours live).
   */
  network: NetworkPolicy & { allowedHosts: readonly string[] };
  /** No RegistryCredential is refreshed more often than this, whatever its expiry says. */
  minRefreshIntervalMs: number;
}

/**
 * Refused for RegistryCredentials at connect time unless allowlisted: the private and shared ranges
 * where a cluster's pods, services and nodes live (RFC 1918, RFC 6598, RFC 4193).
 */
export const DEFAULT_TENANT_DENIED_CIDRS = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', 'fc00::/7'];

/** The refresh floor of RegistryCredentials unless the administrator sets another. */
export const DEFAULT_TENANT_MIN_REFRESH_MS = 60_000;

/**
 * Header names a tenant may not set: those that metadata services require as proof that a request is
 * not forwarded (GCE `Metadata-Flavor`, Azure IMDS `Metadata`, AWS IMDSv2 tokens, Alibaba, Oracle),
 * and the hop-level ones that would retarget a request (`Host`, forwarding headers).
 */
const FORBIDDEN_HEADERS = new Set([
  'metadata-flavor',
  'metadata',
  'x-google-metadata-request',
  'x-aws-ec2-metadata-token',
  'x-aws-ec2-metadata-token-ttl-seconds',
  'x-identity-header',
  'x-forwarded-for',
  'x-forwarded-host',
  'forwarded',
  'host',
]);

/** Which rule refused: the condition reason and the metric label. */
export type TenantRule = 'AmbientCredentialsRefused' | 'HostNotAllowed' | 'InsecureTransportRefused' | 'HeaderNotAllowed' | 'RefreshTooFrequent';

export interface PolicyViolation {
  rule: TenantRule;
  /** Where in the object, e.g. ['spec', 'provider', 'http', 'url']. */
  path: (string | number)[];
  message: string;
}

/** The default allowlist: the public endpoints of every provider (each declares its own). */
export function defaultTenantHosts(providers: ReadonlyMap<string, ProviderDefinition<unknown>>): string[] {
  return [...new Set([...providers.values()].flatMap((p) => p.defaultHosts ?? []))].sort();
}

/** The default policy; `over.extraHosts` are added to the providers' hosts, `over.allowedCidrs` are the administrator's exceptions. */
export function defaultTenantPolicy(
  providers: ReadonlyMap<string, ProviderDefinition<unknown>>,
  over: { allowAmbientCredentials?: boolean; extraHosts?: readonly string[]; deniedCidrs?: readonly string[]; allowedCidrs?: readonly string[]; minRefreshIntervalMs?: number } = {},
): TenantPolicy {
  return {
    allowAmbientCredentials: over.allowAmbientCredentials ?? false,
    network: {
      allowedHosts: [...defaultTenantHosts(providers), ...(over.extraHosts ?? [])],
      deniedCidrs: [...DEFAULT_TENANT_DENIED_CIDRS, ...(over.deniedCidrs ?? [])],
      allowedCidrs: over.allowedCidrs ?? [],
    },
    minRefreshIntervalMs: over.minRefreshIntervalMs ?? DEFAULT_TENANT_MIN_REFRESH_MS,
  };
}

/**
 * Everything a RegistryCredential asks that the policy refuses; empty for a ClusterRegistryCredential
 * and for a RegistryCredential within the policy. The same check runs in the controller (before any
 * mint) and in `regcred validate`.
 */
export function checkTenantPolicy(
  obj: CredentialObject,
  policy: TenantPolicy,
  providers: ReadonlyMap<string, ProviderDefinition<unknown>>,
): PolicyViolation[] {
  if (obj.kind !== 'RegistryCredential') return [];
  const key = obj.spec.provider.key;
  const surface = providers.get(key)?.tenantSurface?.(obj.spec.provider.config) ?? {};
  const at = (p: ConfigPath): (string | number)[] => ['spec', 'provider', key, ...p];
  const out: PolicyViolation[] = [];
  if (surface.ambient && !policy.allowAmbientCredentials) {
    out.push({
      rule: 'AmbientCredentialsRefused',
      path: at(surface.ambient.path),
      message: `uses ${surface.ambient.what}, which a RegistryCredential may not: use a ClusterRegistryCredential, or credentials of your own (a Secret or a service-account token)`,
    });
  }
  if (surface.insecure) {
    out.push({ rule: 'InsecureTransportRefused', path: at(surface.insecure), message: 'plain http is not allowed in a RegistryCredential' });
  }
  for (const u of surface.urls ?? []) {
    let url: URL;
    try {
      url = new URL(u.url);
    } catch {
      continue; // the schema already refused it
    }
    if (url.protocol === 'http:') {
      out.push({ rule: 'InsecureTransportRefused', path: at(u.path), message: 'must be an https:// URL in a RegistryCredential' });
    }
    if (!hostAllowed(policy.network, url)) {
      out.push({ rule: 'HostNotAllowed', path: at(u.path), message: `host ${url.host} is not on the installation's allowlist for RegistryCredentials` });
    }
  }
  for (const h of surface.headers ?? []) {
    if (FORBIDDEN_HEADERS.has(h.name.toLowerCase())) {
      out.push({ rule: 'HeaderNotAllowed', path: at(h.path), message: `header ${h.name} is not allowed in a RegistryCredential` });
    }
  }
  const interval = parseDuration(obj.spec.refresh.interval);
  if (interval < policy.minRefreshIntervalMs) {
    out.push({
      rule: 'RefreshTooFrequent',
      path: ['spec', 'refresh', 'interval'],
      message: `must be at least ${policy.minRefreshIntervalMs / 1000}s in a RegistryCredential`,
    });
  }
  return out;
}
