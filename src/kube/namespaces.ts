import type { CoreApi } from './api/resources.js';
import { labelSelectorToString } from '../config/common.js';
import type { NamespaceTarget } from '../config/schema.js';
import { toRegcredError, withApiRetry, type RetryOptions } from './client.js';

/**
 * The namespaces a target selects. Listed names are taken as given (a missing one fails alone when
 * its Secret is written); a selector or `all` lists namespaces and skips those being deleted.
 */
export async function resolveTargetNamespaces(core: CoreApi, target: NamespaceTarget, retry: RetryOptions = {}): Promise<string[]> {
  const exclude = new Set(target.exclude ?? []);
  let names: string[];
  if (target.names) {
    names = [...new Set(target.names)];
  } else {
    const labelSelector = target.selector ? labelSelectorToString(target.selector) : undefined;
    try {
      const list = await withApiRetry(() => core.listNamespace(labelSelector ? { labelSelector } : {}), retry);
      names = list.items.filter((ns) => ns.status?.phase !== 'Terminating').map((ns) => ns.metadata?.name ?? '');
    } catch (err) {
      throw toRegcredError(err, 'cannot list namespaces');
    }
  }
  return names.filter((n) => n && !exclude.has(n)).sort();
}

/** Whether a namespace (its name and labels) is selected by a target; used by watches later. */
export function namespaceMatches(target: NamespaceTarget, name: string, labels: Record<string, string>): boolean {
  if (target.exclude?.includes(name)) return false;
  if (target.names) return target.names.includes(name);
  if (target.all) return true;
  const sel = target.selector;
  if (!sel) return false;
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const req of sel.matchExpressions ?? []) {
    const has = Object.prototype.hasOwnProperty.call(labels, req.key);
    const value = labels[req.key];
    switch (req.operator) {
      case 'In':
        if (!has || !req.values?.includes(value!)) return false;
        break;
      case 'NotIn':
        if (has && req.values?.includes(value!)) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
    }
  }
  return true;
}
