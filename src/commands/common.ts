import type { CoreApi } from '../kube/api/resources.js';
import { formatConfigError, loadConfigFiles, type LoadedCredential } from '../config/load.js';
import type { CredentialObject } from '../config/schema.js';
import type { Logger } from '../log.js';
import { scrub } from '../redact.js';
import { kubeProviderDeps } from '../kube/sources.js';
import type { ProviderDeps } from '../providers/types.js';

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_INVALID = 2;

/** What every command prints goes through here: scrubbed of registered secret values. */
export interface Output {
  out(line: string): void;
  err(line: string): void;
}

export const processOutput: Output = {
  out: (line) => process.stdout.write(scrub(line) + '\n'),
  err: (line) => process.stderr.write(scrub(line) + '\n'),
};

export interface GlobalOptions {
  kubeconfig?: string;
  context?: string;
  logLevel: string;
  logFormat: 'json' | 'text';
}

export interface SourceOptions {
  namespace: string;
  allowCrossNamespaceRefs: boolean;
}

/** Loads the files; on any error prints one line each and returns undefined. */
export async function loadOrReport(files: readonly string[], output: Output): Promise<LoadedCredential[] | undefined> {
  const loaded = await loadConfigFiles(files);
  if (loaded.errors.length > 0) {
    for (const e of loaded.errors) output.err(formatConfigError(e));
    return undefined;
  }
  return loaded.credentials;
}

/** `identify`: false for `get`, which writes nothing (see ProviderDeps.credential). */
export function providerDeps(core: CoreApi, obj: CredentialObject, opts: SourceOptions, log: Logger, identify = true): ProviderDeps {
  return kubeProviderDeps(core, obj, opts.namespace, opts.allowCrossNamespaceRefs, { now: () => new Date(), fetch: globalThis.fetch, log }, identify);
}

/**
 * A warning line when a provider handed out a credential that has already expired (clock skew, a
 * misbehaving broker, or a test double such as moto, whose ECR tokens expired in 2015); undefined
 * otherwise. The credential is still written: the registry is the judge, and the controller retries
 * such a credential at its minimum delay instead of at the (past) renewal time.
 */
export function expiredWarning(expiresAt: Date | undefined, now: Date = new Date()): string | undefined {
  if (!expiresAt || expiresAt.getTime() > now.getTime()) return undefined;
  return `warning: the provider returned a credential that already expired at ${expiresAt.toISOString()} (now ${now.toISOString()}); it is written as is, but pulls with it may fail`;
}
