import { Watch, type CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { ListPage, WatchFn } from './informer.js';

// Metadata-only reads of Secrets (the API server's PartialObjectMetadata form): name, namespace,
// resourceVersion, labels and annotations, never `data`. What the controller watches only to learn
// *that* a Secret changed (the Secrets credentials read) never brings a Secret's content, or the
// other Secrets of a namespace, into the process.

const METADATA_LIST = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1';
const METADATA_OBJECT = 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1';

/** What the metadata form carries; `data` never appears. */
export interface SecretMetadata {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string; uid?: string } | undefined;
}

interface HeaderContext {
  setHeaderParam(key: string, value: string): void;
}

/** The Observable shape client-node's middleware returns (its own rxjs stub: toPromise and pipe). */
interface Deferred<T> {
  toPromise(): Promise<T>;
  pipe<U>(next: (value: T) => U | Promise<U>): Deferred<U>;
}
function deferred<T>(value: T | Promise<T>): Deferred<T> {
  const promise = Promise.resolve(value);
  return { toPromise: () => promise, pipe: (next) => deferred(promise.then(next)) };
}

/** client-node middleware that asks for the metadata form of a list. */
const asMetadataList = {
  middleware: [
    {
      pre: (ctx: HeaderContext) => {
        ctx.setHeaderParam('Accept', METADATA_LIST);
        return deferred(ctx);
      },
      post: <R>(response: R) => deferred(response),
    },
  ],
  middlewareMergeStrategy: 'append',
} as const;

/** One page of the metadata of a namespace's Secrets (optionally one name: fieldSelector). */
export async function listSecretMetadata(
  core: CoreV1Api,
  params: { namespace: string; fieldSelector?: string | undefined; limit: number; _continue?: string | undefined },
): Promise<ListPage<SecretMetadata>> {
  const page = await core.listNamespacedSecret(
    { namespace: params.namespace, limit: params.limit, ...(params.fieldSelector ? { fieldSelector: params.fieldSelector } : {}), ...(params._continue ? { _continue: params._continue } : {}) },
    asMetadataList as never,
  );
  return { items: page.items.map(keepIdentity), metadata: page.metadata };
}

/** A WatchFn (informer.ts) that receives the metadata form of each object (metadata with labels and annotations). */
export function metadataWatch(kubeConfig: KubeConfig): WatchFn {
  // client-node's Watch takes no headers: a view of the kubeconfig that adds the Accept header to
  // the request options it builds (authentication and TLS stay client-node's own).
  const view = Object.create(kubeConfig) as KubeConfig;
  view.applyToFetchOptions = async (opts) => {
    const init = await kubeConfig.applyToFetchOptions(opts);
    (init.headers as unknown as Headers).set('Accept', METADATA_OBJECT);
    return init;
  };
  const watch = new Watch(view);
  return (path, params, onEvent, onDone) => watch.watch(path, params, onEvent, onDone);
}

/** Only what identifies the object and its version: labels, annotations and managedFields dropped. */
export function keepIdentity(obj: SecretMetadata): SecretMetadata {
  const m = obj.metadata ?? {};
  return { metadata: { name: m.name, namespace: m.namespace, resourceVersion: m.resourceVersion, uid: m.uid } };
}
