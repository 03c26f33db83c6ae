// Where an informer keeps its objects. A Map by `namespace/name` is the general case; the caches
// that hold one entry per namespace and more (managed Secrets, service accounts) keep them in
// buckets by namespace instead: no `namespace/name` string per object, one copy of each namespace
// name, the objects of one namespace found without a second index, and, with a codec, each entry in
// a packed form of its own.

/** An informer's store, keyed by `namespace/name` (object-cache.ts objectKey). */
export interface Store<T> {
  get(key: string): T | undefined;
  set(key: string, obj: T): void;
  delete(key: string): boolean;
  values(): IterableIterator<T>;
  clear(): void;
  readonly size: number;
}

export class MapStore<T> implements Store<T> {
  private readonly map = new Map<string, T>();
  get(key: string): T | undefined {
    return this.map.get(key);
  }
  set(key: string, obj: T): void {
    this.map.set(key, obj);
  }
  delete(key: string): boolean {
    return this.map.delete(key);
  }
  values(): IterableIterator<T> {
    return this.map.values();
  }
  clear(): void {
    this.map.clear();
  }
  get size(): number {
    return this.map.size;
  }
}

/** How a NamespacedStore keeps one object: `pack` when stored, `unpack` (with its bucket's namespace) on each read. */
export interface Codec<T, R> {
  pack(obj: T): R;
  unpack(entry: R, namespace: string): T;
  nameOf(entry: R): string;
}

export interface Named {
  metadata?: { name?: string | undefined; namespace?: string | undefined } | undefined;
}

/** The identity codec: objects kept as they are. */
export function identityCodec<T extends Named>(): Codec<T, T> {
  return { pack: (obj) => obj, unpack: (obj) => obj, nameOf: (obj) => obj.metadata?.name ?? '' };
}

function splitKey(key: string): [string, string] {
  const slash = key.indexOf('/');
  return slash < 0 ? ['', key] : [key.slice(0, slash), key.slice(slash + 1)];
}

/** Namespaced objects in one bucket per namespace: one entry alone, several as an array (entries are never arrays). */
export class NamespacedStore<T extends Named, R> implements Store<T> {
  private readonly buckets = new Map<string, R | R[]>();
  private count = 0;

  constructor(private readonly codec: Codec<T, R>) {}

  get(key: string): T | undefined {
    const [ns, name] = splitKey(key);
    return this.getIn(ns, name);
  }

  getIn(namespace: string, name: string): T | undefined {
    const entry = this.find(namespace, name);
    return entry === undefined ? undefined : this.codec.unpack(entry, namespace);
  }

  /** The stored entry itself, for a store that amends it in place. */
  protected find(namespace: string, name: string): R | undefined {
    const b = this.buckets.get(namespace);
    if (b === undefined) return undefined;
    if (!Array.isArray(b)) return this.codec.nameOf(b) === name ? b : undefined;
    return b.find((e) => this.codec.nameOf(e) === name);
  }

  /** `key` is the object's own `namespace/name`: the bucket is keyed by the object's namespace string, not a slice of `key`. */
  set(_key: string, obj: T): void {
    const ns = obj.metadata?.namespace ?? '';
    const name = obj.metadata?.name ?? '';
    const entry = this.codec.pack(obj);
    const b = this.buckets.get(ns);
    if (b === undefined) {
      this.buckets.set(ns, entry);
      this.count++;
    } else if (!Array.isArray(b)) {
      if (this.codec.nameOf(b) === name) this.buckets.set(ns, entry);
      else {
        this.buckets.set(ns, [b, entry]);
        this.count++;
      }
    } else {
      const i = b.findIndex((e) => this.codec.nameOf(e) === name);
      if (i >= 0) b[i] = entry;
      else {
        // A new array of the exact length: push() would leave room for 16 more in every bucket.
        this.buckets.set(ns, [...b, entry]);
        this.count++;
      }
    }
  }

  delete(key: string): boolean {
    const [ns, name] = splitKey(key);
    const b = this.buckets.get(ns);
    if (b === undefined) return false;
    if (!Array.isArray(b)) {
      if (this.codec.nameOf(b) !== name) return false;
      this.buckets.delete(ns);
    } else {
      const i = b.findIndex((e) => this.codec.nameOf(e) === name);
      if (i < 0) return false;
      const rest = b.filter((_, j) => j !== i);
      this.buckets.set(ns, rest.length === 1 ? rest[0]! : rest);
    }
    this.count--;
    return true;
  }

  *values(): IterableIterator<T> {
    for (const [ns, b] of this.buckets) {
      if (!Array.isArray(b)) yield this.codec.unpack(b, ns);
      else for (const e of b) yield this.codec.unpack(e, ns);
    }
  }

  /** Every object of one namespace. */
  inNamespace(namespace: string): T[] {
    const b = this.buckets.get(namespace);
    if (b === undefined) return [];
    return Array.isArray(b) ? b.map((e) => this.codec.unpack(e, namespace)) : [this.codec.unpack(b, namespace)];
  }

  clear(): void {
    this.buckets.clear();
    this.count = 0;
  }

  get size(): number {
    return this.count;
  }
}
