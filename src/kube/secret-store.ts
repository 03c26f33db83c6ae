import type { V1Secret } from '@kubernetes/client-node';
import { COMPACT_DIGEST, isCompact, type CompactSecret } from './slim.js';
import { NamespacedStore, type Codec } from './store.js';

// The managed-Secret cache, packed. A credential's targets share all but their namespace, version
// and content digest (name, type, labels, annotations): that part is one shared, frozen Shape, and
// each Secret one small record: its shape, its resourceVersion (a small integer, as etcd's revisions
// are, kept as a number) and its data digest. A read unpacks the record into the compact form
// (slim.ts compactSecret) afresh. No uid (36 characters a Secret): a delete reads the Secret first
// and is guarded by the uid it read (kube/secrets.ts).

/** What the targets of one credential have in common. */
class Shape {
  constructor(
    readonly name: string,
    readonly type: string | undefined,
    readonly labels: Readonly<Record<string, string>> | undefined,
    readonly annotations: Readonly<Record<string, string>> | undefined,
    readonly deletionTimestamp: Date | undefined,
  ) {}
}

class SecretRecord {
  constructor(
    public shape: Shape,
    readonly version: number | string | undefined,
    public digest: string | null,
  ) {}
}

/** resourceVersions are opaque strings; etcd's are decimal revisions, held as a number when one fits a small integer. */
const SMALL_DECIMAL = /^[1-9]\d{0,8}$/;
function packVersion(v: string | undefined): number | string | undefined {
  return v !== undefined && SMALL_DECIMAL.test(v) ? Number(v) : v;
}

/** Shapes shared by identity, bounded as slim.ts Interner is (and for the same reason). */
class Shapes {
  private readonly known = new Map<string, Shape>();
  constructor(private readonly max: number) {}

  of(s: V1Secret): Shape {
    const m = s.metadata ?? {};
    const key = JSON.stringify([m.name, s.type, m.labels, m.annotations, m.deletionTimestamp]);
    let shape = this.known.get(key);
    if (shape === undefined) {
      if (this.known.size >= this.max) this.known.clear();
      shape = new Shape(m.name ?? '', s.type, m.labels, m.annotations, m.deletionTimestamp);
      this.known.set(key, shape);
    }
    return shape;
  }

  withType(shape: Shape, type: string): Shape {
    return this.of({ metadata: { name: shape.name, labels: shape.labels!, annotations: shape.annotations!, deletionTimestamp: shape.deletionTimestamp! }, type });
  }
}

/**
 * One string per data digest: a credential's targets hold the same content, but each write (a
 * namespace written on its own) computes its digest anew. Bounded as Shapes is.
 */
class Digests {
  private readonly known = new Map<string, string>();
  constructor(private readonly max: number) {}

  of(digest: string | null | undefined): string | null {
    if (digest === null || digest === undefined) return null;
    const known = this.known.get(digest);
    if (known !== undefined) return known;
    if (this.known.size >= this.max) this.known.clear();
    this.known.set(digest, digest);
    return digest;
  }
}

function secretCodec(shapes: Shapes, digests: Digests): Codec<V1Secret, SecretRecord> {
  return {
    pack: (s) => new SecretRecord(shapes.of(s), packVersion(s.metadata?.resourceVersion), isCompact(s) ? digests.of((s as CompactSecret)[COMPACT_DIGEST]) : null),
    unpack: (r, namespace) => {
      const { name, type, labels, annotations, deletionTimestamp } = r.shape;
      const out: CompactSecret = {
        metadata: {
          name,
          namespace,
          ...(r.version !== undefined ? { resourceVersion: String(r.version) } : {}),
          ...(labels ? { labels: labels as Record<string, string> } : {}),
          ...(annotations ? { annotations: annotations as Record<string, string> } : {}),
          ...(deletionTimestamp ? { deletionTimestamp } : {}),
        },
        ...(type !== undefined ? { type } : {}),
        [COMPACT_DIGEST]: r.digest,
      };
      return out;
    },
    nameOf: (r) => r.shape.name,
  };
}

/** The managed-Secret cache: compact forms in, compact forms out, packed in between. */
export class PackedSecretStore extends NamespacedStore<V1Secret, SecretRecord> {
  private readonly shapes: Shapes;
  private readonly digests: Digests;

  constructor(maxShared = 2_000) {
    const shapes = new Shapes(maxShared);
    const digests = new Digests(maxShared);
    super(secretCodec(shapes, digests));
    this.shapes = shapes;
    this.digests = digests;
  }

  /**
   * Completes the cached form of a version regcred wrote (its watch event came before the write's
   * answer): its type and data digest. False when the cache does not hold that version.
   */
  complete(namespace: string, name: string, resourceVersion: string, digest: string, type: string): boolean {
    const r = this.find(namespace, name);
    if (r === undefined || r.version === undefined || String(r.version) !== resourceVersion) return false;
    r.digest = this.digests.of(digest);
    if (r.shape.type !== type) r.shape = this.shapes.withType(r.shape, type);
    return true;
  }
}
