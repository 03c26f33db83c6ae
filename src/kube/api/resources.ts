import type {
  AuthenticationV1TokenRequest,
  EventsV1Event,
  V1DeleteOptions,
  V1MutatingWebhookConfiguration,
  V1Namespace,
  V1NamespaceList,
  V1ObjectMeta,
  V1Secret,
  V1SecretList,
  V1ServiceAccount,
  V1ServiceAccountList,
} from '@kubernetes/client-node';
import type { KubeHttp, Query } from './http.js';

// The verbs regcred uses, and no others, typed with the API's object shapes (client-node's model
// interfaces, types only). Method names and parameter objects are those of client-node's
// generated API classes, so an object of either kind serves where these interfaces are expected
// (the tests pass client-node's clients and fakes of them). Objects are the API server's JSON as
// is: times are strings.

export const JSON_PATCH = 'application/json-patch+json';
export const MERGE_PATCH = 'application/merge-patch+json';

export interface ListParams {
  limit?: number | undefined;
  _continue?: string | undefined;
  labelSelector?: string | undefined;
  fieldSelector?: string | undefined;
}

type Named = { name: string };
type InNamespace = { namespace: string };
type Writing = { fieldManager?: string | undefined };
/** A JSON patch (RFC 6902): a list of operations. */
export type JsonPatch = object[];

export interface CoreApi {
  listNamespace(p?: ListParams): Promise<V1NamespaceList>;
  readNamespace(p: Named): Promise<V1Namespace>;
  listNamespacedSecret(p: InNamespace & ListParams): Promise<V1SecretList>;
  listSecretForAllNamespaces(p?: ListParams): Promise<V1SecretList>;
  readNamespacedSecret(p: InNamespace & Named): Promise<V1Secret>;
  createNamespacedSecret(p: InNamespace & Writing & { body: V1Secret }): Promise<V1Secret>;
  /** PUT: optimistic concurrency on the body's resourceVersion. */
  replaceNamespacedSecret(p: InNamespace & Named & Writing & { body: V1Secret }): Promise<V1Secret>;
  patchNamespacedSecret(p: InNamespace & Named & Writing & { body: JsonPatch }): Promise<V1Secret>;
  deleteNamespacedSecret(p: InNamespace & Named & { body?: V1DeleteOptions }): Promise<unknown>;
  listNamespacedServiceAccount(p: InNamespace & ListParams): Promise<V1ServiceAccountList>;
  listServiceAccountForAllNamespaces(p?: ListParams): Promise<V1ServiceAccountList>;
  readNamespacedServiceAccount(p: InNamespace & Named): Promise<V1ServiceAccount>;
  patchNamespacedServiceAccount(p: InNamespace & Named & { body: JsonPatch }): Promise<V1ServiceAccount>;
  /** TokenRequest: a token for the service account. */
  createNamespacedServiceAccountToken(p: InNamespace & Named & { body: AuthenticationV1TokenRequest }): Promise<AuthenticationV1TokenRequest>;
}

type CustomResource = { group: string; version: string; plural: string };

/** Custom objects (the credential kinds): JSON patches of the object or its status subresource. */
export interface CustomObjectApi {
  listClusterCustomObject(p: CustomResource & ListParams): Promise<any>;
  listNamespacedCustomObject(p: CustomResource & InNamespace & ListParams): Promise<any>;
  listCustomObjectForAllNamespaces(p: CustomResource & ListParams): Promise<any>;
  patchClusterCustomObject(p: CustomResource & Named & { body: JsonPatch }): Promise<any>;
  patchNamespacedCustomObject(p: CustomResource & InNamespace & Named & { body: JsonPatch }): Promise<any>;
  patchClusterCustomObjectStatus(p: CustomResource & Named & { body: JsonPatch }): Promise<any>;
  patchNamespacedCustomObjectStatus(p: CustomResource & InNamespace & Named & { body: JsonPatch }): Promise<any>;
}

/** coordination.k8s.io/v1 Lease; times are MicroTime strings (2006-01-02T15:04:05.000000Z). */
export interface Lease {
  apiVersion?: string;
  kind?: string;
  metadata?: V1ObjectMeta | undefined;
  spec?: LeaseSpec | undefined;
}
export interface LeaseSpec {
  holderIdentity?: string | undefined;
  leaseDurationSeconds?: number | undefined;
  acquireTime?: string | undefined;
  renewTime?: string | undefined;
  leaseTransitions?: number | undefined;
  strategy?: string | undefined;
  preferredHolder?: string | undefined;
}

export interface LeaseApi {
  readNamespacedLease(p: InNamespace & Named): Promise<Lease>;
  createNamespacedLease(p: InNamespace & { body: Lease }): Promise<Lease>;
  replaceNamespacedLease(p: InNamespace & Named & { body: Lease }): Promise<Lease>;
}

/** events.k8s.io/v1 Event, MicroTime fields as strings. */
export type KubeEvent = Omit<EventsV1Event, 'eventTime' | 'series'> & { eventTime: string; series?: EventSeries };
export interface EventSeries {
  count: number;
  lastObservedTime: string;
}

export interface EventApi {
  createNamespacedEvent(p: InNamespace & { body: KubeEvent }): Promise<KubeEvent>;
  /** A merge patch. */
  patchNamespacedEvent(p: InNamespace & Named & { body: { series: EventSeries } }): Promise<KubeEvent>;
}

export interface WebhookConfigurationApi {
  readMutatingWebhookConfiguration(p: Named): Promise<V1MutatingWebhookConfiguration>;
  patchMutatingWebhookConfiguration(p: Named & { body: JsonPatch }): Promise<V1MutatingWebhookConfiguration>;
}

/** A time as the API's MicroTime: RFC 3339 with six fractional digits. */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/Z$/, '000Z');
}

const seg = encodeURIComponent;

function listQuery(p: ListParams | undefined): Query {
  return { limit: p?.limit, continue: p?._continue || undefined, labelSelector: p?.labelSelector, fieldSelector: p?.fieldSelector };
}

/** One page of a list; its continue token also under `_continue`, the name client-node's types give it. */
export async function listPage<T>(http: KubeHttp, path: string, p: ListParams | undefined, accept?: string): Promise<T> {
  const list = await http.request<T & { metadata?: { continue?: string; _continue?: string } }>({ method: 'GET', path, query: listQuery(p), accept });
  if (list?.metadata?.continue) list.metadata._continue = list.metadata.continue;
  return list;
}

export function coreApi(http: KubeHttp): CoreApi {
  const ns = (p: InNamespace) => `/api/v1/namespaces/${seg(p.namespace)}`;
  const secret = (p: InNamespace & Named) => `${ns(p)}/secrets/${seg(p.name)}`;
  const sa = (p: InNamespace & Named) => `${ns(p)}/serviceaccounts/${seg(p.name)}`;
  const writing = (p: Writing): Query => ({ fieldManager: p.fieldManager });
  return {
    listNamespace: (p) => listPage(http, '/api/v1/namespaces', p),
    readNamespace: (p) => http.request({ method: 'GET', path: `/api/v1/namespaces/${seg(p.name)}` }),
    listNamespacedSecret: (p) => listPage(http, `${ns(p)}/secrets`, p),
    listSecretForAllNamespaces: (p) => listPage(http, '/api/v1/secrets', p),
    readNamespacedSecret: (p) => http.request({ method: 'GET', path: secret(p) }),
    createNamespacedSecret: (p) => http.request({ method: 'POST', path: `${ns(p)}/secrets`, query: writing(p), body: p.body }),
    replaceNamespacedSecret: (p) => http.request({ method: 'PUT', path: secret(p), query: writing(p), body: p.body }),
    patchNamespacedSecret: (p) => http.request({ method: 'PATCH', path: secret(p), query: writing(p), body: p.body, contentType: JSON_PATCH }),
    deleteNamespacedSecret: (p) => http.request({ method: 'DELETE', path: secret(p), body: p.body }),
    listNamespacedServiceAccount: (p) => listPage(http, `${ns(p)}/serviceaccounts`, p),
    listServiceAccountForAllNamespaces: (p) => listPage(http, '/api/v1/serviceaccounts', p),
    readNamespacedServiceAccount: (p) => http.request({ method: 'GET', path: sa(p) }),
    patchNamespacedServiceAccount: (p) => http.request({ method: 'PATCH', path: sa(p), body: p.body, contentType: JSON_PATCH }),
    createNamespacedServiceAccountToken: (p) => http.request({ method: 'POST', path: `${sa(p)}/token`, body: p.body }),
  };
}

export function customObjectApi(http: KubeHttp): CustomObjectApi {
  const base = (p: CustomResource) => `/apis/${seg(p.group)}/${seg(p.version)}`;
  const cluster = (p: CustomResource & Named) => `${base(p)}/${seg(p.plural)}/${seg(p.name)}`;
  const namespaced = (p: CustomResource & InNamespace & Named) => `${base(p)}/namespaces/${seg(p.namespace)}/${seg(p.plural)}/${seg(p.name)}`;
  const patch = (path: string, body: JsonPatch) => http.request({ method: 'PATCH', path, body, contentType: JSON_PATCH });
  return {
    listClusterCustomObject: (p) => listPage(http, `${base(p)}/${seg(p.plural)}`, p),
    listNamespacedCustomObject: (p) => listPage(http, `${base(p)}/namespaces/${seg(p.namespace)}/${seg(p.plural)}`, p),
    listCustomObjectForAllNamespaces: (p) => listPage(http, `${base(p)}/${seg(p.plural)}`, p),
    patchClusterCustomObject: (p) => patch(cluster(p), p.body),
    patchNamespacedCustomObject: (p) => patch(namespaced(p), p.body),
    patchClusterCustomObjectStatus: (p) => patch(`${cluster(p)}/status`, p.body),
    patchNamespacedCustomObjectStatus: (p) => patch(`${namespaced(p)}/status`, p.body),
  };
}

export function leaseApi(http: KubeHttp): LeaseApi {
  const leases = (p: InNamespace) => `/apis/coordination.k8s.io/v1/namespaces/${seg(p.namespace)}/leases`;
  return {
    readNamespacedLease: (p) => http.request({ method: 'GET', path: `${leases(p)}/${seg(p.name)}` }),
    createNamespacedLease: (p) => http.request({ method: 'POST', path: leases(p), body: p.body }),
    replaceNamespacedLease: (p) => http.request({ method: 'PUT', path: `${leases(p)}/${seg(p.name)}`, body: p.body }),
  };
}

export function eventApi(http: KubeHttp): EventApi {
  const events = (p: InNamespace) => `/apis/events.k8s.io/v1/namespaces/${seg(p.namespace)}/events`;
  return {
    createNamespacedEvent: (p) => http.request({ method: 'POST', path: events(p), body: p.body }),
    patchNamespacedEvent: (p) => http.request({ method: 'PATCH', path: `${events(p)}/${seg(p.name)}`, body: p.body, contentType: MERGE_PATCH }),
  };
}

export function webhookConfigurationApi(http: KubeHttp): WebhookConfigurationApi {
  const path = (p: Named) => `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${seg(p.name)}`;
  return {
    readMutatingWebhookConfiguration: (p) => http.request({ method: 'GET', path: path(p) }),
    patchMutatingWebhookConfiguration: (p) => http.request({ method: 'PATCH', path: path(p), body: p.body, contentType: JSON_PATCH }),
  };
}

/** The service-account issuer's discovery document (/.well-known/openid-configuration). */
export function openIdConfiguration(http: KubeHttp): Promise<{ issuer?: unknown }> {
  return http.request({ method: 'GET', path: '/.well-known/openid-configuration' });
}
