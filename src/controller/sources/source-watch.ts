import type { ClusterSource } from '../../kube/api/client.js';
import { Informer, type InformerEvent, type ObjectCache } from '../../kube/informer.js';
import { keepIdentity, listSecretMetadata, metadataWatch, type SecretMetadata } from '../../kube/metadata.js';
import type { Logger } from '../../log.js';
import type { Clock } from '../../util/clock.js';
import { sourceId, type SourceRead } from './reads.js';

// Watches the Secrets credentials read (their sources) and names the credentials to mint again
// when one changes, is deleted or comes back: an edit reaches every target without waiting for
// the next scheduled refresh. Only those Secrets are watched, in their metadata form (never their
// data): one watch per namespace that holds sources, narrowed by a field selector to the one name
// when there is only one; with several, the namespace's other Secrets pass by without being kept, so
// a tenant creating Secrets in its namespace cannot grow the controller's memory.
//
// Each credential is compared with the version *it* read: a change made between a mint and the
// watch's first list is still seen, and a watch that restarts or relists re-triggers nothing.

export type SourceChange = 'changed' | 'deleted' | 'created';

export interface SourceWatchOptions {
  kubeConfig: ClusterSource;
  log: Logger;
  clock?: Clock | undefined;
  informer?: { watchTimeoutSeconds?: [number, number]; stallGraceMs?: number; listTimeoutMs?: number } | undefined;
  /** The credentials to mint again, because the Secret `source` ("namespace/name") changed. */
  onChange(credentials: string[], source: string, change: SourceChange): void;
  /** Tests: the watch of one namespace's sources (fieldSelector set when it is one name). */
  makeCache?: ((namespace: string, fieldSelector: string | undefined, keep: (name: string) => boolean) => ObjectCache<SecretMetadata>) | undefined;
}

interface NamespaceWatch {
  names: Set<string>;
  fieldSelector: string | undefined;
  cache: ObjectCache<SecretMetadata>;
}

export class SourceWatch {
  /** credential -> (source id -> the resourceVersion it last read; null: missing). */
  private readonly seenBy = new Map<string, Map<string, string | null>>();
  /** source id -> the credentials that read it. */
  private readonly readers = new Map<string, Set<string>>();
  private readonly namespaces = new Map<string, NamespaceWatch>();
  private started = false;
  private stopped = false;

  constructor(private readonly opts: SourceWatchOptions) {}

  /** The Secrets `credential` read in its last mint (replacing what it read before). */
  record(credential: string, reads: readonly SourceRead[]): void {
    const before = this.seenBy.get(credential);
    const now = new Map(reads.map((r) => [sourceId(r), r.resourceVersion] as const));
    if (before) for (const id of before.keys()) if (!now.has(id)) this.readers.get(id)?.delete(credential);
    for (const id of now.keys()) {
      let set = this.readers.get(id);
      if (!set) this.readers.set(id, (set = new Set()));
      set.add(credential);
    }
    if (now.size > 0) this.seenBy.set(credential, now);
    else this.seenBy.delete(credential);
    this.pruneReaders();
    this.sync();
  }

  /** A credential that is gone. */
  forget(credential: string): void {
    this.record(credential, []);
  }

  /** The sources `credential` is watched for (tests, debugging). */
  sourcesOf(credential: string): string[] {
    return [...(this.seenBy.get(credential)?.keys() ?? [])].sort();
  }

  /** Namespaces watched and their field selector (tests). */
  watched(): Array<{ namespace: string; fieldSelector: string | undefined }> {
    return [...this.namespaces].map(([namespace, w]) => ({ namespace, fieldSelector: w.fieldSelector }));
  }

  start(): void {
    this.started = true;
    this.sync();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    const all = [...this.namespaces.values()];
    this.namespaces.clear();
    await Promise.all(all.map((w) => w.cache.stop()));
  }

  /** Whether every namespace watch has listed once (sources appear as mints run, so not a readiness gate). */
  hasSynced(): boolean {
    return [...this.namespaces.values()].every((w) => w.cache.hasSynced());
  }

  unhealthyForMs(): number {
    return Math.max(0, ...[...this.namespaces.values()].map((w) => w.cache.unhealthyForMs()));
  }

  private pruneReaders(): void {
    for (const [id, set] of this.readers) if (set.size === 0) this.readers.delete(id);
  }

  /** Starts, narrows, widens or stops the namespace watches to match what is read. */
  private sync(): void {
    if (!this.started || this.stopped) return;
    const wanted = new Map<string, Set<string>>();
    for (const id of this.readers.keys()) {
      const slash = id.indexOf('/');
      const ns = id.slice(0, slash);
      let names = wanted.get(ns);
      if (!names) wanted.set(ns, (names = new Set()));
      names.add(id.slice(slash + 1));
    }
    for (const [ns, w] of this.namespaces) {
      const names = wanted.get(ns);
      if (!names || selectorFor(names) !== w.fieldSelector) {
        this.namespaces.delete(ns);
        void w.cache.stop();
      } else w.names = names;
    }
    for (const [ns, names] of wanted) if (!this.namespaces.has(ns)) this.watch(ns, names);
  }

  private watch(namespace: string, names: Set<string>): void {
    const fieldSelector = selectorFor(names);
    const holder: { w?: NamespaceWatch } = {};
    const keep = (name: string) => holder.w?.names.has(name) ?? false;
    const cache = this.opts.makeCache ? this.opts.makeCache(namespace, fieldSelector, keep) : this.informer(namespace, fieldSelector, keep);
    const w: NamespaceWatch = { names, fieldSelector, cache };
    holder.w = w;
    this.namespaces.set(namespace, w);
    cache.on((event, obj) => this.onEvent(event, obj));
    void cache.start().then(() => {
      // A Secret read before the watch began and deleted since is not in the first list: no event.
      if (this.namespaces.get(namespace) !== w) return;
      for (const name of w.names) if (!cache.get(`${namespace}/${name}`)) this.observe(`${namespace}/${name}`, null);
    });
  }

  private informer(namespace: string, fieldSelector: string | undefined, keep: (name: string) => boolean): ObjectCache<SecretMetadata> {
    const o = this.opts;
    return new Informer<SecretMetadata>({
      ...o.informer,
      name: `source-secrets/${namespace}`,
      kubeConfig: o.kubeConfig,
      log: o.log,
      ...(o.clock ? { clock: o.clock } : {}),
      watchPath: `/api/v1/namespaces/${namespace}/secrets`,
      ...(fieldSelector ? { watchParams: { fieldSelector } } : {}),
      list: (p) => listSecretMetadata(o.kubeConfig, { namespace, fieldSelector, ...p }),
      watch: metadataWatch(o.kubeConfig),
      transform: keepIdentity,
      keep: (s) => keep(s.metadata?.name ?? ''),
    });
  }

  private onEvent(event: InformerEvent, obj: SecretMetadata): void {
    const m = obj.metadata ?? {};
    this.observe(`${m.namespace ?? ''}/${m.name ?? ''}`, event === 'delete' ? null : (m.resourceVersion ?? null));
  }

  /** A source is now at `version` (null: gone): the credentials that read another version re-mint. */
  private observe(id: string, version: string | null): void {
    const credentials = this.readers.get(id);
    if (!credentials) return;
    const changed: string[] = [];
    let before: string | null | undefined;
    for (const c of credentials) {
      const seen = this.seenBy.get(c);
      if (!seen || seen.get(id) === version) continue;
      before = seen.get(id);
      seen.set(id, version);
      changed.push(c);
    }
    if (changed.length === 0) return;
    const change: SourceChange = version === null ? 'deleted' : before === null ? 'created' : 'changed';
    this.opts.log.info({ source: id, change, credentials: changed.length }, 'source Secret changed; minting again');
    this.opts.onChange(changed.sort(), id, change);
  }
}

/** One name: a field selector keeps the namespace's other Secrets out entirely. */
function selectorFor(names: ReadonlySet<string>): string | undefined {
  return names.size === 1 ? `metadata.name=${[...names][0]!}` : undefined;
}
