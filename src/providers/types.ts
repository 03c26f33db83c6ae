import type { z } from 'zod';
import type { Logger } from '../log.js';
import type { NetworkPolicy } from './internal/address-policy.js';

/** One registry login, as a provider returns it. `expiresAt` is absent only for credentials that never expire. */
export interface Credential {
  registry: string;
  username: string;
  password: string;
  expiresAt?: Date;
}

/** A source Secret as providers see it: its type and decoded data. */
export interface SourceSecret {
  namespace: string;
  name: string;
  type: string;
  data: Record<string, string>;
  /** The version read (the controller watches the Secret from it); absent outside a cluster. */
  resourceVersion?: string | undefined;
}

/**
 * Reads source Secrets. The reader is scoped to the credential it serves: it applies the default
 * namespace and refuses namespaces the credential may not read (see kube/sources.ts).
 */
export interface SourceReader {
  read(ref: { namespace?: string | undefined; name: string }): Promise<SourceSecret>;
}

/** What a provider may use. Injected, so tests hand in fakes and never sleep or reach a network. */
export interface ProviderDeps {
  sources: SourceReader;
  now: () => Date;
  /**
   * Every HTTP call of a provider goes through the HTTP core (internal/http.ts) with this fetch.
   * With `network` set it must enforce the policy at connect time: createPolicyFetch(network)
   * (internal/guarded-net.ts; withNetworkPolicy sets both).
   */
  fetch: typeof globalThis.fetch;
  /**
   * Where providers may connect: hosts checked before any request, addresses at connect time.
   * Absent: no restriction (the CLI run by a user on their own machine).
   */
  network?: NetworkPolicy | undefined;
  log: Logger;
  /**
   * Mints a service-account token with the TokenRequest API. Scoped like `sources` (see
   * kube/sources.ts): refuses service accounts in namespaces the credential may not use. Absent
   * where there is no Kubernetes access.
   */
  tokenRequest?(ref: { namespace?: string | undefined; name: string }, audiences: string[], expirationSeconds: number): Promise<string>;
  /**
   * The credential being minted, when its Secrets are written after this mint (controller, `sync`);
   * absent for `get` and tests. Lets a provider name what it creates on the vendor's side after the
   * credential (crusoe token aliases), so it can clean up its own leftovers and nobody else's.
   */
  credential?: { kind: string; namespace?: string | undefined; name: string } | undefined;
}

export interface Provider {
  readonly key: string;
  /** Mints (or reads) the credentials. Throws RegcredError; `retryable` tells whether to try again. */
  mint(signal?: AbortSignal): Promise<Credential[]>;
}

export interface ProviderDefinition<C = unknown> {
  /** The key under `spec.provider`. */
  readonly key: string;
  readonly configSchema: z.ZodType<C>;
  /**
   * Set for providers a tenant must not use: why they are refused in a namespaced RegistryCredential
   * (e.g. `exec` runs a command inside the controller). Checked by the schema and the CRD.
   */
  readonly clusterOnly?: string;
  /**
   * The hosts this provider reaches when no endpoint is overridden: together they are the default
   * allowlist for RegistryCredentials (config/tenant-policy.ts). Patterns as in the address policy.
   */
  readonly defaultHosts?: readonly string[];
  /** What of `config` a tenant policy has to judge: see TenantSurface. */
  tenantSurface?(config: C): TenantSurface;
  create(config: C, deps: ProviderDeps): Provider;
}

/** A path into the provider's config, e.g. ['auth', 'metadataServer']. */
export type ConfigPath = readonly (string | number)[];

/**
 * The parts of a provider's config that reach beyond the credential's own Secrets: checked against
 * the installation's tenant policy before a RegistryCredential is minted, and by `regcred validate`.
 */
export interface TenantSurface {
  /** Set when this config authenticates as the controller itself (its IAM role, metadata server, managed identity). */
  ambient?: { path: ConfigPath; what: string } | undefined;
  /** Every URL the config names (endpoints, base URLs, issuers); their hosts must be allowlisted. */
  urls?: { path: ConfigPath; url: string }[];
  /** Set when the config asks for plain http. */
  insecure?: ConfigPath | undefined;
  /** Literal request headers the config sets. */
  headers?: { path: ConfigPath; name: string }[];
}

export function defineProvider<C>(def: ProviderDefinition<C>): ProviderDefinition<C> {
  return def;
}
