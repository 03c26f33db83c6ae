import type { V1Secret } from '@kubernetes/client-node';
import type { CoreApi } from '../kube/api/resources.js';
import { sha256Hex } from '../dockerconfig.js';
import { ANNOTATION_CONTENT_HASH, ANNOTATION_EXPIRES_AT, isManagedBy, type OwnerRef } from '../kube/labels.js';
import { DOCKERCONFIGJSON_KEY, DOCKERCONFIGJSON_TYPE } from '../kube/desired-secret.js';
import { readSecret } from '../kube/secrets.js';
import { dataHashOf } from '../kube/slim.js';

// A replica that has not minted a credential (a standby serving the admission webhook, a leader
// just elected) may still hand out what the leader wrote: the content of one of the credential's
// Secrets. The informer keeps no data, so the content is read from the API server by name, from a
// Secret the caller already found trustworthy (secret-index.ts trustedFor), and kept for that
// credential while the Secret's resourceVersion stays the same.

export interface HeldContent {
  registries: string[];
  dockerConfigJson: string;
  expiresAt: Date | undefined;
}

function expiryOf(secret: V1Secret): Date | undefined {
  const v = secret.metadata?.annotations?.[ANNOTATION_EXPIRES_AT];
  return v ? new Date(v) : undefined;
}

/** The content of a Secret regcred wrote, or undefined when it is not one (anymore) or cannot be parsed. */
function contentOf(secret: V1Secret, owner: OwnerRef): HeldContent | undefined {
  if (secret.type !== DOCKERCONFIGJSON_TYPE || !isManagedBy(secret.metadata?.labels, owner)) return undefined;
  const raw = secret.data?.[DOCKERCONFIGJSON_KEY];
  if (!raw || Object.keys(secret.data ?? {}).length !== 1) return undefined;
  const dockerConfigJson = Buffer.from(raw, 'base64').toString('utf8');
  // regcred writes the digest of what it wrote; data changed by hand without it is not handed out.
  if (secret.metadata?.annotations?.[ANNOTATION_CONTENT_HASH] !== sha256Hex(dockerConfigJson)) return undefined;
  try {
    const auths = (JSON.parse(dockerConfigJson) as { auths?: unknown }).auths;
    if (!auths || typeof auths !== 'object' || Array.isArray(auths)) return undefined;
    return { registries: Object.keys(auths), dockerConfigJson, expiresAt: expiryOf(secret) };
  } catch {
    return undefined;
  }
}

export class HeldContentReader {
  /** credential key -> the content read, and which Secret version it came from. */
  private readonly memo = new Map<string, { ref: string; content: HeldContent }>();

  constructor(
    private readonly core: CoreApi,
    private readonly now: () => number,
  ) {}

  /**
   * The content held by `trusted` (cached Secrets of the credential `key`, already checked to be
   * where it writes), from the copy most of them agree on (by data digest), skipping expired ones.
   * Reads at most a few Secrets; `within` bounds each read (the webhook's time budget).
   */
  async read(key: string, owner: OwnerRef, trusted: readonly V1Secret[], within: <T>(p: Promise<T>) => Promise<T>): Promise<HeldContent | undefined> {
    const now = this.now();
    const groups = new Map<string, V1Secret[]>();
    for (const s of trusted) {
      const expiresAt = expiryOf(s);
      // Never an expired copy. A version another replica wrote is known by metadata only (no type, no
      // digest): grouped by the digest annotation it carries, which contentOf checks against the data read.
      if ((s.type !== undefined && s.type !== DOCKERCONFIGJSON_TYPE) || (expiresAt && expiresAt.getTime() <= now)) continue;
      const h = dataHashOf(s) ?? s.metadata?.annotations?.[ANNOTATION_CONTENT_HASH];
      if (h === undefined) continue;
      const g = groups.get(h);
      if (g) g.push(s);
      else groups.set(h, [s]);
    }
    const ranked = [...groups.values()].sort((a, b) => b.length - a.length);
    const memo = this.memo.get(key);
    for (const group of ranked.slice(0, 3)) {
      for (const s of group.slice(0, 2)) {
        const ns = s.metadata?.namespace ?? '';
        const name = s.metadata?.name ?? '';
        const ref = `${ns}/${name}@${s.metadata?.resourceVersion ?? ''}`;
        if (memo?.ref === ref) return memo.content;
        const fresh = await within(readSecret(this.core, ns, name, { attempts: 1 }));
        const content = fresh && contentOf(fresh, owner);
        if (!content || (content.expiresAt && content.expiresAt.getTime() <= now)) continue;
        this.memo.set(key, { ref: `${ns}/${name}@${fresh.metadata?.resourceVersion ?? ''}`, content });
        return content;
      }
    }
    return undefined;
  }

  forget(key: string): void {
    this.memo.delete(key);
  }
}
