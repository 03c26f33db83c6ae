import type { V1ServiceAccount } from '@kubernetes/client-node';
import type { CoreApi } from './api/resources.js';
import { statusCode, toRegcredError, withApiRetry, type RetryOptions } from './client.js';
import type { WriteObserver } from './secrets.js';

export interface ServiceAccountResult {
  patched: string[];
  unchanged: string[];
  /** Named service accounts that do not exist (yet): skipped and reported, not an error. */
  missing: string[];
}

export function hasPullSecret(sa: V1ServiceAccount, secretName: string): boolean {
  return (sa.imagePullSecrets ?? []).some((r) => r.name === secretName);
}

/**
 * Adds `{name: secretName}` to the imagePullSecrets of the named service accounts (or every one,
 * for "*"), once, keeping the other entries as they are.
 */
export async function attachPullSecret(
  core: CoreApi,
  namespace: string,
  serviceAccounts: readonly string[],
  secretName: string,
  opts: { retry?: RetryOptions; known?: readonly V1ServiceAccount[] | undefined } & WriteObserver = {},
): Promise<ServiceAccountResult> {
  const result: ServiceAccountResult = { patched: [], unchanged: [], missing: [] };
  if (serviceAccounts.length === 0) return result;
  const retry = opts.retry ?? {};

  let accounts: V1ServiceAccount[];
  if (opts.known) {
    // The caller's cache (the controller's informer) stands in for reads.
    const all = serviceAccounts.includes('*');
    accounts = opts.known.filter((sa) => all || serviceAccounts.includes(sa.metadata?.name ?? ''));
    if (!all) {
      const found = new Set(accounts.map((sa) => sa.metadata?.name));
      result.missing.push(...serviceAccounts.filter((n) => !found.has(n)));
    }
  } else if (serviceAccounts.includes('*')) {
    try {
      accounts = (await withApiRetry(() => core.listNamespacedServiceAccount({ namespace }), retry)).items;
    } catch (err) {
      throw toRegcredError(err, `cannot list ServiceAccounts in ${namespace}`);
    }
  } else {
    accounts = [];
    for (const name of serviceAccounts) {
      const sa = await readServiceAccount(core, namespace, name, retry);
      if (sa) accounts.push(sa);
      else result.missing.push(name);
    }
  }

  for (let sa of accounts) {
    const name = sa.metadata?.name ?? '';
    for (let attempt = 0; ; attempt++) {
      if (hasPullSecret(sa, secretName)) {
        result.unchanged.push(name);
        break;
      }
      try {
        await withApiRetry(() => core.patchNamespacedServiceAccount({ namespace, name, body: addPullSecretPatch(sa, secretName) }), retry);
        opts.onWrite?.('update', namespace);
        result.patched.push(name);
        break;
      } catch (err) {
        const code = statusCode(err);
        // 409/422: the test on resourceVersion failed, someone changed the SA; read it again.
        if ((code === 409 || code === 422) && attempt < 3) {
          const fresh = await readServiceAccount(core, namespace, name, retry);
          if (!fresh) {
            result.missing.push(name);
            break;
          }
          sa = fresh;
          continue;
        }
        if (code === 404) {
          result.missing.push(name);
          break;
        }
        throw toRegcredError(err, `cannot patch ServiceAccount ${namespace}/${name}`);
      }
    }
  }
  return result;
}

/**
 * A JSON patch that appends the reference, guarded by the resourceVersion we read, so an entry
 * someone else added between our read and our write is never lost.
 */
export function addPullSecretPatch(sa: V1ServiceAccount, secretName: string): object[] {
  const guard = { op: 'test', path: '/metadata/resourceVersion', value: sa.metadata?.resourceVersion };
  if (!sa.imagePullSecrets || sa.imagePullSecrets.length === 0) {
    return [guard, { op: 'add', path: '/imagePullSecrets', value: [{ name: secretName }] }];
  }
  return [guard, { op: 'add', path: '/imagePullSecrets/-', value: { name: secretName } }];
}

/**
 * Removes `{name: secretName}` from every service account of the namespace that has it (when the
 * Secret itself is being removed). Each patch is guarded by the resourceVersion read.
 */
export async function detachPullSecret(
  core: CoreApi,
  namespace: string,
  secretName: string,
  opts: { retry?: RetryOptions; known?: readonly V1ServiceAccount[] | undefined } & WriteObserver = {},
): Promise<string[]> {
  const retry = opts.retry ?? {};
  let accounts = opts.known;
  if (!accounts) {
    try {
      accounts = (await withApiRetry(() => core.listNamespacedServiceAccount({ namespace }), retry)).items;
    } catch (err) {
      throw toRegcredError(err, `cannot list ServiceAccounts in ${namespace}`);
    }
  }
  const detached: string[] = [];
  for (let sa of accounts.filter((a) => hasPullSecret(a, secretName))) {
    const name = sa.metadata?.name ?? '';
    for (let attempt = 0; attempt < 4; attempt++) {
      const index = (sa.imagePullSecrets ?? []).findIndex((r) => r.name === secretName);
      if (index < 0) break;
      try {
        await withApiRetry(
          () =>
            core.patchNamespacedServiceAccount({
              namespace,
              name,
              body: [
                { op: 'test', path: '/metadata/resourceVersion', value: sa.metadata?.resourceVersion },
                { op: 'remove', path: `/imagePullSecrets/${index}` },
              ],
            }),
          retry,
        );
        opts.onWrite?.('update', namespace);
        detached.push(name);
        break;
      } catch (err) {
        const code = statusCode(err);
        if (code === 404) break;
        if (code !== 409 && code !== 422) throw toRegcredError(err, `cannot patch ServiceAccount ${namespace}/${name}`);
        const fresh = await readServiceAccount(core, namespace, name, retry);
        if (!fresh) break;
        sa = fresh;
      }
    }
  }
  return detached;
}

async function readServiceAccount(core: CoreApi, namespace: string, name: string, retry: RetryOptions): Promise<V1ServiceAccount | null> {
  try {
    return await withApiRetry(() => core.readNamespacedServiceAccount({ namespace, name }), retry);
  } catch (err) {
    if (statusCode(err) === 404) return null;
    throw toRegcredError(err, `cannot read ServiceAccount ${namespace}/${name}`);
  }
}
