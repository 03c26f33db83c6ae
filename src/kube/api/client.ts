import type { Logger } from '../../log.js';
import type { Clock } from '../../util/clock.js';
import type { KubeConfigLike } from './config.js';
import { Credentials } from './credentials.js';
import { KubeHttp, type WatchFn } from './http.js';
import { requestLimiter, type RateLimit } from './rate-limit.js';
import {
  coreApi,
  customObjectApi,
  eventApi,
  leaseApi,
  webhookConfigurationApi,
  type CoreApi,
  type CustomObjectApi,
  type EventApi,
  type LeaseApi,
  type WebhookConfigurationApi,
} from './resources.js';

// A connection to one cluster: its credentials, its pool of connections and rate limit, and the
// typed verbs over them. Everything that talks to the API server takes a ClusterSource: a
// KubeClient, or a kubeconfig object (ours, or client-node's KubeConfig, as the tests hold), which
// gets one KubeClient for its lifetime, so every part built from the same kubeconfig object shares
// one pool. Nothing is read or connected until the first request.

export interface KubeClientOptions {
  /** The client-side rate limit; none when absent or qps <= 0. */
  rateLimit?: RateLimit | undefined;
  log?: Logger | undefined;
  clock?: Clock | undefined;
  /** Connections for API requests (default 32); watches have their own. */
  maxSockets?: number | undefined;
  /** Deadline of one API request (default 60 s). */
  timeoutMs?: number | undefined;
  /** How long an API connection may stay idle before it is closed (default 30 s). */
  idleConnectionMs?: number | undefined;
}

export class KubeClient {
  readonly http: KubeHttp;
  readonly core: CoreApi;
  readonly customObjects: CustomObjectApi;
  readonly leases: LeaseApi;
  readonly events: EventApi;
  readonly webhookConfigurations: WebhookConfigurationApi;
  /** Watches of the JSON form of objects (informer.ts). */
  readonly watch: WatchFn;

  constructor(
    readonly config: KubeConfigLike,
    opts: KubeClientOptions = {},
  ) {
    this.http = new KubeHttp(new Credentials(config), {
      limiter: requestLimiter(opts.rateLimit, { clock: opts.clock, log: opts.log }),
      maxSockets: opts.maxSockets,
      timeoutMs: opts.timeoutMs,
      idleConnectionMs: opts.idleConnectionMs,
    });
    this.core = coreApi(this.http);
    this.customObjects = customObjectApi(this.http);
    this.leases = leaseApi(this.http);
    this.events = eventApi(this.http);
    this.webhookConfigurations = webhookConfigurationApi(this.http);
    this.watch = (path, params, onEvent, onDone) => this.http.watch(path, params, onEvent, onDone);
  }

  /** Closes the connections (tests). */
  close(): void {
    this.http.close();
  }
}

export type ClusterSource = KubeClient | KubeConfigLike;

const shared = new WeakMap<KubeConfigLike, KubeClient>();

/** The KubeClient of a source: itself, or the one (unlimited) client of a kubeconfig object. */
export function kubeClient(source: ClusterSource): KubeClient {
  if (source instanceof KubeClient) return source;
  let client = shared.get(source);
  if (!client) shared.set(source, (client = new KubeClient(source)));
  return client;
}
