import type { V1Namespace, V1Secret, V1ServiceAccount } from '@kubernetes/client-node';
import type { CredentialObject } from '../../config/schema.js';

// The narrow views the credential controller's parts share. manager.ts owns the real objects (the
// work queue, the spec map, the caches and indexes) and hands each part only what it reads or writes.

/** Parsed specs of every known credential, by credential key (secret-index.ts credentialKey). */
export type SpecMap = Map<string, CredentialObject>;
export type Specs = ReadonlyMap<string, CredentialObject>;

/** What event handlers and steps may do with the work queue. */
export interface KeyQueue {
  /** Run the credential again now. */
  add(key: string): void;
  /**
   * Run it again within its rate limit: for events that our own writes may have caused. With
   * `stillNeeded`, an event that comes while the credential runs is weighed once the run is over.
   */
  addRateLimited(key: string, stillNeeded?: () => boolean): void;
  /** Run it again after `ms`, unless it is due earlier. */
  addAfter(key: string, ms: number): void;
}

/** The namespace cache, read-only. */
export interface NamespaceReader {
  get(name: string): V1Namespace | undefined;
  values(): Iterable<V1Namespace>;
}

/** The managed-Secret index (secret-index.ts OwnedSecretIndex), read-only. */
export interface OwnedSecretsReader {
  get(ownerKey: string, namespace: string, name: string): V1Secret | undefined;
  values(ownerKey: string): Iterable<V1Secret>;
}

/** The service-account index (sa-index.ts), read-only. */
export interface ServiceAccountsReader {
  inNamespace(namespace: string): V1ServiceAccount[];
}
