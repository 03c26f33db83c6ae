import { objectRef, type CredentialObject } from '../config/schema.js';
import { RegcredError, errorMessage, isInputError } from '../errors.js';
import type { Logger } from '../log.js';
import { createClients, loadKubeConfig, type RetryOptions } from '../kube/client.js';
import type { WriteObserver } from '../kube/secrets.js';
import { fanOut, mintCredential, targetNamespaces, type FanOutResult, type MintedCredential } from '../controller/reconcile.js';
import {
  EXIT_FAILED,
  EXIT_INVALID,
  EXIT_OK,
  expiredWarning,
  loadOrReport,
  providerDeps,
  type GlobalOptions,
  type Output,
  type SourceOptions,
} from './common.js';

export interface SyncOptions extends GlobalOptions, SourceOptions, WriteObserver {
  files: string[];
  concurrency: number;
  retry?: RetryOptions;
  /** The client-side rate limit (kube/api/rate-limit.ts); defaults there. */
  kubeQps?: number;
  kubeBurst?: number;
}

/**
 * `regcred sync`: one pass. Input problems (schema, missing or malformed source Secrets) are found
 * before anything is written, and then nothing is: exit 2. Otherwise each credential is minted once
 * and written to its namespaces; exit 1 if anything failed.
 */
export async function runSync(opts: SyncOptions, output: Output, log: Logger): Promise<number> {
  const loaded = await loadOrReport(opts.files, output);
  if (!loaded) return EXIT_INVALID;

  let clients;
  try {
    clients = createClients(loadKubeConfig(opts, log));
  } catch (err) {
    output.err(`error: ${errorMessage(err)}`);
    return EXIT_INVALID;
  }
  const { core } = clients;

  // Phase 1: mint every credential; nothing is written yet.
  const minted = new Map<CredentialObject, MintedCredential>();
  const failed = new Map<CredentialObject, RegcredError>();
  let inputErrors = 0;
  for (const { object } of loaded) {
    const ref = objectRef(object);
    try {
      minted.set(object, await mintCredential(object, providerDeps(core, object, opts, log)));
    } catch (err) {
      const e = err instanceof RegcredError ? err : new RegcredError('ProviderError', errorMessage(err), true);
      if (isInputError(e)) {
        inputErrors++;
        output.err(`${ref}: spec.provider.${object.spec.provider.key}: ${e.message}`);
      } else failed.set(object, e);
    }
  }
  if (inputErrors > 0) {
    output.err(`nothing written: ${inputErrors} credential(s) have invalid input`);
    return EXIT_INVALID;
  }

  // Phase 2: fan out.
  let anyFailed = false;
  for (const { object } of loaded) {
    const ref = objectRef(object);
    const providerError = failed.get(object);
    if (providerError) {
      anyFailed = true;
      output.err(`${ref}: ${providerError.code}: ${providerError.message}`);
      output.out(`${ref}: failed: provider ${object.spec.provider.key} could not mint a credential; nothing written`);
      continue;
    }
    const credential = minted.get(object)!;
    let result: FanOutResult;
    try {
      const namespaces = await targetNamespaces(core, object, opts.retry);
      result = await fanOut(core, object, credential, namespaces, {
        concurrency: opts.concurrency,
        log,
        ...(opts.retry ? { retry: opts.retry } : {}),
        ...(opts.onWrite ? { onWrite: opts.onWrite } : {}),
      });
    } catch (err) {
      anyFailed = true;
      const e = err instanceof RegcredError ? err : new RegcredError('ApiError', errorMessage(err));
      output.err(`${ref}: ${e.code}: ${e.message}`);
      output.out(`${ref}: failed: ${e.code}`);
      continue;
    }
    for (const ns of result.namespaces) {
      if (ns.error) output.err(`${ref}: namespace ${ns.namespace}: ${ns.error.code}: ${ns.error.message}`);
      if (ns.adopted) output.err(`${ref}: namespace ${ns.namespace}: adopted existing Secret ${object.spec.target.secretName}`);
      for (const sa of ns.serviceAccountsMissing) {
        output.err(`${ref}: namespace ${ns.namespace}: warning: ServiceAccount ${sa} not found, skipped`);
      }
    }
    const c = result.counts;
    if (c.failed > 0) anyFailed = true;
    const expired = expiredWarning(credential.expiresAt);
    if (expired) output.err(`${ref}: ${expired}`);
    const expires = credential.expiresAt ? credential.expiresAt.toISOString() : 'never';
    output.out(
      `${ref}: ${c.failed > 0 ? 'partially synced' : 'synced'} ${c.synced}/${c.total} namespaces` +
        ` (created ${c.created}, updated ${c.updated}, unchanged ${c.unchanged}${c.failed ? `, failed ${c.failed}` : ''});` +
        ` service accounts patched ${c.saPatched}; expires ${expires}`,
    );
  }
  return anyFailed ? EXIT_FAILED : EXIT_OK;
}
