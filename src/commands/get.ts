import { objectRef } from '../config/schema.js';
import { RegcredError, errorMessage, isInputError } from '../errors.js';
import type { Logger } from '../log.js';
import { createClients, loadKubeConfig } from '../kube/client.js';
import { mintCredential } from '../controller/reconcile.js';
import { EXIT_FAILED, EXIT_INVALID, EXIT_OK, expiredWarning, loadOrReport, providerDeps, type GlobalOptions, type Output, type SourceOptions } from './common.js';

export interface GetOptions extends GlobalOptions, SourceOptions {
  files: string[];
  name?: string;
  output: 'dockerconfigjson' | 'json';
}

/**
 * `regcred get`: mints the credentials and prints them; writes nothing to the cluster. Printing the
 * credential is the point of this command, so its stdout is the one place a secret value appears
 * (written directly, not through the scrubbing Output).
 */
export async function runGet(opts: GetOptions, output: Output, log: Logger, stdout: (text: string) => void): Promise<number> {
  const loaded = await loadOrReport(opts.files, output);
  if (!loaded) return EXIT_INVALID;
  const selected = opts.name ? loaded.filter((c) => c.object.metadata.name === opts.name) : loaded;
  if (selected.length === 0) {
    output.err(`error: no credential named "${opts.name}" in ${opts.files.join(', ')}`);
    return EXIT_INVALID;
  }
  if (opts.output === 'dockerconfigjson' && selected.length > 1) {
    output.err('error: -o dockerconfigjson prints one credential; choose one with --name');
    return EXIT_INVALID;
  }
  let core;
  try {
    core = createClients(loadKubeConfig(opts)).core;
  } catch (err) {
    output.err(`error: ${errorMessage(err)}`);
    return EXIT_INVALID;
  }
  let status = EXIT_OK;
  const results: object[] = [];
  for (const { object } of selected) {
    try {
      const minted = await mintCredential(object, providerDeps(core, object, opts, log, false));
      const expired = expiredWarning(minted.expiresAt);
      if (expired) output.err(`${objectRef(object)}: ${expired}`);
      if (opts.output === 'dockerconfigjson') stdout(minted.dockerConfigJson + '\n');
      else {
        results.push({
          kind: object.kind,
          name: object.metadata.name,
          ...(object.metadata.namespace ? { namespace: object.metadata.namespace } : {}),
          provider: object.spec.provider.key,
          expiresAt: minted.expiresAt?.toISOString() ?? null,
          auths: minted.credentials.map((c) => ({ registry: c.registry, username: c.username, password: c.password, expiresAt: c.expiresAt?.toISOString() ?? null })),
        });
      }
    } catch (err) {
      const e = err instanceof RegcredError ? err : new RegcredError('ProviderError', errorMessage(err));
      output.err(`${objectRef(object)}: ${e.code}: ${e.message}`);
      status = Math.max(status, isInputError(e) ? EXIT_INVALID : EXIT_FAILED);
    }
  }
  if (opts.output === 'json') stdout(JSON.stringify(results.length === 1 ? results[0] : results, null, 2) + '\n');
  return status;
}
