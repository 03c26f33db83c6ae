import { kubeClient, type ClusterSource } from './api/client.js';
import type { WatchFn } from './api/http.js';
import { listPage } from './api/resources.js';
import type { ListPage } from './informer.js';

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

/** One page of the metadata of a namespace's Secrets (optionally one name: fieldSelector). */
export async function listSecretMetadata(
  cluster: ClusterSource,
  params: { namespace: string; fieldSelector?: string | undefined; limit: number; _continue?: string | undefined },
): Promise<ListPage<SecretMetadata>> {
  const page = await listPage<ListPage<SecretMetadata>>(kubeClient(cluster).http, `/api/v1/namespaces/${encodeURIComponent(params.namespace)}/secrets`, params, METADATA_LIST);
  return { items: page.items.map(keepIdentity), metadata: page.metadata };
}

/** A WatchFn (informer.ts) that receives the metadata form of each object (metadata with labels and annotations). */
export function metadataWatch(cluster: ClusterSource): WatchFn {
  const { http } = kubeClient(cluster);
  return (path, params, onEvent, onDone) => http.watch(path, params, onEvent, onDone, METADATA_OBJECT);
}

/** Only what identifies the object and its version: labels, annotations and managedFields dropped. */
export function keepIdentity(obj: SecretMetadata): SecretMetadata {
  const m = obj.metadata ?? {};
  return { metadata: { name: m.name, namespace: m.namespace, resourceVersion: m.resourceVersion, uid: m.uid } };
}
