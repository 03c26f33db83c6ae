import type { Informer } from './informer.js';

// What the controller reads of a watched collection, and the two stand-ins for an Informer that
// namespaced mode needs: one informer per namespace seen as one cache, and a fixed set.

export interface KubeObject {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string; uid?: string } | undefined;
}

export type InformerEvent = 'add' | 'update' | 'delete';
export type Handler<T> = (event: InformerEvent, obj: T, old?: T) => void;

/** The cache key: `namespace/name`, or `name` for a cluster-scoped object. */
export function objectKey(obj: KubeObject): string {
  const m = obj.metadata ?? {};
  return m.namespace ? `${m.namespace}/${m.name ?? ''}` : (m.name ?? '');
}

/** What the controller needs of a watched collection: an Informer, several of them, or a fixed set. */
export interface ObjectCache<T extends KubeObject> {
  on(handler: Handler<T>): void;
  get(key: string): T | undefined;
  list(): T[];
  values(): IterableIterator<T>;
  hasSynced(): boolean;
  unhealthyForMs(): number;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * One Informer per namespace, seen as one cache: for a controller that may read only some
 * namespaces (namespaced RBAC, `--watch-namespace`), where a cluster-wide list is forbidden.
 * Keys are `namespace/name`, as in a cluster-wide Informer.
 */
export class MultiInformer<T extends KubeObject> implements ObjectCache<T> {
  private readonly byNamespace: Map<string, Informer<T>>;

  constructor(namespaces: readonly string[], make: (namespace: string) => Informer<T>) {
    this.byNamespace = new Map(namespaces.map((ns) => [ns, make(ns)]));
  }

  on(handler: Handler<T>): void {
    for (const i of this.byNamespace.values()) i.on(handler);
  }

  get(key: string): T | undefined {
    const slash = key.indexOf('/');
    return slash < 0 ? undefined : this.byNamespace.get(key.slice(0, slash))?.get(key);
  }

  list(): T[] {
    return [...this.values()];
  }

  *values(): IterableIterator<T> {
    for (const i of this.byNamespace.values()) yield* i.values();
  }

  hasSynced(): boolean {
    return [...this.byNamespace.values()].every((i) => i.hasSynced());
  }

  unhealthyForMs(): number {
    return Math.max(0, ...[...this.byNamespace.values()].map((i) => i.unhealthyForMs()));
  }

  async start(): Promise<void> {
    await Promise.all([...this.byNamespace.values()].map((i) => i.start()));
  }

  async stop(): Promise<void> {
    await Promise.all([...this.byNamespace.values()].map((i) => i.stop()));
  }
}

/** A fixed set of objects that never changes: stands in for a collection the controller may not watch. */
export class StaticCache<T extends KubeObject> implements ObjectCache<T> {
  private readonly store: Map<string, T>;

  constructor(objects: readonly T[]) {
    this.store = new Map(objects.map((o) => [objectKey(o), o]));
  }

  on(): void {}
  get(key: string): T | undefined {
    return this.store.get(key);
  }
  list(): T[] {
    return [...this.store.values()];
  }
  values(): IterableIterator<T> {
    return this.store.values();
  }
  hasSynced(): boolean {
    return true;
  }
  unhealthyForMs(): number {
    return 0;
  }
  async start(): Promise<void> {}
  async stop(): Promise<void> {}
}
